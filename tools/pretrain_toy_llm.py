"""Stage 0 of the main job: the toy LLM's pretraining, the part Vicuna's language pretraining plays in the paper.

Groma starts from a pretrained LLM, which already resolves a phrase against a list in its context
(previous-token and induction heads). A random 2-layer toy LLaMA does not, and learns it neither in stage 2
(frozen) nor in stage 3 (``analysis/pointer_hops.py`` shows that it needs tens of thousands of lookups,
and a lookup in the whole prompt not at all without a curriculum). So before any image is seen, it learns
text-only REC in Groma's own prompt format: the intro with ``<rK><region>`` entries, an REC instruction of
Table 9, the ``<roi><rK></roi>`` reply, with each region slot holding a "word bag" (the sum of the LLM's own
embeddings of an object's words: size, colour, shape, plus noise). The LLM (all of it) learns to answer
with the proxy token of the entry that matches the phrase.

On SIGUSR1 it starts using every core (the main job runs it beside stage 1 on one core each, and sends
the signal when stage 1 is done). It prints the ``<rK>`` accuracy of the training batches as it goes and
on fresh prompts at the end, and writes an HF folder (weights, and the tokenizer with Groma's tokens) that stages 2 and 3 load as a user
loads Vicuna: ``model.llm.pretrained=DIR model.llm.config=None model.tokenizer.pretrained=DIR``::

    python tools/pretrain_toy_llm.py CONFIG --out DIR [--phases KIND:STEPS[:EXPRESSIONS] ...] [--bare-share P]
        [--prompt-share P] [--describe P] [--expressions attributes|world] [--image-noise S] [--image-bags P]
        [--slot-scale S] [--slot-noise S] [--batch-size B] [--bare-batch-size B] [--lr LR] [--decay-steps N]
        [--sharpen ACC EXTRA] [--max-regions N] [--seed S] [--cfg-options ...]

``--phases`` is a curriculum, run in order (default ``full:1500``). Kinds:

* ``bare`` / ``bareN``: the lookup alone, ``<s><r0><region>,<r1><region>,…<p>phrase</p><roi>`` with 2 to
  ``--max-regions`` (or exactly N) regions; the loss is on the ``<rK>`` that follows;
* ``short``: Groma's prompts from ``Regions:`` on (the system line, intro and image slots cut off);
* ``mixed``: Groma's prompts cut at a random place of that intro;
* ``full``: Groma's whole prompts.

After the bare phases, ``--bare-share`` of the batches stay bare, so the lookup is kept while the prompt
grows. ``--prompt-share P`` goes the other way: during the bare phases that share of the batches are already
Groma prompts from ``Regions:`` on (asking the expressions of the first phase that is not bare), so the lookup
forms where the phrase sits inside a question, not only right before ``<roi>``. ``--describe P`` makes that
share of Groma prompts ask for a region's description ("a small red circle") instead of REC, so the LLM also
learns to read a region slot as words.

A phase may name its expressions (``full:800:world``); the others use ``--expressions``.
``--expressions world`` draws each prompt from a scene of the synthetic world's generator (another seed
than the world's, no image; the first 4096 are fresh, later prompts reuse them) and asks one of the world's
own referring expressions for it, with positions and relations ("the red star above the blue
triangle"); the regions are the scene's objects in random order. The default, ``attributes``, asks "the
[size] colour shape" of random objects, and an LLM trained on it alone is lost on the world's longer
expressions. ``--image-bags P`` puts that share of the image slots to word bags of the prompt's own
objects (×0.5 to ×5): real image tokens show those objects, and the lookup must stay on the region list.
``--image-noise S`` fills the image slots with random vectors (norm up to S × a region
slot's) instead of zeros: in stages 2 and 3 they hold image tokens, and an LLM that never saw anything there
stops pointing when they arrive. ``--slot-scale S`` scales each region slot's bag by its own factor in
[0.5, S]: stage 2's region tokens grow to several times a bag's norm, and the lookup must not depend on it.
``--slot-noise S`` is the Gaussian noise added to every word bag, × the bag's norm (default 0.3).

Where the lookup leaves its plateau is a draw (600 to over 1200 steps of ``bare5``, by seed), and prompts built
on a lookup that is not yet sharp stay weak. ``--sharpen ACC EXTRA`` runs each bare phase up to EXTRA steps
past its own until the ``<rK>`` accuracy of its last 100 batches reaches ACC (the learning-rate decay counts
the phases' own steps). ``--bare-batch-size B`` gives the bare phases their own batch size: at 16 the plateau
is left after about as many steps as at 32, for half the cost a step. Neither is in the main job: with its bare
phases at 16 for twice the steps, other seeds drew good LLMs, not more of them (docs/main_job.md).
"""
import argparse
import itertools
import json
import os
import re
import signal
import time

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import DictAction

