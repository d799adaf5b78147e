"""Merge the LoRA adapters of a fine-tuning run into the LLM: one inference file for the plain model.

    python tools/model_converters/groma_merge_lora.py LORA_CONFIG CHECKPOINT OUT [--dtype bfloat16]

LORA_CONFIG is the LoRA training config (e.g. configs/groma/groma-lora_*.py); its ``load_from`` (the full
Groma checkpoint the run started from) and sources give the weights the run did not train. CHECKPOINT is
the run's checkpoint (what trained: adapters, token rows, region encoder, projectors). OUT holds every
weight under the plain names, adapters folded in (W + B·A·alpha/r), and loads strictly into the same config
without its ``lora``, e.g. the model config the LoRA config starts from::

    GromaInferencer('configs/_base_/models/groma_dinov2-l14_vicuna-7b.py', OUT)
"""
import argparse

import torch
from mmengine.config import DictAction

from groma_mm.engine.checkpoint_loading import checkpoint_state_dict, load_local_checkpoint
from groma_mm.engine.sharded_checkpoints import consolidated_state_dict, full_state_dict
from groma_mm.models.llms.lora import merge_lora
from groma_mm.registry import MODELS
from groma_mm.utils import load_config, register_all_modules


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the LoRA training config')
    parser.add_argument('checkpoint', help="the LoRA run's checkpoint (file, or DeepSpeed folder)")
    parser.add_argument('out', help='output .pth')
    parser.add_argument('--dtype', choices=['float32', 'bfloat16', 'float16'], default=None,
                        help='store floating-point weights in this dtype (default: as in the model)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    if not cfg.model.get('llm', {}).get('lora'):
        raise SystemExit(f'{args.config} has no model.llm.lora: nothing to merge')
    model = MODELS.build(cfg.model)
    model.init_weights()
    if cfg.get('load_from'):
        start = checkpoint_state_dict(load_local_checkpoint(cfg.load_from, map_location='cpu'))
        model.load_state_dict(start, strict=False)  # plain LLM names are renamed for the LoRA model
    trained = full_state_dict(model, consolidated_state_dict(args.checkpoint), args.checkpoint)
    model.load_state_dict(trained, strict=True)
    merge_lora(model)
    state = model.full_state_dict() if hasattr(model, 'full_state_dict') else model.state_dict()
    if args.dtype is not None:
        dtype = getattr(torch, args.dtype)
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    cfg.model.llm.pop('lora')
    torch.save(dict(state_dict=state, meta=dict(config=cfg.pretty_text)), args.out)
    print(f'wrote {args.out}: {len(state)} tensors, LoRA adapters merged into the LLM')


if __name__ == '__main__':
    main()
