"""Base class for metrics that keep one row per sample and must give the same numbers on 1 or N ranks.

mmengine's ``BaseMetric.evaluate`` interleaves the ranks' results and cuts the list at the dataset size.
That drops exactly the sampler's padding only when every sample yields one result and the sampler deals
indices round-robin (``DefaultSampler``); any other sampler or result layout silently double-counts some
samples and loses others (the official Groma multi-GPU evaluation reported wrong numbers this way).
Here every rank's whole list is gathered, rows are keyed by ``(split, sample_idx)``, padding repeats are
dropped, and rows are sorted by key, so the scorer sees the same rows in the same order on any number of
ranks. Two *different* samples under one key are an error, never a silent drop.
"""
import hashlib
import logging
from abc import abstractmethod
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import broadcast_object_list, collect_results, get_world_size, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from .sample_fields import get_sample_idx, get_split

SampleKey = Tuple[str, int]


def row_key(row: dict) -> SampleKey:
    """The identity of a row: ``(split, sample_idx)``."""
    return row['split'], row['sample_idx']


def _fingerprint(row: dict) -> str:
    """A digest of the row's ground truth (``img_id`` and ``gt_*`` fields): equal for a padding repeat of
    one sample, different for two distinct samples that collide on the key."""
    parts = []
    for name in sorted(row):
        if name == 'img_id' or name.startswith('gt_'):
            value = row[name]
            value = value.astype(np.float64).round(4).tolist() if isinstance(value, np.ndarray) else value
            parts.append(f'{name}={value!r}')
    return hashlib.sha1('|'.join(parts).encode()).hexdigest()


def gather_unique_rows(rows: List[dict], size: int, collect_device: str = 'cpu',
                       collect_dir: Optional[str] = None, owner: str = 'metric') -> Optional[List[dict]]:
    """Gather every rank's rows on rank 0, drop sampler-padding repeats, sort by ``(split, sample_idx)``.

    Args:
        rows: this rank's rows; each has ``split`` and ``sample_idx``.
        size: the dataset length, only to warn when the unique rows do not cover it.
        collect_device, collect_dir: as in mmengine's ``collect_results``.
        owner: the metric's name, for messages.

    Returns:
        The unique rows on rank 0; ``None`` on other ranks.
    """
    # Each rank sends its list as one item, so mmengine's cut at `size` items keeps every row.
    world_size = get_world_size()
    kwargs = dict(tmpdir=collect_dir) if collect_device == 'cpu' else {}
    parts = collect_results([rows], world_size, collect_device, **kwargs)
    if not is_main_process():
        return None
    unique: Dict[SampleKey, dict] = {}
    digests: Dict[SampleKey, str] = {}
    for row in (row for part in parts for row in part):
        key, digest = row_key(row), _fingerprint(row)
        if key not in unique:
            unique[key], digests[key] = row, digest
        elif digests[key] != digest:
            raise ValueError(
                f'{owner}: two different samples share split={key[0]!r}, sample_idx={key[1]} '
                f'(img_id {unique[key].get("img_id")!r} and {row.get("img_id")!r}). sample_idx must be '
                'unique within a split; a ConcatDataset hands out each sub-dataset\'s own indices, so give '
                'each sub-dataset its own split name.')
    if len(unique) != size:
        print_log(f'{owner}: {len(unique)} unique samples were evaluated but the dataset has {size}',
                  logger='current', level=logging.WARNING)
    return [unique[key] for key in sorted(unique)]


class PerSampleMetric(BaseMetric):
    """A metric whose results are one row per sample, scored once over the unique rows of all ranks.

    Subclasses implement :meth:`process_sample` (one data-sample dict → one row of plain numpy/str values)
    and :meth:`score` (all unique rows, sorted by ``(split, sample_idx)`` → metrics and per-sample scores).
    After :meth:`evaluate`, ``sample_scores`` holds the per-sample scores on rank 0 (for prediction dumps).
    """

    def __init__(self, collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.sample_scores: Dict[SampleKey, dict] = {}

    @abstractmethod
    def process_sample(self, sample: Any, sample_idx: int) -> dict:
        """Turn one data-sample dict into a row; ``split`` and ``sample_idx`` are added by the caller."""

    @abstractmethod
    def score(self, rows: Sequence[dict]) -> Tuple[Dict[str, float], Dict[SampleKey, dict]]:
        """Score the unique rows: ``(metrics, {(split, sample_idx): per-sample scores})``."""

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            sample_idx = get_sample_idx(sample)
            row = self.process_sample(sample, sample_idx)
            row.update(split=get_split(sample), sample_idx=sample_idx)
            self.results.append(row)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics, self.sample_scores = self.score(results)
        return metrics

    def evaluate(self, size: int) -> dict:
        """Gather, de-duplicate, score on rank 0, broadcast the prefixed metrics to every rank."""
        rows = gather_unique_rows(self.results, size, self.collect_device, self.collect_dir,
                                  owner=type(self).__name__)
        self.results.clear()
        metrics = [None]
        if is_main_process():
            computed = self.compute_metrics(rows)
            metrics = [{f'{self.prefix}/{k}' if self.prefix else k: v for k, v in computed.items()}]
        broadcast_object_list(metrics)
        return metrics[0]
