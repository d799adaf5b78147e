"""Region tokens as the released Groma checkpoints compute them: GPT4RoI's multi-level RoI query module.

The official Groma region encoder (``MLVLROIQueryModule`` of GPT4RoI) differs from
:class:`MultiScaleRoIRegionEncoder`: the three layers are fused with coordinate channels and five rounds of
cross-level channel exchange before RoIAlign, crops are 14×14 and fused by a conv per level, and the box
geometry enters through a LayerNorm MLP. Its weights were trained with two quirks; both are options here
(``roi_box_format``, ``featmap_strides``) that default to the correct behaviour, and the official configs
turn them on.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmengine.model import BaseModule
from torch import Tensor, nn

from groma_mm.models.region_encoders.roi_align import aligned_roi_align
from groma_mm.registry import MODELS

ROI_BOX_FORMATS = ('xyxy', 'cxcywh')
# What the released weights were trained with: twice the true scale of 448-px maps of 128/64/32.
OFFICIAL_FEATMAP_STRIDES = (14 / 8, 14 / 4, 14 / 2)


def coordinate_channels(x: Tensor) -> Tensor:
    """x then y position in [-1, 1] as two extra channels: (B, C, H, W) → (B, C + 2, H, W)."""
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype),
                            torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype), indexing='ij')
    return torch.cat([x, xs.expand(b, 1, h, w), ys.expand(b, 1, h, w)], dim=1)


def resize_bilinear(x: Tensor, size: Tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode='bilinear', align_corners=True)


class CrossLevelChannelExchange(nn.Module):
    """Coordinate channels, a 1×1 conv per level, then rounds of 3×3 GN convs over exchanged channels.

    In every round each level keeps its first C/2 channels and takes the last C/4 of the next coarser
    level and channels C/2…3C/4 of the next finer one (resized to its own grid; the end levels take their
    own), and one conv, shared by all levels, mixes the result.

    Shapes:
        L maps (B, C, H_l, W_l) → L maps (B, C, H_l, W_l), finest first.
    """

    def __init__(self, channels: int, num_levels: int, num_rounds: int, norm_cfg: dict) -> None:
        super().__init__()
        if channels % 4:
            raise ValueError(f'cross-level channel exchange needs channels divisible by 4, got {channels}')
        self.channels = channels
        self.num_levels = num_levels
        self.input_convs = nn.ModuleList(nn.Conv2d(channels + 2, channels, 1) for _ in range(num_levels))
        self.fuse_convs = nn.ModuleList(
            ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg) for _ in range(num_rounds))

    def exchange(self, levels: List[Tensor]) -> List[Tensor]:
        c = self.channels
        exchanged = []
        for lvl, own in enumerate(levels):
            coarser = levels[min(lvl + 1, self.num_levels - 1)][:, 3 * c // 4:]
            finer = levels[max(lvl - 1, 0)][:, c // 2:3 * c // 4]
            size = own.shape[-2:]
            exchanged.append(torch.cat([own[:, :c // 2], resize_bilinear(coarser, size),
                                        resize_bilinear(finer, size)], dim=1))
        return exchanged

    def forward(self, levels: Sequence[Tensor]) -> List[Tensor]:
        levels = [conv(coordinate_channels(x)) for conv, x in zip(self.input_convs, levels)]
        for fuse in self.fuse_convs:
            levels = [fuse(x) for x in self.exchange(levels)]
        return levels


@MODELS.register_module()
class GPT4RoIRegionEncoder(BaseModule):
    """Box → one region token, as the released Groma checkpoints compute it.

    The last ``len(scale_factors)`` encoder layers are resized (bilinear, align_corners) by
    ``scale_factors`` (earlier layer → finer map; 32² → 128/64/32² for DINOv2 at 448 px), fused by
    :class:`CrossLevelChannelExchange`, and cropped by an aligned RoIAlign per level in float32. A 3×3 conv
    per level, their sum, ReLU and a Linear turn the crops into one vector, to which an MLP embedding of
    the box (normalized cxcywh, as the weights were trained) is added; a Linear maps it to the LLM width.

    The two quirks of the official code (its issues #11 and #21) are options:

    * ``roi_box_format``: ``'xyxy'`` hands RoIAlign the boxes as ``x1 y1 x2 y2`` (correct);
      ``'cxcywh'`` hands it ``cx cy w h`` in input pixels, which RoIAlign reads as ``x1 y1 x2 y2`` (the
      official ``cxcywh × 448`` on 448-px input). Most such rois have negative size; see
      :func:`~groma_mm.models.region_encoders.roi_align.aligned_roi_align` for how they are sampled on CPU.
    * ``featmap_strides``: ``None`` uses the true stride of every level (input size / map size: 3.5, 7,
      14 at 448 px); the official weights expect ``OFFICIAL_FEATMAP_STRIDES`` = (14/8, 14/4, 14/2).

    Args:
        in_channels: encoder width C (fused maps keep it).
        out_channels: LLM hidden size; ``None`` lets the MLLM fill it in (the official code hard-codes 4096).
        scale_factors: resize of each used layer, finest first.
        num_rounds: rounds of channel exchange.
        norm_cfg: norm of the exchange convs (official: GN with 64 groups).
        roi_size: RoIAlign output side.
        sampling_ratio: RoIAlign samples per bin side.
        region_channels: width of the region vector before the output Linear.
        geometry_channels: hidden width of the box MLP.
        roi_box_format: ``'xyxy'`` or ``'cxcywh'`` (see above).
        featmap_strides: one stride per level, or ``None`` for the true ones.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 scale_factors: Sequence[int] = (4, 2, 1),
                 num_rounds: int = 5,
                 norm_cfg: dict = dict(type='GN', num_groups=64, requires_grad=True),
                 roi_size: int = 14,
                 sampling_ratio: int = 2,
                 region_channels: int = 1024,
                 geometry_channels: int = 256,
                 roi_box_format: str = 'xyxy',
                 featmap_strides: Optional[Sequence[float]] = None,
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.01)) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_channels is None:
            raise ValueError('GPT4RoIRegionEncoder needs out_channels (the LLM hidden size)')
        if roi_box_format not in ROI_BOX_FORMATS:
            raise ValueError(f'roi_box_format must be one of {ROI_BOX_FORMATS}, got {roi_box_format!r}')
        if featmap_strides is not None and len(featmap_strides) != len(scale_factors):
            raise ValueError(f'{len(featmap_strides)} featmap_strides for {len(scale_factors)} levels')
        self.num_levels = len(scale_factors)
        self.scale_factors = tuple(int(s) for s in scale_factors)
        self.roi_size = roi_size
        self.sampling_ratio = sampling_ratio
        self.roi_box_format = roi_box_format
        self.featmap_strides = None if featmap_strides is None else tuple(featmap_strides)
        self.fuse = CrossLevelChannelExchange(in_channels, self.num_levels, num_rounds, norm_cfg)
        self.level_convs = nn.ModuleList(
            nn.Conv2d(in_channels, in_channels, 3, padding=1) for _ in range(self.num_levels))
        self.flatten_proj = nn.Linear(in_channels * roi_size * roi_size, region_channels)
        self.geometry = nn.Sequential(
            nn.Linear(4, geometry_channels), nn.ReLU(inplace=True), nn.LayerNorm(geometry_channels),
            nn.Linear(geometry_channels, region_channels), nn.ReLU(inplace=True), nn.LayerNorm(region_channels))
        self.projector = nn.Linear(region_channels, out_channels)

    def fused_levels(self, layer_feats: Sequence[Tensor]) -> List[Tensor]:
        """(B, C, h, w) per layer → fused maps (B, C, h·s, w·s), finest first."""
        if len(layer_feats) != self.num_levels:
            raise ValueError(f'expected the last {self.num_levels} encoder layers, got {len(layer_feats)}')
        resized = [resize_bilinear(x, (x.shape[-2] * s, x.shape[-1] * s))
                   for x, s in zip(layer_feats, self.scale_factors)]
        return self.fuse(resized)

    def roi_inputs(self, bboxes: List[Tensor], level_widths: Sequence[int],
                   input_shape: Tuple[int, int]) -> Tuple[Tensor, List[float]]:
        """What RoIAlign is handed: rois (K, 5) ``[image index, 4 coordinates]`` and one spatial scale per
        level, following ``roi_box_format`` and ``featmap_strides``."""
        boxes = torch.cat(bboxes)
        if self.roi_box_format == 'cxcywh':
            boxes = bbox_xyxy_to_cxcywh(boxes)
        index = torch.cat([b.new_full((len(b), 1), i) for i, b in enumerate(bboxes)])
        rois = torch.cat([index, boxes], dim=1).float()
        if self.featmap_strides is None:
            scales = [width / input_shape[1] for width in level_widths]
        else:
            scales = [1 / stride for stride in self.featmap_strides]
        return rois, scales

    def forward(self, layer_feats: Sequence[Tensor], bboxes: List[Tensor],
                input_shape: Tuple[int, int]) -> List[Tensor]:
        """Encode every image's boxes.

        Args:
            layer_feats: the last ``num_levels`` encoder layers, each (B, C, h, w).
            bboxes: B tensors (n_b, 4) xyxy in pixels of the encoder input.
            input_shape: (H, W) of the encoder input.

        Returns:
            B tensors (n_b, out_channels).
        """
        counts = [len(b) for b in bboxes]
        if sum(counts) == 0:
            return [layer_feats[0].new_zeros((0, self.projector.out_features)) for _ in bboxes]
        levels = self.fused_levels(layer_feats)
        rois, scales = self.roi_inputs(bboxes, [x.shape[-1] for x in levels], input_shape)
        fused = 0
        for level, scale, conv in zip(levels, scales, self.level_convs):
            crops = aligned_roi_align(level.float(), rois, self.roi_size, scale, self.sampling_ratio)
            fused = fused + conv(crops.to(level.dtype))
        region = self.flatten_proj(F.relu(fused).flatten(1))
        height, width = input_shape
        boxes = torch.cat(bboxes)
        geometry = bbox_xyxy_to_cxcywh(boxes) / boxes.new_tensor([width, height, width, height])
        tokens = self.projector(region + self.geometry(geometry.to(region.dtype)))
        return list(tokens.split(counts))
