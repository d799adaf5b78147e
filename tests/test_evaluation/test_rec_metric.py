"""RECMetric: Acc@0.5 (IoU > 0.5) of the first predicted box, mIoU and missing answers, per split and overall,
against hand-computed values."""
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from groma_mm.evaluation import RECMetric
from groma_mm.evaluation.boxes import pairwise_iou, xyxy_to_coco_xywh

GT = [0., 0., 10., 10.]


def rec_sample(idx, pred, gt=GT, split='refcoco_val', img_id=None):
    return dict(sample_idx=idx, split=split, img_id=idx if img_id is None else img_id, pred_bboxes=pred,
                gt_bboxes=gt)


def evaluate(samples, **kwargs):
    metric = RECMetric(**kwargs)
    metric.process(None, samples)
    return metric.evaluate(len(samples)), metric.sample_scores


def test_threshold_is_strict_and_no_box_is_wrong_and_missing():
    metrics, scores = evaluate([
        rec_sample(0, [GT]),                      # IoU 1
        rec_sample(1, [[0., 0., 10., 5.1]]),      # IoU 0.51: correct
        rec_sample(2, [[0., 0., 10., 5.]]),       # IoU 0.5 exactly: wrong (the paper's code asks IoU > 0.5)
        rec_sample(3, np.zeros((0, 4))),          # no box: wrong, IoU 0, missing
        rec_sample(4, [[10., 10., 0., 0.]]),      # an inverted box: wrong, but answered
    ])
    assert metrics['rec/Acc@0.5'] == pytest.approx(40.0)
    assert metrics['rec/mIoU'] == pytest.approx((1 + 0.51 + 0.5 + 0 + 0) / 5 * 100)
    assert metrics['rec/missing'] == pytest.approx(20.0)
    assert metrics['rec/refcoco_val/missing'] == pytest.approx(20.0)
    assert [scores['refcoco_val', i]['correct'] for i in range(5)] == [True, True, False, False, False]
    assert [scores['refcoco_val', i]['missing'] for i in range(5)] == [False, False, False, True, False]
    assert scores['refcoco_val', 3]['iou'] == 0.0


def test_only_the_first_box_counts():
    metrics, _ = evaluate([
        rec_sample(0, [[50., 50., 60., 60.], GT]),  # more boxes than GT; the perfect one is second
        rec_sample(1, [GT, [50., 50., 60., 60.]]),
    ])
    assert metrics['rec/Acc@0.5'] == pytest.approx(50.0)


def test_degenerate_predictions_are_misses():
    metrics, scores = evaluate([
        rec_sample(0, [[10., 10., 0., 0.]]),             # inverted
        rec_sample(1, [[float('nan'), 0., 10., 10.]]),  # non-finite
        rec_sample(2, [[0., 0., 0., 0.]]),               # zero size at the GT corner
        rec_sample(3, [[0., 0., 0., 0.]], gt=[0., 0., 0., 0.]),  # both empty: nothing was localized
    ])
    assert metrics['rec/Acc@0.5'] == 0.0 and metrics['rec/mIoU'] == 0.0
    assert all(s['iou'] == 0.0 for s in scores.values())


def test_splits_listed_empty_and_unlisted():
    samples = [rec_sample(0, [GT], split='refcoco_val'), rec_sample(1, [[5., 5., 15., 15.]], split='refcoco_val'),
               rec_sample(0, [GT], split='refcocog_test')]
    metrics, scores = evaluate(samples, splits=['refcoco_val', 'refcoco_testA'])
    assert len(scores) == 3  # index 0 of two splits (a ConcatDataset of splits) are two samples
    assert metrics['rec/refcoco_val/Acc@0.5'] == pytest.approx(50.0)
    assert metrics['rec/refcoco_testA/Acc@0.5'] == -1.0  # listed but empty: visible, not dropped
    assert metrics['rec/refcoco_testA/mIoU'] == metrics['rec/refcoco_testA/missing'] == -1.0
    assert metrics['rec/refcocog_test/Acc@0.5'] == pytest.approx(100.0)  # seen, not listed
    assert metrics['rec/split_mean/Acc@0.5'] == pytest.approx(75.0)  # mean of the two non-empty splits
    assert metrics['rec/Acc@0.5'] == pytest.approx(200 / 3)  # pooled over expressions


def test_no_samples_reports_undefined():
    metrics, _ = evaluate([])
    assert metrics == {'rec/Acc@0.5': -1.0, 'rec/mIoU': -1.0, 'rec/missing': -1.0}


def test_tensor_ndarray_and_list_inputs_agree():
    pred = [[1., 1., 11., 9.]]
    results = [evaluate([rec_sample(0, conv(pred), gt=conv([GT]))])[0]
               for conv in (lambda x: x, np.array, torch.tensor)]
    assert results[0] == results[1] == results[2]


def test_padding_repeats_count_once_but_split_keeps_samples_apart():
    metric = RECMetric()
    metric.process(None, [rec_sample(0, [GT]), rec_sample(1, np.zeros((0, 4)))])
    metric.process(None, [rec_sample(0, [GT])])  # a sampler's padding repeat
    metric.process(None, [rec_sample(0, np.zeros((0, 4)), split='refcoco_testA')])  # another split's index 0
    metrics = metric.evaluate(3)
    assert metrics['rec/Acc@0.5'] == pytest.approx(100 / 3)


def test_two_different_samples_under_one_index_is_an_error():
    metric = RECMetric()
    metric.process(None, [rec_sample(0, [GT], img_id=1), rec_sample(0, [GT], gt=[0., 0., 5., 5.], img_id=2)])
    with pytest.raises(ValueError, match='sample_idx=0'):
        metric.evaluate(2)


@pytest.mark.parametrize('sample, message', [
    (dict(sample_idx=7, gt_bboxes=[GT]), "sample_idx=7 has no field 'pred_bboxes'"),
    (dict(sample_idx=7, pred_bboxes=[GT]), "sample_idx=7 has no field 'gt_bboxes'"),
    (dict(sample_idx=7, pred_bboxes=[GT], gt_bboxes=[GT, GT]), 'exactly one gt box'),
    (dict(sample_idx=7, pred_bboxes=[GT], gt_bboxes=[[10., 0., 0., 10.]]), 'inverted'),
    (dict(sample_idx=7, pred_bboxes=[[1., 2., 3.]], gt_bboxes=[GT]), r'\(N, 4\)'),
    (dict(pred_bboxes=[GT], gt_bboxes=[GT]), "'sample_idx'"),
])
def test_bad_samples_fail_at_process_naming_sample_and_field(sample, message):
    with pytest.raises((KeyError, ValueError), match=message):
        RECMetric().process(None, [sample])


def test_iou_matches_pycocotools():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, size=(40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.5, 40, size=(40, 2))], axis=1)
    ours = pairwise_iou(boxes[:20], boxes[20:])
    ref = mask_utils.iou(xyxy_to_coco_xywh(boxes[:20]).tolist(), xyxy_to_coco_xywh(boxes[20:]).tolist(), [0] * 20)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
