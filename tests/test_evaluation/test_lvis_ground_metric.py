"""LVISGroundMetric (AS-MANY, recall averaged per category as LVISEval does): hand-computed fixtures and
agreement with lvis-api on the same truncated predictions, over several categories."""
import json

import numpy as np
import pytest

from groma_mm.evaluation import LVISGroundMetric
from groma_mm.evaluation.boxes import xyxy_to_coco_xywh
from groma_mm.evaluation.lvis_ground_metric import as_many_truncate


def box(x, y, w=10., h=10.):
    return [x, y, x + w, y + h]


def query(idx, gt, pred, areas=None, category_id=1):
    sample = dict(sample_idx=idx, img_id=idx, category_id=category_id, gt_bboxes=gt, pred_bboxes=pred)
    if areas is not None:
        sample['gt_areas'] = areas
    return sample


def evaluate(samples):
    metric = LVISGroundMetric()
    metric.process(None, samples)
    metrics = metric.evaluate(len(samples))
    return {k.split('/', 1)[1]: v for k, v in metrics.items()}, metric.sample_scores


def test_paper_example_three_of_five():
    gts = [box(20. * i, 0.) for i in range(5)]
    preds = [gts[0], box(0., 100.), gts[2], gts[4], box(0., 200.)]
    metrics, scores = evaluate([query(0, gts, preds)])
    assert metrics['AR'] == pytest.approx(60.0)
    assert metrics['AR@0.5'] == pytest.approx(60.0) and metrics['AR@0.75'] == pytest.approx(60.0)
    assert scores['', 0] == {'num_gt': 5, 'num_pred': 5, 'recall@0.5': 0.6, 'AR': pytest.approx(0.6)}


def test_only_the_first_k_predictions_count():
    gts = [box(0., 0.), box(50., 0.)]
    # k = 2: the first two are [miss, hit]; the third (a hit) is beyond k.
    metrics, scores = evaluate([query(0, gts, [box(0., 100.), gts[0], gts[1]])])
    assert metrics['AR'] == pytest.approx(50.0)
    assert scores['', 0]['num_pred'] == 3
    np.testing.assert_array_equal(as_many_truncate(np.arange(12.).reshape(3, 4), 2), np.arange(8.).reshape(2, 4))


def test_duplicate_predictions_hit_once():
    gts = [box(0., 0.), box(50., 0.)]
    metrics, _ = evaluate([query(0, gts, [gts[0], gts[0]])])
    assert metrics['AR'] == pytest.approx(50.0)


def test_degenerate_prediction_uses_a_slot():
    gts = [box(0., 0.)]
    metrics, _ = evaluate([query(0, gts, [[10., 10., 0., 0.], gts[0]])])  # inverted first, then exact
    assert metrics['AR'] == 0.0


def test_no_prediction_scores_zero():
    metrics, scores = evaluate([query(0, [box(0., 0.)], np.zeros((0, 4)))])
    assert metrics['AR'] == 0.0 and metrics['AR@0.5'] == 0.0
    assert scores['', 0]['AR'] == 0.0


def test_recall_is_averaged_over_iou_thresholds():
    gt = [0., 0., 10., 10.]
    # IoU 0.78: a hit at 0.50, 0.55, ..., 0.75 (6 of 10 thresholds), a miss from 0.80.
    metrics, _ = evaluate([query(0, [gt], [[0., 0., 10., 7.8]])])
    assert metrics['AR'] == pytest.approx(60.0)
    assert metrics['AR@0.5'] == pytest.approx(100.0) and metrics['AR@0.75'] == pytest.approx(100.0)


def test_recall_is_averaged_per_category_not_pooled_over_boxes():
    gts_b = [box(0., 0.), box(20., 0.), box(40., 0.)]
    samples = [query(0, [box(0., 0.)], [box(0., 0.)], category_id=7),   # category 7: 1 of 1
               query(1, gts_b, [gts_b[0]] + [box(0., 300.)] * 2, category_id=9),  # category 9: 1 of 3 ...
               query(2, gts_b, [box(0., 300.)] * 3, category_id=9)]     # ... and 0 of 3: 1 of 6 over its queries
    metrics, _ = evaluate(samples)
    assert metrics['AR'] == pytest.approx((1 + 1 / 6) / 2 * 100)  # pooled over all 7 boxes it would be 2/7
    assert metrics['missing'] == 0.0


def test_missing_answers_and_the_category_field():
    metrics, _ = evaluate([query(0, [box(0., 0.)], np.zeros((0, 4))), query(1, [box(0., 0.)], [box(0., 0.)])])
    assert metrics['missing'] == pytest.approx(50.0)
    with pytest.raises(KeyError, match="sample_idx=4 has no field 'category_id'"):
        LVISGroundMetric().process(None, [dict(sample_idx=4, gt_bboxes=[box(0., 0.)], pred_bboxes=[])])


def test_area_ranges_use_the_area_field():
    gts = [box(0., 0., 10., 10.), box(50., 0., 10., 10.), box(100., 0., 10., 10.)]
    # Every box is 10x10 (area 100), but the LVIS `area` field decides: small, medium, large.
    preds = [gts[0], box(0., 300.), gts[2]]
    metrics, _ = evaluate([query(0, gts, preds, areas=[100., 5000., 20000.])])
    assert (metrics['AR_s'], metrics['AR_m'], metrics['AR_l']) == (100.0, 0.0, 100.0)
    assert metrics['AR'] == pytest.approx(200 / 3)
    metrics, _ = evaluate([query(0, gts[:1], gts[:1])])  # box area 100 → small; nothing medium or large
    assert (metrics['AR_s'], metrics['AR_m'], metrics['AR_l']) == (100.0, -1.0, -1.0)


