"""Referring expression comprehension accuracy (paper Tab. 2).

Per expression, the *first* predicted box (``pred_bboxes[0]``, answer order) is compared with the one
ground-truth box, as the paper's evaluation does: correct when IoU > 0.5 (strictly); an answer without a box
scores IoU 0, so it is wrong, and counts as *missing*. A non-finite or inverted predicted box is empty
(IoU 0) but not missing: the model did answer.

Reads from each sample (see ``sample_fields``): ``sample_idx``, ``pred_bboxes`` (K, 4), ``gt_bboxes``
(1, 4) or (4,), optional ``split`` and ``img_id``.
"""
from collections import defaultdict
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from groma_mm.registry import METRICS
from .boxes import pairwise_iou, sanitize_pred_boxes
from .per_sample_metric import PerSampleMetric, SampleKey, row_key
from .sample_fields import get_field, read_boxes, read_gt_boxes


@METRICS.register_module()
class RECMetric(PerSampleMetric):
    """Acc@IoU, mean IoU and missing-answer rate of the first predicted box, overall and per split.

    Keys (percent; a split with no samples reports -1.0):

    - ``Acc@0.5``, ``mIoU``, ``missing``: over all expressions (mIoU counts a missing answer as IoU 0, as
      the official evaluation divides by every expression);
    - ``{split}/Acc@0.5``, ``{split}/mIoU``, ``{split}/missing``: per split (``split`` field of the samples);
    - ``split_mean/Acc@0.5``: mean of the non-empty splits' accuracies (Tab. 2's "Average").

    Per-sample scores (for prediction dumps): ``iou`` and ``correct``.

    Args:
        iou_thr: a box is correct when its IoU is greater than this.
        splits: splits to report, in this order, even if empty (so a split whose data went missing shows up
            as -1.0 instead of vanishing); splits seen but not listed are reported after them.
        collect_device, prefix, collect_dir: as in mmengine's ``BaseMetric``.
    """
    default_prefix = 'rec'

    def __init__(self, iou_thr: float = 0.5, splits: Optional[Sequence[str]] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.iou_thr = iou_thr
        self.splits = list(splits or [])

    def process_sample(self, sample: Any, sample_idx: int) -> dict:
        gt = read_gt_boxes(sample, sample_idx)
        if gt.shape[0] != 1:
            raise ValueError(f'sample_idx={sample_idx}: REC needs exactly one gt box, got {gt.shape[0]}')
        pred = sanitize_pred_boxes(read_boxes(sample, 'pred_bboxes', sample_idx))
        return dict(img_id=get_field(sample, 'img_id', default=None), gt_bboxes=gt, pred_bbox=pred[:1])

    def score(self, rows: Sequence[dict]) -> Tuple[Dict[str, float], Dict[SampleKey, dict]]:
        per_sample, by_split = {}, defaultdict(list)
        for row in rows:
            missing = len(row['pred_bbox']) == 0
            iou = 0.0 if missing else float(pairwise_iou(row['pred_bbox'], row['gt_bboxes'])[0, 0])
            per_sample[row_key(row)] = dict(iou=iou, correct=iou > self.iou_thr, missing=missing)
            by_split[row['split']].append((iou, missing))

        acc_key = f'Acc@{self.iou_thr:g}'
        metrics = self._summary([r for results in by_split.values() for r in results], acc_key, '')
        split_names = self.splits + sorted(s for s in by_split if s and s not in self.splits)
        split_accs = []
        for split in split_names:
            metrics.update(self._summary(by_split.get(split, []), acc_key, f'{split}/'))
            if by_split.get(split):
                split_accs.append(metrics[f'{split}/{acc_key}'])
        if split_names:
            metrics[f'split_mean/{acc_key}'] = float(np.mean(split_accs)) if split_accs else -1.0
        return metrics, per_sample

    def _summary(self, results: Sequence[Tuple[float, bool]], acc_key: str, key_prefix: str) -> Dict[str, float]:
        keys = (f'{key_prefix}{acc_key}', f'{key_prefix}mIoU', f'{key_prefix}missing')
        if not results:
            return dict.fromkeys(keys, -1.0)
        ious, missing = np.asarray(results, dtype=np.float64).T
        return dict(zip(keys, (float((ious > self.iou_thr).mean() * 100), float(ious.mean() * 100),
                               float(missing.mean() * 100))))
