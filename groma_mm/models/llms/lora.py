"""What a peft LoRA LLM needs beyond ``peft.get_peft_model`` in Groma: to load the weights of the plain LLM it
wraps (a full Groma checkpoint to fine-tune from), and to become a plain LLM again (one inference file).

peft renames every weight of the model it wraps: ``model.layers.0.self_attn.q_proj.weight`` becomes
``base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight``. :func:`accept_plain_weights` lets
the wrapped model load state dicts in the plain naming (``load_from=groma_full.pth``); its adapters then
start as peft initialised them. :func:`merge_lora` folds the adapters into the weights.
"""
from typing import Dict

import torch

_PEFT_PREFIX = 'base_model.model.'


def plain_names(peft_model: torch.nn.Module) -> Dict[str, str]:
    """``{plain name: peft name}`` of every non-adapter weight (parameters and buffers) of ``peft_model``."""
    names = {}
    for name in peft_model.state_dict(keep_vars=True):
        if 'lora_' in name or not name.startswith(_PEFT_PREFIX):
            continue
        names[name[len(_PEFT_PREFIX):].replace('.base_layer.', '.')] = name
    return names


def accept_plain_weights(peft_model: torch.nn.Module) -> None:
    """Let ``peft_model`` load plain-named weights: a load-state-dict pre-hook renames them (module doc)."""
    names = plain_names(peft_model)

    def rename(module, state_dict, prefix, *args) -> None:
        for plain, peft_name in names.items():
            if prefix + plain in state_dict and prefix + peft_name not in state_dict:
                state_dict[prefix + peft_name] = state_dict.pop(prefix + plain)

    peft_model.register_load_state_dict_pre_hook(rename)


def merge_lora(model: torch.nn.Module, attribute: str = 'llm') -> torch.nn.Module:
    """Replace ``model.<attribute>`` (a peft model) by the plain LLM with the adapters merged in; returns it."""
    llm = getattr(model, attribute)
    if not hasattr(llm, 'merge_and_unload'):
        raise TypeError(f'model.{attribute} is a {type(llm).__name__}, not a peft LoRA model: nothing to merge')
    merged = llm.merge_and_unload()
    setattr(model, attribute, merged)
    return merged
