"""Turn the checkpoint of any training strategy into one inference state dict.

What each strategy writes (``CheckpointHook`` ``iter_N.pth`` / ``epoch_N.pth``):

- DDP, FSDP with ``state_dict_cfg='full'``: one mmengine file; its ``state_dict`` holds the model's weights
  (every weight under FSDP; the trained ones under DDP, where Groma saves what it trains).
- DeepSpeed ZeRO-2/3: a folder ``iter_N.pth/`` with the model states (``mp_rank_00_model_states.pt``, one
  ``zero_pp_rank_R_mp_rank_00_model_states.pt`` per rank under ZeRO-3) and one ``*_optim_states.pt`` per rank; the fp32 weights that train live, sharded, in the optimizer files and are
  put back together with DeepSpeed's ``zero_to_fp32``.

:func:`full_state_dict` then completes such weights with the frozen ones of a built model (its stage-1
proposer, its LLM folder), so the result loads strictly into the config's model, with no source needed.
"""
import glob
import os.path as osp
from collections import OrderedDict
from typing import Dict

import torch

from groma_mm.engine.checkpoint_loading import CheckpointMismatchError, checkpoint_state_dict, load_local_checkpoint


def is_deepspeed_checkpoint(path: str) -> bool:
    """A DeepSpeed checkpoint folder (``*mp_rank_*_model_states.pt`` inside)."""
    return osp.isdir(path) and bool(glob.glob(osp.join(path, '*mp_rank_*_model_states.pt')))


def consolidated_state_dict(path: str) -> 'OrderedDict[str, torch.Tensor]':
    """The weights of a checkpoint of any strategy (module docstring), fp32 where training held fp32.

    Raises:
        FileNotFoundError: ``path`` is neither a checkpoint file nor a DeepSpeed checkpoint folder.
    """
    path = osp.normpath(path)
    if is_deepspeed_checkpoint(path):
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
        folder, tag = osp.split(path)
        return OrderedDict(get_fp32_state_dict_from_zero_checkpoint(folder, tag=tag))
    if osp.isdir(path):
        raise FileNotFoundError(f'{path} is a folder but not a DeepSpeed checkpoint (no *mp_rank_*_model_states.pt)')
    return checkpoint_state_dict(load_local_checkpoint(path, map_location='cpu'))


def full_state_dict(model: torch.nn.Module, weights: Dict[str, torch.Tensor], name: str) -> Dict[str, torch.Tensor]:
    """Every weight of ``model`` (built from its config, frozen parts from their sources) with ``weights``
    (named ``name`` in errors) put in.

    Raises:
        CheckpointMismatchError: ``weights`` lack something the model trains, hold keys the model does not
            have, or differ in shape.
    """
    expected = model.full_state_dict() if hasattr(model, 'full_state_dict') else model.state_dict()
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    missing = sorted(trained - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shapes = [k for k, v in weights.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(
            f'{name} does not fit the config: {len(missing)} trained weights missing {missing[:5]}, '
            f'{len(unexpected)} unknown {unexpected[:5]}, {len(shapes)} of another shape {shapes[:5]}. '
            'Is it a checkpoint of this config?')
    full = OrderedDict((k, v.detach().cpu()) for k, v in expected.items())
    for key, value in weights.items():
        full[key] = value.detach().cpu().to(full[key].dtype)
    return full
