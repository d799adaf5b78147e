"""A frozen, randomly initialized conv stack: general-purpose image features for toy-scale region tokens."""
import math
from typing import Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from groma_mm.registry import MODELS


@MODELS.register_module()
class FrozenRandomConvEncoder(BaseModule):
    """Conv 3×3 + ReLU layers with fixed random weights, never trained.

    Groma's region tokens read DINOv2, a general-purpose encoder that keeps colour and shape. The toy
    configs have no such encoder: their ViT is trained from scratch in stage 1 for class-agnostic
    objectness only and drops most of the shape of small objects (a linear probe finds it for 44 % of
    held-out objects of the synthetic world, chance 32 %). Random convolutions are a cheap stand-in for
    general features: RoIAlign 4×4 of this encoder's second layer (32 channels, stride 2) lets a linear
    probe find colour, shape and size of 99 %, 99 % and 88 % of those objects. The region encoder reads
    it through ``Groma(region_feature_encoder=...)``; the proposer keeps its own ViT.

    The weights come from ``seed`` alone (Kaiming-normal, zero bias), independent of the global RNG, so a
    stage that does not save them (they are frozen) rebuilds the same encoder. ``init_weights`` leaves
    them as they are.

    Args:
        in_channels: image channels.
        channels: output channels of each layer.
        strides: stride of each layer.
        seed: the seed of the weights.

    Input (B, in_channels, H, W); output: a tuple with each layer's map (B, channels[i], H / s_i, W / s_i),
    s_i the product of the strides so far.
    """

    def __init__(self,
                 in_channels: int = 3,
                 channels: Sequence[int] = (32, 32),
                 strides: Sequence[int] = (1, 2),
                 seed: int = 0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(channels) != len(strides) or not channels:
            raise ValueError(f'channels {tuple(channels)} and strides {tuple(strides)} need one entry per layer')
        gen = torch.Generator().manual_seed(seed)
        layers, width = [], in_channels
        for out, stride in zip(channels, strides):
            conv = nn.Conv2d(width, out, 3, stride=stride, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2.0 / (width * 9)))
                conv.bias.zero_()
            layers.append(conv)
            width = out
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)

    def init_weights(self):
        """The weights are fixed by ``seed`` at construction; nothing to initialize."""

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for conv in self.layers:
            x = torch.relu(conv(x))
            outs.append(x)
        return tuple(outs)
