"""Can the toy LLM learn Groma's REC lookup without an image? Text-only REC in Groma's own prompt format.

Groma starts from a pretrained LLM (Vicuna), which already resolves a phrase against a list in its
context (previous-token and induction heads). The main job's random 2-layer toy LLaMA does not, and
``pointer_hops.py`` shows that it needs some 50 000 lookups to learn a bare version of it. This script
asks the same of the real prompt, as a "stage 0" before any image would be seen (the role language
pretraining plays for Vicuna): prompts in Groma's format (the intro with ``<rK><region>`` entries, an REC
instruction of Table 9, the ``<roi><rK></roi>`` reply), with the image slots zero and each region slot
holding a "word bag", the sum of the LLM's own embeddings of an object's words (size, colour, shape) plus
noise. The LLM (all of it) learns to answer with the proxy token of the entry that matches the phrase.

It prints the ``<rK>`` accuracy of the training batches as it goes and on fresh prompts at the end, and
writes an HF folder (weights, and the tokenizer with Groma's tokens) that stages 2 and 3 load as a user
loads Vicuna: ``model.llm.pretrained=DIR model.llm.config=None model.tokenizer.pretrained=DIR``::

    python tools/analysis/text_only_rec.py CONFIG --out DIR [--steps N] [--batch-size B] [--lr LR]
        [--max-regions N] [--warmup-steps N] [--seed S] [--cfg-options ...]

``--warmup-steps N`` is a curriculum: the first N steps show 2 regions per prompt and no system line.
"""
import argparse
import itertools
import json
import os
import time

import torch
from mmengine.config import DictAction

from groma_mm.datasets.instruction_templates import TABLE9
from groma_mm.datasets.synthetic_world import COLOURS, SHAPES, SIZES
from groma_mm.models.llms.reply_loss import reply_logits, token_cross_entropy
from groma_mm.registry import MODELS
from groma_mm.utils import load_config, register_all_modules

NOISE = 0.3  # × the word bag's norm


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a Groma config (its tokenizer, LLM and prompt are used)')
    parser.add_argument('--out', required=True, help='HF folder to write')
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--max-regions', type=int, default=8)
    parser.add_argument('--warmup-steps', type=int, default=0,
                        help='a curriculum: the first N steps show 2 regions per prompt and no system line, '
                        "then 2 to --max-regions under the template's system line")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--log-every', type=int, default=100)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings in the config')
    return parser.parse_args(argv)


class WordBagLookup:
    """Text-only REC prompts over objects named by their words, for one Groma model's LLM and prompt."""

    OBJECTS = list(itertools.product(SIZES, COLOURS, SHAPES))

    def __init__(self, model, max_regions: int, gen: torch.Generator) -> None:
        self.model, self.max_regions, self.gen = model, max_regions, gen
        self.regions_cap, self.system = max_regions, model.prompt_builder.system
        vocab = model.tokenizer.get_vocab()
        missing = sorted({w for obj in self.OBJECTS for w in obj} - set(vocab))
        if missing:
            raise ValueError(f'the tokenizer ({model.tokenizer.name_or_path}) lacks the object words {missing}: '
                             'use the tokenizer tools/run_main_job.py writes beside the world')
        self.word_ids = torch.tensor([[vocab[w] for w in obj] for obj in self.OBJECTS])

    def warm_up(self, on: bool) -> None:
        """The curriculum's easy phase while ``on``: 2 regions per prompt and no system line."""
        self.regions_cap = 2 if on else self.max_regions
        self.model.prompt_builder.system = '' if on else self.system

    def _randint(self, n: int) -> int:
        return int(torch.randint(n, (1, ), generator=self.gen))

    def _sample(self):
        """(conversation, objects of the regions, asked region)."""
        n = 2 + self._randint(self.regions_cap - 1)
        objects = torch.randperm(len(self.OBJECTS), generator=self.gen)[:n].tolist()
        asked = self._randint(n)
        size, colour, shape = self.OBJECTS[objects[asked]]
        # As the world's expressions: colour and shape, the size only when they are not enough.
        others = [self.OBJECTS[o] for k, o in enumerate(objects) if k != asked]
        ambiguous = any(c == colour and s == shape for _, c, s in others)
        expression = ' '.join(['the'] + ([size] if ambiguous else []) + [colour, shape])
        templates = TABLE9['rec']
        question = templates[self._randint(len(templates))].format(expression=expression)
        conversation = [dict(role='user', content=question), dict(role='assistant', content='<roi><box0></roi>')]
        return conversation, objects, asked

    def batch(self, batch_size: int):
        """Padded prompts (``GromaPromptBuilder.pad``) and their input embeddings (B, L, D)."""
        builder = self.model.prompt_builder
        prompts, objects = [], []
        for _ in range(batch_size):
            conversation, objs, asked = self._sample()
            prompts.append(builder(conversation, len(objs), {0: asked}))
            objects.append(torch.tensor(objs))
        batch = builder.pad(prompts, padding_side='right')
        embed = self.model.llm.get_input_embeddings()
        embeds = embed(batch['input_ids']) * (~batch['image_mask'])[..., None]
        bags = [embed(self.word_ids[objs]).sum(1) for objs in objects]
        bags = [b + NOISE * b.norm(dim=-1, keepdim=True) / b.shape[-1] ** 0.5 * torch.randn(b.shape, generator=self.gen)
                for b in bags]
        slots = torch.cat([b[ids] for b, ids in zip(bags, batch['region_slot_ids'])])
        embeds = embeds.masked_scatter(batch['region_mask'][..., None], slots)
        return batch, embeds