from groma_mm.datasets.instruction_templates import TABLE9
from groma_mm.datasets.synthetic_world import COLOURS, SHAPES, SIZES, sample_scene
from groma_mm.datasets.synthetic_world.expressions import POSITIONS, RELATIONS, referring_expressions
from groma_mm.models.llms.reply_loss import reply_logits, shared_prefix_length, token_cross_entropy
from groma_mm.registry import MODELS
from groma_mm.utils import load_config, register_all_modules



PHASE = re.compile(r'(bare\d*|short|mixed|full):(\d+)(?::(attributes|world))?$')


def parse_phase(text: str):
    """'bare5:1500' -> ('bare5', 1500, None); 'full:800:world' -> ('full', 800, 'world')."""
    match = PHASE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f'{text!r}: expected KIND:STEPS[:attributes|world] with KIND bare, bareN, '
                                         'short, mixed or full')
    return match.group(1), int(match.group(2)), match.group(3)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a Groma config (its tokenizer, LLM and prompt are used)')
    parser.add_argument('--out', required=True, help='HF folder to write')
    parser.add_argument('--phases', nargs='+', type=parse_phase, default=[('full', 1500, None)],
                        help='curriculum, e.g. bare5:1500 bare:1000 short:1000 mixed:1000 full:1500')
    parser.add_argument('--bare-share', type=float, default=0.25,
                        help='share of bare batches after the bare phases')
    parser.add_argument('--prompt-share', type=float, default=0.0,
                        help='share of the batches of the bare phases that are Groma prompts from Regions: on')
    parser.add_argument('--describe', type=float, default=0.0,
                        help='share of Groma prompts that ask for a region description instead of REC')
    parser.add_argument('--expressions', choices=('attributes', 'world'), default='attributes',
                        help="attributes: 'the [size] colour shape'; world: the world's expressions of fresh scenes")
    parser.add_argument('--image-noise', type=float, default=0.0,
                        help="image slots hold random vectors of norm up to this × a word bag's (0: zeros)")
    parser.add_argument('--image-bags', type=float, default=0.0,
                        help="share of the image slots that hold word bags of the prompt's own objects")
    parser.add_argument('--slot-scale', type=float, default=1.0,
                        help="each region slot's word bag is scaled by its own factor drawn in [0.5, S] (1: unscaled)")
    parser.add_argument('--slot-noise', type=float, default=0.3,
                        help="Gaussian noise added to each word bag, × the bag's norm")
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--bare-batch-size', type=int,
                        help='batch size of the bare phases (default: --batch-size)')
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--decay-steps', type=int, default=0,
                        help='the learning rate falls linearly towards 0 over the last N steps (0: constant)')
    parser.add_argument('--sharpen', nargs=2, type=float, metavar=('ACC', 'EXTRA'), default=(0.0, 0),
                        help='a bare phase goes on, at most EXTRA steps past its own, until the <rK> accuracy of '
                        'its last 100 batches reaches ACC')
    parser.add_argument('--max-regions', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--log-every', type=int, default=100)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings in the config')
    args = parser.parse_args(argv)
    objects = len(SIZES) * len(COLOURS) * len(SHAPES)
    for name in ('batch_size', 'bare_batch_size'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    args.bare_batch_size = args.bare_batch_size or args.batch_size
    args.phases = [(kind, steps, expressions or args.expressions) for kind, steps, expressions in args.phases]
    entries = [int(kind[4:]) for kind, *_ in args.phases if kind.startswith('bare') and kind[4:]] + [args.max_regions]
    if not all(2 <= n <= objects for n in entries):
        parser.error(f'--max-regions and bareN need 2 to {objects} regions (distinct objects), got {entries}')
    for name in ('image_noise', 'slot_noise', 'decay_steps'):
        if getattr(args, name) < 0:
            parser.error(f'--{name.replace("_", "-")} must be >= 0, got {getattr(args, name)}')
    if any(kind[4:] and expressions == 'world' for kind, _, expressions in args.phases if kind.startswith('bare')):
        parser.error('bareN fixes the number of regions; with world expressions a scene decides it (use bare)')
    if args.sharpen[1] < 0 or args.sharpen[1] != int(args.sharpen[1]):
        parser.error(f'--sharpen ACC EXTRA: EXTRA is a number of steps (>= 0), got {args.sharpen[1]:g}')
    if args.slot_scale < 0.5:
        parser.error(f'--slot-scale S scales slots by a factor in [0.5, S]: S >= 0.5, got {args.slot_scale}')
    for name in ('bare_share', 'prompt_share', 'describe', 'image_bags'):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f'--{name.replace("_", "-")} is a share in [0, 1], got {getattr(args, name)}')
    return args


