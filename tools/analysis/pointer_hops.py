"""Can a random toy LLM learn to point at a region? Steps to learn in-context lookup, by prompt layout.

Groma grounds an answer by emitting the proxy token ``<rK>`` of the region that fits the question. In
the prompt each region appears as ``<rK><region>``: the proxy token, then the slot that holds the region
token. To answer, the LLM must (1) bring the question to the answer position, (2) find the slot whose
region token matches it and (3) read which entry that slot is (the proxy token before it, or its place
in the list). A pretrained LLM has heads for (1) and (3) (previous-token and induction heads); the main
job's toy LLM is random and must grow them.

This script trains a random tiny LLaMA (the main job's shape by default) on a bare version of that
lookup, with no image: ``n`` entries ``<rK> [slot] ,`` whose slots hold noisy vectors of random
"objects" in random order, then a question slot holding another noisy vector of one of them, then an
answer marker; the target is that object's ``<rK>``. As in Groma, the k-th entry's proxy is ``<rk>`` (the
regions are shuffled, the proxies are not); ``--proxy-order shuffled`` draws the proxy ids at random per
sample instead, a harder task than Groma's, where the slot's place in the list no longer names it. Layouts:

* ``groma``: as above (three steps).
* ``identity-in-slot``: the slot also holds ``<rK>``'s embedding, so step (3) is not needed.
* ``identity-in-slot-query-last``: and the question slot is the last position, so step (1) is not
  needed either: one attention lookup.

Groma's real prompt differs from this bare one in ways that each slow the learning down; three options
add them one at a time (docs/main_job.md has the steps they cost):

* ``--question words``: the question names the object by words (size, colour, shape tokens), as an REC
  expression does, instead of a feature vector; the objects' features are then sums of one vector per
  attribute, so the words and the region token carry the same facts.
* ``--prefix N``: N fixed tokens before the list (Groma's system line, intro and image slots: about 60).
* ``--gap N``: N fixed tokens between the question and the answer marker (``</p>? ASSISTANT: <roi>``).

It prints, per layout, the accuracy on fresh samples every ``--eval-every`` steps and the step at which
it first reached ``--target``::

    python tools/analysis/pointer_hops.py [--layouts groma identity-in-slot ...] [--steps 3000]
        [--entries 5] [--proxy-order list|shuffled] [--batch-size 32] [--lr 1e-3] [--init-range 0.1]
        [--layers 2] [--width 64] [--question slot|words] [--prefix N] [--gap N]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

LAYOUTS = ('groma', 'identity-in-slot', 'identity-in-slot-query-last')
NUM_OBJECTS, FEATURE_DIM, NOISE = 24, 16, 0.1
COMMA, QUESTION, ANSWER, WORD0, FILLER0, NUM_FILLERS, PROXY0 = 0, 1, 2, 10, 20, 60, 100
# The 24 objects as (size, colour, shape): 2 × 4 × 3 values, each value its own word token.
ATTRIBUTE_VALUES = (2, 4, 3)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--layouts', nargs='+', choices=LAYOUTS, default=list(LAYOUTS))
    parser.add_argument('--steps', type=int, default=3000)
    parser.add_argument('--entries', type=int, default=5, help='regions per prompt (chance = 1 / entries)')
    parser.add_argument('--proxy-order', choices=('list', 'shuffled'), default='list',
                        help="list: the k-th entry is <rk>, as in Groma; shuffled: random proxy ids per sample")
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--init-range', type=float, default=0.1, help="the LLM's initializer_range")
    parser.add_argument('--layers', type=int, default=2)
    parser.add_argument('--width', type=int, default=64)
    parser.add_argument('--eval-every', type=int, default=250)
    parser.add_argument('--target', type=float, default=0.9)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--question', choices=('slot', 'words'), default='slot',
                        help="slot: a noisy feature vector of the object; words: its size, colour and shape words")
    parser.add_argument('--prefix', type=int, default=0, help='fixed tokens before the list')
    parser.add_argument('--gap', type=int, default=0, help='fixed tokens between the question and the answer marker')
    args = parser.parse_args(argv)
    if args.prefix < 0 or args.gap < 0:
        parser.error(f'--prefix and --gap count tokens (>= 0), got {args.prefix} and {args.gap}')
    if args.gap and 'identity-in-slot-query-last' in args.layouts:
        parser.error('--gap puts tokens after the question, which identity-in-slot-query-last asks to be last')
    return args


class LookupTask:
    """The lookup prompts of one layout, embedded for a tiny LLaMA, and their targets."""

    def __init__(self, layout: str, llm: LlamaForCausalLM, entries: int, proxy_order: str,
                 gen: torch.Generator, question: str = 'slot', prefix: int = 0, gap: int = 0) -> None:
        self.layout, self.llm, self.entries, self.gen = layout, llm, entries, gen
        self.shuffle_proxies = proxy_order == 'shuffled'
        self.question, self.prefix, self.gap = question, prefix, gap
        sizes, colours, shapes = ATTRIBUTE_VALUES
        self.words = torch.tensor([[WORD0 + a, WORD0 + sizes + b, WORD0 + sizes + colours + c]
                                   for a in range(sizes) for b in range(colours) for c in range(shapes)])
        if question == 'words':
            attribute_vectors = torch.randn(sum(ATTRIBUTE_VALUES), FEATURE_DIM, generator=gen)
            self.objects = attribute_vectors[self.words - WORD0].sum(1)
        else:
            self.objects = torch.randn(NUM_OBJECTS, FEATURE_DIM, generator=gen)
        # The region encoder's stand-in: a trainable projection of the object's features.
        self.projector = torch.nn.Linear(FEATURE_DIM, llm.config.hidden_size)

    def _features(self, objects: torch.Tensor) -> torch.Tensor:
        noisy = self.objects[objects] + NOISE * torch.randn(*objects.shape, FEATURE_DIM, generator=self.gen)
        return self.projector(noisy)

    def _fillers(self, count: int, batch_size: int) -> torch.Tensor:
        """(B, count, D): the embeddings of ``count`` fixed, distinct filler tokens."""
        ids = FILLER0 + torch.arange(count) % NUM_FILLERS
        return self.llm.get_input_embeddings()(ids).expand(batch_size, count, -1)

    def draw(self, batch_size: int):
        """Random prompts: token ids (B, 3n + 3) with the slots still ``COMMA``, the objects of the slots
        (B, n), each entry's proxy index (B, n) and the asked entry (B,)."""
        n = self.entries
        objects = torch.stack([torch.randperm(NUM_OBJECTS, generator=self.gen)[:n] for _ in range(batch_size)])
        if self.shuffle_proxies:
            proxies = torch.stack([torch.randperm(n, generator=self.gen) for _ in range(batch_size)])
        else:
            proxies = torch.arange(n).expand(batch_size, n)
        asked = torch.randint(n, (batch_size, ), generator=self.gen)
        ids = torch.full((batch_size, 3 * n + 3), COMMA)
        ids[:, 0:3 * n:3] = PROXY0 + proxies
        ids[:, 3 * n], ids[:, 3 * n + 2] = QUESTION, ANSWER
        return ids, objects, proxies, asked

    def prompts(self, batch_size: int):
        """Random prompts embedded for the LLM (B, L, D), their objects (B, n), the asked entry (B,) and the
        target token (B,): ``prefix`` fillers, the n entries, the question, ``gap`` fillers, the answer marker."""
        n, rows = self.entries, torch.arange(batch_size)
        ids, objects, proxies, asked = self.draw(batch_size)
        embed = self.llm.get_input_embeddings()
        embeds = embed(ids).clone()
        slots = self._features(objects)
        if self.layout != 'groma':
            slots = slots + embed(PROXY0 + proxies)
        embeds[:, 1:3 * n:3] = slots
        if self.question == 'words':
            question = embed(self.words[objects[rows, asked]])
        else:
            question = self._features(objects[rows, asked])[:, None]
        parts = [self._fillers(self.prefix, batch_size), embeds[:, :3 * n + 1], question,
                 self._fillers(self.gap, batch_size)]
        if self.layout != 'identity-in-slot-query-last':
            parts.append(embeds[:, 3 * n + 2:])
        return torch.cat(parts, 1), objects, asked, PROXY0 + proxies[rows, asked]

    def loss_and_accuracy(self, batch_size: int):
        embeds, _, _, target = self.prompts(batch_size)
        logits = self.llm(inputs_embeds=embeds).logits[:, -1]
        return F.cross_entropy(logits, target), (logits.argmax(-1) == target).float().mean().item()


