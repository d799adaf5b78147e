"""OfficialRegionSelector: one NMS over proposals, user boxes (1.0) and answer boxes (0.2)."""
import pytest
import torch
from mmengine.structures import InstanceData

from groma_mm.models.mllm.official_region_selection import OfficialRegionSelector


def _proposals(boxes, scores):
    return InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32), scores=torch.tensor(scores))


PROPOSALS = _proposals([[0, 0, 10, 10], [50, 50, 90, 90], [0, 0, 10, 11], [20, 0, 40, 20]], [0.9, 0.5, 0.8, 0.1])


def test_one_nms_in_descending_score_with_the_score_threshold():
    regions, box_to_region = OfficialRegionSelector(iou_thr=0.6, score_thr=0.15)(PROPOSALS, torch.zeros((0, 4)), set())
    # [0, 0, 10, 11] overlaps the 0.9 box (IoU 0.91) and goes; 0.1 is under the threshold.
    assert regions.bboxes.tolist() == [[0, 0, 10, 10], [50, 50, 90, 90]]
    assert torch.allclose(regions.scores, torch.tensor([0.9, 0.5]))
    assert regions.extra_index.tolist() == [-1, -1] and box_to_region == []


def test_user_box_scores_one_and_suppresses_the_proposals_it_overlaps():
    user = torch.tensor([[0, 0, 10, 10.5]])
    regions, box_to_region = OfficialRegionSelector()(PROPOSALS, user, {0})
    assert regions.bboxes[0].tolist() == user[0].tolist() and regions.scores[0] == 1.0
    assert regions.extra_index.tolist() == [0, -1] and regions.is_extra.tolist() == [True, False]
    assert box_to_region == [0]


def test_an_answer_box_a_better_proposal_suppresses_is_named_by_that_proposal():
    answer = torch.tensor([[51, 50, 90, 90]])  # IoU 0.975 with the 0.5 proposal, score 0.2 < 0.5
    regions, box_to_region = OfficialRegionSelector()(PROPOSALS, answer, set())
    assert regions.extra_index.tolist() == [-1, -1]
    assert box_to_region == [1]


def test_max_regions_cuts_the_lowest_scores_even_answer_boxes():
    answer = torch.tensor([[100, 100, 120, 120]])
    regions, box_to_region = OfficialRegionSelector(max_regions=2)(PROPOSALS, answer, set())
    assert len(regions) == 2 and regions.extra_index.tolist() == [-1, -1]
    assert box_to_region == [0]  # overlaps none of the survivors: the first of equal IoUs, as torch.max


def test_nothing_above_the_threshold_keeps_the_best_candidate_alone():
    regions, _ = OfficialRegionSelector(score_thr=0.95)(PROPOSALS, torch.zeros((0, 4)), set())
    assert regions.bboxes.tolist() == [[0, 0, 10, 10]] and len(regions) == 1


def test_order_is_by_score_unless_shuffled_or_injected():
    selector = OfficialRegionSelector(score_thr=0.0)
    ordered, _ = selector(PROPOSALS, torch.zeros((0, 4)), set())
    assert ordered.scores.tolist() == sorted(ordered.scores.tolist(), reverse=True)
    shuffled, _ = selector(PROPOSALS, torch.zeros((0, 4)), set(), shuffle=True,
                           generator=torch.Generator().manual_seed(3))
    assert sorted(shuffled.scores.tolist()) == sorted(ordered.scores.tolist())
    assert shuffled.scores.tolist() != ordered.scores.tolist()
    selector.permutation = lambda num: torch.arange(num).flip(0)
    injected, _ = selector(PROPOSALS, torch.zeros((0, 4)), set(), shuffle=True)
    assert injected.scores.tolist() == ordered.scores.tolist()[::-1]


def test_an_injected_order_must_be_a_permutation():
    selector = OfficialRegionSelector(permutation=lambda num: torch.zeros(num, dtype=torch.long))
    with pytest.raises(ValueError, match='not a permutation'):
        selector(PROPOSALS, torch.zeros((0, 4)), set())
