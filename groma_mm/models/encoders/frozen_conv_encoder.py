"""A frozen conv stack, random or pretrained: general-purpose image features for toy-scale region tokens."""
import math
from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from groma_mm.engine.checkpoint_loading import checkpoint_state_dict, load_local_checkpoint
from groma_mm.registry import MODELS


@MODELS.register_module()
class FrozenConvEncoder(BaseModule):
    """Conv 3×3 + ReLU layers with fixed weights: random from ``seed``, or pretrained from ``checkpoint``.

    Groma's region tokens read DINOv2, a general-purpose encoder that keeps colour and shape. The toy
    configs have no such encoder: their ViT is trained from scratch in stage 1 for class-agnostic
    objectness only and drops most of the shape of small objects (a linear probe finds it for 44 % of
    held-out objects of the synthetic world, chance 32 %). Random convolutions are a cheap stand-in for
    general features: RoIAlign 4×4 of this encoder's second layer (32 channels, stride 2) lets a linear
    probe find colour, shape and size of 99 %, 99 % and 88 % of those objects, but shape and size are a few
    weak directions (5 % and 0.4 % of the variance, colour 60 %), and for most toy LLMs alignment (stage 2)
    does not find them. ``tools/pretrain_region_features.py`` trains these layers on the world's attribute
    labels first, as DINOv2 comes pretrained, and writes the ``checkpoint`` they are then loaded from. The
    region encoder reads it through ``Groma(region_feature_encoder=...)``; the proposer keeps its own ViT.

    The random weights come from ``seed`` alone (Kaiming-normal, zero bias), independent of the global RNG.
    The layers never train inside Groma; ``init_weights`` leaves them as they are. Groma's stage
    checkpoints hold them, so later stages and tests need not name the ``checkpoint`` again.

    Args:
        in_channels: image channels.
        channels: output channels of each layer.
        strides: stride of each layer.
        seed: the seed of the random weights.
        checkpoint: a state dict of this encoder (``torch.save`` file) to load instead; ``None``: random.

    Input (B, in_channels, H, W); output: a tuple with each layer's map (B, channels[i], H / s_i, W / s_i),
    s_i the product of the strides so far.
    """

    def __init__(self,
                 in_channels: int = 3,
                 channels: Sequence[int] = (32, 32),
                 strides: Sequence[int] = (1, 2),
                 seed: int = 0,
                 checkpoint: Optional[str] = None,
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
        if checkpoint:
            self._load(checkpoint)
        self.requires_grad_(False)

    def _load(self, checkpoint: str) -> None:
        state = checkpoint_state_dict(load_local_checkpoint(checkpoint))
        ours = self.state_dict()
        wrong = sorted(set(ours) ^ set(state)) + [
            f'{k} {tuple(v.shape)} vs {tuple(ours[k].shape)}' for k, v in state.items()
            if k in ours and v.shape != ours[k].shape]
        if wrong:
            raise ValueError(f'{checkpoint} is not a checkpoint of this {type(self).__name__} (channels and '
                             f'strides as the config): {", ".join(wrong)}')
        self.load_state_dict(state)

    def init_weights(self):
        """The weights are fixed at construction (``seed`` or ``checkpoint``); nothing to initialize."""

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = []
        for conv in self.layers:
            x = torch.relu(conv(x))
            outs.append(x)
        return tuple(outs)
