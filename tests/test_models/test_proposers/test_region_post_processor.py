import pytest
import torch

from groma_mm.models.proposers import RegionPostProcessor


def _box(x, y, w=10, h=10):
    return [x, y, x + w, y + h]


def test_filters_by_score_then_nms_then_sorts_by_score():
    pp = RegionPostProcessor(iou_thr=0.6, score_thr=0.15, max_regions=100)
    bboxes = torch.tensor([_box(0, 0), _box(1, 0), _box(50, 50), _box(80, 80)], dtype=torch.float)
    scores = torch.tensor([0.5, 0.9, 0.1, 0.3])
    res = pp(bboxes, scores)
    # (0,0) overlaps (1,0) with IoU 0.82 > 0.6 and has the lower score; (50,50) is under 0.15.
    torch.testing.assert_close(res.bboxes, torch.tensor([_box(1, 0), _box(80, 80)], dtype=torch.float))
    torch.testing.assert_close(res.scores, torch.tensor([0.9, 0.3]))
    assert not res.is_extra.any()


def test_keeps_at_most_max_regions_highest_scores():
    pp = RegionPostProcessor(max_regions=3)
    bboxes = torch.tensor([_box(20 * i, 0) for i in range(6)], dtype=torch.float)
    scores = torch.tensor([0.2, 0.9, 0.5, 0.8, 0.3, 0.7])
    res = pp(bboxes, scores)
    torch.testing.assert_close(res.scores, torch.tensor([0.9, 0.8, 0.7]))


def test_user_boxes_always_survive_come_first_and_remove_duplicate_proposals():
    pp = RegionPostProcessor(max_regions=3)
    bboxes = torch.tensor([_box(0, 0), _box(40, 0), _box(80, 0), _box(120, 0)], dtype=torch.float)
    scores = torch.tensor([0.99, 0.9, 0.8, 0.7])
    # Two user boxes overlapping each other (would suppress each other in a joint NMS), one of them a
    # near-duplicate of the best proposal, and one tiny box no proposal covers.
    user = torch.tensor([_box(1, 0), _box(2, 0), [200, 200, 201, 201]], dtype=torch.float)
    res = pp(bboxes, scores, user[:2])
    torch.testing.assert_close(res.bboxes[:2], user[:2])
    assert res.is_extra.tolist() == [True, True, False]
    torch.testing.assert_close(res.scores, torch.tensor([1.0, 1.0, 0.9]))
    res = pp(bboxes, scores, user)
    torch.testing.assert_close(res.bboxes, user)


def test_more_user_boxes_than_region_slots_is_an_error():
    pp = RegionPostProcessor(max_regions=2)
    with pytest.raises(ValueError, match='3 user boxes given but only 2 region slots'):
        pp(torch.zeros((0, 4)), torch.zeros(0), torch.tensor([_box(0, 0)] * 3, dtype=torch.float))


def test_no_proposals_and_no_user_boxes_gives_empty_result():
    res = RegionPostProcessor()(torch.zeros((0, 4)), torch.zeros(0))
    assert res.bboxes.shape == (0, 4) and res.scores.shape == (0, )


def test_extras_with_their_own_scores_are_kept_and_sorted_among_proposals():
    pp = RegionPostProcessor(max_regions=3)
    bboxes = torch.tensor([_box(0, 0), _box(40, 0), _box(80, 0), _box(120, 0)], dtype=torch.float)
    scores = torch.tensor([0.9, 0.7, 0.5, 0.3])
    gt = torch.tensor([_box(200, 0), _box(81, 0)], dtype=torch.float)
    res = pp(bboxes, scores, gt, torch.tensor([0.2, 0.6]))
    # The second extra replaces its duplicate (score 0.5) and ranks by its own score; the first extra is
    # kept although proposals outscore it: proposals give way to extras when slots run out.
    torch.testing.assert_close(res.scores, torch.tensor([0.9, 0.6, 0.2]))
    assert res.extra_index.tolist() == [-1, 1, 0]
    torch.testing.assert_close(res.bboxes[1:], gt.flip(0))
