"""ProposalMetric: class-agnostic AR@N / AP with keys named after the N actually used."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

from groma_mm.evaluation import ProposalMetric

GTS = [[0., 0., 10., 10.], [50., 0., 60., 10.], [100., 0., 110., 10.]]
MISS = [0., 300., 10., 310.]


def sample(idx, bboxes, scores, gts=GTS, **extra):
    return dict(sample_idx=idx, img_id=idx, gt_bboxes=gts, regions=dict(bboxes=bboxes, scores=scores), **extra)


def evaluate(samples, **kwargs):
    metric = ProposalMetric(**kwargs)
    metric.process(None, samples)
    metrics = metric.evaluate(len(samples))
    return {k.split('/', 1)[1]: v for k, v in metrics.items()}, metric.sample_scores


def test_recall_at_each_n_follows_the_scores_and_is_named_by_n():
    # Listed in ascending score: ranked, they are gts[0] (0.9), MISS (0.8), gts[1] (0.7), gts[2] (0.1).
    bboxes = [GTS[2], GTS[1], MISS, GTS[0]]
    metrics, scores = evaluate([sample(0, bboxes, [0.1, 0.7, 0.8, 0.9])], proposal_nums=(1, 2, 3))
    assert metrics['AR@1'] == pytest.approx(100 / 3)
    assert metrics['AR@2'] == pytest.approx(100 / 3)
    assert metrics['AR@3'] == pytest.approx(200 / 3)
    assert set(metrics) == {'AR@1', 'AR@2', 'AR@3', 'AP', 'AP50', 'AP75'}
    assert scores['', 0] == {'num_regions': 4, 'num_gt': 3, 'recall@0.5': pytest.approx(2 / 3)}


def test_default_keys_and_hand_computed_ap():
    # Ranked: hit, miss. Precision 1 up to recall 1/2 → 51 of COCO's 101 recall points.
    metrics, _ = evaluate([sample(0, [GTS[0], MISS], [0.9, 0.5], gts=GTS[:2])])
    assert set(metrics) == {'AR@10', 'AR@100', 'AR@300', 'AP', 'AP50', 'AP75'}
    assert metrics['AR@300'] == pytest.approx(50.0)
    assert metrics['AP'] == pytest.approx(51 / 101 * 100)


def test_crowd_ground_truth_is_neither_hit_nor_miss():
    flags = np.array([False, False, True])
    metrics, scores = evaluate([sample(0, [GTS[0], GTS[2]], [0.9, 0.8], gt_ignore_flags=flags)])
    assert metrics['AR@300'] == pytest.approx(50.0)  # 1 of the 2 non-crowd boxes
    assert scores['', 0]['num_gt'] == 2


def test_no_regions_and_mmdet_structures_as_input():
    regions = InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0))
    metrics, _ = evaluate([dict(sample_idx=0, gt_bboxes=HorizontalBoxes(torch.tensor(GTS)), regions=regions)])
    assert metrics['AR@300'] == 0.0 and metrics['AP'] == 0.0


def test_missing_scores_name_the_nested_field():
    with pytest.raises(KeyError, match="sample_idx=4 has no field 'regions.scores'"):
        ProposalMetric().process(None, [dict(sample_idx=4, gt_bboxes=GTS, regions=dict(bboxes=GTS))])


def test_proposal_nums_must_be_positive():
    with pytest.raises(ValueError, match='positive'):
        ProposalMetric(proposal_nums=(0, 100))
