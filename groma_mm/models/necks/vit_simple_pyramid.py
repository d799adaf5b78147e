"""ViTDet-style simple feature pyramid over plain-ViT layer outputs."""
import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from groma_mm.registry import MODELS


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of an NCHW map (ViTDet's choice for the pyramid).

    The output is contiguous NCHW memory, not a permuted view: mmcv's RoIAlign kernels index the raw
    memory as NCHW, so a channels-last view would give every crop the features of other pixels.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2).contiguous()


def _rescale_block(channels: int, scale: float) -> nn.Module:
    """Up-sample with stride-2 deconvolutions or down-sample with stride-2 max-pools."""
    steps = math.log2(scale)
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f'scale factors must be powers of 2, got {scale}')
    steps = int(round(steps))
    layers = []
    for i in range(abs(steps)):
        if steps > 0:
            layers.append(nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2))
            if i < steps - 1:
                layers += [LayerNorm2d(channels), nn.GELU()]
        else:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


@MODELS.register_module()
class ViTSimplePyramid(BaseModule):
    """Builds a multi-scale pyramid from single-scale ViT layer outputs (ViTDet, Li et al. 2022).

    Groma feeds the last 4 encoder layers to the region proposer and rescales them into a hierarchy
    (paper §3.1): with ``input_fusion='per_level'`` input ``i`` makes level ``i``, so earlier
    layers give the finer levels. ``'mean'`` averages all inputs and builds every level from that
    average, which is what the official Groma checkpoints do; ``'last'`` is plain ViTDet.

    Args:
        in_channels: channels of each input map.
        out_channels: channels of every output level.
        scale_factors: resize factor of each output level relative to the input grid
            (powers of 2); ``len(scale_factors)`` is the number of levels.
        input_fusion: ``'per_level'``, ``'mean'`` or ``'last'``.

    Shapes:
        inputs: ``n_in`` maps of (B, in_channels, h, w) with ``n_in == len(scale_factors)`` for
        ``'per_level'``, any ``n_in`` otherwise.
        outputs: tuple of (B, out_channels, h * s, w * s) for each scale factor ``s``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (2.0, 1.0, 0.5, 0.25),
                 input_fusion: str = 'per_level',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if input_fusion not in ('per_level', 'mean', 'last'):
            raise ValueError(f"input_fusion must be 'per_level', 'mean' or 'last', got {input_fusion!r}")
        self.scale_factors = tuple(scale_factors)
        self.input_fusion = input_fusion
        self.rescales = nn.ModuleList(_rescale_block(in_channels, s) for s in self.scale_factors)
        self.projections = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                LayerNorm2d(out_channels),
                nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
                LayerNorm2d(out_channels),
            ) for _ in self.scale_factors)

    def _level_inputs(self, inputs: Sequence[Tensor]) -> Sequence[Tensor]:
        if self.input_fusion == 'per_level':
            if len(inputs) != len(self.scale_factors):
                raise ValueError(f"input_fusion='per_level' needs one input per level: got {len(inputs)} "
                                 f'inputs for {len(self.scale_factors)} scale factors')
            return inputs
        fused = torch.stack(list(inputs)).mean(0) if self.input_fusion == 'mean' else inputs[-1]
        return [fused] * len(self.scale_factors)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        return tuple(
            proj(rescale(x))
            for x, rescale, proj in zip(self._level_inputs(inputs), self.rescales, self.projections))