def train(layout: str, args) -> dict:
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    config = LlamaConfig(vocab_size=PROXY0 + args.entries, hidden_size=args.width, intermediate_size=2 * args.width,
                         num_hidden_layers=args.layers, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=256, initializer_range=args.init_range)
    llm = LlamaForCausalLM(config)
    task = LookupTask(layout, llm, args.entries, args.proxy_order, gen, args.question, args.prefix, args.gap)
    optimizer = torch.optim.AdamW([*llm.parameters(), *task.projector.parameters()], lr=args.lr, weight_decay=0.0)
    curve, reached, start = [], None, time.process_time()
    for step in range(1, args.steps + 1):
        loss, _ = task.loss_and_accuracy(args.batch_size)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.eval_every == 0:
            with torch.no_grad():
                _, accuracy = task.loss_and_accuracy(256)
            curve.append((step, round(accuracy, 3)))
            print(f'{layout:28s} step {step:5d}  accuracy {accuracy:.3f}', flush=True)
            if reached is None and accuracy >= args.target:
                reached = step
                break
    return dict(layout=layout, chance=round(1 / args.entries, 3), steps_to_target=reached, curve=curve,
                cpu_s=round(time.process_time() - start, 1))


def main(argv=None) -> list:
    args = parse_args(argv)
    torch.set_num_threads(1)  # a 64-wide model runs faster on one thread than on two
    results = [train(layout, args) for layout in args.layouts]
    print(f'\n{"layout":28s} {"steps to " + str(args.target):>14s} {"last accuracy":>14s} {"CPU s":>7s}')
    for r in results:
        reached = r['steps_to_target'] or f'> {args.steps}'
        print(f'{r["layout"]:28s} {reached!s:>14s} {r["curve"][-1][1]:>14.3f} {r["cpu_s"]:>7.1f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(settings=vars(args), results=results), f, indent=1)
    return results


if __name__ == '__main__':
    main()
