"""Command-line overrides: param schedulers follow a changed training length."""
import argparse

import torch
from mmengine.config import Config
from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR
from mmengine.registry import PARAM_SCHEDULERS

from groma_mm.testing.paths import REPO_ROOT
from groma_mm.utils import apply_cli_overrides

STAGE2 = f'{REPO_ROOT}/configs/groma/groma_tiny_1xb8-stage2-align_synthetic.py'
STAGE1 = f'{REPO_ROOT}/configs/groma_proposer/groma-proposer_tiny-vit_1xb2-12e_synthetic.py'


def _overridden(config, **options):
    cfg = Config.fromfile(config)
    apply_cli_overrides(cfg, argparse.Namespace(launcher='none', cfg_options=options, work_dir='w', config=config))
    return cfg


def _lrs(cfg, iters_per_epoch=4):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedulers = [PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=optimizer, **(
        dict(epoch_length=iters_per_epoch) if s.get('convert_to_iter_based') else {}))) for s in cfg.param_scheduler]
    assert all(isinstance(s, (CosineAnnealingLR, LinearLR)) for s in schedulers)
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs * iters_per_epoch):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for s in schedulers:
            s.step()
    return lrs


def test_a_longer_training_stretches_the_cosine_schedule():
    cfg = _overridden(STAGE2, **{'train_cfg.max_epochs': 6})
    cosine = next(s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR')
    assert cosine.end == 6
    lrs = _lrs(cfg)
    # After the peak the LR only falls: it does not climb back after the old end (epoch 2).
    peak = lrs.index(max(lrs))
    assert all(b <= a + 1e-12 for a, b in zip(lrs[peak:], lrs[peak + 1:])), lrs
    assert lrs[-1] < 0.05 * max(lrs)


def test_milestones_scale_with_the_epochs_and_explicit_schedules_are_kept():
    cfg = _overridden(STAGE1, **{'train_cfg.max_epochs': 24})
    assert cfg.param_scheduler[0].end == 24 and cfg.param_scheduler[0].milestones == [20]
    cfg = _overridden(STAGE1, **{'train_cfg.max_epochs': 24, 'param_scheduler.0.end': 30})
    assert cfg.param_scheduler[0].end == 30 and cfg.param_scheduler[0].milestones == [10]
