"""Merge a stage checkpoint (trainable weights only) with the model's frozen sources into one file.

    python tools/model_converters/groma_full_checkpoint.py CONFIG STAGE_CKPT OUT [--cfg-options ...]

The config's sources (stage-1 proposer checkpoint, LLM path) provide the frozen weights; the stage
checkpoint provides what that stage trained. The output holds every weight and loads with
``load_checkpoint(model, OUT, strict=True)`` (or ``load_from=OUT``) for inference.
"""
import argparse

import torch
from mmengine.config import DictAction
from mmengine.runner.checkpoint import _load_checkpoint

from groma_mm.registry import MODELS
from groma_mm.utils import load_config, register_all_modules


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('stage_checkpoint')
    parser.add_argument('out')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()

    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    model.init_weights()
    stage = _load_checkpoint(args.stage_checkpoint, map_location='cpu')
    stage = stage.get('state_dict', stage)
    trainable = set(model.state_dict())
    missing = sorted(trainable - set(stage))
    if missing:
        raise KeyError(f'{args.stage_checkpoint} lacks {len(missing)} weights this config trains, e.g. {missing[:5]}; '
                       'is it a checkpoint of this config?')
    unexpected = sorted(set(stage) - set(model.full_state_dict()))
    if unexpected:
        raise KeyError(f'{args.stage_checkpoint} has weights this model does not, e.g. {unexpected[:5]}')
    model.load_state_dict(stage, strict=False)
    torch.save(dict(state_dict=model.full_state_dict(), meta=dict(config=cfg.pretty_text)), args.out)
    print(f'wrote {args.out}: {len(model.full_state_dict())} tensors ({len(stage)} from the stage checkpoint)')


if __name__ == '__main__':
    main()
