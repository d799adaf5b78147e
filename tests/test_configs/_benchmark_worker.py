"""One process of the benchmark-config runs (``test_benchmark_configs.py``): builds mmengine's Runner from a
tiny benchmark config, loads the checkpoint strictly, runs the test loop with a prediction dump.

A plain module, not a test file: spawned children import it by name from ``sys.path``. With two processes
the gloo process group is started here (mmengine's own ``launcher='pytorch'`` would select a CUDA device,
which this CPU machine has none of); the runner, its sampler and the metrics then shard and gather over it.
"""
import json
import os
import os.path as osp
import shutil

import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

from groma_mm.evaluation import with_prediction_dump
from groma_mm.utils import register_all_modules


def run_config(config: str, data_root: str, checkpoint: str, out_dir: str, world_size: int) -> dict:
    """Evaluate one config; rank 0 writes ``{name}_{world_size}.json`` (metrics and every prediction)."""
    register_all_modules()
    name = osp.splitext(osp.basename(config))[0]
    cfg = Config.fromfile(config)
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.work_dir = osp.join(out_dir, f'work_{name}_{world_size}')
    cfg.test_evaluator = with_prediction_dump(cfg.test_evaluator, osp.join(out_dir, f'{name}_{world_size}.json'))
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    load_checkpoint(runner.model, checkpoint, map_location='cpu', strict=True, logger='silent')
    return runner.test()


def run_rank(rank: int, world_size: int, port: int, configs: list, data_root: str, checkpoint: str,
             out_dir: str) -> None:
    """Entry point of a spawned rank: gloo on CPU, then every config; each rank writes what it got back."""
    os.chdir(out_dir)  # mmengine gathers through a `.dist_test` folder under the working directory
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    try:
        returned = {osp.basename(c): run_config(c, data_root, checkpoint, out_dir, world_size) for c in configs}
        with open(osp.join(out_dir, f'returned_rank{rank}.json'), 'w') as f:
            json.dump(returned, f)
    finally:
        dist.destroy_process_group()
    shutil.rmtree(osp.join(out_dir, '.dist_test'), ignore_errors=True)
