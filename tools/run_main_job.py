"""The main job on the embedded default: the whole Groma pipeline, stages 0 to 3, on the synthetic world.

It runs what a user runs — tools/make_synthetic_world.py, tools/pretrain_toy_llm.py, tools/train.py for
stage 1 → 2 → 3, tools/test.py, tools/analysis/draw_grounded_examples.py — on the tiny configs, on CPU:

1. a synthetic grounding world in the public formats (COCO, RefCOCO, VG, Flickr30k Entities, chats);
2. stage 0: the toy LLM's pretraining (Vicuna's part in the paper: text-only lookups in Groma's prompt),
   beside stage 1: the tiny region proposer (class-agnostic), evaluated on held-out images (AR@100);
3. stage 2: alignment (region encoder, projectors, new tokens; frozen LLM);
4. stage 3: instruction finetuning (+ LLM);
5. REC Acc@0.5 and, beside it, region-caption scores on held-out images;
6. grounded answers (REC box, grounded caption, referring answer) on 4 held-out images, drawn in one picture.

Everything goes under --root (default: the repository): data/synthetic_world/ and work_dirs/main_job/, where
summary.json (every metric, wall and CPU time of each step), summary.md (the table) and
grounded_examples.png are written at the end.

    python tools/run_main_job.py [--root DIR] [--train-images N] [--val-images N] [--seed S] [--train-seed S]
        [--stage1-epochs N] [--stage2-epochs N] [--stage3-epochs N] [--stage3-share P] [--quick]
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = dict(
    stage0=osp.join(REPO, 'configs/groma/groma_tiny_stage0-llm-pretrain_synthetic.py'),
    stage1=osp.join(REPO, 'configs/groma_proposer/groma-proposer_tiny-vit_1xb2-12e_synthetic.py'),
    stage2=osp.join(REPO, 'configs/groma/groma_tiny_1xb8-stage2-align_synthetic.py'),
    stage3=osp.join(REPO, 'configs/groma/groma_tiny_1xb8-stage3-instruct_synthetic.py'),
    caption_eval=osp.join(REPO, 'configs/groma/groma_tiny_synthetic_region-caption-eval.py'),
)
WORLD = 'data/synthetic_world'
WORK = 'work_dirs/main_job'
# Stage 0's curriculum (tools/pretrain_toy_llm.py): the bare lookup over 5, then up to 8 word bags, then
# Groma's prompts from `Regions:` on and whole, asking the world's own expressions, with random image slots
# (a quarter of them holding the prompt's own objects, as real image tokens do) and region descriptions (half
# the prompts), and region slots of any norm from half a bag's to five times (stage 2's tokens grow). The quick run
# only checks that the stage runs.
STAGE0 = ['--phases', 'bare5:1200', 'bare:1000', 'short:600:world', 'full:1000:world', '--describe', '0.5',
          '--image-noise', '2', '--image-bags', '0.25', '--slot-scale', '5', '--lr', '1e-3', '--decay-steps', '500',
          '--log-every', '100']
STAGE0_QUICK = ['--phases', 'bare3:2', 'short:2:world', 'full:2:world', '--describe', '0.3', '--image-noise', '2',
                '--log-every', '1']


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=REPO, help='folder that receives data/ and work_dirs/')
    # 320 training images: REC on held-out images is limited by how many distinct scenes alignment sees (with
    # 160 images, 3 epochs of stage 2 reached 60 % held-out and 81 % on training expressions; 320 images for
    # 2 epochs, about the same number of steps, 76 %). Stages 1 and 3 see each image fewer times for that.
    parser.add_argument('--train-images', type=int, default=320, help='training images of the world')
    parser.add_argument('--val-images', type=int, default=24)
    parser.add_argument('--seed', type=int, default=0, help='world seed (0: the default world)')
    parser.add_argument('--train-seed', type=int, default=0, help='seed of every training stage')
    # Stage 1 runs beside stage 0, which takes longer: 8 epochs of 320 images (the config's 12 of fewer) cost
    # little wall time.
    parser.add_argument('--stage1-epochs', type=int, default=8)
    # Alignment is where REC is learnt (stage 3 added 0-2 points on top of it), so within the budget stage 2
    # gets 2 epochs and stage 3 one epoch of half of each of its datasets (the configs: 2 epochs of all).
    parser.add_argument('--stage2-epochs', type=int, default=2, help='alignment epochs (the config says 2)')
    parser.add_argument('--stage3-epochs', type=int, default=1, help='instruction-tuning epochs (the config says 2)')
    parser.add_argument('--stage3-share', type=float, default=0.5,
                        help="share of each stage-3 dataset an epoch samples (× the config's sampler ratios)")
    parser.add_argument('--quick', action='store_true', help='a smoke run: tiny world, one epoch per stage')
    args = parser.parse_args()
    if not args.stage3_share > 0:
        parser.error(f'--stage3-share is the share of each stage-3 dataset an epoch samples: > 0, got {args.stage3_share}')
    args.log_interval = None
    if args.quick:
        args.train_images, args.val_images = 6, 3
        args.stage1_epochs, args.stage2_epochs, args.stage3_epochs, args.stage3_share = 1, 2, 2, 1.0
        args.log_interval = 1
    return args


class Steps:
    """Runs the tools as subprocesses from ``root`` and keeps their wall and CPU (user + sys) times."""

    def __init__(self, root: str):
        self.root = root
        self.times = {}
        self.cpu_times = {}

    def _popen(self, script: str, args: tuple, threads: int, **kwargs) -> subprocess.Popen:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
        return subprocess.Popen([sys.executable, osp.join(REPO, script), *args], cwd=self.root, text=True,
                                env=env, **kwargs)

    def _finish(self, name: str, proc: subprocess.Popen, start: float, where: str) -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f'{name} failed (exit {proc.returncode}); see {where}')
        self.times[name] = time.time() - start
        self.cpu_times[name] = usage.ru_utime + usage.ru_stime

    def run(self, name: str, script: str, *args: str, threads: int = 0) -> str:
        """Runs a tool (with ``threads`` torch threads, 0: its default) and returns its output."""
        print(f'\n==> {name}: python {script} {" ".join(args)}', flush=True)
        start = time.time()
        # Stream the tool's log (progress) through while keeping it to read its results.
        proc = self._popen(script, args, threads, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
        lines = []
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
        self._finish(name, proc, start, 'the log above')
        return ''.join(lines)

    def start(self, name: str, script: str, *args: str, log: str, threads: int = 1):
        """Starts a tool beside the next steps, its output going to ``log``; :meth:`wait` collects it."""
        print(f'\n==> {name} (beside the next steps, log {log}): python {script} {" ".join(args)}', flush=True)
        os.makedirs(osp.dirname(log), exist_ok=True)
        with open(log, 'w') as out:
            proc = self._popen(script, args, threads, stdout=out, stderr=subprocess.STDOUT)
        return name, proc, time.time(), log

    @staticmethod
    def signal(started, signum: int) -> None:
        """Sends ``signum`` to a started tool (one that has ended is a zombie until :meth:`wait`: no-op)."""
        os.kill(started[1].pid, signum)

    @contextlib.contextmanager
    def beside(self, started):
        """Runs the block while a started tool goes on; the tool is terminated if the block fails or is
        interrupted, so no orphan is left running."""
        try:
            yield
        except BaseException:
            self.signal(started, signal.SIGTERM)
            raise

    def wait(self, started) -> str:
        """Waits for a started tool and returns its output."""
        name, proc, start, log = started
        self._finish(name, proc, start, log)
        print(f'\n==> {name} done in {self.times[name]:.0f} s (log {log})', flush=True)
        with open(log) as f:
            return f.read()


def cfg_options(*options: str) -> list:
    return ['--cfg-options', *options] if options else []


def epochs_options(epochs, validate: bool = True) -> list:
    """``--cfg-options`` that train for ``epochs`` epochs and save (and validate) at the end."""
    if not epochs:
        return []
    options = [f'train_cfg.max_epochs={epochs}', f'default_hooks.checkpoint.interval={epochs}']
    return options + ([f'train_cfg.val_interval={epochs}'] if validate else [])


def sampler_share_options(config: str, share: float) -> list:
    """``--cfg-options`` that scale the per-dataset ratios of ``config``'s training sampler by ``share``."""
    if share == 1:
        return []
    from mmengine.config import Config
    ratios = Config.fromfile(config).train_dataloader.sampler.ratios
    return ['train_dataloader.sampler.ratios=[' + ','.join(f'{r * share:g}' for r in ratios) + ']']


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def printed_metrics(stdout: str) -> dict:
    """The metrics dict tools/test.py prints last."""
    line = [ln for ln in stdout.splitlines() if ln.startswith('{')][-1]
    return json.loads(line.replace("'", '"'))


