"""Official Groma image tokens (2×2 merge + ``img_txt_bridge``) → :class:`MergedPatchTokenizer`."""
from typing import Dict

from torch import Tensor

from .hf_folder import config_field
from .source_keys import ConversionError, SourceKeys

# The bridge is Linear(4C, H) - GELU - Linear(H, H): Sequential indices of the Linears, the same in our
# two-layer projector.
BRIDGE_LINEARS = (0, 2)


def official_image_tokenizer_cfg(hf_config: dict) -> dict:
    """Our module config for the image tokenizer of an official ``groma`` config.json."""
    return dict(type='MergedPatchTokenizer',
                in_channels=config_field(hf_config, 'perceiver_cfg.vis_encoder_cfg.hidden_size'),
                merge=2,
                merge_order='column',
                projector_depth=2)


def convert_official_image_tokenizer(src: SourceKeys, hf_config: dict,
                                     prefix: str = 'img_txt_bridge.') -> Dict[str, Tensor]:
    """Take the official bridge keys under ``prefix`` and return our tokenizer's state dict.

    The merge order is not in the weights; the converted weights need ``merge_order='column'``
    (:func:`official_image_tokenizer_cfg`).

    Args:
        src: the official state dict.
        hf_config: the ``groma`` config.json (vision and LLM widths are checked against the weights).
        prefix: where the bridge sits in ``src`` (``img_txt_bridge.`` in a GromaModel).

    Returns:
        state dict of :class:`MergedPatchTokenizer` (keys relative to it).
    """
    out = {f'projector.{idx}.{name}': src.take(f'{prefix}{idx}.{name}')
           for idx in BRIDGE_LINEARS for name in ('weight', 'bias')}
    vision = config_field(hf_config, 'perceiver_cfg.vis_encoder_cfg.hidden_size')
    llm = config_field(hf_config, 'llm_cfg.hidden_size')
    found = tuple(out['projector.0.weight'].shape)
    if found != (llm, 4 * vision):
        raise ConversionError(f'{src.source}: {prefix}0.weight is {found}, but config.json (vision width {vision}, '
                              f'LLM width {llm}) implies {(llm, 4 * vision)}; is this the config of these weights?')
    return out
