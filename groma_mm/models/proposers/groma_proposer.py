"""Groma's region proposer: a class-agnostic DINO-style Deformable DETR over frozen ViT features."""
from typing import List, Optional, Sequence, Tuple

from mmdet.models.detectors import DINO
from mmdet.structures import SampleList
from mmengine.structures import InstanceData
from torch import Tensor

from groma_mm.registry import MODELS, TASK_UTILS


def user_bboxes_of(data_sample) -> Optional[Tensor]:
    """User boxes attached to a sample (``data_sample.user_bboxes``, (M, 4) xyxy original pixels)."""
    return data_sample.get('user_bboxes', None)


def to_input_frame(bboxes: Tensor, data_sample) -> Tensor:
    """(M, 4) xyxy original-image pixels → pixels of the resized encoder input."""
    return bboxes * bboxes.new_tensor(data_sample.scale_factor).repeat(2)


def detr_proposals(detector, encoder_feats: Sequence[Tensor], batch_data_samples: SampleList) -> List[InstanceData]:
    """Raw proposals of any mmdet DETR-family detector from its backbone's outputs.

    Works for ``GromaProposer`` and for mmdet's own ``DINO`` / ``DeformableDETR`` with one class, so an
    MLLM config can swap the proposer without code. Scores are the sigmoid of the (single) class logit.

    Args:
        detector: an mmdet ``DetectionTransformer``.
        encoder_feats: the detector backbone's outputs, each (B, C, h, w).
        batch_data_samples: samples with ``img_shape`` and ``batch_input_shape``.

    Returns:
        One InstanceData per image with ``bboxes`` (Q, 4) xyxy in encoder-input pixels and ``scores`` (Q,),
        Q = the head's ``test_cfg.max_per_img``.
    """
    img_feats = detector.neck(encoder_feats) if detector.with_neck else encoder_feats
    head_inputs = detector.forward_transformer(img_feats, batch_data_samples)
    return detector.bbox_head.predict(**head_inputs, batch_data_samples=batch_data_samples, rescale=False)


@MODELS.register_module()
class GromaProposer(DINO):
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

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList, rescale: bool = True) -> SampleList:
        """Regions for a batch of images; ``pred_instances`` sorted by score (user boxes first)."""
        return self.predict_from_encoder_feats(self.backbone(batch_inputs), batch_data_samples, rescale)

    def predict_from_encoder_feats(self,
                                   encoder_feats: Sequence[Tensor],
                                   batch_data_samples: SampleList,
                                   rescale: bool = True) -> SampleList:
        """Like :meth:`predict` but from already computed encoder layer outputs."""
        results = self.predict_regions(encoder_feats, batch_data_samples)
        if rescale:
            for res, sample in zip(results, batch_data_samples):
                res.bboxes = res.bboxes / res.bboxes.new_tensor(sample.scale_factor).repeat(2)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def propose(self, encoder_feats: Sequence[Tensor], batch_data_samples: SampleList) -> List[InstanceData]:
        """Raw proposals before post-processing (see :func:`detr_proposals`)."""
        return detr_proposals(self, encoder_feats, batch_data_samples)

    def predict_regions(self, encoder_feats: Sequence[Tensor], batch_data_samples: SampleList) -> List[InstanceData]:
        """Regions in the frame of the encoder input.

        Args:
            encoder_feats: the backbone's outputs, each (B, C_enc, h, w).
            batch_data_samples: samples with ``img_shape``, ``batch_input_shape``,
                ``scale_factor`` and optionally ``user_bboxes`` (M, 4) in original pixels.

        Returns:
            One InstanceData per image (see ``RegionPostProcessor``), boxes xyxy in input pixels.
        """
        results = []
        for proposals, sample in zip(self.propose(encoder_feats, batch_data_samples), batch_data_samples):
            user = user_bboxes_of(sample)
            if user is not None:
                user = to_input_frame(user.to(proposals.bboxes), sample)
            results.append(self.post_processor(proposals.bboxes, proposals.scores, user))
        return results
