"""Integration: stage-1 training and evaluation through tools/train.py and tools/test.py, as a user runs them."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest

from groma_mm.testing.coco_world import make_coco_dataset
from groma_mm.testing.paths import REPO_ROOT, TINY_PROPOSER_CONFIG


def _scalars(work_dir):
    (path, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny_coco')
    make_coco_dataset(str(root / 'train'), num_images=8, img_size=(112, 112), seed=0)
    make_coco_dataset(str(root / 'val'), num_images=4, img_size=(112, 112), seed=1)
    return str(root) + '/'


def _opts(data_root, epochs):
    data = []
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'), ('test_dataloader', 'val')):
        data += [f'{loader}.dataset.data_root={data_root}', f'{loader}.dataset.ann_file={split}/annotations.json',
                 f'{loader}.dataset.data_prefix.img={split}/images/']
    return ['--cfg-options', *data,
            f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}', 'default_hooks.logger.interval=1',
            f'default_hooks.checkpoint.interval={epochs}', 'randomness.seed=0']


def test_train_then_test_the_tiny_proposer(tiny_world, tmp_path):
    work_dir = str(tmp_path / 'train')
    subprocess.run([sys.executable, 'tools/train.py', TINY_PROPOSER_CONFIG, '--work-dir', work_dir,
                    *_opts(tiny_world, 4)], check=True, cwd=REPO_ROOT)
    losses = [row['loss'] for row in _scalars(work_dir) if 'loss' in row]
    assert len(losses) == 16
    assert all(l == l and l < 1e4 for l in losses)  # finite
    assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, losses
    ckpt = osp.join(work_dir, 'epoch_4.pth')
    assert osp.isfile(ckpt)

    out = subprocess.run([sys.executable, 'tools/test.py', TINY_PROPOSER_CONFIG, ckpt, '--work-dir',
                          str(tmp_path / 'test'), *_opts(tiny_world, 4)],
                         check=True, cwd=REPO_ROOT, capture_output=True, text=True)
    assert "'coco/AR@100'" in out.stdout and "'coco/bbox_mAP'" in out.stdout


def test_resume_continues_from_the_last_checkpoint(tiny_world, tmp_path):
    work_dir = str(tmp_path / 'train')
    subprocess.run([sys.executable, 'tools/train.py', TINY_PROPOSER_CONFIG, '--work-dir', work_dir,
                    *_opts(tiny_world, 1)], check=True, cwd=REPO_ROOT)
    out = subprocess.run([sys.executable, 'tools/train.py', TINY_PROPOSER_CONFIG, '--work-dir', work_dir, '--resume',
                          *_opts(tiny_world, 2)[:-1], 'default_hooks.checkpoint.interval=1', 'randomness.seed=0'],
                         check=True, cwd=REPO_ROOT, capture_output=True, text=True)
    assert 'resumed epoch: 1' in out.stdout + out.stderr
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))


def test_test_tool_names_a_missing_checkpoint(tmp_path):
    out = subprocess.run([sys.executable, 'tools/test.py', TINY_PROPOSER_CONFIG, str(tmp_path / 'nope.pth')],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and 'checkpoint not found' in out.stderr
