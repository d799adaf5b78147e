"""LVIS-Ground average recall under the AS-MANY protocol (paper App. B and Tab. 3).

A query asks for every instance of one category in one image; it has M ground-truth boxes. AS-MANY keeps
the first k = M predicted boxes (answer order: the model has no scores) and measures recall over *all*
ground truth: 3 of 5 boxes hit → 60 %. Extra predictions beyond k are dropped before matching; repeated
or degenerate predictions keep their slot and hit nothing more. A query answered without any box hits
nothing (the official evaluation counts it as "invalid" and scores it so).

Matching is pycocotools' ``COCOeval`` (see ``coco_box_eval``): every query is its own COCO image, so boxes
never match across queries, and the k kept predictions get strictly decreasing scores so COCOeval visits
them in answer order. Averaging is lvis-api's ``LVISEval``, which the paper's code runs with the real
category ids:

- recall of a category at IoU t = (its ground-truth boxes hit at t, summed over its queries) / (its
  ground-truth boxes); a category with many boxes does not outweigh one with few;
- ``AR`` = mean of that recall over the categories and t ∈ {0.50, 0.55, …, 0.95}; ``AR@0.5`` and
  ``AR@0.75`` at one t;
- ``AR_s`` / ``AR_m`` / ``AR_l`` (the paper's AR@s/m/l): the same, counting only ground truth whose
  ``area`` (the LVIS annotation field, the mask area; box area if absent) lies in [0, 32²], [32², 96²],
  [96², ∞) (inclusive bounds, as both COCOeval and LVISEval), over the categories that have such boxes.
  Matching is redone per range, and a prediction prefers an in-range box it overlaps enough.

Pooling every box of the benchmark instead (COCOeval with ``useCats=0``) weighs categories by their box
counts and gives a different, higher-variance number; the test suite checks the per-category values
against lvis-api itself.

Values are percent; a range with no ground truth reports -1.0 (the convention of both libraries).
``missing`` is the percentage of queries answered without any box.

Reads from each sample (see ``sample_fields``): ``sample_idx``, ``category_id``, ``pred_bboxes`` (K, 4),
``gt_bboxes`` (M, 4), optional ``gt_areas`` (M,), ``img_id``.
"""
from typing import Any, Dict, Hashable, Optional, Sequence, Tuple

import numpy as np

from groma_mm.registry import METRICS
from .boxes import box_area, sanitize_pred_boxes
from .coco_box_eval import AREA_LABELS, hits_per_sample, run_class_agnostic_cocoeval
from .per_sample_metric import PerSampleMetric, SampleKey, row_key
from .sample_fields import get_field, read_boxes, read_gt_boxes, read_optional_vector

_AREA_KEYS = (('AR_s', 'small'), ('AR_m', 'medium'), ('AR_l', 'large'))


def as_many_truncate(pred_bboxes: np.ndarray, num_gt: int) -> np.ndarray:
    """AS-MANY: the first ``num_gt`` predicted boxes, (min(K, M), 4)."""
    return pred_bboxes[:num_gt]


def category_mean_recall(hits: np.ndarray, counted: np.ndarray, categories: Sequence[Hashable],
                         iou_index: Optional[int] = None) -> float:
    """LVISEval's average recall: per-category recall, averaged over the categories that have ground truth.

    Args:
        hits: (N, T) ground-truth boxes hit per query and IoU threshold.
        counted: (N,) ground-truth boxes per query (of the area range scored).
        categories: (N,) the category of each query.
        iou_index: one threshold's column, or None for the mean over all of them.

    Returns:
        The mean recall as a fraction; -1.0 when no category has ground truth.
    """
    index = {c: i for i, c in enumerate(dict.fromkeys(categories))}
    rows = np.asarray([index[c] for c in categories], dtype=np.int64)
    hit_sums = np.zeros((len(index), hits.shape[1]))
    np.add.at(hit_sums, rows, hits)
    gt_sums = np.bincount(rows, weights=counted, minlength=len(index))
    valid = gt_sums > 0
    if not valid.any():
        return -1.0
    recall = hit_sums[valid] / gt_sums[valid, None]  # (K', T)
    return float(recall.mean() if iou_index is None else recall[:, iou_index].mean())


@METRICS.register_module()
class LVISGroundMetric(PerSampleMetric):
    """AS-MANY average recall: ``AR``, ``AR@0.5``, ``AR@0.75``, ``AR_s``, ``AR_m``, ``AR_l`` and ``missing``
    (percent).

    Per-sample scores (for prediction dumps): ``num_gt``, ``num_pred`` (before truncation), ``recall@0.5``
    and ``AR`` of the query (fractions).
    """
    default_prefix = 'lvis_ground'

    def process_sample(self, sample: Any, sample_idx: int) -> dict:
        gt = read_gt_boxes(sample, sample_idx)
        areas = read_optional_vector(sample, 'gt_areas', sample_idx, len(gt))
        pred = sanitize_pred_boxes(read_boxes(sample, 'pred_bboxes', sample_idx))
        category_id = get_field(sample, 'category_id', sample_idx)
        return dict(img_id=get_field(sample, 'img_id', default=None), category_id=category_id,
                    gt_bboxes=gt, gt_areas=box_area(gt) if areas is None else areas,
                    pred_bboxes=as_many_truncate(pred, len(gt)), num_pred=len(pred))

    def score(self, rows: Sequence[dict]) -> Tuple[Dict[str, float], Dict[SampleKey, dict]]:
        coco_eval = run_class_agnostic_cocoeval(
            [dict(gt_bboxes=r['gt_bboxes'], gt_areas=r['gt_areas'], gt_iscrowd=np.zeros(len(r['gt_bboxes']), bool),
                  dt_bboxes=r['pred_bboxes'], dt_scores=-np.arange(len(r['pred_bboxes']), dtype=np.float64))
             for r in rows],
            # Predictions are already cut to k per query; this only has to be large enough to keep them.
            max_dets=[max([len(r['pred_bboxes']) for r in rows] + [1])])
        categories = [r['category_id'] for r in rows]
        per_area = {area: hits_per_sample(coco_eval, len(rows), area) for area in AREA_LABELS}
        thresholds = coco_eval.params.iouThrs
        metrics = dict(AR=category_mean_recall(*per_area['all'], categories))
        for t in (0.5, 0.75):
            metrics[f'AR@{t}'] = category_mean_recall(*per_area['all'], categories,
                                                      iou_index=int(np.argmin(np.abs(thresholds - t))))
        for key, area in _AREA_KEYS:
            metrics[key] = category_mean_recall(*per_area[area], categories)
        metrics = {k: v * 100 if v >= 0 else v for k, v in metrics.items()}
        metrics['missing'] = float(np.mean([r['num_pred'] == 0 for r in rows]) * 100) if rows else -1.0

        per_sample = {}
        for row, hits, num_gt in zip(rows, *per_area['all']):
            recalls = hits / num_gt if num_gt else np.zeros(len(hits))
            per_sample[row_key(row)] = {'num_gt': int(num_gt), 'num_pred': row['num_pred'],
                                        'recall@0.5': float(recalls[0]), 'AR': float(recalls.mean())}
        return metrics, per_sample
