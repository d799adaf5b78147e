"""bf16 autocast on any device, and the optimizer-wrapper constructor that enforces fp32 master weights.

mmengine's ``AmpOptimWrapper`` asserts CUDA, so a config using it cannot even be built on a CPU machine
(tests, CI, a laptop). :class:`AutocastOptimWrapper` runs the forward pass under ``torch.autocast`` on
whatever device the run uses; with bf16 no loss scaling is needed (bf16 has fp32's exponent range).
"""
import contextlib
from typing import Optional, Union

import torch
from mmengine.device import get_device
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from groma_mm.engine.nonfinite_skip import _SkipNonFinite
from groma_mm.engine.precision import check_fp32_masters
from groma_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

# Wrappers whose engine keeps its own fp32 master copy (DeepSpeed bf16/fp16 modes); the DeepSpeed strategy
# checks that one of those modes is on.
_OWN_MASTER_WEIGHTS = ('DeepSpeedOptimWrapper', )


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``optim_context`` runs the forward under ``torch.autocast``.

    Args:
        dtype: autocast dtype (``'bfloat16'``, ``'float16'``) or None for no autocast (full fp32, e.g. to
            compare runs closely). Defaults to ``'bfloat16'``.
        cache_enabled: autocast's weight-cast cache. Turn it off under FSDP: the cache keeps a bf16 copy of
            every gathered weight until the forward ends, undoing the sharding of parameters.
        **kwargs: as for ``OptimWrapper`` (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, *args, dtype: Union[None, str, torch.dtype] = 'bfloat16', cache_enabled: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype not in (None, torch.bfloat16, torch.float16):
            raise ValueError(f"AutocastOptimWrapper dtype must be 'bfloat16', 'float16' or None, got {dtype}")
        self.cast_dtype: Optional[torch.dtype] = dtype
        self.cache_enabled = cache_enabled

    @contextlib.contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model):
            if self.cast_dtype is None:
                yield
                return
            device_type = torch.device(get_device()).type
            with torch.autocast(device_type=device_type, dtype=self.cast_dtype, cache_enabled=self.cache_enabled):
                yield


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteAutocastOptimWrapper(_SkipNonFinite, AutocastOptimWrapper):
    """:class:`AutocastOptimWrapper` that also skips the update of a step whose loss is not finite (see
    :mod:`groma_mm.engine.nonfinite_skip`); the paper stage configs use it."""


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class Fp32MasterOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor (``paramwise_cfg`` and all) that refuses, at start-up, to build an
    optimizer over bf16/fp16 trainable weights (see :mod:`groma_mm.engine.precision`).

    DeepSpeed's wrapper is let through: DeepSpeed keeps fp32 masters, which its strategy checks.
    """

    def __call__(self, model: torch.nn.Module) -> OptimWrapper:
        wrapper_type = self.optim_wrapper_cfg.get('type', 'OptimWrapper')
        name = wrapper_type if isinstance(wrapper_type, str) else wrapper_type.__name__
        if name.split('.')[-1] not in _OWN_MASTER_WEIGHTS:
            check_fp32_masters(model.named_parameters(), f'The optimizer ({name})')
        return super().__call__(model)
