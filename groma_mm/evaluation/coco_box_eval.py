"""Class-agnostic box evaluation through pycocotools' ``COCOeval``, one COCO image per evaluated sample.

Matching, area ranges and recall/precision accumulation are pycocotools' own, so our numbers follow the
detection convention the paper cites: per IoU threshold, detections are visited in score order and each
takes the unmatched ground truth it overlaps most (IoU ≥ threshold); a ground truth outside the area
range being scored is ignored (a detection matched to it is neither hit nor miss); area bounds are
inclusive, ``[0, 32²]``, ``[32², 96²]``, ``[96², 1e10]``, on the ground truth's ``area`` field.
``useCats=0``: every box is one class, and since each sample is its own image, boxes of different
samples never match.
"""
import contextlib
import io
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .boxes import xyxy_to_coco_xywh

AREA_LABELS = ('all', 'small', 'medium', 'large')


def _coco(images: List[dict], annotations: List[dict]) -> COCO:
    coco = COCO()
    coco.dataset = dict(images=images, annotations=annotations, categories=[dict(id=1, name='object')])
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    return coco


def run_class_agnostic_cocoeval(samples: Sequence[Dict[str, np.ndarray]], max_dets: Sequence[int]) -> COCOeval:
    """Evaluate and accumulate boxes of many samples.

    Args:
        samples: one dict per sample, becoming COCO image ``i + 1``:
            ``gt_bboxes`` (M, 4) xyxy, ``gt_areas`` (M,), ``gt_iscrowd`` (M,) bool,
            ``dt_bboxes`` (K, 4) xyxy, ``dt_scores`` (K,) (higher first; ties keep the given order).
        max_dets: detections kept per image, ascending, as ``COCOeval.params.maxDets``.

    Returns:
        The ``COCOeval`` after ``evaluate()`` and ``accumulate()``; ``eval['recall']`` is (T, 1, 4, len(max_dets)),
        ``eval['precision']`` (T, 101, 1, 4, len(max_dets)), ``evalImgs`` indexed by
        ``area_index * len(samples) + sample_index``.
    """
    images, gts, dts = [], [], []
    for image_id, sample in enumerate(samples, start=1):
        images.append(dict(id=image_id))
        # Ids start at 1: COCOeval stores matched ids and reads 0 as "unmatched".
        for box, area, crowd in zip(xyxy_to_coco_xywh(sample['gt_bboxes']), sample['gt_areas'], sample['gt_iscrowd']):
            gts.append(dict(id=len(gts) + 1, image_id=image_id, category_id=1, bbox=box.tolist(),
                            area=float(area), iscrowd=int(crowd)))
        for box, score in zip(xyxy_to_coco_xywh(sample['dt_bboxes']), sample['dt_scores']):
            dts.append(dict(id=len(dts) + 1, image_id=image_id, category_id=1, bbox=box.tolist(),
                            area=float(box[2] * box[3]), score=float(score), iscrowd=0))
    coco_eval = COCOeval(_coco(images, gts), _coco(images, dts), iouType='bbox')
    coco_eval.params.useCats = 0
    coco_eval.params.maxDets = [int(m) for m in max_dets]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval


def _select(values: np.ndarray, coco_eval: COCOeval, iou_thr: Optional[float]) -> np.ndarray:
    if iou_thr is None:
        return values
    index = np.where(np.isclose(coco_eval.params.iouThrs, iou_thr))[0]
    if index.size == 0:
        raise ValueError(f'IoU threshold {iou_thr} is not among {coco_eval.params.iouThrs.tolist()}')
    return values[index]


def mean_recall(coco_eval: COCOeval, iou_thr: Optional[float] = None, area: str = 'all',
                max_det: Optional[int] = None) -> float:
    """Recall over all ground truth of the area range, averaged over the IoU thresholds (or at one).

    Returns -1.0 (pycocotools' convention) when the area range holds no ground truth.
    """
    m = coco_eval.params.maxDets.index(max_det) if max_det is not None else -1
    recall = _select(coco_eval.eval['recall'][:, 0, AREA_LABELS.index(area), m], coco_eval, iou_thr)
    recall = recall[recall > -1]
    return float(recall.mean()) if recall.size else -1.0


def mean_precision(coco_eval: COCOeval, iou_thr: Optional[float] = None, area: str = 'all') -> float:
    """COCO AP (101-point interpolated) at the largest ``maxDets``; -1.0 when undefined."""
    precision = _select(coco_eval.eval['precision'][:, :, 0, AREA_LABELS.index(area), -1], coco_eval, iou_thr)
    precision = precision[precision > -1]
    return float(precision.mean()) if precision.size else -1.0


def hits_per_sample(coco_eval: COCOeval, num_samples: int, area: str = 'all') -> Tuple[np.ndarray, np.ndarray]:
    """Per sample, how many of its ground-truth boxes of an area range are hit, at each IoU threshold.

    Read from ``evalImgs`` at the largest ``maxDets``: a ground truth counts when it is neither crowd nor
    outside the area range (COCOeval's ``gtIgnore``), and is hit when a kept detection matched it.

    Returns:
        ``hits`` (N, T) int and ``counted`` (N,) int (the ground truth the hits are out of).
    """
    num_thrs = len(coco_eval.params.iouThrs)
    hits = np.zeros((num_samples, num_thrs), dtype=np.int64)
    counted = np.zeros(num_samples, dtype=np.int64)
    offset = AREA_LABELS.index(area) * num_samples  # evalImgs: area-major, then image
    for index in range(num_samples):
        entry = coco_eval.evalImgs[offset + index]
        if entry is None:  # an image with neither ground truth nor detections
            continue
        kept = ~np.asarray(entry['gtIgnore'], dtype=bool)
        hits[index] = (entry['gtMatches'][:, kept] > 0).sum(axis=1)
        counted[index] = int(kept.sum())
    return hits, counted
