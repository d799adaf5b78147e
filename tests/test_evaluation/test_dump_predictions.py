"""DumpGroundedPredictions: one JSON with every unique sample's prediction, its scores and all metrics."""
import json

import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from groma_mm.evaluation import DumpGroundedPredictions, RECMetric, with_prediction_dump
from groma_mm.registry import EVALUATOR

GT = [0., 0., 10., 10.]


def data_sample(idx, pred):
    """A data element as the model returns it; mmengine's Evaluator turns it into a dict."""
    return BaseDataElement(metainfo=dict(sample_idx=idx, img_id=100 + idx, split='refcoco_val',
                                         gt_bboxes=torch.tensor([GT])),
                           pred_bboxes=torch.tensor(pred).reshape(-1, 4), pred_text=f'answer {idx}')


def run(evaluator):
    evaluator.dataset_meta = dict(classes=('object',))
    evaluator.process([data_sample(0, [GT]), data_sample(1, [[20., 20., 30., 30.]])])
    evaluator.process([data_sample(2, []), data_sample(0, [GT])])  # the last one: a sampler's padding
    return evaluator.evaluate(3)


@pytest.mark.parametrize('as_evaluator_dict', [False, True])
def test_dump_from_wrapped_config(tmp_path, as_evaluator_dict):
    out = tmp_path / 'sub' / 'predictions.json'
    cfg = dict(type='RECMetric')
    if as_evaluator_dict:
        cfg = with_prediction_dump(dict(type='Evaluator', metrics=[cfg]), str(out))
        evaluator = EVALUATOR.build(cfg)
    else:
        cfg = with_prediction_dump(cfg, str(out))
        evaluator = Evaluator(cfg)
    assert isinstance(evaluator.metrics[0], DumpGroundedPredictions)
    metrics = run(evaluator)
    assert evaluator.metrics[0].wrapped_metrics[0].dataset_meta == dict(classes=('object',))

    assert metrics['rec/Acc@0.5'] == pytest.approx(100 / 3)
    dump = json.loads(out.read_text())
    assert dump['metrics'] == metrics
    rows = dump['predictions']
    assert [r['sample_idx'] for r in rows] == [0, 1, 2]  # padding repeat dropped, sorted
    assert rows[0] == {'img_id': 100, 'pred_text': 'answer 0', 'pred_bboxes': [GT], 'gt_bboxes': [GT],
                       'sample_idx': 0, 'split': 'refcoco_val',
                       'scores': {'rec': {'iou': 1.0, 'correct': True, 'missing': False}}}
    assert rows[2]['pred_bboxes'] == [] and rows[2]['scores']['rec'] == {'iou': 0.0, 'correct': False, 'missing': True}


def test_clashing_keys_and_bad_path_are_errors(tmp_path):
    with pytest.raises(ValueError, match='.json'):
        DumpGroundedPredictions(str(tmp_path / 'x.pkl'), [dict(type='RECMetric')])
    dump = DumpGroundedPredictions(str(tmp_path / 'x.json'), [RECMetric(), RECMetric()])
    dump.process(None, [dict(sample_idx=0, img_id=0, gt_bboxes=[GT], pred_bboxes=[GT])])
    with pytest.raises(ValueError, match='same keys'):
        dump.evaluate(1)