def test_bad_area_field_names_the_sample():
    with pytest.raises(ValueError, match="sample_idx=3: field 'gt_areas' has 1 entries for 2 boxes"):
        LVISGroundMetric().process(None, [query(3, [box(0., 0.), box(9., 9.)], [], areas=[1.])])


def random_queries(seed, num_queries=40, num_categories=4):
    """Queries of several categories whose ground-truth counts differ a lot (category 0 has 1 box per query,
    the last up to 8), so per-category and pooled recall differ."""
    rng = np.random.default_rng(seed)
    samples = []
    for idx in range(num_queries):
        category = idx % num_categories
        num_gt = 1 if category == 0 else int(rng.integers(1, 3 + 2 * category))
        xy = rng.uniform(0, 400, size=(num_gt, 2))
        gts = np.concatenate([xy, xy + rng.uniform(3, 150, size=(num_gt, 2))], axis=1)
        # Predictions: jittered GT (various IoUs), some random boxes, in a random order and number; the
        # many-box categories are answered worse, as real models do.
        jitter = gts[rng.permutation(num_gt)] + rng.normal(0, rng.uniform(0.5, 4 + 4 * category), size=(num_gt, 4))
        noise_xy = rng.uniform(0, 400, size=(int(rng.integers(0, 4)), 2))
        noise = np.concatenate([noise_xy, noise_xy + 30.], axis=1)
        preds = np.concatenate([jitter, noise])[rng.permutation(num_gt + len(noise))]
        preds = preds[:int(rng.integers(0, len(preds) + 1))]
        areas = (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1]) * rng.uniform(0.3, 1.0, size=num_gt)
        samples.append(query(idx, gts, preds, areas=areas, category_id=100 + category))
    return samples


def lvis_api_metrics(samples, tmp_path, monkeypatch, one_category=False):
    """The same queries through lvis-api: one LVIS image per query under its real category (or all under one
    category, which pools them), AS-MANY-truncated predictions with decreasing scores."""
    lvis = pytest.importorskip('lvis')
    monkeypatch.setattr(np, 'float', float, raising=False)  # lvis 0.5.3 still uses np.float
    images, anns, dets = [], [], []
    category_ids = sorted({1 if one_category else s['category_id'] for s in samples})
    for image_id, s in enumerate(samples, start=1):
        category_id = 1 if one_category else s['category_id']
        images.append(dict(id=image_id, height=1000, width=1000, neg_category_ids=[],
                           not_exhaustive_category_ids=[]))
        for b, area in zip(xyxy_to_coco_xywh(s['gt_bboxes']), s['gt_areas']):
            anns.append(dict(id=len(anns) + 1, image_id=image_id, category_id=category_id, bbox=b.tolist(),
                             area=float(area)))
        kept = as_many_truncate(np.asarray(s['pred_bboxes']).reshape(-1, 4), len(s['gt_bboxes']))
        for rank, b in enumerate(xyxy_to_coco_xywh(kept)):
            dets.append(dict(image_id=image_id, category_id=category_id, bbox=b.tolist(), score=1.0 - rank / 100))
    gt_file = tmp_path / 'lvis_gt.json'
    gt_file.write_text(json.dumps(dict(images=images, annotations=anns,
                                       categories=[dict(id=c, name=f'thing{c}', frequency='f') for c in category_ids])))
    lvis_eval = lvis.LVISEval(lvis.LVIS(str(gt_file)), lvis.LVISResults(lvis.LVIS(str(gt_file)), dets), 'bbox')
    lvis_eval.evaluate()
    lvis_eval.accumulate()
    ar = lvis_eval._summarize
    return {'AR': ar('ar'), 'AR@0.5': ar('ar', iou_thr=0.5), 'AR@0.75': ar('ar', iou_thr=0.75),
            'AR_s': ar('ar', area_rng='small'), 'AR_m': ar('ar', area_rng='medium'),
            'AR_l': ar('ar', area_rng='large')}


@pytest.mark.parametrize('seed', [0, 1])
def test_agrees_with_lvis_api_over_several_categories(seed, tmp_path, monkeypatch):
    samples = random_queries(seed)
    assert len({len(s['gt_bboxes']) for s in samples}) >= 3  # categories with different ground-truth counts
    ours, _ = evaluate(samples)
    ref = lvis_api_metrics(samples, tmp_path, monkeypatch)
    assert set(ours) == set(ref) | {'missing'}
    for key in ref:
        assert ours[key] == pytest.approx(ref[key] * 100, abs=1e-9), key
    assert 0 < ours['AR'] < 100 and ours['AR@0.5'] > ours['AR@0.75'] > 0  # a fixture that discriminates
    # Pooling every box (all queries under one category) is a different number: the fixture sees the difference.
    pooled = lvis_api_metrics(samples, tmp_path, monkeypatch, one_category=True)
    assert abs(pooled['AR'] * 100 - ours['AR']) > 1.0
