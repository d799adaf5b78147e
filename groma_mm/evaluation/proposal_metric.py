"""Class-agnostic recall and AP of the region proposer's boxes, through pycocotools (COCO AR and AP, one class).

Used on the MLLM's ``regions`` output (all regions it tokenized for an image). mmdet's ``CocoMetric``
names its proposal keys AR@100/300/1000 whatever ``proposal_nums`` holds, so this metric names every key
from the number actually used.

Each sample is its own COCO image. Regions are ranked by ``scores``; AR@N keeps the top N per image and
averages recall over IoU 0.50:0.05:0.95 (pooled over all ground truth of the set, COCO's definition with
one class). AP is COCO's 101-point AP at the largest N.

Reads from each sample (see ``sample_fields``): ``sample_idx``, ``regions`` with ``bboxes`` (R, 4) and
``scores`` (R,), ``gt_bboxes`` (M, 4), optional ``gt_areas`` (M,), ``gt_ignore_flags`` (M,) (COCO crowd
boxes: matched boxes are neither hits nor misses), ``img_id``.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from groma_mm.registry import METRICS
from .boxes import box_area, sanitize_pred_boxes
from .coco_box_eval import hits_per_sample, mean_precision, mean_recall, run_class_agnostic_cocoeval
from .per_sample_metric import PerSampleMetric, SampleKey, row_key
from .sample_fields import get_field, read_boxes, read_gt_boxes, read_optional_vector, read_vector


@METRICS.register_module()
class ProposalMetric(PerSampleMetric):
    """Keys (percent; -1.0 when undefined): ``AR@{N}`` for each N in ``proposal_nums``, ``AP``, ``AP50``,
    ``AP75`` (at the largest N).

    Per-sample scores (for prediction dumps): ``num_regions``, ``num_gt`` and ``recall@0.5`` at the
    largest N (fraction of the non-crowd ground truth).

    Args:
        proposal_nums: numbers of top-scored regions kept per image.
        collect_device, prefix, collect_dir: as in mmengine's ``BaseMetric``.
    """
    default_prefix = 'proposal'

    def __init__(self, proposal_nums: Sequence[int] = (10, 100, 300), collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.proposal_nums = sorted(int(n) for n in proposal_nums)
        if not self.proposal_nums or self.proposal_nums[0] < 1:
            raise ValueError(f'proposal_nums must be positive integers, got {proposal_nums}')

    def process_sample(self, sample: Any, sample_idx: int) -> dict:
        regions = get_field(sample, 'regions', sample_idx)
        bboxes = sanitize_pred_boxes(read_boxes(regions, 'bboxes', sample_idx, owner='regions'))
        scores = read_vector(regions, 'scores', sample_idx, len(bboxes), owner='regions')
        # Only the top max(proposal_nums) can count; keeping no more makes gathering across ranks cheap.
        order = np.argsort(-scores, kind='stable')[:self.proposal_nums[-1]]
        gt = read_gt_boxes(sample, sample_idx)
        areas = read_optional_vector(sample, 'gt_areas', sample_idx, len(gt))
        ignore = read_optional_vector(sample, 'gt_ignore_flags', sample_idx, len(gt), dtype=bool)
        return dict(img_id=get_field(sample, 'img_id', default=None), gt_bboxes=gt,
                    gt_areas=box_area(gt) if areas is None else areas,
                    gt_iscrowd=np.zeros(len(gt), bool) if ignore is None else ignore,
                    region_bboxes=bboxes[order], region_scores=scores[order], num_regions=len(bboxes))

    def score(self, rows: Sequence[dict]) -> Tuple[Dict[str, float], Dict[SampleKey, dict]]:
        coco_eval = run_class_agnostic_cocoeval(
            [dict(gt_bboxes=r['gt_bboxes'], gt_areas=r['gt_areas'], gt_iscrowd=r['gt_iscrowd'],
                  dt_bboxes=r['region_bboxes'], dt_scores=r['region_scores']) for r in rows],
            max_dets=self.proposal_nums)
        metrics = {f'AR@{n}': mean_recall(coco_eval, max_det=n) for n in self.proposal_nums}
        metrics.update(AP=mean_precision(coco_eval), AP50=mean_precision(coco_eval, iou_thr=0.5),
                       AP75=mean_precision(coco_eval, iou_thr=0.75))
        metrics = {k: v * 100 if v >= 0 else v for k, v in metrics.items()}

        per_sample = {}
        for row, hits, num_gt in zip(rows, *hits_per_sample(coco_eval, len(rows))):
            per_sample[row_key(row)] = {'num_regions': row['num_regions'], 'num_gt': int(num_gt),
                                        'recall@0.5': float(hits[0] / num_gt) if num_gt else -1.0}
        return metrics, per_sample
