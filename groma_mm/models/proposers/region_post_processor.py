"""Turns raw proposals (plus user boxes) into the ordered region list Groma tokenizes."""
from typing import Optional

import torch
from mmcv.ops import nms
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor

from groma_mm.registry import TASK_UTILS


@TASK_UTILS.register_module()
class RegionPostProcessor:
    """NMS, score filter and top-k over proposals; user boxes always survive (paper §5.1).

    The paper keeps proposals with objectness ≥ 0.15 after NMS at IoU 0.6 and at most 100 of them.
    User boxes (``extra_bboxes``) join with score ``extra_score`` (1.0): they are never suppressed or
    cut, and proposals that overlap one of them above ``iou_thr`` are dropped as duplicates of it. The
    order is deterministic: descending score, so user boxes come first in the given order.

    Args:
        iou_thr: NMS IoU threshold.
        score_thr: minimum objectness of a proposal.
        max_regions: most regions per image, user boxes included (the number of proxy tokens).
        extra_score: score reported for user boxes.
    """

    def __init__(self,
                 iou_thr: float = 0.6,
                 score_thr: float = 0.15,
                 max_regions: int = 100,
                 extra_score: float = 1.0) -> None:
        self.iou_thr = iou_thr
        self.score_thr = score_thr
        self.max_regions = max_regions
        self.extra_score = extra_score

    def __call__(self,
                 bboxes: Tensor,
                 scores: Tensor,
                 extra_bboxes: Optional[Tensor] = None,
                 extra_scores: Optional[Tensor] = None) -> InstanceData:
        """Select regions for one image.

        Args:
            bboxes: (N, 4) proposals, xyxy pixels.
            scores: (N,) objectness in [0, 1].
            extra_bboxes: (M, 4) boxes that must be kept (user boxes; ground-truth boxes in training),
                xyxy pixels, same frame as ``bboxes``.
            extra_scores: (M,) their scores, which place them in the score order; ``extra_score`` (1.0,
                i.e. first) when not given.

        Returns:
            InstanceData sorted by descending score (extras before proposals on ties) with ``bboxes``
            (K, 4), ``scores`` (K,), ``labels`` (K,) zeros, ``is_extra`` (K,) bool and ``extra_index``
            (K,) long (row of ``extra_bboxes``, -1 for proposals); K ≤ max_regions and every extra is kept.
        """
        if extra_bboxes is None:
            extra_bboxes = bboxes.new_zeros((0, 4))
        num_extra = len(extra_bboxes)
        if num_extra > self.max_regions:
            raise ValueError(f'{num_extra} user boxes given but only {self.max_regions} region slots '
                             '(max_regions) exist')
        if extra_scores is None:
            extra_scores = scores.new_full((num_extra, ), self.extra_score)

        keep = scores >= self.score_thr
        bboxes, scores = bboxes[keep], scores[keep]
        if len(bboxes):
            _, keep = nms(bboxes.float().contiguous(), scores.float().contiguous(), self.iou_thr)
            bboxes, scores = bboxes[keep], scores[keep]
        if num_extra and len(bboxes):
            duplicate = bbox_overlaps(bboxes.float(), extra_bboxes.float()).max(dim=1).values > self.iou_thr
            bboxes, scores = bboxes[~duplicate], scores[~duplicate]
        num_proposals = min(len(bboxes), self.max_regions - num_extra)

        all_scores = torch.cat([extra_scores.to(scores), scores[:num_proposals]])
        order = torch.sort(all_scores, descending=True, stable=True).indices
        extra_index = torch.cat([torch.arange(num_extra), torch.full((num_proposals, ), -1)]).to(order.device)

        results = InstanceData()
        results.bboxes = torch.cat([extra_bboxes.to(bboxes), bboxes[:num_proposals]])[order]
        results.scores = all_scores[order]
        results.labels = torch.zeros(len(order), dtype=torch.long, device=bboxes.device)
        results.extra_index = extra_index[order]
        results.is_extra = results.extra_index >= 0
        return results
