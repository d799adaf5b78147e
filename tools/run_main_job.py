"""The main job on the embedded default: generate a small synthetic world and train/evaluate on it.

Runs the real entry points (``tools/train.py``, ``tools/test.py``) on the tiny configs, the way a user
would, and prints a summary table. Everything is generated locally; nothing is downloaded.

    python tools/run_main_job.py [--work-dir work_dirs/main_job] [--data-root data/tiny_coco]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE1_CONFIG = osp.join(REPO, 'configs/groma_proposer/groma-proposer_tiny-vit_1xb2-20e_synthetic.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/main_job'))
    parser.add_argument('--data-root', default=osp.join(REPO, 'data/tiny_coco'))
    parser.add_argument('--train-images', type=int, default=64)
    parser.add_argument('--val-images', type=int, default=16)
    parser.add_argument('--epochs', type=int, default=None, help='override the stage-1 epochs of the config')
    return parser.parse_args()


def run(step: str, cmd: list) -> float:
    print(f'\n==> {step}: {" ".join(cmd)}', flush=True)
    start = time.time()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.time() - start


def latest_metrics(work_dir: str) -> dict:
    """The last metrics line that mmengine wrote under ``work_dir`` (``<timestamp>/vis_data/scalars.json``)."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)) and d[:8].isdigit())
    for run_dir in reversed(runs):
        path = osp.join(work_dir, run_dir, f'{run_dir}.json')
        if osp.exists(path):
            with open(path) as f:
                return json.loads(f.readlines()[-1])
    raise FileNotFoundError(f'no metrics json under {work_dir}')


def main():
    args = parse_args()
    from groma_mm.testing.coco_world import make_coco_dataset

    t0 = time.time()
    for split, n, seed in (('train', args.train_images, 0), ('val', args.val_images, 1)):
        make_coco_dataset(osp.join(args.data_root, split), num_images=n, img_size=(112, 112), seed=seed)
    print(f'generated {args.train_images} train / {args.val_images} val images under {args.data_root}')

    stage1_dir = osp.join(args.work_dir, 'stage1_proposer')
    opts = [f'train_dataloader.dataset.data_root={args.data_root}/', f'val_dataloader.dataset.data_root={args.data_root}/',
            f'test_dataloader.dataset.data_root={args.data_root}/']
    if args.epochs:
        opts += [f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}']
    times = {}
    times['stage 1 train'] = run('stage 1: train the region proposer',
                                 [sys.executable, 'tools/train.py', STAGE1_CONFIG, '--work-dir', stage1_dir,
                                  '--cfg-options', *opts])
    with open(osp.join(stage1_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    test_dir = osp.join(args.work_dir, 'stage1_test')
    times['stage 1 test'] = run('stage 1: evaluate proposals on held-out images',
                                [sys.executable, 'tools/test.py', STAGE1_CONFIG, ckpt, '--work-dir', test_dir,
                                 '--cfg-options', *opts])
    metrics = latest_metrics(test_dir)

    rows = [('proposer AR@100 (held-out)', metrics.get('coco/AR@100')),
            ('proposer AP (held-out)', metrics.get('coco/bbox_mAP'))]
    rows += [(f'time: {k}', f'{v:.0f} s') for k, v in times.items()]
    rows.append(('time: total', f'{time.time() - t0:.0f} s'))
    width = max(len(r[0]) for r in rows)
    print('\n' + '=' * (width + 14))
    for name, value in rows:
        print(f'{name:<{width}}  {value if isinstance(value, str) else format(value, ".3f")}')
    print('=' * (width + 14))


if __name__ == '__main__':
    main()
