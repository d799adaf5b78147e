"""Every shipped config (and the mmdet project's) loads and renders; bases must not clash."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from groma_mm.testing.paths import REPO_ROOT

CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True) +
                 glob.glob(osp.join(REPO_ROOT, 'projects', '*', 'configs', '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, REPO_ROOT) for p in CONFIGS])
def test_config_loads(path):
    cfg = Config.fromfile(path)
    assert cfg.pretty_text
    if 'model' in cfg:
        assert cfg.model.type


def test_paper_stage1_schedule_counts_iterations():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/groma_proposer/groma-proposer_dinov2-l14_8xb8-12e_det-mix.py'))
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 12 * (5_700_000 // 64)
    assert cfg.optim_wrapper.optimizer.lr == 2e-4 and cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.default_hooks.checkpoint.by_epoch is False
