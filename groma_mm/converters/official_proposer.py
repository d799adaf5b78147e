"""Official Groma proposer (``CustomDDETRModel``, HF layout) → :class:`OfficialGromaProposer`.

The official proposer is an HF ``Dinov2Model`` (``vis_encoder.*``), the input projections of its neck
(``input_proj.*``) and an HF Deformable DETR (``ddetr_transformer.*``). It is the whole
``groma-det-pretrain`` folder and the ``perceiver.*`` part of the groma-7b folders. Our module is an
mmpretrain ViT + :class:`LayerMeanNeck` + mmdet Deformable DETR, so the converter renames every tensor,
concatenates the decoder self-attention's q/k/v projections into ``in_proj``, and resizes the DINOv2
position table the way transformers 4.32 did at run time (the stack the checkpoints were made with).
"""
from typing import Dict, List

import torch
from torch import Tensor

from groma_mm.models.encoders import dinov2_convert
from groma_mm.models.necks import LayerMeanNeck
from .source_keys import ConversionError, SourceKeys

SUPPORTED_LEVELS = {1: (1.0, ), 4: (4.0, 2.0, 1.0, 0.5)}
# How many final DINOv2 layers the proposer averages; the backbone returns exactly these.
NUM_MEAN_LAYERS = 4
# The official box MLPs have 256 hidden units whatever d_model is.
BOX_MLP_HIDDEN = 256
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]

_MSDA = ('sampling_offsets', 'attention_weights', 'value_proj', 'output_proj')
_FFN = {'fc1': 'ffn.layers.0.0', 'fc2': 'ffn.layers.1'}


def perceiver_config(hf_config: dict) -> dict:
    """The ``CustomDDETRConfig`` dict: ``hf_config`` itself (det-pretrain) or its ``perceiver_cfg`` (groma)."""
    config = hf_config.get('perceiver_cfg', hf_config)
    missing = [k for k in ('vis_encoder_cfg', 'ddetr_cfg') if not isinstance(config.get(k), dict)]
    if missing:
        raise ConversionError(f'not an official Groma proposer config: no {" / ".join(missing)} '
                              f'(model_type {config.get("model_type")!r})')
    return config


def _require(value, supported, field: str) -> None:
    if value not in supported:
        raise ConversionError(f'official proposer config: {field}={value!r} is not supported (supported: '
                              f'{sorted(supported, key=str)})')


