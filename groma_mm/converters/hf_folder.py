"""Read an official Groma Hugging Face folder: ``config.json`` and its weights, single file or sharded.

The released folders are ``groma-det-pretrain`` (the proposer alone, ``model_type`` ``ddetr``,
``CustomDDETRModel``) and ``groma-7b-{pretrain,finetune}`` (the whole model, ``model_type`` ``groma``,
``GromaModel``). Weights are ``model.safetensors`` or ``pytorch_model.bin``, or shards of either listed by
``model.safetensors.index.json`` / ``pytorch_model.bin.index.json``.
"""
import glob
import json
import os.path as osp
from typing import Any, Dict, List, Tuple

import torch
from safetensors.torch import load_file
from torch import Tensor

from .source_keys import ConversionError

# model_type → the architectures the official code saves under it.
OFFICIAL_MODEL_TYPES = {'groma': ('GromaModel', ), 'ddetr': ('CustomDDETRModel', )}
# (single file, index) in the order Hugging Face prefers them.
WEIGHT_FILES = (('model.safetensors', 'model.safetensors.index.json'),
                ('pytorch_model.bin', 'pytorch_model.bin.index.json'))


def config_field(config: dict, path: str) -> Any:
    """``config['a']['b']`` for ``path='a.b'``, or a :class:`ConversionError` naming the missing field."""
    value = config
    for part in path.split('.'):
        if not isinstance(value, dict) or part not in value:
            raise ConversionError(f'config.json has no field {path!r} (an official Groma config has it)')
        value = value[part]
    return value


def read_hf_config(folder: str) -> dict:
    """``config.json`` of an official Groma folder, checked to be a ``groma`` or ``ddetr`` config."""
    if not osp.isdir(folder):
        raise ConversionError(f'{folder} is not a folder (expected an official Groma Hugging Face folder)')
    path = osp.join(folder, 'config.json')
    if not osp.isfile(path):
        raise ConversionError(f'{folder} has no config.json: not a Hugging Face model folder (expected '
                              'config.json plus model*.safetensors or pytorch_model*.bin)')
    try:
        with open(path) as f:
            config = json.load(f)
    except json.JSONDecodeError as err:
        raise ConversionError(f'{path} is not valid JSON: {err}') from err
    if not isinstance(config, dict):
        raise ConversionError(f'{path} holds a {type(config).__name__}, not a JSON object')
    model_type = config.get('model_type')
    if model_type not in OFFICIAL_MODEL_TYPES:
        raise ConversionError(f'{path}: model_type {model_type!r} is not an official Groma checkpoint (expected '
                              "'groma' for groma-7b-* or 'ddetr' for groma-det-pretrain)")
    known = OFFICIAL_MODEL_TYPES[model_type]
    unknown = [a for a in config.get('architectures') or [] if a not in known]
    if unknown:
        raise ConversionError(f'{path}: architectures {unknown} are unknown to this converter for model_type '
                              f'{model_type!r} (it converts {list(known)})')
    return config


def _load_weight_file(path: str) -> Dict[str, Tensor]:
    if not osp.isfile(path):
        raise ConversionError(f'weight file {path} is missing')
    if path.endswith('.safetensors'):
        return load_file(path, device='cpu')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ConversionError(f'{path} is not a state dict of tensors')
    return state


def _load_sharded(folder: str, index_name: str) -> Dict[str, Tensor]:
    index_path = osp.join(folder, index_name)
    try:
        with open(index_path) as f:
            weight_map = json.load(f)['weight_map']
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ConversionError(f'{index_path} is not a weight index (a JSON object with "weight_map"): {err}') from err
    state = {}
    for shard in sorted(set(weight_map.values())):
        tensors = _load_weight_file(osp.join(folder, shard))
        listed = {k for k, v in weight_map.items() if v == shard}
        absent, unlisted = sorted(listed - set(tensors)), sorted(set(tensors) - listed)
        if absent or unlisted:
            raise ConversionError(f'{osp.join(folder, shard)} does not match {index_name}: '
                                  f'{len(absent)} listed keys absent {absent[:5]}, '
                                  f'{len(unlisted)} unlisted keys {unlisted[:5]}')
        state.update(tensors)
    return state


def weight_files(folder: str) -> List[str]:
    """Every file a Hugging Face loader would read weights from (for messages)."""
    return sorted(glob.glob(osp.join(folder, '*.safetensors')) + glob.glob(osp.join(folder, 'pytorch_model*.bin')))


def read_hf_state_dict(folder: str) -> Dict[str, Tensor]:
    """All tensors of the folder's weights (the index decides which files when there is one)."""
    for single, index in WEIGHT_FILES:
        if osp.isfile(osp.join(folder, index)):
            return _load_sharded(folder, index)
        if osp.isfile(osp.join(folder, single)):
            return _load_weight_file(osp.join(folder, single))
    found = [osp.basename(p) for p in weight_files(folder)]
    if found:
        raise ConversionError(f'{folder} has weight shards {found[:5]} but no index '
                              f'({" or ".join(index for _, index in WEIGHT_FILES)})')
    raise ConversionError(f'{folder} has no weights (expected model.safetensors, pytorch_model.bin, or shards '
                          'with their *.index.json)')


def read_hf_folder(folder: str) -> Tuple[dict, Dict[str, Tensor]]:
    """``(config, state_dict)`` of an official Groma Hugging Face folder.

    Raises:
        ConversionError: naming the folder or file, for a folder without ``config.json``, a config that is
            not an official Groma one, missing or inconsistent weight files.
    """
    config = read_hf_config(folder)
    return config, read_hf_state_dict(folder)