class WordBagLookup:
    """Text-only REC prompts over objects named by their words, for one Groma model's LLM and prompt."""

    OBJECTS = list(itertools.product(SIZES, COLOURS, SHAPES))
    SCENE_POOL = 4096

    def __init__(self, model, max_regions: int, gen: torch.Generator, describe: float = 0.0,
                 expressions: str = 'attributes', image_noise: float = 0.0, scene_seed: int = 1000,
                 slot_noise: float = 0.3, image_bags: float = 0.0, slot_scale: float = 1.0) -> None:
        self.model, self.max_regions, self.gen, self.describe = model, max_regions, gen, describe
        self.expressions, self.image_noise, self.slot_noise = expressions, image_noise, slot_noise
        self.image_bags, self.slot_scale = image_bags, slot_scale
        self.scene_seed, self.scenes_drawn, self.scene_pool = scene_seed, 0, []
        tokenizer = model.tokenizer
        vocab = tokenizer.get_vocab()
        # Object words, and the single tokens the bare prompts are built from and the cuts look for.
        missing = sorted({w for obj in self.OBJECTS for w in obj} - set(vocab))
        missing += [t for t in ('Regions', ',', '<region>', '<p>', '</p>', '<roi>') if t not in vocab]
        if expressions == 'world':  # bare prompts look the expression's words up one by one
            phrases = [words for _, _, words in POSITIONS.values()] + list(RELATIONS)
            missing += sorted({w for phrase in phrases for w in phrase.split()} - set(vocab))
        if missing:
            raise ValueError(f'the tokenizer ({tokenizer.name_or_path}) lacks the tokens {missing}: '
                             'use the tokenizer tools/run_main_job.py writes beside the world')
        self.word_ids = torch.tensor([[vocab[w] for w in obj] for obj in self.OBJECTS])
        self.vocab = vocab
        self.proxy_ids = torch.tensor(model.prompt_builder.token_ids.proxy)

    def _randint(self, n: int) -> int:
        return int(torch.randint(n, (1, ), generator=self.gen))

    def _draw(self, entries: int = 0):
        """(objects of the regions, asked region, phrase words): 2 to max_regions regions, or ``entries``;
        with ``expressions='world'``, a scene's objects and one of its expressions."""
        if self.expressions == 'world':
            return self._draw_scene()
        n = entries or 2 + self._randint(self.max_regions - 1)
        objects = torch.randperm(len(self.OBJECTS), generator=self.gen)[:n].tolist()
        asked = self._randint(n)
        size, colour, shape = self.OBJECTS[objects[asked]]
        # As the world's expressions: colour and shape, the size only when they are not enough.
        others = [self.OBJECTS[o] for k, o in enumerate(objects) if k != asked]
        ambiguous = any(c == colour and s == shape for _, c, s in others)
        return objects, asked, ([size] if ambiguous else []) + [colour, shape]

    def _draw_scene(self):
        # Drawing a scene and its expressions costs as much as the LLM's step on its prompt: after
        # SCENE_POOL fresh scenes, prompts reuse them (in a new region order).
        if len(self.scene_pool) == self.SCENE_POOL:
            scene, expressions = self.scene_pool[self._randint(self.SCENE_POOL)]
        else:
            while True:  # a scene whose objects cannot be told apart has no expression: draw another
                self.scenes_drawn += 1
                scene, _ = sample_scene(self.scene_seed, 'train', self.scenes_drawn, self.scenes_drawn)
                expressions = referring_expressions(scene, np.random.default_rng([self.scene_seed, self.scenes_drawn]))
                if expressions:
                    break
            self.scene_pool.append((scene, expressions))
        order = torch.randperm(len(scene.objects), generator=self.gen).tolist()
        objects = [self.OBJECTS.index((scene.objects[i].size, scene.objects[i].colour, scene.objects[i].shape))
                   for i in order]
        targets = sorted(expressions)
        target = targets[self._randint(len(targets))]
        sentences = expressions[target]
        words = sentences[self._randint(len(sentences))].split()
        return objects, order.index(target), words[1:] if words[0] == 'the' else words

    def _sample(self):
        """(conversation, objects of the regions, asked region): REC, or with ``describe`` a region caption."""
        objects, asked, words = self._draw()
        if torch.rand((), generator=self.gen) < self.describe:
            templates = TABLE9['region_caption']
            question = templates[self._randint(len(templates))].replace('<region>', '<box0>')
            reply = 'a ' + ' '.join(self.OBJECTS[objects[asked]])
        else:
            templates = TABLE9['rec']
            question = templates[self._randint(len(templates))].format(expression=' '.join(['the'] + words))
            reply = '<roi><box0></roi>'
        return [dict(role='user', content=question), dict(role='assistant', content=reply)], objects, asked

    def _slot_bags(self, objects) -> torch.Tensor:
        """(n, D): the word bags of a prompt's region slots, each scaled by its own factor in [0.5, slot_scale].

        Stage 2's region tokens grow to several times a bag's norm, and an LLM that only met bags of one norm
        stops pointing at them (the slot's norm drowns what the slot took from its ``<rK>``).
        """
        bags = self._bags(objects)
        if self.slot_scale == 1:
            return bags
        return bags * (0.5 + (self.slot_scale - 0.5) * torch.rand((len(bags), 1), generator=self.gen))

    def _bags(self, objects) -> torch.Tensor:
        """(n, D): each object's word bag, the sum of its words' embeddings, plus noise."""
        bags = self.model.llm.get_input_embeddings()(self.word_ids[objects]).sum(1)
        noise = torch.randn(bags.shape, generator=self.gen)
        return bags + self.slot_noise * bags.norm(dim=-1, keepdim=True) / bags.shape[-1]**0.5 * noise

    def batch(self, batch_size: int):
        """Padded prompts (``GromaPromptBuilder.pad``) and their input embeddings (B, L, D)."""
        builder = self.model.prompt_builder
        prompts, objects = [], []
        for _ in range(batch_size):
            conversation, objs, asked = self._sample()
            prompts.append(builder(conversation, len(objs), {0: asked}))
            objects.append(torch.tensor(objs))
        batch = builder.pad(prompts, padding_side='right')
        embeds = self.model.llm.get_input_embeddings()(batch['input_ids']) * (~batch['image_mask'])[..., None]
        slots = torch.cat([self._slot_bags(objs)[ids] for objs, ids in zip(objects, batch['region_slot_ids'])])
        embeds = embeds.masked_scatter(batch['region_mask'][..., None], slots)
        if self.image_noise:
            embeds = embeds + batch['image_mask'][..., None] * self._image_noise(embeds.shape, slots)
        if self.image_bags:
            embeds = self._put_image_bags(embeds, batch['image_mask'], objects)
        return batch, embeds

    def _put_image_bags(self, embeds: torch.Tensor, image_mask: torch.Tensor, objects) -> torch.Tensor:
        """Put ``image_bags`` of each prompt's image slots to its own objects' word bags, scaled ×0.5 to ×5.

        Image tokens show the very objects the region list holds, and an LLM that only met noise there is
        thrown by them: a stage-2 model's REC with word-bag region tokens was 60 % with its trained image
        tokens (5× a bag's norm) and 87 % with zero or random ones.
        """
        embeds = embeds.clone()
        for row, objs in enumerate(objects):
            slots = image_mask[row].nonzero()[:, 0]
            chosen = slots[torch.randperm(len(slots), generator=self.gen)[:round(self.image_bags * len(slots))]]
            picks = torch.randint(len(objs), (len(chosen), ), generator=self.gen)
            scale = 0.5 + 4.5 * torch.rand((len(chosen), 1), generator=self.gen)
            embeds[row, chosen] = self._bags(objs[picks]) * scale
        return embeds

    def _image_noise(self, shape, slots: torch.Tensor) -> torch.Tensor:
        """(B, L, D) random vectors, each prompt's of one norm drawn in [0, image_noise × a slot's norm]."""
        noise = torch.nn.functional.normalize(torch.randn(shape, generator=self.gen), dim=-1)
        scale = torch.rand((shape[0], 1, 1), generator=self.gen) * self.image_noise * slots.norm(dim=-1).mean()
        return noise * scale

    def prompt_loss(self, batch_size: int, cut: str):
        """Reply loss and ``<rK>`` accuracy on Groma prompts; ``cut``: 'full', 'short' (from ``Regions:``
        on) or 'mixed' (from a random place of the intro on). The first (BOS) token always stays."""
        batch, embeds = self.batch(batch_size)
        start = int((batch['input_ids'][0] == self.vocab['Regions']).nonzero()[0])
        column = {'full': 0, 'short': start, 'mixed': self._randint(start + 1)}[cut]
        keep = (lambda t: torch.cat([t[:, :1], t[:, column:]], 1)) if column > 1 else (lambda t: t)
        # Whole prompts share the system line and the intro up to the image slots: run once per batch.
        shared = shared_prefix_length(batch['input_ids'], batch['image_mask'], batch['region_mask']) if column == 0 else 0
        logits, targets = reply_logits(self.model.llm, keep(embeds), keep(batch['attention_mask']),
                                       keep(batch['labels']), shared)
        return token_cross_entropy(logits, targets), proxy_accuracy(logits.detach(), targets, self.proxy_ids)

    def bare_loss(self, batch_size: int, entries: int = 0):
        """Loss and accuracy of the ``<rK>`` after ``<s><r0><region>,…<p>phrase</p><roi>`` (left-padded)."""
        tokenizer, vocab = self.model.tokenizer, self.vocab
        sequences, slots, targets = [], [], []
        for _ in range(batch_size):
            objects, asked, words = self._draw(entries)
            ids = [tokenizer.bos_token_id]
            for k in range(len(objects)):
                ids += [int(self.proxy_ids[k]), vocab['<region>'], vocab[',']]
            sequences.append(ids + [vocab['<p>'], *[vocab[w] for w in words], vocab['</p>'], vocab['<roi>']])
            slots.append(self._slot_bags(objects))
            targets.append(int(self.proxy_ids[asked]))
        length = max(map(len, sequences))
        ids = torch.tensor([[tokenizer.pad_token_id] * (length - len(s)) + s for s in sequences])
        mask = torch.tensor([[0] * (length - len(s)) + [1] * len(s) for s in sequences])
        llm = self.model.llm
        embeds = llm.get_input_embeddings()(ids).masked_scatter((ids == vocab['<region>'])[..., None], torch.cat(slots))
        logits = llm(inputs_embeds=embeds, attention_mask=mask, logits_to_keep=1).logits[:, -1]
        targets = torch.tensor(targets)
        return F.cross_entropy(logits, targets), (logits.argmax(-1) == targets).float().mean().item()