def official_proposer_cfg(hf_config: dict, img_size: int = 448) -> dict:
    """Our model config (an ``OfficialGromaProposer`` dict) for an official HF config.

    Args:
        hf_config: ``config.json`` of a det-pretrain folder, or of a groma folder (``perceiver_cfg`` used).
        img_size: the square encoder input (448 for every released checkpoint; not stored in the config).

    Raises:
        ConversionError: for a value the official-architecture mode does not implement.
    """
    config = perceiver_config(hf_config)
    vis, det = config['vis_encoder_cfg'], config['ddetr_cfg']

    _require(det.get('num_feature_levels'), SUPPORTED_LEVELS, 'ddetr_cfg.num_feature_levels')
    _require(det.get('two_stage'), {True}, 'ddetr_cfg.two_stage')
    _require(det.get('with_box_refine'), {True}, 'ddetr_cfg.with_box_refine')
    _require(det.get('num_labels', len(det.get('id2label', {0: ''}))), {1}, 'ddetr_cfg.num_labels')
    _require(det.get('activation_function'), {'relu'}, 'ddetr_cfg.activation_function')
    _require(det.get('position_embedding_type'), {'sine'}, 'ddetr_cfg.position_embedding_type')
    _require(det.get('activation_dropout', 0.0), {0.0}, 'ddetr_cfg.activation_dropout')
    if det.get('num_queries') != det.get('two_stage_num_proposals'):
        raise ConversionError(f'official proposer config: num_queries={det.get("num_queries")} must equal '
                              f'two_stage_num_proposals={det.get("two_stage_num_proposals")}')
    _require(vis.get('hidden_act'), {'gelu'}, 'vis_encoder_cfg.hidden_act')
    _require(vis.get('use_swiglu_ffn', False), {False}, 'vis_encoder_cfg.use_swiglu_ffn')
    _require(config.get('vis_output_layer', -1), set(range(-NUM_MEAN_LAYERS, 0)), 'vis_output_layer')

    num_layers = vis['num_hidden_layers']
    hidden = vis['hidden_size']
    d_model = det['d_model']
    levels = det['num_feature_levels']

    # HF drops out each sub-layer's output (``dropout``, 0.1 by default) and attention weights
    # (``attention_dropout``); its FFN has an extra ``activation_dropout`` that mmcv's FFN would also
    # apply after fc2, so only 0 is supported there.
    dropout = det.get('dropout', 0.0)

    def ffn(dims):
        return dict(embed_dims=d_model, feedforward_channels=dims, ffn_drop=0.0,
                    dropout_layer=dict(type='Dropout', drop_prob=dropout), act_cfg=dict(type='ReLU', inplace=True))

    return dict(
        type='OfficialGromaProposer',
        num_queries=det['num_queries'],
        with_box_refine=True,
        as_two_stage=True,
        num_feature_levels=levels,
        data_preprocessor=dict(
            type='mmdet.DetDataPreprocessor', mean=IMAGENET_MEAN, std=IMAGENET_STD, bgr_to_rgb=True,
            pad_size_divisor=1),
        backbone=dict(
            type='FreezableVisionTransformer',
            arch=dict(embed_dims=hidden, num_layers=num_layers, num_heads=vis['num_attention_heads'],
                      feedforward_channels=int(hidden * vis['mlp_ratio'])),
            img_size=img_size,
            patch_size=vis['patch_size'],
            qkv_bias=vis.get('qkv_bias', True),
            norm_cfg=dict(type='LN', eps=vis['layer_norm_eps']),
            layer_scale_init_value=vis.get('layerscale_value', 1.0),
            # HF hidden_states[-4:]: the last 4 blocks, before the final LayerNorm.
            out_indices=list(range(num_layers - NUM_MEAN_LAYERS, num_layers)),
            out_type='featmap',
            final_norm=False,
            frozen_stages=num_layers),
        neck=dict(type='LayerMeanNeck', in_channels=hidden, out_channels=d_model,
                  scale_factors=SUPPORTED_LEVELS[levels], norm_eps=1e-6),
        encoder=dict(
            num_layers=det['encoder_layers'],
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=d_model, num_heads=det['encoder_attention_heads'], num_levels=levels,
                                   num_points=det['encoder_n_points'], dropout=dropout),
                ffn_cfg=ffn(det['encoder_ffn_dim']))),
        decoder=dict(
            num_layers=det['decoder_layers'],
            return_intermediate=True,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=d_model, num_heads=det['decoder_attention_heads'],
                                   attn_drop=det.get('attention_dropout', 0.0), proj_drop=dropout),
                cross_attn_cfg=dict(embed_dims=d_model, num_heads=det['decoder_attention_heads'],
                                    num_levels=levels, num_points=det['decoder_n_points'], dropout=dropout),
                ffn_cfg=ffn(det['decoder_ffn_dim'])),
            post_norm_cfg=None),
        positional_encoding=dict(num_feats=d_model // 2, normalize=True, offset=-0.5, temperature=10000),
        bbox_head=dict(
            type='DualObjectnessHead',
            num_classes=1,
            embed_dims=d_model,
            reg_hidden_dims=BOX_MLP_HIDDEN,
            sync_cls_avg_factor=True,
            # The released training script: focal α 0.25, loss weights 2 / 5 / 2, matching costs 2 / 5 / 2.
            loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
            loss_bbox=dict(type='mmdet.L1Loss', loss_weight=5.0),
            loss_iou=dict(type='mmdet.GIoULoss', loss_weight=2.0)),
        train_cfg=dict(
            assigner=dict(
                type='mmdet.HungarianAssigner',
                match_costs=[
                    dict(type='mmdet.FocalLossCost', weight=2.0),
                    dict(type='mmdet.BBoxL1Cost', weight=5.0, box_format='xywh'),
                    dict(type='mmdet.IoUCost', iou_mode='giou', weight=2.0)
                ])),
        test_cfg=dict(max_per_img=det['num_queries']))


