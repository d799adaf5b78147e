"""The main job on the embedded default: the whole three-stage Groma pipeline on the synthetic world.

It runs what a user runs — tools/make_synthetic_world.py, tools/train.py for stage 1 → 2 → 3,
tools/test.py, tools/infer.py — on the tiny configs, on CPU, and prints a summary table:

1. a synthetic grounding world in the public formats (COCO, RefCOCO, VG, Flickr30k Entities, chats);
2. stage 1: the tiny region proposer (class-agnostic), evaluated on held-out images (AR@100);
3. stage 2: alignment (region encoder, projectors, new tokens; frozen LLM);
4. stage 3: instruction finetuning (+ LLM);
5. REC Acc@0.5 and region-caption scores on held-out images;
6. a grounded caption of a held-out image, drawn with its boxes and phrases.

Everything goes under --root (default: the repository): data/synthetic_world/ and work_dirs/main_job/.

    python tools/run_main_job.py [--root DIR] [--train-images N] [--val-images N] [--quick]
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = dict(
    stage1=osp.join(REPO, 'configs/groma_proposer/groma-proposer_tiny-vit_1xb2-12e_synthetic.py'),
    stage2=osp.join(REPO, 'configs/groma/groma_tiny_1xb8-stage2-align_synthetic.py'),
    stage3=osp.join(REPO, 'configs/groma/groma_tiny_1xb8-stage3-instruct_synthetic.py'),
    caption_eval=osp.join(REPO, 'configs/groma/groma_tiny_synthetic_region-caption-eval.py'),
)
WORLD = 'data/synthetic_world'
WORK = 'work_dirs/main_job'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=REPO, help='folder that receives data/ and work_dirs/')
    parser.add_argument('--train-images', type=int, default=160)
    parser.add_argument('--val-images', type=int, default=24)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--stage1-epochs', type=int, default=None, help="default: the config's")
    parser.add_argument('--stage2-epochs', type=int, default=None, help="default: the config's")
    parser.add_argument('--stage3-epochs', type=int, default=None, help="default: the config's")
    parser.add_argument('--quick', action='store_true', help='a smoke run: tiny world, one epoch per stage')
    args = parser.parse_args()
    args.log_interval = None
    if args.quick:
        args.train_images, args.val_images = 6, 3
        args.stage1_epochs, args.stage2_epochs, args.stage3_epochs = 1, 2, 2
        args.log_interval = 1
    return args


class Steps:
    """Runs the tools as subprocesses from ``root`` and keeps their timings."""

    def __init__(self, root: str):
        self.root = root
        self.times = {}

    def run(self, name: str, script: str, *args: str) -> str:
        print(f'\n==> {name}: python {script} {" ".join(args)}', flush=True)
        start = time.time()
        # Stream the tool's log (progress) through while keeping it to read its results.
        proc = subprocess.Popen([sys.executable, osp.join(REPO, script), *args], cwd=self.root, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
        lines = []
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
        if proc.wait() != 0:
            raise SystemExit(f'{name} failed (exit {proc.returncode}); see the log above')
        self.times[name] = time.time() - start
        return ''.join(lines)


def cfg_options(*options: str) -> list:
    return ['--cfg-options', *options] if options else []


def epochs_options(epochs, validate: bool = True) -> list:
    """``--cfg-options`` that train for ``epochs`` epochs and save (and validate) at the end."""
    if not epochs:
        return []
    options = [f'train_cfg.max_epochs={epochs}', f'default_hooks.checkpoint.interval={epochs}']
    return options + ([f'train_cfg.val_interval={epochs}'] if validate else [])


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def printed_metrics(stdout: str) -> dict:
    """The metrics dict tools/test.py prints last."""
    line = [ln for ln in stdout.splitlines() if ln.startswith('{')][-1]
    return json.loads(line.replace("'", '"'))


def world_vocabulary(world: str) -> list:
    """Every word in the world's annotation text (json, txt, pickle), for the toy word-level tokenizer."""
    words = set()
    for path in glob.glob(osp.join(world, '**', '*'), recursive=True):
        if osp.isfile(path) and path.endswith(('.json', '.txt', '.p')):
            with open(path, 'rb') as f:
                words.update(re.findall(r'[A-Za-z]+', f.read().decode('latin-1')))
    return sorted(w.lower() for w in words)


