"""Region tokens: multi-scale RoIAlign over a pyramid of the last encoder layers (paper §3.1)."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from groma_mm.models.encoders.image_tokenizer import mlp_projector
from groma_mm.models.necks.vit_simple_pyramid import ViTSimplePyramid
from groma_mm.models.region_encoders.roi_align import aligned_roi_align
from groma_mm.registry import MODELS


@MODELS.register_module()
class MultiScaleRoIRegionEncoder(BaseModule):
    """Box → one region token, for proposals and user boxes alike.

    The last ``len(scale_factors)`` encoder layers are rescaled into a hierarchy (earlier layer → finer
    level, as the proposer's pyramid), each level is cropped with RoIAlign (:func:`aligned_roi_align`) at
    its own stride, each crop is flattened and projected, and the levels are summed (the multi-level RoI fusion
    of GPT4RoI / GLaMM). An embedding of the box geometry (normalized xyxy) is added so that regions with
    similar content but different places stay distinguishable. An MLP projector maps the result to the
    LLM width.

    Args:
        in_channels: encoder width C.
        out_channels: LLM hidden size; ``None`` lets the MLLM fill it in.
        channels: pyramid width.
        scale_factors: resize of each used layer (powers of 2), finest first.
        roi_size: RoIAlign output side.
        sampling_ratio: RoIAlign samples per bin side.
        region_channels: width of the fused region feature before the projector.
        use_geometry: add the box-geometry embedding.
        projector_depth: layers of the MLP projector.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 channels: int = 256,
                 scale_factors: Sequence[float] = (2.0, 1.0, 0.5),
                 roi_size: int = 7,
                 sampling_ratio: int = 2,
                 region_channels: int = 1024,
                 use_geometry: bool = True,
                 projector_depth: int = 2,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if out_channels is None:
            raise ValueError('MultiScaleRoIRegionEncoder needs out_channels (the LLM hidden size)')
        self.num_levels = len(scale_factors)
        self.roi_size = roi_size
        self.sampling_ratio = sampling_ratio
        self.pyramid = ViTSimplePyramid(in_channels, channels, scale_factors, input_fusion='per_level')
        self.level_projections = nn.ModuleList(
            nn.Linear(channels * roi_size * roi_size, region_channels) for _ in scale_factors)
        self.geometry = mlp_projector(4, region_channels) if use_geometry else None
        self.norm = nn.LayerNorm(region_channels)
        self.projector = mlp_projector(region_channels, out_channels, projector_depth)

    def forward(self, layer_feats: Sequence[Tensor], bboxes: List[Tensor], input_shape: Tuple[int, int]) -> List[Tensor]:
        """Encode every image's boxes.

        Args:
            layer_feats: the last ``num_levels`` encoder layers, each (B, C, h, w).
            bboxes: B tensors (n_b, 4) xyxy in pixels of the encoder input.
            input_shape: (H, W) of the encoder input.

        Returns:
            B tensors (n_b, out_channels).
        """
        if len(layer_feats) != self.num_levels:
            raise ValueError(f'expected the last {self.num_levels} encoder layers, got {len(layer_feats)}')
        levels = self.pyramid(layer_feats)
        if sum(len(b) for b in bboxes) == 0:
            return [levels[0].new_zeros((0, self.projector[-1].out_features)) for _ in bboxes]
        rois = torch.cat([
            torch.cat([b.new_full((len(b), 1), i), b], dim=1) for i, b in enumerate(bboxes)
        ]).float()  # bf16 would round pixel coordinates above 256 to even numbers
        height, width = input_shape
        fused = 0
        for level, project in zip(levels, self.level_projections):
            # Square pixels: one scale maps the input frame onto this level's grid.
            # The RoIAlign kernels have no bf16: pool in fp32 under autocast.
            crops = aligned_roi_align(level.float(), rois, self.roi_size, level.shape[-1] / width,
                                      self.sampling_ratio).to(level.dtype)
            fused = fused + project(crops.flatten(1))
        if self.geometry is not None:
            scale = rois.new_tensor([width, height, width, height])
            fused = fused + self.geometry((rois[:, 1:] / scale).to(levels[0].dtype))
        tokens = self.projector(self.norm(fused))
        return list(tokens.split([len(b) for b in bboxes]))