def _take_tied(src: SourceKeys, names: List[str]) -> Tensor:
    """A tensor HF stores under several tied names; checkpoints may keep all of them or only one."""
    present = [n for n in names if n in src]
    if not present:
        raise ConversionError(f'{src.source} has no key {names[0]!r}' +
                              (f' (nor its tied copy {names[1:]})' if len(names) > 1 else ''))
    for other in present[1:]:
        src.alias(other, present[0])
    return src.take(present[0])


def _linear(src: SourceKeys, out: Dict[str, Tensor], src_name: str, dst_name: str, tied=()) -> None:
    for p in ('weight', 'bias'):
        out[f'{dst_name}.{p}'] = _take_tied(src, [f'{src_name}.{p}'] + [f'{t}.{p}' for t in tied])


# Per DINOv2 block, the keys that the generic DINOv2 converter treats as optional (it also reads the
# SwiGLU variant, which the official mode rejects).
_DINOV2_BLOCK_KEYS = ('norm1', 'norm2', 'attention.output.dense', 'mlp.fc1', 'mlp.fc2')


def _convert_backbone(src: SourceKeys, prefix: str, num_layers: int, img_size: int) -> Dict[str, Tensor]:
    vis_prefix = f'{prefix}vis_encoder.'
    hf_dinov2 = src.take_prefix(vis_prefix)
    missing = [f'{vis_prefix}encoder.layer.{i}.{name}.{p}' for i in range(num_layers) for name in _DINOV2_BLOCK_KEYS
               for p in ('weight', 'bias') if f'encoder.layer.{i}.{name}.{p}' not in hf_dinov2]
    if missing:
        raise ConversionError(f'{src.source} has no key {missing[0]!r}' +
                              (f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''))
    try:
        vit = dinov2_convert.convert_hf_dinov2(hf_dinov2, img_size=img_size, pos_interp='hf4.32')
    except KeyError as err:
        raise ConversionError(f'{src.source} has no key {vis_prefix + err.args[0]!r}') from None
    except dinov2_convert.ConversionError as err:
        raise ConversionError(f'{src.source}, under {vis_prefix!r}: {err}') from None
    # Every official consumer (proposer, image tokens, region encoder) reads hidden states from before
    # DINOv2's final LayerNorm, so the official model never applies it and our backbone has none.
    for p in ('weight', 'bias'):
        vit.pop(f'ln1.{p}')
    return {f'backbone.{k}': v for k, v in vit.items()}


def _convert_neck(src: SourceKeys, prefix: str, neck_cfg: dict) -> Dict[str, Tensor]:
    # The official level list (already reversed, level 0 the finest) has our neck's Sequential layout,
    # so our neck's own parameter names say exactly which keys must exist.
    neck_keys = LayerMeanNeck(**{k: v for k, v in neck_cfg.items() if k != 'type'}).state_dict()
    out = {f'neck.{k}': src.take(prefix + k.replace('projections.', 'input_proj.', 1)) for k in neck_keys}
    leftover = [k for k in src.unused() if k.startswith(f'{prefix}input_proj.')]
    if leftover:
        raise ConversionError(f'{src.source}: unexpected input projection keys {leftover}')
    return out


def _convert_encoder(src: SourceKeys, p: str, num_layers: int, out: Dict[str, Tensor]) -> None:
    for i in range(num_layers):
        s, d = f'{p}encoder.layers.{i}.', f'encoder.layers.{i}.'
        for m in _MSDA:
            _linear(src, out, f'{s}self_attn.{m}', f'{d}self_attn.{m}')
        _linear(src, out, f'{s}self_attn_layer_norm', f'{d}norms.0')
        for hf_name, mm_name in _FFN.items():
            _linear(src, out, f'{s}{hf_name}', f'{d}{mm_name}')
        _linear(src, out, f'{s}final_layer_norm', f'{d}norms.1')


