"""An epoch-based training loop that resumes mid-epoch exactly where the checkpoint was written.

mmengine's ``EpochBasedTrainLoop`` restores the iteration counter on ``--resume`` but replays the
interrupted epoch from its first batch: a run killed after ``iter_6.pth`` of a 10-iteration epoch trains
16 iterations, its ETA goes negative and the last-iteration checkpoint never comes. This loop instead

- skips the batches of the interrupted epoch that were already trained on: through the sampler when it
  supports it (``LengthGroupedMixSampler.skip``: nothing is loaded), else by drawing and dropping them;
- then puts back the random-number state saved with the checkpoint (torch, CUDA, numpy, Python; written
  by :class:`~groma_mm.engine.AtomicCheckpointHook`) and the sampler's seed, so the following iterations
  see the same data, in the same order, with the same randomness as an uninterrupted run.

With ``num_workers > 0`` and random augmentations, the workers' random streams restart at the resumed
epoch; data order and model state are still exact.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.logging import MMLogger
from mmengine.runner import EpochBasedTrainLoop

from groma_mm.registry import LOOPS


def rng_state() -> dict:
    """Every global random state a training step may draw from."""
    state = dict(torch=torch.get_rng_state(), numpy=np.random.get_state(), python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state['torch'])
    np.random.set_state(state['numpy'])
    random.setstate(state['python'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` (same arguments) with exact mid-epoch resume (module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resume_state: Optional[dict] = None

    @property
    def sampler(self):
        return getattr(self.dataloader, 'sampler', None)

    def state_dict(self) -> dict:
        """What a checkpoint needs to resume this loop exactly (saved in ``meta['resume_state']``)."""
        state = dict(rng=rng_state())
        seed = getattr(self.sampler, 'seed', None)
        if seed is not None:
            state['sampler_seed'] = int(seed)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Keep a checkpoint's :meth:`state_dict` until the resumed epoch starts."""
        self.resume_state = state

    def run(self) -> torch.nn.Module:
        if self._iter == 0:  # a checkpoint given as load_from starts a new run: its state is not ours
            self.resume_state = None
        seed = (self.resume_state or {}).get('sampler_seed')
        if seed is not None and hasattr(self.sampler, 'seed'):
            self.sampler.seed = seed
        return super().run()

    def run_epoch(self) -> None:
        done = self._iter - self._epoch * len(self.dataloader)
        if done <= 0:  # a fresh epoch (resumed at an epoch boundary or not resumed at all)
            if self.resume_state is not None:
                set_rng_state(self.resume_state['rng'])
                self.resume_state = None
            return super().run_epoch()
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        MMLogger.get_current_instance().info(
            f'resuming epoch {self._epoch + 1} after its first {done} of {len(self.dataloader)} iterations')
        batch_size = getattr(self.dataloader, 'batch_size', None)
        skip = getattr(self.sampler, 'skip', None)
        sampler_skips = callable(skip) and bool(batch_size)
        if sampler_skips:
            skip(done * batch_size)
        iterator = iter(self.dataloader)
        if not sampler_skips:
            for _ in range(done):
                next(iterator)
        if self.resume_state is not None:
            # Creating the iterator and drawing skipped batches used randomness the uninterrupted run did not.
            set_rng_state(self.resume_state['rng'])
            self.resume_state = None
        batches = enumerate(iterator, start=done)
        for idx, data_batch in batches:
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
