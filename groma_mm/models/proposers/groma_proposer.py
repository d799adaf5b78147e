"""Groma's region proposer: a class-agnostic DINO-style Deformable DETR over frozen ViT features."""
from typing import Tuple

from mmdet.models.detectors import DINO
from torch import Tensor

from groma_mm.registry import MODELS, TASK_UTILS
from .region_prediction import RegionPredictionMixin, detr_proposals, to_input_frame, user_bboxes_of

__all__ = ['GromaProposer', 'detr_proposals', 'to_input_frame', 'user_bboxes_of']


@MODELS.register_module()
class GromaProposer(RegionPredictionMixin, DINO):
    """Class-agnostic Deformable DETR region proposer (paper §3.1, §5.1).

    It is mmdet's DINO detector (two-stage proposals, iterative box refinement, mixed query
    selection, look-forward-twice, contrastive denoising) with a single "object" class, so its
    sigmoid classifier is a binary objectness score. What Groma adds:

    * the backbone is the MLLM's image encoder (a plain ViT returning several layers) and the neck a
      :class:`ViTSimplePyramid`; :meth:`predict_regions` accepts encoder features computed
      elsewhere, so inside the MLLM the encoder runs once per image;
    * predictions go through a registered post-processor (NMS, score filter, top-k), and user boxes
      in ``data_sample.user_bboxes`` (original-image pixels) join before it and always survive.

    Args:
        post_processor: config of the region post-processor (``RegionPostProcessor``).
        *args, **kwargs: as mmdet's ``DINO``; ``bbox_head.num_classes`` must be 1.
    """

    def __init__(self, *args, post_processor: dict = dict(type='RegionPostProcessor'), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.bbox_head.num_classes != 1:
            raise ValueError('GromaProposer is class-agnostic: bbox_head.num_classes must be 1, '
                             f'got {self.bbox_head.num_classes}')
        self.post_processor = TASK_UTILS.build(post_processor)

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) images → pyramid levels, each (B, C, h_l, w_l)."""
        return self.neck(self.backbone(batch_inputs))
