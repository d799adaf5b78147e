"""What every Groma region proposer offers on top of its detector: raw proposals and post-processed regions."""
from typing import List, Optional, Sequence

from mmdet.structures import SampleList
from mmengine.structures import InstanceData
from torch import Tensor


def user_bboxes_of(data_sample) -> Optional[Tensor]:
    """User boxes attached to a sample (``data_sample.user_bboxes``, (M, 4) xyxy original pixels)."""
    return data_sample.get('user_bboxes', None)


def to_input_frame(bboxes: Tensor, data_sample) -> Tensor:
    """(M, 4) xyxy original-image pixels → pixels of the resized encoder input."""
    return bboxes * bboxes.new_tensor(data_sample.scale_factor).repeat(2)


def detr_proposals(detector, encoder_feats: Sequence[Tensor], batch_data_samples: SampleList) -> List[InstanceData]:
    """Raw proposals of any mmdet DETR-family detector from its backbone's outputs.

    Works for Groma's proposers and for mmdet's own ``DINO`` / ``DeformableDETR`` with one class, so an
    MLLM config can swap the proposer without code. Scores are the head's objectness scores.

    Args:
        detector: an mmdet ``DetectionTransformer``.
        encoder_feats: the detector backbone's outputs, each (B, C, h, w).
        batch_data_samples: samples with ``img_shape`` and ``batch_input_shape``.

    Returns:
        One InstanceData per image with ``bboxes`` (Q, 4) xyxy in encoder-input pixels and ``scores`` (Q,);
        Q is what the head's ``predict`` returns (mmdet heads: ``test_cfg.max_per_img``).
    """
    img_feats = detector.neck(encoder_feats) if detector.with_neck else encoder_feats
    head_inputs = detector.forward_transformer(img_feats, batch_data_samples)
    return detector.bbox_head.predict(**head_inputs, batch_data_samples=batch_data_samples, rescale=False)


class RegionPredictionMixin:
    """``propose`` / ``predict_regions`` / ``predict`` for an mmdet DETR detector with a ``post_processor``.

    :meth:`propose` gives the raw proposals that the MLLM selects regions from (its backbone is the MLLM's
    image encoder, so the encoder runs once per image); :meth:`predict_regions` applies the registered
    post-processor (NMS, score filter, top-k) with the user boxes of ``data_sample.user_bboxes``
    (original-image pixels), which always survive; :meth:`predict` is the latter in mmdet's form, for
    ``tools/test.py``.
    """

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