def summary_rows(metrics: dict) -> list:
    """(name, value) rows of the summary table."""
    def pick(group, suffix):
        return next((v for k, v in metrics[group].items() if k.endswith(suffix)), float('nan'))

    return [('proposer AR@100 (held-out)', metrics['proposals'].get('coco/AR@100', float('nan'))),
            ('REC Acc@0.5 (held-out, %)', pick('rec', '/Acc@0.5')),
            ('REC expressions whose size/colour/shape words alone name the target (held-out, %)',
             metrics['rec_reference']['attribute_words_suffice']),
            ('region caption METEOR (held-out)', pick('captions', 'METEOR')),
            ('region caption CIDEr (held-out)', pick('captions', 'CIDEr'))]


def write_summary(work: str, metrics: dict, steps: Steps, total: float, picture: str, args) -> str:
    """summary.json (every metric and time) and summary.md (the table); returns the table as text."""
    rows = summary_rows(metrics)
    cpu_total = sum(steps.cpu_times.values())
    with open(osp.join(work, 'summary.json'), 'w') as f:
        json.dump(dict(summary=dict(rows), metrics=metrics, wall_s=dict(steps.times, total=total),
                       cpu_s=dict(steps.cpu_times, total=cpu_total), picture=picture,
                       settings=dict(seed=args.seed, train_seed=args.train_seed, train_images=args.train_images,
                                     val_images=args.val_images, stage1_epochs=args.stage1_epochs,
                                     stage2_epochs=args.stage2_epochs, stage3_epochs=args.stage3_epochs,
                                     stage3_share=args.stage3_share, quick=args.quick, cpu_count=os.cpu_count())),
                  f, indent=1)
    lines = ['| result | value |', '|---|---|']
    lines += [f'| {name} | {value:.3f} |' for name, value in rows]
    lines += ['', '| step | wall (s) | CPU user+sys (s) |', '|---|---|---|']
    lines += [f'| {name} | {steps.times[name]:.0f} | {steps.cpu_times[name]:.0f} |' for name in steps.times]
    lines += [f'| total | {total:.0f} | {cpu_total:.0f} |', '', f'![grounded answers]({osp.basename(picture)})', '']
    table = '\n'.join(lines)
    with open(osp.join(work, 'summary.md'), 'w') as f:
        f.write(table)
    return table


