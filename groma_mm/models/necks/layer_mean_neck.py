"""The released Groma proposer's neck: the mean of several ViT layers, projected to each pyramid level."""
from typing import Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from groma_mm.registry import MODELS
from .vit_simple_pyramid import LayerNorm2d


def _projection(in_channels: int, out_channels: int, scale: float, eps: float) -> nn.Sequential:
    """One level's projection of the averaged (B, in_channels, h, w) map to (B, out_channels, h*s, w*s).

    The layer sequences are those of the released checkpoints (their parameter indices inside the
    ``Sequential`` are what the checkpoint converter maps): a stride-2 3×3 conv for ×0.5, a 1×1 conv for
    ×1, one 2×2 deconvolution for ×2 and two for ×4, each followed by channel LayerNorms and, for the
    up-sampled levels, a 3×3 conv.
    """
    half, quarter = out_channels // 2, out_channels // 4
    if scale == 0.5:
        layers = [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1), LayerNorm2d(out_channels, eps=eps)]
    elif scale == 1:
        layers = [nn.Conv2d(in_channels, out_channels, 1), LayerNorm2d(out_channels, eps=eps)]
    elif scale == 2:
        layers = [
            nn.ConvTranspose2d(in_channels, half, 2, stride=2),
            nn.Conv2d(half, out_channels, 1),
            LayerNorm2d(out_channels, eps=eps),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        ]
    elif scale == 4:
        layers = [
            nn.ConvTranspose2d(in_channels, half, 2, stride=2),
            LayerNorm2d(half, eps=eps),
            nn.GELU(),
            nn.ConvTranspose2d(half, quarter, 2, stride=2),
            nn.Conv2d(quarter, out_channels, 1),
            LayerNorm2d(out_channels, eps=eps),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        ]
    else:
        raise ValueError(f'LayerMeanNeck supports the scale factors 4, 2, 1 and 0.5, got {scale}')
    return nn.Sequential(*layers)


@MODELS.register_module()
class LayerMeanNeck(BaseModule):
    """Average the given encoder layers, then project the average to every pyramid level.

    This is the neck of the released Groma proposer (``groma-det-pretrain``): the mean of the last four
    DINOv2 layers taken *before* the final LayerNorm, then, per level, convolutions with bias and channel
    LayerNorms (eps 1e-6, biased variance). The released training script uses one level
    (``scale_factors=(1.0,)``: Conv1×1 + LayerNorm); the official code's four-level variant is
    ``(4.0, 2.0, 1.0, 0.5)`` — strides 3.5/7/14/28 on DINOv2/14, level 0 the finest.

    Unlike :class:`ViTSimplePyramid` (ours), every level sees the same averaged map.

    Args:
        in_channels: channels of each input layer.
        out_channels: channels of every level (the DETR width).
        scale_factors: resize factor of each level, finest first; each of 4, 2, 1, 0.5.
        norm_eps: eps of the channel LayerNorms.

    Shapes:
        inputs: n maps of (B, in_channels, h, w), averaged with equal weights.
        outputs: tuple of (B, out_channels, h*s, w*s) per scale factor s.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 scale_factors: Sequence[float] = (1.0, ),
                 norm_eps: float = 1e-6,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not scale_factors:
            raise ValueError('LayerMeanNeck needs at least one scale factor')
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.projections = nn.ModuleList(
            [_projection(in_channels, out_channels, s, norm_eps) for s in self.scale_factors])

    def init_weights(self) -> None:
        super().init_weights()
        # As the released training: Xavier for each level's first layer, the rest at PyTorch's default.
        for proj in self.projections:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        if not inputs:
            raise ValueError('LayerMeanNeck got no encoder layers')
        mean = torch.stack(tuple(inputs)).mean(dim=0)
        return tuple(proj(mean) for proj in self.projections)
