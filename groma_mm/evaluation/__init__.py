"""Metrics for proposals, REC, LVIS-Ground and region captions.

Every metric reads the per-sample prediction contract described in ``sample_fields``, gathers its rows
from all ranks and drops sampler-padding repeats by ``(split, sample_idx)`` (``per_sample_metric``), so
1 and N processes give the same numbers. Values are percent, as in the paper's tables; -1.0 marks an
undefined value (no sample, or no ground truth in an area range), as pycocotools does.
"""
from .dump_predictions import DumpGroundedPredictions, with_prediction_dump
from .lvis_ground_metric import LVISGroundMetric
from .per_sample_metric import PerSampleMetric, gather_unique_rows
from .progress_hook import EvalProgressHook
from .proposal_metric import ProposalMetric
from .rec_metric import RECMetric
from .region_caption_metric import RegionCaptionMetric

__all__ = [
    'DumpGroundedPredictions', 'EvalProgressHook', 'LVISGroundMetric', 'PerSampleMetric', 'ProposalMetric',
    'RECMetric', 'RegionCaptionMetric', 'gather_unique_rows', 'with_prediction_dump'
]
