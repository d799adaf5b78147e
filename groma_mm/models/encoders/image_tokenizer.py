"""Image tokens for the LLM: neighbouring patches merged in 2-D, then an MLP projector."""
from typing import Optional

from mmengine.model import BaseModule
from torch import Tensor, nn

from groma_mm.registry import MODELS


def mlp_projector(in_channels: int, out_channels: int, depth: int = 2) -> nn.Sequential:
    """LLaVA-1.5's ``mlp{depth}x_gelu`` projector."""
    layers = [nn.Linear(in_channels, out_channels)]
    for _ in range(depth - 1):
        layers += [nn.GELU(), nn.Linear(out_channels, out_channels)]
    return nn.Sequential(*layers)


def merge_patches_2d(x: Tensor, window: int) -> Tensor:
    """Concatenate the channels of every ``window × window`` block of neighbouring patches.

    Groma merges neighbours adjacent in 2-D (a square block), not 1-D runs of the flattened sequence as
    MiniGPT-v2 does (paper §3.1).

    Args:
        x: (B, C, H, W) patch features; H and W divisible by ``window``.
        window: block side; 1 keeps every patch.

    Returns:
        (B, H/window · W/window, C · window²) tokens in row-major block order; within a token the
        channels of the block's patches follow each other row by row.
    """
    b, c, h, w = x.shape
    if h % window or w % window:
        raise ValueError(f'a {h}×{w} patch grid cannot be merged in {window}×{window} blocks')
    x = x.reshape(b, c, h // window, window, w // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // window) * (w // window), window * window * c)


@MODELS.register_module()
class MergedPatchTokenizer(BaseModule):
    """Encoder patch grid → LLM image tokens (32×32 → 2×2 merge → 256 tokens → MLP).

    Args:
        in_channels: encoder width C.
        out_channels: LLM hidden size; ``None`` lets the MLLM fill it in from its LLM.
        merge: block side of the 2-D merge; 1 switches merging off (paper Table 8).
        projector_depth: layers of the MLP projector.

    Shapes:
        (B, C, H, W) → (B, H·W / merge², out_channels)
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 merge: int = 2,
                 projector_depth: int = 2,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_channels is None:
            raise ValueError('MergedPatchTokenizer needs out_channels (the LLM hidden size)')
        self.merge = merge
        self.projector = mlp_projector(in_channels * merge * merge, out_channels, projector_depth)

    def forward(self, x: Tensor) -> Tensor:
        return self.projector(merge_patches_2d(x, self.merge))
