"""Official Groma region encoder (GPT4RoI ``MLVLROIQueryModule``) → :class:`GPT4RoIRegionEncoder`."""
from typing import Dict

from torch import Tensor

from groma_mm.models.region_encoders.gpt4roi_region_encoder import OFFICIAL_FEATMAP_STRIDES

from .hf_folder import config_field
from .source_keys import ConversionError, SourceKeys

# The official module hard-codes its structure: 3 levels, 5 exchange rounds, a 4→256→1024 box MLP
# (Sequential indices of its Linear and LayerNorm layers) and a 1024→4096 output Linear.
NUM_LEVELS = 3
NUM_ROUNDS = 5
GEOMETRY_LAYERS = (0, 2, 3, 5)
OFFICIAL_OUT_CHANNELS = 4096


def official_region_encoder_cfg(hf_config: dict) -> dict:
    """Our module config for the region encoder of an official ``groma`` config.json."""
    return dict(type='GPT4RoIRegionEncoder',
                in_channels=config_field(hf_config, 'perceiver_cfg.vis_encoder_cfg.hidden_size'),
                roi_box_format='cxcywh',
                featmap_strides=OFFICIAL_FEATMAP_STRIDES)


def _weight_and_bias(src: SourceKeys, source: str, target: str) -> Dict[str, Tensor]:
    return {f'{target}.{name}': src.take(f'{source}.{name}') for name in ('weight', 'bias')}


def convert_official_region_encoder(src: SourceKeys, hf_config: dict,
                                    prefix: str = 'region_encoder.') -> Dict[str, Tensor]:
    """Take the official region-encoder keys under ``prefix`` and return our module's state dict.

    Args:
        src: the official state dict.
        hf_config: the ``groma`` config.json (its vision width is checked against the weights, and the LLM
            width against the official module's fixed 4096-d output).
        prefix: where the module sits in ``src`` (``region_encoder.`` in a GromaModel).

    Returns:
        state dict of :class:`GPT4RoIRegionEncoder` (keys relative to it).
    """
    out = {}
    for lvl in range(NUM_LEVELS):
        out.update(_weight_and_bias(src, f'{prefix}mlvl_fuse.input_conv.{lvl}', f'fuse.input_convs.{lvl}'))
        out.update(_weight_and_bias(src, f'{prefix}roi_align.pconvs.{lvl}', f'level_convs.{lvl}'))
    for k in range(NUM_ROUNDS):
        official = f'{prefix}mlvl_fuse.fuse_convs.{k}'
        out[f'fuse.fuse_convs.{k}.conv.weight'] = src.take(f'{official}.conv.weight')
        out.update(_weight_and_bias(src, f'{official}.gn', f'fuse.fuse_convs.{k}.gn'))
    for idx in GEOMETRY_LAYERS:
        out.update(_weight_and_bias(src, f'{prefix}roi_align.pos_embedd.{idx}', f'geometry.{idx}'))
    out.update(_weight_and_bias(src, f'{prefix}roi_align.flatten_linear', 'flatten_proj'))
    out.update(_weight_and_bias(src, f'{prefix}roi_align.updims', 'projector'))

    vision = config_field(hf_config, 'perceiver_cfg.vis_encoder_cfg.hidden_size')
    found = out['fuse.input_convs.0.weight'].shape[0]
    if found != vision:
        raise ConversionError(f'{src.source}: the region encoder is {found} channels wide but config.json says '
                              f'perceiver_cfg.vis_encoder_cfg.hidden_size={vision}; is this the config of these '
                              'weights?')
    llm = config_field(hf_config, 'llm_cfg.hidden_size')
    width = out['projector.weight'].shape[0]
    if width != llm:
        raise ConversionError(f'{src.source}: the region encoder outputs {width}-d tokens (the official code '
                              f'hard-codes {OFFICIAL_OUT_CHANNELS}) but config.json says llm_cfg.hidden_size={llm}; '
                              'region tokens must have the LLM width')
    return out
