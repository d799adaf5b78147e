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


MERGE_ORDERS = ('row', 'column')


def merge_patches_2d(x: Tensor, window: int, order: str = 'row') -> Tensor:
    """Concatenate the channels of every ``window × window`` block of neighbouring patches.

    Groma merges neighbours adjacent in 2-D (a square block), not 1-D runs of the flattened sequence as
    MiniGPT-v2 does (paper §3.1).

    Args:
        x: (B, C, H, W) patch features; H and W divisible by ``window``.
        window: block side; 1 keeps every patch.
        order: order of the block's patches inside a token: ``'row'`` (top-left, top-right, bottom-left,
            bottom-right for 2×2) or ``'column'`` (top-left, bottom-left, top-right, bottom-right, as the
            released Groma checkpoints were trained).

    Returns:
        (B, H/window · W/window, C · window²) tokens in row-major block order; within a token the
        channels of the block's patches follow each other in ``order``.
    """
    if order not in MERGE_ORDERS:
        raise ValueError(f'merge order must be one of {MERGE_ORDERS}, got {order!r}')
    b, c, h, w = x.shape
    if h % window or w % window:
        raise ValueError(f'a {h}×{w} patch grid cannot be merged in {window}×{window} blocks')
    x = x.reshape(b, c, h // window, window, w // window, window)
    # dims: 0 batch, 1 channel, 2 block row, 3 row in block, 4 block column, 5 column in block
    in_block = (3, 5) if order == 'row' else (5, 3)
    return x.permute(0, 2, 4, *in_block, 1).reshape(b, (h // window) * (w // window), window * window * c)


@MODELS.register_module()
class MergedPatchTokenizer(BaseModule):
    """Encoder patch grid → LLM image tokens (32×32 → 2×2 merge → 256 tokens → MLP).

    Args:
        in_channels: encoder width C.
        out_channels: LLM hidden size; ``None`` lets the MLLM fill it in from its LLM.
        merge: block side of the 2-D merge; 1 switches merging off (paper Table 8).
        merge_order: ``'row'`` or ``'column'`` order of a block's patches inside a token (see
            :func:`merge_patches_2d`); the released Groma checkpoints need ``'column'``.
        projector_depth: layers of the MLP projector.

    Shapes:
        (B, C, H, W) → (B, H·W / merge², out_channels)
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 merge: int = 2,
                 merge_order: str = 'row',
                 projector_depth: int = 2,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_channels is None:
            raise ValueError('MergedPatchTokenizer needs out_channels (the LLM hidden size)')
        if merge_order not in MERGE_ORDERS:
            raise ValueError(f'merge_order must be one of {MERGE_ORDERS}, got {merge_order!r}')
        self.merge = merge
        self.merge_order = merge_order
        self.projector = mlp_projector(in_channels * merge * merge, out_channels, projector_depth)

    def forward(self, x: Tensor) -> Tensor:
        return self.projector(merge_patches_2d(x, self.merge, self.merge_order))
