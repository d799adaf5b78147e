"""Region selection as the released Groma checkpoints saw it (official ``GromaModel.forward``).

Candidates are the proposals, the user's boxes (score ``refer_score`` = 1.0) and, in training, the answer's
ground-truth boxes (score ``ground_score`` = 0.2); ONE mmcv NMS (IoU > ``iou_thr`` suppressed, score >
``score_thr`` kept, at most ``max_regions``) picks the regions in descending score. If nothing survives,
the best-scoring candidate alone is the region. Every conversation box then names the selected region it
overlaps most (the official ``<refer_box>`` / ``<ground_box>`` replacement), so a ground-truth box that a
better proposal suppressed is answered by that proposal.

Order: the official code shuffles the survivors with ``torch.randperm``, at inference too. Here regions
stay in score order unless ``shuffle`` is asked for (training); that is the one deliberate difference of
the official mode. ``permutation`` injects an order instead (parity tests replay the official one).
Our default recipe (:class:`~groma_mm.models.mllm.region_selection.ScoreRankedRegionSelector`) differs
in that user boxes are never suppressed or cut and answer boxes keep their own region.
"""
from typing import Callable, List, Optional, Set, Tuple

import torch
from mmcv.ops import nms
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor

from groma_mm.registry import TASK_UTILS

Permutation = Callable[[int], Tensor]


@TASK_UTILS.register_module()
class OfficialRegionSelector:
    """One NMS over proposals, user boxes and answer boxes; boxes → their best-overlapping region.

    Args:
        iou_thr: NMS IoU threshold (official ``nms_thres``).
        score_thr: keep candidates scoring above it (official ``box_score_thres``).
        max_regions: most regions per image (official ``max_region_num``).
        refer_score: score of a user box.
        ground_score: score of an answer box (training only; answer boxes do not exist at inference).
        permutation: ``f(K) -> (K,) long`` order of the K survivors (given in score order), overriding
            ``shuffle``; ``None`` keeps score order (or shuffles when asked).
    """

    def __init__(self,
                 iou_thr: float = 0.6,
                 score_thr: float = 0.15,
                 max_regions: int = 100,
                 refer_score: float = 1.0,
                 ground_score: float = 0.2,
                 permutation: Optional[Permutation] = None) -> None:
        self.iou_thr = iou_thr
        self.score_thr = score_thr
        self.max_regions = max_regions
        self.refer_score = refer_score
        self.ground_score = ground_score
        self.permutation = permutation

    def _order(self, num: int, shuffle: bool, generator: Optional[torch.Generator]) -> Tensor:
        if self.permutation is not None:
            order = torch.as_tensor(self.permutation(num), dtype=torch.long)
            if sorted(order.tolist()) != list(range(num)):
                raise ValueError(f'permutation returned {order.tolist()}, not a permutation of {num} regions')
            return order
        if shuffle:
            return torch.randperm(num, generator=generator)
        return torch.arange(num)

    def __call__(self,
                 proposals: InstanceData,
                 bboxes: Tensor,
                 user_indices: Set[int],
                 shuffle: bool = False,
                 generator: Optional[torch.Generator] = None) -> Tuple[InstanceData, List[int]]:
        """Regions for one image and the region id of each conversation box.

        Args:
            proposals: ``bboxes`` (Q, 4) xyxy and ``scores`` (Q,), encoder-input pixels.
            bboxes: (M, 4) the sample's conversation boxes, same frame.
            user_indices: which of them a user gives (score ``refer_score``); the rest are answer boxes.
            shuffle: random order of the regions (training).
            generator: RNG for ``shuffle``.

        Returns:
            (regions with ``bboxes`` (K, 4), ``scores``, ``labels``, ``extra_index`` (conversation box
            index, -1 for proposals), ``is_extra``; region id of each of the M boxes).
        """
        users = [i for i in range(len(bboxes)) if i in user_indices]
        answers = [i for i in range(len(bboxes)) if i not in user_indices]
        boxes = torch.cat([proposals.bboxes, bboxes[users], bboxes[answers]]).float()
        scores = torch.cat([proposals.scores.float(),
                            boxes.new_full((len(users), ), self.refer_score),
                            boxes.new_full((len(answers), ), self.ground_score)])
        extra_index = torch.tensor([-1] * len(proposals.bboxes) + users + answers, dtype=torch.long,
                                   device=boxes.device)
        _, keep = nms(boxes.contiguous(), scores.contiguous(), self.iou_thr, score_threshold=self.score_thr,
                      max_num=self.max_regions)
        if len(keep) == 0:
            keep = scores.argmax().reshape(1)
        keep = keep[self._order(len(keep), shuffle, generator).to(keep.device)]

        regions = InstanceData()
        regions.bboxes = boxes[keep].to(proposals.bboxes.dtype)
        regions.scores = scores[keep]
        regions.labels = torch.zeros(len(keep), dtype=torch.long, device=boxes.device)
        regions.extra_index = extra_index[keep]
        regions.is_extra = regions.extra_index >= 0
        box_to_region = []
        if len(bboxes):
            box_to_region = bbox_overlaps(bboxes.float(), regions.bboxes.float()).argmax(dim=1).tolist()
        return regions, box_to_region
