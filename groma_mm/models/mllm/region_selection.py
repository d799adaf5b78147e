"""Which regions an image gets, and which region id each box of the conversation receives."""
import re
from typing import List, Optional, Sequence, Set, Tuple

import torch
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor

from groma_mm.registry import TASK_UTILS

_BOX = re.compile(r'<box(\d+)>')
_REGION = '<region>'


def user_box_indices(conversation: Sequence[dict]) -> Set[int]:
    """Boxes a user message refers to (``<boxK>`` or ``<region>`` + ``box_inds``); the rest are answers."""
    used = set()
    for message in conversation:
        if message.get('role', message.get('from')) not in ('user', 'human'):
            continue
        content = message.get('content', message.get('value', ''))
        used.update(int(k) for k in _BOX.findall(content))
        box_inds = message.get('box_inds') or []
        used.update(int(k) for k in box_inds[:content.count(_REGION)])
    return used


def inherited_scores(answer_bboxes: Tensor, proposals: InstanceData, iou_thr: float, default: float) -> Tensor:
    """Score of the best proposal that each answer box stands for (IoU > ``iou_thr``), else ``default``.

    A ground-truth box in training takes the rank its best proposal would have at inference, so the
    region order the LLM learns from is the one it meets at test time (the official code gives every
    ground-truth box 0.2 and shuffles instead).
    """
    scores = answer_bboxes.new_full((len(answer_bboxes), ), default)
    if len(answer_bboxes) and len(proposals.bboxes):
        ious = bbox_overlaps(answer_bboxes.float(), proposals.bboxes.float())
        best = torch.where(ious > iou_thr, proposals.scores[None].float(), torch.zeros_like(ious)).max(dim=1).values
        scores = torch.where(best > 0, best.to(scores), scores)
    return scores


def select_regions(post_processor,
                   proposals: InstanceData,
                   bboxes: Tensor,
                   user_indices: Set[int],
                   answer_score: float = 0.2,
                   shuffle: bool = False,
                   generator: Optional[torch.Generator] = None) -> Tuple[InstanceData, List[int]]:
    """Regions for one image and the region id of each conversation box.

    Args:
        post_processor: a ``RegionPostProcessor``.
        proposals: raw proposals, ``bboxes`` (Q, 4) and ``scores`` (Q,), encoder-input pixels.
        bboxes: (M, 4) the sample's conversation boxes, encoder-input pixels.
        user_indices: which of them a user refers to (kept with score 1.0, listed first); the others
            are answer targets ranked by :func:`inherited_scores`.
        answer_score: score of an answer box no proposal stands for.
        shuffle: random region order (training only; inference is always by score).
        generator: RNG for ``shuffle``.

    Returns:
        (regions with ``bboxes``, ``scores``, ``extra_index``; region id of each of the M boxes).
    """
    scores = inherited_scores(bboxes, proposals, post_processor.iou_thr, answer_score)
    is_user = torch.tensor([i in user_indices for i in range(len(bboxes))], dtype=torch.bool, device=bboxes.device)
    scores = torch.where(is_user, torch.full_like(scores, post_processor.extra_score), scores)
    regions = post_processor(proposals.bboxes, proposals.scores, bboxes, scores)
    if shuffle and len(regions) > 1:
        regions = regions[torch.randperm(len(regions), generator=generator).to(regions.bboxes.device)]
    box_to_region = [0] * len(bboxes)
    for region_id, k in enumerate(regions.extra_index.tolist()):
        if k >= 0:
            box_to_region[k] = region_id
    return regions, box_to_region


@TASK_UTILS.register_module()
class ScoreRankedRegionSelector:
    """Our recipe's region selection (:func:`select_regions`) as a swappable part of the MLLM.

    Proposals go through ``post_processor``; user boxes always survive and come first; a ground-truth
    answer box keeps a region of its own, ranked by the score of the proposal it stands for.

    Args:
        post_processor: a ``RegionPostProcessor`` config (NMS 0.6, score 0.15, top 100).
        answer_score: score of an answer box no proposal stands for.
    """

    def __init__(self, post_processor: dict = dict(type='RegionPostProcessor'), answer_score: float = 0.2) -> None:
        self.post_processor = TASK_UTILS.build(post_processor)
        self.answer_score = answer_score

    @property
    def max_regions(self) -> int:
        return self.post_processor.max_regions

    def __call__(self,
                 proposals: InstanceData,
                 bboxes: Tensor,
                 user_indices: Set[int],
                 shuffle: bool = False,
                 generator: Optional[torch.Generator] = None) -> Tuple[InstanceData, List[int]]:
        """See :func:`select_regions`."""
        return select_regions(self.post_processor, proposals, bboxes, user_indices, self.answer_score, shuffle,
                              generator)
