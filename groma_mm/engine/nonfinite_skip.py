"""Optimizer wrappers that skip the update of a step whose loss is NaN or infinite.

One non-finite loss back-propagated into the weights ends a run: every later loss is NaN. These wrappers
check the loss before ``backward``; a non-finite one is not back-propagated, the step's gradients are
dropped and the weights and optimizer state stay as they were (the model logs the batch's samples, see
``Groma.loss``). After ``max_nonfinite_in_a_row`` such steps in a row training stops with
:class:`NonFiniteLossError`: something other than one bad batch is wrong. Under distributed training the
ranks agree (one rank's non-finite loss skips the step everywhere), so they stay in lockstep.
"""
import torch
import torch.distributed as dist
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from groma_mm.registry import OPTIM_WRAPPERS


class NonFiniteLossError(RuntimeError):
    """Too many non-finite losses in a row."""


class _SkipNonFinite:
    """The skipping logic, mixed into mmengine's ``OptimWrapper`` and ``AmpOptimWrapper``."""

    def __init__(self, *args, max_nonfinite_in_a_row: int = 5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if max_nonfinite_in_a_row < 1:
            raise ValueError(f'max_nonfinite_in_a_row must be >= 1, got {max_nonfinite_in_a_row}')
        self.max_nonfinite_in_a_row = max_nonfinite_in_a_row
        self.nonfinite_in_a_row = 0
        self.num_skipped_steps = 0

    @staticmethod
    def _all_finite(loss: torch.Tensor) -> bool:
        finite = torch.isfinite(loss.detach()).all().to(torch.float32)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite.item())

    def update_params(self, loss: torch.Tensor, step_kwargs=None, zero_kwargs=None) -> None:
        if self._all_finite(loss):
            self.nonfinite_in_a_row = 0
            return super().update_params(loss, step_kwargs, zero_kwargs)
        self.nonfinite_in_a_row += 1
        self.num_skipped_steps += 1
        self._inner_count += 1  # the step happened, without an update: keep gradient accumulation aligned
        self.zero_grad(**(zero_kwargs or {}))
        where = MessageHub.get_current_instance().get_info('iter')
        message = (f'non-finite loss {loss.detach().float().mean().item()} at iteration '
                   f'{"?" if where is None else where + 1}: update skipped ({self.nonfinite_in_a_row} in a row, '
                   f'{self.num_skipped_steps} in all)')
        if self.nonfinite_in_a_row >= self.max_nonfinite_in_a_row:
            raise NonFiniteLossError(f'{message}; stopping after {self.max_nonfinite_in_a_row} in a row '
                                     '(optim_wrapper.max_nonfinite_in_a_row): check the learning rate and the data')
        MMLogger.get_current_instance().warning(message)


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteOptimWrapper(_SkipNonFinite, OptimWrapper):
    """mmengine ``OptimWrapper`` that skips non-finite losses (module docstring).

    Args:
        max_nonfinite_in_a_row (int): stop after this many skipped steps in a row. Defaults to 5.
        *args, **kwargs: as for ``OptimWrapper`` (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteAmpOptimWrapper(_SkipNonFinite, AmpOptimWrapper):
    """mmengine ``AmpOptimWrapper`` that skips non-finite losses (module docstring); ``tools/train.py --amp``
    picks it for a config that uses :class:`SkipNonFiniteOptimWrapper`."""