def main():
    args = parse_args()
    os.makedirs(args.root, exist_ok=True)
    steps = Steps(args.root)
    t0 = time.time()
    world, work = osp.join(args.root, WORLD), osp.join(args.root, WORK)

    steps.run('world', 'tools/make_synthetic_world.py', world, '--train', str(args.train_images), '--val',
              str(args.val_images), '--seed', str(args.seed), '--img-size', '112', '--no-progress')
    from groma_mm.datasets.synthetic_world import world_vocabulary
    from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
    build_tiny_tokenizer(extra_words=world_vocabulary(world), save_dir=osp.join(world, 'tokenizer'))

    logging = [f'default_hooks.logger.interval={args.log_interval}'] if args.log_interval else []
    seed = [f'randomness.seed={args.train_seed}']

    # Stage 0, the toy LLM's pretraining (Vicuna's in the paper), needs only the world's words and stage 1 only
    # its images: they run side by side, one core each.
    llm_dir = f'{WORK}/stage0_llm'
    stage0 = steps.start('stage 0 train (LLM)', 'tools/pretrain_toy_llm.py', CONFIGS['stage0'], '--out', llm_dir,
                         '--seed', str(args.train_seed), *(STAGE0_QUICK if args.quick else STAGE0),
                         log=osp.join(work, 'stage0_llm.log'))
    # Stage 1: the proposer on the world's COCO detection files (the tiny config's default data).
    stage1_dir = f'{WORK}/stage1_proposer'
    with steps.beside(stage0):
        steps.run('stage 1 train', 'tools/train.py', CONFIGS['stage1'], '--work-dir', stage1_dir,
                  *cfg_options(*epochs_options(args.stage1_epochs), *logging, *seed), threads=1)
        stage1_ckpt = last_checkpoint(osp.join(args.root, stage1_dir))
        proposals = printed_metrics(
            steps.run('stage 1 test', 'tools/test.py', CONFIGS['stage1'], stage1_ckpt, '--work-dir',
                      f'{WORK}/stage1_test', threads=1))
    steps.signal(stage0, signal.SIGUSR1)  # stage 0 may take both cores now
    steps.wait(stage0)

    # Stages 2 and 3: the MLLM on the world's REC / region / grounded-caption / chat files, with stage 0's LLM.
    common = [f'model.proposer_checkpoint={stage1_ckpt}', f'model.llm.pretrained={llm_dir}', 'model.llm.config=None',
              f'model.tokenizer.pretrained={llm_dir}']
    stage2 = common + epochs_options(args.stage2_epochs, validate=False)
    steps.run('stage 2 train', 'tools/train.py', CONFIGS['stage2'], '--work-dir', f'{WORK}/stage2', '--cfg-options',
              *stage2, *logging, *seed)
    stage2_ckpt = last_checkpoint(osp.join(work, 'stage2'))
    stage3 = common + [f'load_from={stage2_ckpt}'] + epochs_options(args.stage3_epochs, validate=False)
    stage3 += sampler_share_options(CONFIGS['stage3'], args.stage3_share)
    steps.run('stage 3 train', 'tools/train.py', CONFIGS['stage3'], '--work-dir', f'{WORK}/stage3', '--cfg-options',
              *stage3, *logging, *seed)
    stage3_ckpt = last_checkpoint(osp.join(work, 'stage3'))

    # The region caption test runs beside the REC test and the picture, one core each.
    caption_test = steps.start('region caption test', 'tools/test.py', CONFIGS['caption_eval'], stage3_ckpt,
                               '--work-dir', f'{WORK}/caption_test', '--dump-json', f'{WORK}/caption_predictions.json',
                               '--cfg-options', *common, log=osp.join(work, 'caption_test.log'))
    picture = osp.join(work, 'grounded_examples.png')
    with steps.beside(caption_test):
        # An REC reply is "<roi><rK></roi>" and the end token: 4 new tokens (the official evaluation allows 3).
        rec = printed_metrics(
            steps.run('REC test', 'tools/test.py', CONFIGS['stage3'], stage3_ckpt, '--work-dir', f'{WORK}/rec_test',
                      '--dump-json', f'{WORK}/rec_predictions.json', '--cfg-options', *common,
                      'model.generation_cfg.max_new_tokens=4', threads=1))
        steps.run('grounded answers', 'tools/analysis/draw_grounded_examples.py', CONFIGS['stage3'], stage3_ckpt,
                  '--world', world, '--out', picture, '--num', str(min(4, args.val_images)), '--cfg-options', *common,
                  threads=1)
    captions = printed_metrics(steps.wait(caption_test))

    # What REC needs beyond matching appearance: the rest of the expressions name their target by layout.
    from groma_mm.datasets.synthetic_world.rec_levels import rec_reference_levels
    metrics = dict(proposals=proposals, rec=rec, rec_reference=rec_reference_levels(world, 'val'), captions=captions)
    table = write_summary(work, metrics, steps, time.time() - t0, picture, args)
    print('\n' + table)
    print(f'summary: {osp.join(work, "summary.json")}, {osp.join(work, "summary.md")}; picture: {picture}')


if __name__ == '__main__':
    main()
