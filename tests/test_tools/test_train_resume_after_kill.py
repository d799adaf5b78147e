"""A stage-2 run killed (SIGKILL) mid-epoch and resumed with ``tools/train.py --resume`` logs exactly the losses
of an uninterrupted run, trains the epoch's iterations once, and ends with its final checkpoint."""
import copy
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config

from groma_mm.datasets.synthetic_world import generate_world
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT, TINY_PROPOSER_CONFIG
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer

STAGE2 = osp.join(REPO_ROOT, 'configs/groma/groma_tiny_1xb8-stage2-align_synthetic.py')
KILL_AFTER = 4  # the checkpoint whose appearance triggers the kill


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    generate_world(str(root / 'data/synthetic_world'), 6, 2, seed=0, img_size=112)
    build_tiny_tokenizer(save_dir=str(root / 'data/synthetic_world/tokenizer'))
    torch.manual_seed(0)
    proposer = MODELS.build(copy.deepcopy(Config.fromfile(TINY_PROPOSER_CONFIG).model))
    proposer.init_weights()
    torch.save(dict(state_dict=proposer.state_dict()), root / 'proposer.pth')
    return root


def _train(world, work_dir, *extra, save_every=1000):
    """tools/train.py on the world; checkpoints every ``save_every`` iterations and at the end (saving does not
    change the training, so the runs stay comparable)."""
    options = [f'model.proposer_checkpoint={world / "proposer.pth"}', 'model.shuffle_regions=True',
               'train_dataloader.batch_size=2', 'train_dataloader.sampler.batch_size=2',
               'train_dataloader.sampler.ratios=[0.15,0.15,0.15,0.15,0.15]', 'train_cfg.max_epochs=1',
               'default_hooks.logger.interval=1',
               'log_processor.window_size=1', 'default_hooks.checkpoint.by_epoch=False',
               f'default_hooks.checkpoint.interval={save_every}']
    return subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools/train.py'), STAGE2, '--work-dir', str(work_dir),
                             *extra, '--cfg-options', *options], cwd=world, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _losses(work_dir):
    """``{iteration: loss}`` logged by the latest run in ``work_dir``."""
    path = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))[-1]
    losses = {}
    with open(path) as f:
        for row in map(json.loads, f):
            if 'loss' in row:
                assert row['step'] not in losses, f'iteration {row["step"]} trained twice'
                losses[row['step']] = row['loss']
    return losses


def test_resume_after_sigkill_logs_the_uninterrupted_losses(world):
    full_dir, killed_dir = world / 'full', world / 'killed'
    full = _train(world, full_dir)
    killed = _train(world, killed_dir, save_every=KILL_AFTER)
    deadline = time.time() + 600
    while not osp.isfile(killed_dir / f'iter_{KILL_AFTER}.pth'):
        assert killed.poll() is None, killed.stdout.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert full.wait() == 0, full.stdout.read()[-3000:]
    reference = _losses(full_dir)
    iters = max(reference)
    assert KILL_AFTER + 5 <= iters and sorted(reference) == list(range(1, iters + 1))

    resumed = _train(world, killed_dir, '--resume')
    log = resumed.communicate()[0]
    assert resumed.returncode == 0, log[-3000:]
    after = _losses(killed_dir)
    # The resumed run trains each remaining iteration once (no replay of the interrupted epoch, none lost),
    # and its next five losses are those of the uninterrupted run, to the bit.
    assert sorted(after) == list(range(KILL_AFTER + 1, iters + 1)), sorted(after)
    assert [after[s] for s in range(KILL_AFTER + 1, KILL_AFTER + 6)] == \
        [reference[s] for s in range(KILL_AFTER + 1, KILL_AFTER + 6)]
    assert osp.isfile(killed_dir / f'iter_{iters}.pth') and 'eta: -' not in log
