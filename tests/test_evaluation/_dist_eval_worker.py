"""One rank of the 1-vs-2-process evaluation test (``test_distributed_evaluation.py``).

A plain module, not a test file: spawned children import it by name from ``sys.path``.
"""
import json
import os
import os.path as osp
import shutil

import numpy as np
import torch
import torch.distributed as dist
from mmengine.dataset import DefaultSampler
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement, InstanceData

from groma_mm.evaluation import DumpGroundedPredictions, LVISGroundMetric, ProposalMetric, RECMetric

BATCH_SIZE = 2
WORDS = ['a', 'the', 'red', 'dog', 'man', 'on', 'left', 'car']


def _boxes(rng, n):
    xy = rng.uniform(0, 200, size=(n, 2))
    return np.concatenate([xy, xy + rng.uniform(4, 120, size=(n, 2))], axis=1)


def make_sample(task: str, idx: int) -> BaseDataElement:
    """A deterministic fake prediction for sample ``idx`` of ``task`` ('rec' or 'boxes')."""
    rng = np.random.default_rng(1000 * len(task) + idx)
    gt = _boxes(rng, 1 if task == 'rec' else int(rng.integers(1, 5)))
    num_pred = int(rng.integers(0, len(gt) + 2))
    pred = gt[rng.integers(0, len(gt), size=num_pred)] + rng.normal(0, rng.uniform(1, 15), size=(num_pred, 4))
    meta = dict(sample_idx=idx, img_id=10 + idx, gt_bboxes=torch.tensor(gt))
    if task == 'rec':
        meta['split'] = ('refcoco_val', 'refcoco_testA')[idx % 2]
    else:
        meta['category_id'] = 1 + idx % 3
    regions = np.concatenate([pred, _boxes(rng, 5)])
    return BaseDataElement(
        metainfo=meta, pred_bboxes=torch.tensor(pred, dtype=torch.float32), pred_text=' '.join(rng.choice(WORDS, 3)),
        regions=InstanceData(bboxes=torch.tensor(regions), scores=torch.tensor(rng.uniform(size=len(regions)))))


def build_evaluator(task: str, out_file: str) -> Evaluator:
    metrics = dict(rec=lambda: [RECMetric(splits=['refcoco_val', 'refcoco_testA', 'refcoco_testB'])],
                   boxes=lambda: [LVISGroundMetric(), ProposalMetric(proposal_nums=(1, 3, 10))])[task]()
    return Evaluator([DumpGroundedPredictions(out_file, metrics)])


def evaluate_task(task: str, size: int, out_dir: str, world_size: int) -> dict:
    """Run this rank's DefaultSampler shard through the evaluator; rank 0 writes ``{task}_{world_size}.json``."""
    sampler = DefaultSampler(list(range(size)), shuffle=True, seed=3)
    indices = list(sampler)
    evaluator = build_evaluator(task, osp.join(out_dir, f'{task}_{world_size}.json'))
    for start in range(0, len(indices), BATCH_SIZE):
        evaluator.process([make_sample(task, i) for i in indices[start:start + BATCH_SIZE]])
    return evaluator.evaluate(size)


def run_rank(rank: int, world_size: int, port: int, out_dir: str, tasks: list) -> None:
    """Entry point of a spawned rank: gloo on CPU, then every task; each rank writes what it got back."""
    # mmengine gathers through a `.dist_test` folder under the working directory.
    os.chdir(out_dir)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    try:
        returned = {task: evaluate_task(task, size, out_dir, world_size) for task, size in tasks}
        with open(osp.join(out_dir, f'returned_rank{rank}.json'), 'w') as f:
            json.dump(returned, f)
    finally:
        dist.destroy_process_group()
    shutil.rmtree(osp.join(out_dir, '.dist_test'), ignore_errors=True)
