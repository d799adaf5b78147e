"""Official whole Groma (``GromaModel``: the groma-7b-pretrain / -finetune folders) → our ``Groma``.

An official ``groma`` state dict has five parts; each goes to its counterpart of our official mode:

==========================================  ==========================================================
official keys                               ours
==========================================  ==========================================================
``perceiver.*`` (DINOv2 + Deformable DETR)  ``proposer.*`` (:func:`convert_official_proposer`)
``img_txt_bridge.*``                        ``image_tokenizer.*`` (:func:`convert_official_image_tokenizer`)
``region_encoder.*``                        ``region_encoder.*`` (:func:`convert_official_region_encoder`)
``llm.*`` (``LlamaForCausalLM``)            ``llm.*`` unchanged
``new_input_embs.weight``                   ``llm.model.embed_tokens.new_input_embs.weight``
``extra_lm_head.weight``                    ``llm.lm_head.extra_lm_head.weight``
==========================================  ==========================================================

:func:`official_groma_cfg` gives the matching model config (the ``model`` of
``configs/groma/groma_official_vicuna-7b_*.py``) for any official ``config.json``.
"""
from typing import Dict, Optional

from torch import Tensor

from groma_mm.models.llms.official_tokens import OFFICIAL_ADDED_TOKENS, REFER_FEAT_TOKEN
from groma_mm.models.llms.special_tokens import DEFAULT_NUM_PROXY_TOKENS, REGION_TOKEN

from .hf_folder import config_field
from .official_image_tokenizer import convert_official_image_tokenizer, official_image_tokenizer_cfg
from .official_proposer import convert_official_proposer, official_proposer_cfg
from .official_region_encoder import convert_official_region_encoder, official_region_encoder_cfg
from .source_keys import ConversionError, SourceKeys

NUM_NEW_TOKENS = len(OFFICIAL_ADDED_TOKENS) + DEFAULT_NUM_PROXY_TOKENS
# The official region encoder reads DINOv2 hidden_states[-3:]: the last 3 of the backbone's 4 outputs.
REGION_LAYERS = (-3, -2, -1)
# LlamaConfig fields that shape the network; the rest of llm_cfg is generation / bookkeeping.
LLM_FIELDS = ('vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
              'num_key_value_heads', 'head_dim', 'hidden_act', 'max_position_embeddings', 'rms_norm_eps',
              'rope_theta', 'rope_scaling', 'attention_bias', 'mlp_bias', 'tie_word_embeddings', 'bos_token_id',
              'eos_token_id', 'pad_token_id')
# How the official datasets write a conversation (groma/data/datasets/*.py, groma/eval/*.py).
OFFICIAL_PROMPT = dict(
    intro_turn=True,
    region_separator='',
    grounding_separator='',
    user_box_format='<roi>{proxy}</roi>' + REFER_FEAT_TOKEN,
    region_slot_tokens=(REGION_TOKEN, REFER_FEAT_TOKEN))
# conv_templates of the official repository: 'llava' for groma-7b-finetune, 'default' for groma-7b-pretrain.
OFFICIAL_TEMPLATES = ('llava', 'default')


def official_llm_cfg(hf_config: dict) -> dict:
    """``HFSplitVocabCausalLM``'s ``config`` (an ``AutoConfig.for_model`` dict) from ``llm_cfg``."""
    llm = config_field(hf_config, 'llm_cfg')
    if llm.get('model_type', 'llama') != 'llama':
        raise ConversionError(f"config.json: llm_cfg.model_type={llm.get('model_type')!r}; the official GromaModel "
                              'is LLaMA only')
    return dict(model_type='llama', **{k: llm[k] for k in LLM_FIELDS if llm.get(k) is not None})


def check_official_groma_config(hf_config: dict) -> None:
    """Raise :class:`ConversionError` unless ``hf_config`` is a ``groma`` config the official mode implements
    (the perceiver's own checks are :func:`official_proposer_cfg`'s)."""
    if config_field(hf_config, 'model_type') != 'groma':
        raise ConversionError(f"config.json: model_type={hf_config['model_type']!r}, expected 'groma' (a "
                              'groma-7b-* folder)')
    num_new = config_field(hf_config, 'num_new_token')
    if num_new != NUM_NEW_TOKENS:
        raise ConversionError(f'config.json: num_new_token={num_new}; the official tokenizer adds exactly '
                              f'{NUM_NEW_TOKENS} ({len(OFFICIAL_ADDED_TOKENS)} tokens + <r0>…<r99>)')
    max_regions = config_field(hf_config, 'max_region_num')
    if not 0 < max_regions <= DEFAULT_NUM_PROXY_TOKENS:
        raise ConversionError(f'config.json: max_region_num={max_regions}; regions are named <r0>…<r99>, so '
                              f'1…{DEFAULT_NUM_PROXY_TOKENS} are supported')
    official_llm_cfg(hf_config)


