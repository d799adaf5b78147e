"""Convert a released Groma checkpoint (an official Hugging Face folder) into one groma_mm checkpoint.

    python tools/model_converters/groma_official_to_mm.py SRC_DIR OUT.pth [--tokenizer-out DIR]

SRC_DIR is ``groma-det-pretrain`` (``model_type`` ``ddetr``: the proposer alone, for the config
``configs/groma_proposer/groma-proposer_official-det-pretrain.py``) or ``groma-7b-{pretrain,finetune}``
(``model_type`` ``groma``: the whole model, for ``configs/groma/groma_official_vicuna-7b_*.py``). Its weights
may be ``model.safetensors`` / ``pytorch_model.bin`` or shards with their ``*.index.json``.

Conversion is strict: every tensor of SRC_DIR is used exactly once, and a key the converter needs but
does not find, or a key it does not know, is listed by name and the tool exits with status 1.
OUT.pth is an mmengine checkpoint (``{'meta': ..., 'state_dict': ...}``) that loads with
``load_checkpoint(model, OUT, strict=True)``. ``--tokenizer-out`` (groma folders only) writes the folder's
tokenizer after checking that it has the official token ids (``[PAD]`` … ``<r99>`` at V … V+113).
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict

import torch
from torch import Tensor
from transformers import AutoTokenizer

from groma_mm.converters import (ConversionError, SourceKeys, check_complete, config_field,
                                 official_image_tokenizer_cfg, official_region_encoder_cfg)
from groma_mm.converters.hf_folder import read_hf_config, read_hf_state_dict
from groma_mm.converters.official_groma import convert_official_groma
from groma_mm.converters.official_proposer import convert_official_proposer, official_proposer_cfg
from groma_mm.models.llms.official_tokens import check_official_ids, official_new_tokens
from groma_mm.registry import MODELS
from groma_mm.utils import register_all_modules


def convert_state_dict(src: SourceKeys, config: dict) -> Dict[str, Tensor]:
    """Dispatch on ``model_type`` (``read_hf_folder`` only lets the two official ones through)."""
    if config['model_type'] == 'ddetr':
        return convert_official_proposer(src, config)
    return convert_official_groma(src, config)


def vision_parts(config: dict) -> Dict[str, dict]:
    """Prefix → model config of every converted part our config builds without an LLM (the LLM's keys are
    HF's own, checked against ``llm_cfg`` by the converter)."""
    if config['model_type'] == 'ddetr':
        return {'': official_proposer_cfg(config)}
    llm = config_field(config, 'llm_cfg.hidden_size')
    return {'proposer.': official_proposer_cfg(config),
            'image_tokenizer.': dict(official_image_tokenizer_cfg(config), out_channels=llm),
            'region_encoder.': dict(official_region_encoder_cfg(config), out_channels=llm)}


def check_vision_keys(state_dict: Dict[str, Tensor], config: dict) -> None:
    """Each vision part of the converted state dict has exactly the tensors (and shapes) of the module its
    config builds; skeletons are built on the meta device (shapes only, no memory)."""
    register_all_modules()
    for prefix, cfg in vision_parts(config).items():
        with torch.device('meta'):
            module = MODELS.build(cfg)
        part = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        check_complete(part, module.state_dict(), f"{cfg['type']} (converted keys {prefix or ''}*)")


def load_official_tokenizer(src_dir: str, config: dict):
    """SRC_DIR's tokenizer, checked to hold the official new tokens at ids V … V+113."""
    if config['model_type'] != 'groma':
        raise ConversionError(f'{src_dir} is a det-pretrain (proposer) folder: it has no tokenizer; drop '
                              '--tokenizer-out')
    try:
        tokenizer = AutoTokenizer.from_pretrained(src_dir, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ConversionError(f'{src_dir}: cannot load its tokenizer ({err})') from err
    base = config_field(config, 'llm_cfg.vocab_size')
    tokens = official_new_tokens()
    if config.get('num_new_token', len(tokens)) != len(tokens):
        raise ConversionError(f'{src_dir}/config.json: num_new_token={config["num_new_token"]}, but the official '
                              f'layout adds {len(tokens)} tokens')
    try:
        check_official_ids(tokenizer, base, tokens)
    except ValueError as err:
        raise ConversionError(f'{src_dir}: {err}') from err
    if len(tokenizer) != base + len(tokens):
        raise ConversionError(f'{src_dir}: the tokenizer has {len(tokenizer)} tokens, expected {base} + '
                              f'{len(tokens)} official ones')
    return tokenizer


def convert_folder(src_dir: str, out: str, tokenizer_out: str = None) -> None:
    """Convert and check everything first; write OUT (and the tokenizer) only if all checks pass."""
    config = read_hf_config(src_dir)
    tokenizer = None if tokenizer_out is None else load_official_tokenizer(src_dir, config)
    state = read_hf_state_dict(src_dir)
    src = SourceKeys(state, source=src_dir)
    state_dict = convert_state_dict(src, config)
    src.check_all_used()
    check_vision_keys(state_dict, config)
    meta = dict(source=osp.abspath(src_dir), model_type=config['model_type'],
                architectures=config.get('architectures'), hf_config=config,
                converter='tools/model_converters/groma_official_to_mm.py')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state_dict), out)
    print(f'wrote {out}: {len(state_dict)} tensors from {len(state)} official ones ({config["model_type"]})')
    if tokenizer is not None:
        tokenizer.save_pretrained(tokenizer_out)
        print(f'wrote the tokenizer ({len(tokenizer)} tokens, official ids) to {tokenizer_out}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src_dir', help='official Groma Hugging Face folder')
    parser.add_argument('out', help='output checkpoint (.pth)')
    parser.add_argument('--tokenizer-out', help='also save the tokenizer (official token ids) to this folder')
    args = parser.parse_args(argv)
    try:
        convert_folder(args.src_dir, args.out, args.tokenizer_out)
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
