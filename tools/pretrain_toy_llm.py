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

Where the lookup leaves its plateau is a draw (600 to over 1200 steps of ``bare5``, by seed). ``--sharpen ACC
EXTRA`` runs each bare phase up to EXTRA steps past its own until the ``<rK>`` accuracy of its last 100 batches
reaches ACC (the lr decay counts the phases' own steps); ``--bare-batch-size B`` gives the bare phases their own
batch size (at 16 the plateau is left in about as many steps, at half the cost a step). Neither is in the main
job (docs/main_job.md: batch 16 there changed which seeds drew good LLMs, not how many).
"""
import argparse
import json
import os
import re
import signal
import time

import torch
from mmengine.config import DictAction

from groma_mm.datasets.synthetic_world import COLOURS, SHAPES, SIZES
from groma_mm.datasets.synthetic_world.word_bag_lookup import WordBagLookup
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

    def report():  # reads the loop's current step
        log.append(dict(step=step, phase=kind, expressions=task.expressions, batch=source, loss=round(loss.item(), 4),
                        lr=optimizer.param_groups[0]['lr'], proxy_accuracy=round(accuracy, 3)))
        print(f'stage 0 step {step} ({kind} {phase_step}/{steps} of {total}, {source} batch)  loss {loss.item():.4f}  '
              f'<rK> accuracy {accuracy:.3f}  {time.time() - start:.0f} s', flush=True)

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
                recent.append(accuracy)  # only a bare phase reads it
            else:
                loss, accuracy = task.prompt_loss(args.batch_size, source)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(llm.parameters(), 1.0)
            optimizer.step()
            if step % args.log_every == 0:
                report()
    if not log or log[-1]['step'] != step:  # the last step, wherever --sharpen made it fall
        report()
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