def main():
    args = parse_args()
    os.makedirs(args.root, exist_ok=True)
    steps = Steps(args.root)
    t0 = time.time()
    world, work = osp.join(args.root, WORLD), osp.join(args.root, WORK)

    steps.run('world', 'tools/make_synthetic_world.py', world, '--train', str(args.train_images), '--val',
              str(args.val_images), '--seed', str(args.seed), '--img-size', '112')
    from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
    build_tiny_tokenizer(extra_words=world_vocabulary(world), save_dir=osp.join(world, 'tokenizer'))

    logging = [f'default_hooks.logger.interval={args.log_interval}'] if args.log_interval else []

    # Stage 1: the proposer on the world's COCO detection files (the tiny config's default data).
    stage1_dir = f'{WORK}/stage1_proposer'
    steps.run('stage 1 train', 'tools/train.py', CONFIGS['stage1'], '--work-dir', stage1_dir,
              *cfg_options(*epochs_options(args.stage1_epochs), *logging))
    stage1_ckpt = last_checkpoint(osp.join(args.root, stage1_dir))
    proposals = printed_metrics(
        steps.run('stage 1 test', 'tools/test.py', CONFIGS['stage1'], stage1_ckpt, '--work-dir', f'{WORK}/stage1_test'))

    # Stages 2 and 3: the MLLM on the world's REC / region / grounded-caption / chat files.
    common = [f'model.proposer_checkpoint={stage1_ckpt}']
    stage2 = common + epochs_options(args.stage2_epochs, validate=False)
    steps.run('stage 2 train', 'tools/train.py', CONFIGS['stage2'], '--work-dir', f'{WORK}/stage2', '--cfg-options',
              *stage2, *logging)
    stage2_ckpt = last_checkpoint(osp.join(work, 'stage2'))
    stage3 = common + [f'load_from={stage2_ckpt}'] + epochs_options(args.stage3_epochs, validate=False)
    steps.run('stage 3 train', 'tools/train.py', CONFIGS['stage3'], '--work-dir', f'{WORK}/stage3', '--cfg-options',
              *stage3, *logging)
    stage3_ckpt = last_checkpoint(osp.join(work, 'stage3'))

    rec = printed_metrics(
        steps.run('REC test', 'tools/test.py', CONFIGS['stage3'], stage3_ckpt, '--work-dir', f'{WORK}/rec_test',
                  '--dump-json', f'{WORK}/rec_predictions.json', '--cfg-options', *common))
    captions = printed_metrics(
        steps.run('region caption test', 'tools/test.py', CONFIGS['caption_eval'], stage3_ckpt, '--work-dir',
                  f'{WORK}/caption_test', '--dump-json', f'{WORK}/caption_predictions.json', '--cfg-options', *common))

    val_image = sorted(glob.glob(osp.join(world, 'images', '*.jpg')))[-1]
    steps.run('grounded inference', 'tools/infer.py', CONFIGS['stage3'], stage3_ckpt, '--image', val_image,
              '--prompt', 'Give me a short description of the image.', '--grounding', '--out-dir',
              f'{WORK}/inference', '--json', '--cfg-options', *common)

    def pick(metrics, suffix):
        return next((v for k, v in metrics.items() if k.endswith(suffix)), float('nan'))

    rows = [('proposer AR@100 (held-out)', proposals.get('coco/AR@100', float('nan'))),
            ('REC Acc@0.5 (held-out, %)', pick(rec, '/Acc@0.5')),
            ('region caption METEOR (held-out)', pick(captions, 'METEOR')),
            ('region caption CIDEr (held-out)', pick(captions, 'CIDEr'))]
    rows += [(f'time: {k}', f'{v:.0f} s') for k, v in steps.times.items()]
    rows += [('time: total', f'{time.time() - t0:.0f} s'),
             ('drawing', osp.join(work, 'inference', osp.splitext(osp.basename(val_image))[0] + '_groma.jpg'))]
    width = max(len(r[0]) for r in rows)
    print('\n' + '=' * (width + 40))
    for name, value in rows:
        print(f'{name:<{width}}  {value if isinstance(value, str) else format(value, ".3f")}')
    print('=' * (width + 40))


if __name__ == '__main__':
    main()
