"""Two gloo processes on CPU give exactly the numbers and dumps of one process.

Every dataset size is odd, so DefaultSampler pads rank 1 with a repeat of a sample rank 0 also has; the
metrics must count it once. The sampler shuffles, and the ranks also hand back their metrics, which must
agree with rank 0's.
"""
import json
import socket
import sys
from pathlib import Path

import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
import _dist_eval_worker as worker  # noqa: E402

# Captioning is left out to save two Java runs: its rows go through the same gathering code, and its
# padding repeats are checked in test_region_caption_metric.py.
TASKS = [('rec', 7), ('boxes', 9)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    single = {task: worker.evaluate_task(task, size, str(tmp_path), world_size=1) for task, size in TASKS}
    mp.spawn(worker.run_rank, args=(2, free_port(), str(tmp_path), TASKS), nprocs=2, join=True)

    for task, size in TASKS:
        assert size % 2 == 1  # padding happens
        one = json.loads((tmp_path / f'{task}_1.json').read_text())
        two = json.loads((tmp_path / f'{task}_2.json').read_text())
        assert len(one['predictions']) == size
        assert two == one, task  # metrics and every per-sample row, bit for bit
        assert one['metrics'] == single[task]
    for rank in (0, 1):
        assert json.loads((tmp_path / f'returned_rank{rank}.json').read_text()) == single
    # The fixtures discriminate: numbers that are neither 0 nor 100 everywhere.
    assert 0 < single['rec']['rec/Acc@0.5'] < 100
    assert 0 < single['boxes']['lvis_ground/AR'] < 100
