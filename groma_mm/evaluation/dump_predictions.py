"""Write every sample's prediction and the metrics to one JSON file, from ``tools/test.py`` or any Runner.

``DumpGroundedPredictions`` wraps the metrics to run: it forwards every batch to them, keeps its own row
per sample, and after they have evaluated writes (rank 0 only)::

    {"metrics": {"rec/Acc@0.5": 89.5, ...},            # all wrapped metrics, prefixed as logged
     "predictions": [                                  # one per unique sample, sorted by (split, sample_idx)
        {"sample_idx": 0, "split": "refcoco_val", "img_id": 5, "pred_text": "...",
         "pred_bboxes": [[x1, y1, x2, y2], ...], "gt_bboxes": [...],  # fields the sample has, see DUMPED_FIELDS
         "scores": {"rec": {"iou": 0.83, "correct": true}}},           # per-sample scores of each metric
        ...]}

Rows are gathered and de-duplicated across ranks like the metrics' own (``per_sample_metric``).

In a config, wrap the evaluator's metrics::

    test_evaluator = dict(type='DumpGroundedPredictions', out_file='work_dirs/rec/predictions.json',
                          wrapped_metrics=[dict(type='RECMetric')])

or from code (what ``tools/test.py --dump-json`` is meant to do)::

    cfg.test_evaluator = with_prediction_dump(cfg.test_evaluator, 'predictions.json')
"""
import copy
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

from mmengine.dist import barrier, is_main_process
from mmengine.evaluator import BaseMetric

from groma_mm.registry import METRICS
from .per_sample_metric import PerSampleMetric, gather_unique_rows, row_key
from .sample_fields import get_field, get_sample_idx, get_split, json_safe

# Copied into the rows when the sample has them; `regions` is left out (hundreds of boxes per image).
DUMPED_FIELDS = ('img_id', 'img_path', 'category_id', 'pred_text', 'pred_bboxes', 'gt_bboxes', 'gt_captions')


@METRICS.register_module()
class DumpGroundedPredictions(BaseMetric):
    """Run ``wrapped_metrics`` and write their results with every sample's prediction to ``out_file``.

    Args:
        out_file: path of the JSON file (parent folders are created).
        wrapped_metrics: metric configs or instances; their keys are returned unchanged.
        collect_device, collect_dir: as in mmengine's ``BaseMetric``, for gathering the rows.
    """
    # The wrapped metrics prefix their own keys; '' (not None) keeps mmengine from warning about it.
    default_prefix = ''

    def __init__(self, out_file: str, wrapped_metrics: Sequence[Union[dict, BaseMetric]],
                 collect_device: str = 'cpu', collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, collect_dir=collect_dir)
        if not out_file.endswith('.json'):
            raise ValueError(f'out_file must end with .json, got {out_file}')
        self.out_file = out_file
        self.wrapped_metrics: List[BaseMetric] = [
            m if isinstance(m, BaseMetric) else METRICS.build(m) for m in wrapped_metrics]

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        for metric in self.wrapped_metrics:
            metric.dataset_meta = dataset_meta

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for metric in self.wrapped_metrics:
            metric.process(data_batch, data_samples)
        for sample in data_samples:
            row = {name: json_safe(get_field(sample, name)) for name in DUMPED_FIELDS
                   if get_field(sample, name, default=None) is not None}
            row.update(sample_idx=get_sample_idx(sample), split=get_split(sample))
            self.results.append(row)

    def compute_metrics(self, results: list) -> dict:
        """The wrapped metrics compute every number in :meth:`evaluate`; the dump adds none."""
        return {}

    def evaluate(self, size: int) -> Dict[str, Any]:
        """Evaluate the wrapped metrics, then write the dump on rank 0; returns their merged metrics."""
        metrics = {}
        for metric in self.wrapped_metrics:
            computed = metric.evaluate(size)
            clashes = set(computed) & set(metrics)
            if clashes:
                raise ValueError(f'wrapped metrics report the same keys {sorted(clashes)}; give them prefixes')
            metrics.update(computed)
        rows = gather_unique_rows(self.results, size, self.collect_device, self.collect_dir,
                                  owner=type(self).__name__)
        self.results.clear()
        if is_main_process():
            self._write(rows, metrics)
        barrier()  # no rank returns before the file exists, nor starts the next gather while rank 0 reads
        return metrics

    def _write(self, rows: List[dict], metrics: Dict[str, Any]) -> None:
        scorers = [m for m in self.wrapped_metrics if isinstance(m, PerSampleMetric)]
        for row in rows:
            row['scores'] = {(m.prefix or type(m).__name__): m.sample_scores.get(row_key(row)) for m in scorers}
        if osp.dirname(self.out_file):
            os.makedirs(osp.dirname(self.out_file), exist_ok=True)
        with open(self.out_file, 'w') as f:
            json.dump(json_safe(dict(metrics=metrics, predictions=rows)), f)


def with_prediction_dump(evaluator_cfg: Union[dict, list], out_file: str) -> Union[dict, list]:
    """Wrap a ``test_evaluator`` config so it also writes the prediction dump.

    Args:
        evaluator_cfg: one metric config, a list of them, or an evaluator config with ``metrics``.
        out_file: the JSON path.

    Returns:
        A config for ``Runner.build_evaluator`` (a copy; the input is not changed).
    """
    evaluator_cfg = copy.deepcopy(evaluator_cfg)
    if isinstance(evaluator_cfg, dict) and 'metrics' in evaluator_cfg:
        evaluator_cfg['metrics'] = with_prediction_dump(evaluator_cfg['metrics'], out_file)
        return evaluator_cfg
    metrics = list(evaluator_cfg) if isinstance(evaluator_cfg, (list, tuple)) else [evaluator_cfg]
    # A list, not a bare dict: mmengine reads a dict that has a `metrics` key as an evaluator config.
    return [dict(type='DumpGroundedPredictions', out_file=out_file, wrapped_metrics=metrics)]
