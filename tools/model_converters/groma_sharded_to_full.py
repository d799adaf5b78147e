"""Turn a training checkpoint of any strategy into one inference file that ``GromaInferencer`` loads.

    python tools/model_converters/groma_sharded_to_full.py CONFIG CHECKPOINT OUT [--dtype bfloat16]

CHECKPOINT is what the run wrote: a DeepSpeed ZeRO-2/3 folder (``work_dirs/<cfg>/iter_N.pth/``), an FSDP
``state_dict_cfg='full'`` file or a DDP file. CONFIG is the training config; its sources (stage-1 proposer,
LLM folder) give the weights the checkpoint does not hold. OUT holds every weight of the model (no source
needed) and no optimizer state::

    GromaInferencer(CONFIG, OUT)      # or tools/infer.py CONFIG OUT ..., tools/test.py CONFIG OUT
"""
import argparse
import os.path as osp

import torch
from mmengine.config import DictAction

from groma_mm.engine.sharded_checkpoints import consolidated_state_dict, full_state_dict
from groma_mm.registry import MODELS
from groma_mm.utils import load_config, register_all_modules


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the training config')
    parser.add_argument('checkpoint', help='DeepSpeed checkpoint folder or mmengine checkpoint file')
    parser.add_argument('out', help='output .pth')
    parser.add_argument('--dtype', choices=['float32', 'bfloat16', 'float16'], default=None,
                        help='store floating-point weights in this dtype (default: as in the model)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.exists(args.checkpoint):
        raise SystemExit(f'{args.checkpoint} does not exist')
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    model.init_weights()
    weights = consolidated_state_dict(args.checkpoint)
    state = full_state_dict(model, weights, args.checkpoint)
    if args.dtype is not None:
        dtype = getattr(torch, args.dtype)
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    torch.save(dict(state_dict=state, meta=dict(config=cfg.pretty_text, source=osp.abspath(args.checkpoint))),
               args.out)
    print(f'wrote {args.out}: {len(state)} tensors, {len(weights)} of them from {args.checkpoint}')


if __name__ == '__main__':
    main()