def proxy_accuracy(logits: torch.Tensor, targets: torch.Tensor, proxy_ids: torch.Tensor) -> float:
    """Share of the ``<rK>`` targets predicted right (teacher forcing); logits (N, V), targets (N, )."""
    is_proxy = torch.isin(targets, proxy_ids)
    return (logits[is_proxy].argmax(-1) == targets[is_proxy]).float().mean().item()


def use_all_cores(*_) -> None:
    """SIGUSR1 handler: from now on use every core (the main job runs this tool beside stage 1 on one core,
    and sends the signal when stage 1 is done)."""
    torch.set_num_threads(os.cpu_count())


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGUSR1, use_all_cores)
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    torch.manual_seed(args.seed)
    cfg.model.proposer_checkpoint = None
    model = MODELS.build(cfg.model)
    llm = model.llm
    llm.requires_grad_(True)
    llm.train()
    gen = torch.Generator().manual_seed(args.seed)
    uses_world = any(expressions == 'world' for *_, expressions in args.phases)
    task = WordBagLookup(model, args.max_regions, gen, args.describe, 'world' if uses_world else 'attributes',
                         args.image_noise, scene_seed=1000 + args.seed, slot_noise=args.slot_noise,
                         image_bags=args.image_bags, slot_scale=args.slot_scale)
    optimizer = torch.optim.AdamW(llm.parameters(), lr=args.lr, weight_decay=0.0)
    start, log, step = time.time(), [], 0
    total = sum(steps for _, steps, _ in args.phases)
    sharp_accuracy, extra = args.sharpen[0], int(args.sharpen[1])
    keep_bare = any(kind.startswith('bare') for kind, *_ in args.phases)
    # The Groma prompts mixed into the bare phases ask the expressions of the first phase that is not bare.
    prompt_expressions = next((e for kind, _, e in args.phases if not kind.startswith('bare')), args.expressions)
    for index, (kind, steps, expressions) in enumerate(args.phases):
        bare_phase = kind.startswith('bare')
        later = sum(n for _, n, _ in args.phases[index + 1:])
        recent, phase_step = [], 0
        while phase_step < steps or (bare_phase and phase_step < steps + extra and
                                     (len(recent) < 100 or sum(recent[-100:]) / 100 < sharp_accuracy)):
            phase_step += 1
            step += 1
            remaining = max(steps - phase_step, 0) + later
            for group in optimizer.param_groups:
                group['lr'] = args.lr * min(1.0, (remaining + 1) / max(args.decay_steps, 1))
            source, task.expressions = 'bare' if bare_phase else kind, expressions
            if bare_phase:
                if args.prompt_share and torch.rand((), generator=gen) < args.prompt_share:
                    source, task.expressions = 'short', prompt_expressions
            elif keep_bare and torch.rand((), generator=gen) < args.bare_share:
                source = 'bare'
            if source == 'bare':
                loss, accuracy = task.bare_loss(args.bare_batch_size if bare_phase else args.batch_size,
                                                int(kind[4:] or 0) if bare_phase else 0)
                recent.append(accuracy)
            else:
                loss, accuracy = task.prompt_loss(args.batch_size, source)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(llm.parameters(), 1.0)
            optimizer.step()
            if step % args.log_every == 0 or remaining == 0:
                log.append(dict(step=step, phase=kind, expressions=task.expressions, batch=source,
                                lr=optimizer.param_groups[0]['lr'], loss=round(loss.item(), 4),
                                proxy_accuracy=round(accuracy, 3)))
                print(f'stage 0 step {step} ({kind} {phase_step}/{steps} of {total}, {source} batch)  '
                      f'loss {loss.item():.4f}  <rK> accuracy {accuracy:.3f}  {time.time() - start:.0f} s', flush=True)
    llm.eval()
    task.describe, task.expressions = 0.0, args.phases[-1][2]
    with torch.no_grad():
        fresh = dict(bare=task.bare_loss(512)[1], short=task.prompt_loss(512, 'short')[1],
                     full=task.prompt_loss(512, 'full')[1])
    print('stage 0: <rK> accuracy on 512 fresh prompts: ' + ', '.join(f'{k} {v:.3f}' for k, v in fresh.items()))
    os.makedirs(args.out, exist_ok=True)
    llm.save_pretrained(args.out)
    model.tokenizer.save_pretrained(args.out)
    settings = dict(vars(args), phases=[':'.join(map(str, phase)) for phase in args.phases])
    with open(os.path.join(args.out, 'stage0_log.json'), 'w') as f:
        json.dump(dict(settings=settings, log=log, fresh_proxy_accuracy=fresh, wall_s=time.time() - start), f,
                  indent=1)


if __name__ == '__main__':
    main()