def official_groma_cfg(hf_config: dict,
                       tokenizer: dict,
                       template: str = 'llava',
                       img_size: int = 448,
                       torch_dtype: Optional[str] = None,
                       attn_implementation: str = 'eager') -> dict:
    """Our ``Groma`` model config for an official ``groma`` config.json.

    Args:
        hf_config: the folder's ``config.json``.
        tokenizer: our tokenizer config, e.g. ``dict(type='HFTokenizer', pretrained=DIR)`` with the folder
            written by ``groma_official_to_mm.py --tokenizer-out``.
        template: ``'llava'`` (groma-7b-finetune) or ``'default'`` (groma-7b-pretrain).
        img_size: the square encoder input (448 for every released checkpoint).
        torch_dtype: the LLM's dtype (``None``: float32, as the official evaluation scripts run).
        attn_implementation: the LLM's attention (``'eager'``: the official stack's only one).

    Raises:
        ConversionError: for a value the official mode does not implement.
    """
    check_official_groma_config(hf_config)
    if template not in OFFICIAL_TEMPLATES:
        raise ValueError(f'template must be one of {OFFICIAL_TEMPLATES}, got {template!r}')
    proposer = official_proposer_cfg(hf_config, img_size)  # rejects unsupported perceiver / vis_output_layer
    vision = config_field(hf_config, 'perceiver_cfg.vis_encoder_cfg')
    grid = img_size // vision['patch_size']
    llm = dict(type='HFSplitVocabCausalLM', config=official_llm_cfg(hf_config),
               attn_implementation=attn_implementation)
    if torch_dtype is not None:
        llm['torch_dtype'] = torch_dtype
    return dict(
        type='Groma',
        data_preprocessor=proposer['data_preprocessor'],
        proposer=proposer,
        image_tokenizer=official_image_tokenizer_cfg(hf_config),
        region_encoder=official_region_encoder_cfg(hf_config),
        tokenizer=tokenizer,
        llm=llm,
        region_selector=dict(
            type='OfficialRegionSelector',
            iou_thr=config_field(hf_config, 'nms_thres'),
            score_thr=config_field(hf_config, 'box_score_thres'),
            max_regions=hf_config['max_region_num']),
        prompt=dict(OFFICIAL_PROMPT, template=template, num_image_tokens=(grid // 2)**2, max_length=2048),
        image_layer=hf_config['perceiver_cfg'].get('vis_output_layer', -1),
        region_layers=REGION_LAYERS,
        num_proxy_tokens=DEFAULT_NUM_PROXY_TOKENS,
        # The official training shuffles the regions; inference keeps score order either way.
        shuffle_regions=True,
        freeze_proposer=True)


def _prefixed(prefix: str, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    return {prefix + k: v for k, v in state.items()}


def convert_official_groma(src: SourceKeys, hf_config: dict, img_size: int = 448) -> Dict[str, Tensor]:
    """An official ``GromaModel`` state dict → the state dict of our ``Groma`` (:func:`official_groma_cfg`).

    Args:
        src: the official state dict; every key is consumed (LLaMA's derivable ``rotary_emb.inv_freq``
            buffers, which old transformers saved, are dropped). Call ``src.check_all_used()`` after.
        hf_config: the folder's ``config.json``.
        img_size: the encoder input the DINOv2 position table is resized to.

    Returns:
        Keys of our ``Groma`` (``proposer.*``, ``image_tokenizer.*``, ``region_encoder.*``, ``llm.*``).
    """
    check_official_groma_config(hf_config)
    out = _prefixed('proposer.', convert_official_proposer(src, hf_config, prefix='perceiver.', img_size=img_size))
    out.update(_prefixed('image_tokenizer.', convert_official_image_tokenizer(src, hf_config, 'img_txt_bridge.')))
    out.update(_prefixed('region_encoder.', convert_official_region_encoder(src, hf_config, 'region_encoder.')))
    for key, value in src.take_prefix('llm.').items():
        if not key.endswith('rotary_emb.inv_freq'):
            out['llm.' + key] = value

    vocab = config_field(hf_config, 'llm_cfg.vocab_size')
    new_embs, extra_head = src.take('new_input_embs.weight'), src.take('extra_lm_head.weight')
    for name, tensor in (('new_input_embs.weight', new_embs), ('extra_lm_head.weight', extra_head)):
        if tensor.shape[0] != NUM_NEW_TOKENS:
            raise ConversionError(f'{src.source}: {name} has {tensor.shape[0]} rows, config.json num_new_token '
                                  f'says {NUM_NEW_TOKENS}')
    rows = out['llm.model.embed_tokens.weight'].shape[0]
    if rows != vocab:
        raise ConversionError(f'{src.source}: llm.model.embed_tokens.weight has {rows} rows but config.json says '
                              f'llm_cfg.vocab_size={vocab}')
    out['llm.model.embed_tokens.new_input_embs.weight'] = new_embs
    out['llm.lm_head.extra_lm_head.weight'] = extra_head
    return out
