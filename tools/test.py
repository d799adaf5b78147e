"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--out results.pkl] ...``."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from groma_mm.engine.checkpoint_loading import (CheckpointMismatchError, UnsafeCheckpointError, load_weights,
                                                 maybe_trusted)
from groma_mm.utils import apply_cli_overrides, register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a groma_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', type=str, help='dump raw predictions to a pickle file (.pkl)')
    parser.add_argument('--show-dir', help='save drawn predictions into this directory (inside the work dir)')
    parser.add_argument('--dump-json', help="write each sample's prediction and the metrics to this JSON file")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs such as test_dataloader.dataset.data_root=x')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle the checkpoint in full, which can run code it contains: only for a file '
                        'from a source you trust (by default anything beyond weights is refused)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)

    cfg = Config.fromfile(args.config)
    apply_cli_overrides(cfg, args)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    # Loaded strictly below, not through load_from (which leaves unmatched weights random with a warning).
    cfg.load_from, cfg.resume = None, False
    if args.show_dir:
        hook = cfg.default_hooks.visualization
        hook.draw, hook.test_out_dir = True, args.show_dir

    if args.dump_json:
        from groma_mm.evaluation import with_prediction_dump
        cfg.test_evaluator = with_prediction_dump(cfg.test_evaluator, args.dump_json)
    # A progress bar with the ETA while it runs, and the samples per second at the end.
    if not any(hook.get('type') == 'EvalProgressHook' for hook in cfg.get('custom_hooks', [])):
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='EvalProgressHook')]

    try:
        with maybe_trusted(args.trust_checkpoint):
            runner = Runner.from_cfg(cfg)
            load_weights(runner.model, args.checkpoint, strict=True, logger=runner.logger)
    except (CheckpointMismatchError, UnsafeCheckpointError) as err:
        raise SystemExit(f'error: {err}')
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must end with .pkl or .pickle, got {args.out}')
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})


if __name__ == '__main__':
    main()
