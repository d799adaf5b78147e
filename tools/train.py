"""Train any groma_mm (or mmdet) config: ``python tools/train.py CONFIG [--work-dir DIR] ...``."""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from groma_mm.engine.checkpoint_loading import maybe_trusted
from groma_mm.utils import apply_cli_overrides, register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description='Train a groma_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', default=False, help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='enable automatically scaling LR')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir if none is given')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs such as '
        'train_dataloader.dataset.data_root=data/x model.num_queries=100')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='unpickle load_from / --resume checkpoints in full, which can run code they contain: only for '
        'files from a source you trust (by default anything beyond weights is refused)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args) -> Config:
    cfg = Config.fromfile(args.config)
    apply_cli_overrides(cfg, args)
    if args.amp:
        skips = cfg.optim_wrapper.get('type') == 'SkipNonFiniteOptimWrapper'
        cfg.optim_wrapper.type = 'SkipNonFiniteAmpOptimWrapper' if skips else 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError(f'{args.config} has no `auto_scale_lr.base_batch_size`; cannot scale the LR')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if args.resume.endswith('.safetensors'):
            raise SystemExit(f'--resume needs a training checkpoint (.pth with optimizer and loop state); '
                             f'{args.resume} holds weights only: pass it as --cfg-options load_from=...')
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = build_config(args)
    with maybe_trusted(args.trust_checkpoint):
        # runner_type='FlexibleRunner' (FSDP / DeepSpeed strategies) is built as mmdet's train.py does.
        runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
        runner.train()


if __name__ == '__main__':
    main()