def _convert_decoder(src: SourceKeys, p: str, num_layers: int, out: Dict[str, Tensor]) -> None:
    for i in range(num_layers):
        s, d = f'{p}decoder.layers.{i}.', f'decoder.layers.{i}.'
        # nn.MultiheadAttention keeps q, k, v as one (3d, d) projection, rows in that order.
        out[f'{d}self_attn.attn.in_proj_weight'] = torch.cat(
            [src.take(f'{s}self_attn.{n}_proj.weight') for n in 'qkv'])
        out[f'{d}self_attn.attn.in_proj_bias'] = torch.cat([src.take(f'{s}self_attn.{n}_proj.bias') for n in 'qkv'])
        _linear(src, out, f'{s}self_attn.out_proj', f'{d}self_attn.attn.out_proj')
        _linear(src, out, f'{s}self_attn_layer_norm', f'{d}norms.0')
        for m in _MSDA:
            _linear(src, out, f'{s}encoder_attn.{m}', f'{d}cross_attn.{m}')
        _linear(src, out, f'{s}encoder_attn_layer_norm', f'{d}norms.1')
        for hf_name, mm_name in _FFN.items():
            _linear(src, out, f'{s}{hf_name}', f'{d}{mm_name}')
        _linear(src, out, f'{s}final_layer_norm', f'{d}norms.2')


def _convert_heads(src: SourceKeys, p: str, num_layers: int, out: Dict[str, Tensor]) -> None:
    # HF ties the heads to decoder attributes (``decoder.bbox_embed`` is ``bbox_embed``, ...).
    for layer in range(num_layers + 1):
        for j, mm_index in enumerate((0, 2, 4)):  # Linear, ReLU, Linear, ReLU, Linear
            _linear(src, out, f'{p}bbox_embed.{layer}.layers.{j}', f'bbox_head.reg_branches.{layer}.{mm_index}',
                    tied=[f'{p}decoder.bbox_embed.{layer}.layers.{j}'])
    _linear(src, out, f'{p}class_embed_enc', f'bbox_head.cls_branches.{num_layers}',
            tied=[f'{p}decoder.class_embed_enc'])
    for head, branches in (('coco', 'cls_branches'), ('sa1b', 'sa1b_cls_branches')):
        for layer in range(num_layers):
            _linear(src, out, f'{p}class_embed_{head}.{layer}', f'bbox_head.{branches}.{layer}',
                    tied=[f'{p}decoder.class_embed_{head}.{layer}'])


def convert_official_proposer(src: SourceKeys,
                              hf_config: dict,
                              prefix: str = '',
                              img_size: int = 448) -> Dict[str, Tensor]:
    """Official proposer keys under ``prefix`` → the state dict of our ``OfficialGromaProposer``.

    Args:
        src: the official state dict; every key under ``prefix`` that belongs to the proposer is consumed
            (tied copies are checked to be equal). Leftovers are for the caller's ``check_all_used``.
        hf_config: the folder's ``config.json`` (see :func:`official_proposer_cfg`).
        prefix: ``''`` for a det-pretrain folder, ``'perceiver.'`` inside a groma folder.
        img_size: encoder input size the position table is resized to.

    Returns:
        Keys relative to the proposer module (``backbone.*``, ``neck.*``, ``encoder.*``, ...).
    """
    config = perceiver_config(hf_config)
    model_cfg = official_proposer_cfg(hf_config, img_size)  # rejects unsupported configs before touching keys
    det = config['ddetr_cfg']
    p = f'{prefix}ddetr_transformer.'

    out = _convert_backbone(src, prefix, config['vis_encoder_cfg']['num_hidden_layers'], img_size)
    out.update(_convert_neck(src, prefix, model_cfg['neck']))
    out['level_embed'] = src.take(f'{p}level_embed')
    out['query_embedding.weight'] = src.take(f'{p}query_position_embeddings.weight')
    _linear(src, out, f'{p}enc_output', 'memory_trans_fc')
    _linear(src, out, f'{p}enc_output_norm', 'memory_trans_norm')
    _linear(src, out, f'{p}pos_trans', 'pos_trans_fc')
    _linear(src, out, f'{p}pos_trans_norm', 'pos_trans_norm')
    _convert_encoder(src, p, det['encoder_layers'], out)
    _convert_decoder(src, p, det['decoder_layers'], out)
    _convert_heads(src, p, det['decoder_layers'], out)
    leftover = [k for k in src.unused() if k.startswith(p)]
    if leftover:
        raise ConversionError(f'{src.source}: unexpected official proposer keys ({len(leftover)}): {leftover[:20]}')
    return out