def proxy_accuracy(logits: torch.Tensor, targets: torch.Tensor, proxy_ids: torch.Tensor) -> float:
    """Share of the ``<rK>`` targets predicted right (teacher forcing); logits (B, K, V), targets (B, K)."""
    logits, targets = logits.flatten(0, 1), targets.flatten()
    is_proxy = torch.isin(targets, proxy_ids)
    return (logits[is_proxy].argmax(-1) == targets[is_proxy]).float().mean().item()


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    torch.manual_seed(args.seed)
    cfg.model.proposer_checkpoint = None
    model = MODELS.build(cfg.model)
    llm = model.llm
    llm.requires_grad_(True)
    llm.train()
    task = WordBagLookup(model, args.max_regions, torch.Generator().manual_seed(args.seed))
    proxy_ids = torch.tensor(model.prompt_builder.token_ids.proxy)
    optimizer = torch.optim.AdamW(llm.parameters(), lr=args.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps, pct_start=0.05)
    start, log = time.time(), []
    for step in range(1, args.steps + 1):
        task.warm_up(step <= args.warmup_steps)
        batch, embeds = task.batch(args.batch_size)
        logits, targets = reply_logits(llm, embeds, batch['attention_mask'], batch['labels'])
        loss = token_cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(llm.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if step % args.log_every == 0 or step == args.steps:
            accuracy = proxy_accuracy(logits.detach(), targets, proxy_ids)
            log.append(dict(step=step, loss=round(loss.item(), 4), proxy_accuracy=round(accuracy, 3)))
            print(f'stage 0 step {step}/{args.steps}  loss {loss.item():.4f}  <rK> accuracy {accuracy:.3f}  '
                  f'{time.time() - start:.0f} s', flush=True)
    llm.eval()
    task.warm_up(False)
    with torch.no_grad():
        batch, embeds = task.batch(512)
        logits, targets = reply_logits(llm, embeds, batch['attention_mask'], batch['labels'])
        held_out = proxy_accuracy(logits, targets, proxy_ids)
    print(f'stage 0: <rK> accuracy on 512 fresh prompts {held_out:.3f}')
    os.makedirs(args.out, exist_ok=True)
    llm.save_pretrained(args.out)
    model.tokenizer.save_pretrained(args.out)
    with open(os.path.join(args.out, 'stage0_log.json'), 'w') as f:
        json.dump(dict(settings=vars(args), log=log, fresh_proxy_accuracy=held_out, wall_s=time.time() - start), f,
                  indent=1)


if __name__ == '__main__':
    main()
