"""LVIS-Ground average recall under the AS-MANY protocol (paper App. B and Tab. 3, DESIGN §6).

A query asks for every instance of one category in one image; it has M ground-truth boxes. AS-MANY keeps
the first k = M predicted boxes (answer order: the model has no scores) and measures recall over *all*
ground truth: 3 of 5 boxes hit → 60 %. Extra predictions beyond k are dropped before matching; repeated
or degenerate predictions keep their slot and hit nothing more.

Matching and accumulation are pycocotools' ``COCOeval`` (see ``coco_box_eval``): every query is its own
COCO image, so boxes never match across queries, and the k kept predictions get strictly decreasing
scores so COCOeval visits them in answer order. How the numbers are averaged:

- recall at IoU t = (ground-truth boxes hit at t, summed over all queries) / (all ground-truth boxes),
  i.e. per box over the whole benchmark, not per query or per category;
- ``AR`` = mean of that recall over t ∈ {0.50, 0.55, …, 0.95}; ``AR@0.5`` and ``AR@0.75`` at one t;
- ``AR_s`` / ``AR_m`` / ``AR_l`` (the paper's AR@s/m/l): the same, counting only ground truth whose
  ``area`` (the LVIS annotation field; box area if absent) lies in [0, 32²], [32², 96²], [96², ∞) (COCO's
  inclusive bounds). As in COCOeval, matching is redone per range, and a prediction prefers an in-range
  box it overlaps enough.

Values are percent; a range with no ground truth reports -1.0 (pycocotools' convention).

Reads from each sample (see ``sample_fields``): ``sample_idx``, ``pred_bboxes`` (K, 4), ``gt_bboxes``
(M, 4), optional ``gt_areas`` (M,), ``img_id``, ``category_id``.
"""
from typing import Any, Dict, Sequence, Tuple

import numpy as np

from groma_mm.registry import METRICS
from .boxes import box_area, sanitize_pred_boxes
from .coco_box_eval import hits_per_sample, mean_recall, run_class_agnostic_cocoeval
from .per_sample_metric import PerSampleMetric, SampleKey, row_key
from .sample_fields import get_field, read_boxes, read_gt_boxes, read_optional_vector

_AREA_KEYS = (('AR_s', 'small'), ('AR_m', 'medium'), ('AR_l', 'large'))


def as_many_truncate(pred_bboxes: np.ndarray, num_gt: int) -> np.ndarray:
    """AS-MANY: the first ``num_gt`` predicted boxes, (min(K, M), 4)."""
    return pred_bboxes[:num_gt]


@METRICS.register_module()
class LVISGroundMetric(PerSampleMetric):
    """AS-MANY average recall: ``AR``, ``AR@0.5``, ``AR@0.75``, ``AR_s``, ``AR_m``, ``AR_l`` (percent).

    Per-sample scores (for prediction dumps): ``num_gt``, ``num_pred`` (before truncation), ``recall@0.5``
    and ``AR`` of the query (fractions).
    """
    default_prefix = 'lvis_ground'

    def process_sample(self, sample: Any, sample_idx: int) -> dict:
        gt = read_gt_boxes(sample, sample_idx)
        areas = read_optional_vector(sample, 'gt_areas', sample_idx, len(gt))
        pred = sanitize_pred_boxes(read_boxes(sample, 'pred_bboxes', sample_idx))
        return dict(img_id=get_field(sample, 'img_id', default=None),
                    category_id=get_field(sample, 'category_id', default=None),
                    gt_bboxes=gt, gt_areas=box_area(gt) if areas is None else areas,
                    pred_bboxes=as_many_truncate(pred, len(gt)), num_pred=len(pred))

    def score(self, rows: Sequence[dict]) -> Tuple[Dict[str, float], Dict[SampleKey, dict]]:
        coco_eval = run_class_agnostic_cocoeval(
            [dict(gt_bboxes=r['gt_bboxes'], gt_areas=r['gt_areas'], gt_iscrowd=np.zeros(len(r['gt_bboxes']), bool),
                  dt_bboxes=r['pred_bboxes'], dt_scores=-np.arange(len(r['pred_bboxes']), dtype=np.float64))
             for r in rows],
            # Predictions are already cut to k per query; this only has to be large enough to keep them.
            max_dets=[max([len(r['pred_bboxes']) for r in rows] + [1])])
        metrics = dict(AR=mean_recall(coco_eval), **{
            f'AR@{t}': mean_recall(coco_eval, iou_thr=t) for t in (0.5, 0.75)
        }, **{key: mean_recall(coco_eval, area=area) for key, area in _AREA_KEYS})
        metrics = {k: v * 100 if v >= 0 else v for k, v in metrics.items()}

        per_sample = {}
        for row, hits in zip(rows, hits_per_sample(coco_eval, len(rows))):
            num_gt = len(row['gt_bboxes'])
            recalls = hits / num_gt if num_gt else np.zeros_like(hits, dtype=float)
            per_sample[row_key(row)] = {'num_gt': num_gt, 'num_pred': row['num_pred'],
                                        'recall@0.5': float(recalls[0]), 'AR': float(recalls.mean())}
        return metrics, per_sample
