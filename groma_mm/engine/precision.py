"""fp32 master weights: the rule every training config of groma_mm follows, and its start-up check.

An optimizer must step fp32 weights. AdamW moves a weight by about ``lr`` per step; at the paper's stage-3
lr of 1e-5 that is far below the resolution of a bf16 weight of typical magnitude (bf16 keeps 8 bits of
mantissa: a weight of 0.02 has a spacing of 2^-13 ≈ 1.2e-4), so most updates round to nothing and
training silently stalls. The weights that train are therefore kept in fp32 (the "master weights") and
the forward/backward runs in bf16 through autocast (:class:`AutocastOptimWrapper`) or FSDP; frozen
weights may stay in bf16. DeepSpeed's ``bf16`` mode keeps its own fp32 master copy, so bf16 parameters
are fine there.
"""
from typing import Iterable, List, Tuple

import torch

LOW_PRECISION = (torch.bfloat16, torch.float16)


def low_precision_trainable(named_params: Iterable[Tuple[str, torch.Tensor]]) -> List[Tuple[str, torch.dtype]]:
    """``(name, dtype)`` of every trainable parameter stored in bf16 or fp16."""
    return [(name, p.dtype) for name, p in named_params if p.requires_grad and p.dtype in LOW_PRECISION]


def check_fp32_masters(named_params: Iterable[Tuple[str, torch.Tensor]], where: str) -> None:
    """Raise if an optimizer would step low-precision weights (module docstring).

    Args:
        named_params: the parameters the optimizer steps, with names for the message.
        where: what is being built (named in the message), e.g. the optimizer wrapper's type.

    Raises:
        TypeError: naming how many weights are affected, a few of them, and the fix.
    """
    bad = low_precision_trainable(named_params)
    if not bad:
        return
    dtypes = sorted({str(d).replace('torch.', '') for _, d in bad})
    examples = ', '.join(name for name, _ in bad[:3])
    raise TypeError(
        f'{where} would step {len(bad)} trainable parameters stored in {"/".join(dtypes)} (e.g. {examples}). '
        'An AdamW update of about lr (1e-5 in stage 3) is below the resolution of a bf16 weight, so most '
        'updates would round away. Keep trainable weights in float32 (e.g. model.llm.trainable_dtype='
        "'float32', or torch_dtype='float32' under FSDP) and compute in bf16 with "
        "optim_wrapper=dict(type='AutocastOptimWrapper', dtype='bfloat16'); or train with DeepSpeed bf16, "
        'which keeps fp32 master weights itself.')
