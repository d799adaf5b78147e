"""Resuming from any checkpoint continues exactly as the uninterrupted run: same losses, same data, same length."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from groma_mm.registry import HOOKS, MODELS

ITERS_PER_EPOCH = 5


@MODELS.register_module(force=True)
class ToyDropoutRegressor(BaseModel):
    """A model whose loss draws from torch's RNG (dropout), as Groma's region shuffle does."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.net(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((out - torch.stack(data_samples)) ** 2).mean())
        return out


class NoisyToyDataset(Dataset):
    """Ten samples whose "augmentation" draws from numpy's global RNG, as mmcv transforms do."""

    lengths = np.arange(10) % 4 + 1

    def __len__(self):
        return 10

    def __getitem__(self, i):
        x = torch.full((4, ), float(i)) + torch.from_numpy(np.random.randn(4)).float() * 0.1
        return dict(inputs=x, data_samples=torch.tensor([float(i % 3)]))


@HOOKS.register_module(force=True)
class LossRecorder(Hook):

    def __init__(self):
        self.losses = {}
        self.batches = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[runner.iter + 1] = outputs['loss'].item()
        self.batches[runner.iter + 1] = torch.stack(data_batch['inputs'])[:, 0].round().tolist()


def _runner(work_dir, sampler, resume_from=None):
    return Runner(
        model=dict(type='ToyDropoutRegressor'),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=NoisyToyDataset(), sampler=sampler, batch_size=2, num_workers=0,
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(type='ResumableEpochBasedTrainLoop', max_epochs=2),
        optim_wrapper=dict(type='SkipNonFiniteOptimWrapper', optimizer=dict(type='AdamW', lr=0.05)),
        param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=2, convert_to_iter_based=True)],
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='LossRecorder')],
        randomness=dict(seed=3),
        load_from=resume_from, resume=resume_from is not None,
        default_scope='groma_mm')


def _recorder(runner):
    return next(h for h in runner.hooks if isinstance(h, LossRecorder))


SAMPLERS = {
    'DefaultSampler': dict(type='DefaultSampler', shuffle=True),
    'LengthGroupedMixSampler': dict(type='LengthGroupedMixSampler', batch_size=2, megabatch_mult=2),
}


@pytest.mark.parametrize('sampler', sorted(SAMPLERS))
@pytest.mark.parametrize('stop', [2, 5, 8])  # mid first epoch, epoch boundary, mid second epoch
def test_resume_continues_with_the_uninterrupted_losses(tmp_path, sampler, stop):
    full = _runner(tmp_path / 'full', SAMPLERS[sampler])
    full.train()
    reference = _recorder(full)
    assert len(reference.losses) == 2 * ITERS_PER_EPOCH

    resumed = _runner(tmp_path / 'resumed', SAMPLERS[sampler], osp.join(tmp_path, 'full', f'iter_{stop}.pth'))
    resumed.train()
    again = _recorder(resumed)
    # Only the remaining iterations run (no replay of the interrupted epoch), with the same batches and losses.
    assert sorted(again.losses) == list(range(stop + 1, 2 * ITERS_PER_EPOCH + 1))
    for step in again.losses:
        assert again.batches[step] == reference.batches[step], step
        assert again.losses[step] == reference.losses[step], step
    assert osp.isfile(tmp_path / 'resumed' / f'iter_{2 * ITERS_PER_EPOCH}.pth')
