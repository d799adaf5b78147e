"""Training machinery: fp32 master weights with bf16 autocast, mmengine's FSDP / DeepSpeed strategies made to
work (on CPU too) for Groma's paper-scale stages, and safe checkpointing / resuming."""
from .optim_wrapper import AutocastOptimWrapper, Fp32MasterOptimWrapperConstructor, SkipNonFiniteAutocastOptimWrapper
from .precision import check_fp32_masters, low_precision_trainable
from .strategies import GromaDeepSpeedStrategy, GromaFSDPStrategy

__all__ = [
    'AutocastOptimWrapper', 'SkipNonFiniteAutocastOptimWrapper', 'Fp32MasterOptimWrapperConstructor',
    'check_fp32_masters', 'low_precision_trainable', 'GromaFSDPStrategy', 'GromaDeepSpeedStrategy'
]
