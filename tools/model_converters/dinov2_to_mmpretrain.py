"""Convert DINOv2 weights (HF ``Dinov2Model`` or Meta's original layout) to mmpretrain ``VisionTransformer``.

Usage::

    python tools/model_converters/dinov2_to_mmpretrain.py SRC DST [--img-size 448] [--pos-interp hf|hf4.32|meta]

``SRC`` is an HF model folder (``model.safetensors``, sharded ``model.safetensors.index.json`` or
``pytorch_model.bin``) or one ``.safetensors`` / ``.bin`` / ``.pth`` file in either layout. ``DST`` is
written as ``{'state_dict': ..., 'meta': ...}`` with bare ``VisionTransformer`` keys, so it loads with
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` on the backbone (or with ``--key-prefix backbone.`` for a
whole-model ``load_checkpoint``).

The position embedding is resized once, here, to the grid of ``--img-size`` exactly as the source model
resizes it at run time (HF transformers 4.51: bicubic to ``size``, no antialias, which is also what
mmpretrain's own load-time resize does; Meta: bicubic by ``scale_factor`` with the historical +0.1 offset,
no antialias). Build the backbone with the same ``img_size`` so mmpretrain never resizes it again.
Groma's encoder is then::

    dict(type='mmpretrain.VisionTransformer', arch='large', img_size=448, patch_size=14,
         layer_scale_init_value=1e-5, out_type='featmap', out_indices=[20, 21, 22, 23])

Note: mmpretrain applies the final LayerNorm (``ln1``, converted from ``layernorm`` / ``norm``) to the last
layer's output when ``final_norm=True``; HF's ``hidden_states[-1]`` is taken before it.

The conversion itself lives in ``groma_mm.models.encoders.dinov2_convert`` and only needs torch.
"""
import argparse
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Optional, Tuple

import torch

from groma_mm.models.encoders.dinov2_convert import (DROPPED_KEYS, HEADS_BY_WIDTH, HF_ANCHOR, META_ANCHOR,
                                                     ConversionError, ImgSize, StateDict, preview_keys,
                                                     convert_hf_dinov2, convert_meta_dinov2)

def _load_file(path: str) -> StateDict:
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path, device='cpu')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001  (pickle errors come in many types)
        raise ConversionError(f'{path}: cannot be read as a plain tensor checkpoint ({e})') from e
    # Unwrap training checkpoints: {'state_dict': ...}, {'model': ...}, DINOv2's {'teacher': ...}.
    for key in ('state_dict', 'model', 'teacher'):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ConversionError(f'{path}: expected a state dict, got {type(obj).__name__}')
    return obj


def load_state_dict(src: str) -> StateDict:
    """Read ``src`` (a file, or an HF folder with possibly sharded weights) into one state dict."""
    if osp.isdir(src):
        for name in ('model.safetensors', 'pytorch_model.bin'):
            if osp.isfile(osp.join(src, name)):
                return _load_file(osp.join(src, name))
        for name in ('model.safetensors.index.json', 'pytorch_model.bin.index.json'):
            index = osp.join(src, name)
            if osp.isfile(index):
                with open(index) as f:
                    shards = sorted(set(json.load(f)['weight_map'].values()))
                state_dict = {}
                for shard in shards:
                    state_dict.update(_load_file(osp.join(src, shard)))
                return state_dict
        raise ConversionError(f'{src}: folder has no model.safetensors / pytorch_model.bin (or their index)')
    if not osp.isfile(src):
        raise FileNotFoundError(f'{src}: no such file or folder')
    return _load_file(src)


def detect_layout(state_dict: StateDict, prefix: Optional[str] = None) -> Tuple[str, str]:
    """Find which layout ('hf' or 'meta') the weights have and under which key prefix.

    Returns:
        (layout, prefix), prefix '' or ending with '.', e.g. 'dinov2.' or 'backbone.'.
    """
    candidates = []
    for key in state_dict:
        for layout, anchor in (('hf', HF_ANCHOR), ('meta', META_ANCHOR)):
            if key.endswith(anchor):
                p = key[:-len(anchor)]
                if p == '' or p.endswith('.'):
                    candidates.append((layout, p))
    if prefix is not None:
        candidates = [c for c in candidates if c[1] == prefix]
    if len(candidates) != 1:
        what = 'no DINOv2 patch embedding found' if not candidates else f'several DINOv2 models: {candidates}'
        raise ConversionError(f'{what}; expected "[prefix]{HF_ANCHOR}" (HF) or "[prefix]{META_ANCHOR}" '
                              f'(Meta), pass --prefix to choose; keys: {preview_keys(state_dict)}')
    return candidates[0]


def convert_checkpoint(src: str,
                       dst: str,
                       img_size: ImgSize = 448,
                       pos_interp: Optional[str] = None,
                       prefix: Optional[str] = None,
                       key_prefix: str = '',
                       meta_antialias: bool = False,
                       meta_interp_offset: float = 0.1) -> dict:
    """Convert ``src`` and save ``{'state_dict', 'meta'}`` to ``dst``; returns the saved ``meta``."""
    raw = load_state_dict(src)
    try:
        layout, found_prefix = detect_layout(raw, prefix)
        state_dict = {k[len(found_prefix):]: v for k, v in raw.items() if k.startswith(found_prefix)}
        pos_interp = pos_interp or layout
        if layout == 'hf':
            converted = convert_hf_dinov2(state_dict, img_size, pos_interp=pos_interp)
        else:
            converted = convert_meta_dinov2(state_dict, img_size, pos_interp=pos_interp,
                                            antialias=meta_antialias, interp_offset=meta_interp_offset)
    except ConversionError as e:
        raise ConversionError(f'{src}: {e}') from None

    embed_dims = converted['cls_token'].shape[-1]
    num_layers = sum(1 for k in converted if re.fullmatch(r'layers\.\d+\.ln1\.weight', k))
    swiglu = 'layers.0.ffn.w12.weight' in converted
    ffn = converted['layers.0.ffn.w12.weight' if swiglu else 'layers.0.ffn.layers.0.0.weight'].shape[0]
    num_heads = HEADS_BY_WIDTH.get(embed_dims)
    config_json = osp.join(src, 'config.json') if osp.isdir(src) else None
    if config_json and osp.isfile(config_json):
        with open(config_json) as f:
            num_heads = json.load(f).get('num_attention_heads', num_heads)
    meta = dict(
        source=osp.abspath(src),
        layout=layout,
        prefix=found_prefix,
        pos_interp=pos_interp,
        img_size=img_size,
        patch_size=converted['patch_embed.projection.weight'].shape[-1],
        arch=dict(
            embed_dims=embed_dims,
            num_layers=num_layers,
            num_heads=num_heads,
            # mmpretrain's SwiGLUFFNFused shrinks feedforward_channels by 2/3 itself; 4x is DINOv2's ratio.
            feedforward_channels=embed_dims * 4 if swiglu else ffn),
        ffn_type='swiglu_fused' if swiglu else 'origin',
        dropped_keys=[found_prefix + ('embeddings.' if layout == 'hf' else '') + k for k in DROPPED_KEYS],
    )
    out = OrderedDict((key_prefix + k, v.contiguous()) for k, v in converted.items())
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save({'state_dict': out, 'meta': meta}, dst)
    return meta


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='HF model folder, or a .safetensors/.bin/.pth file (HF or Meta layout)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--img-size', type=int, nargs='+', default=[448],
                        help='input size (S or H W) the backbone runs at; the position table is resized to it')
    parser.add_argument('--pos-interp', choices=['hf', 'hf4.32', 'meta'], default=None,
                        help='whose run-time interpolation to reproduce (default: the layout of SRC; '
                        'hf4.32 = transformers 4.32, what the released Groma checkpoints saw)')
    parser.add_argument('--meta-antialias', action='store_true',
                        help='Meta interpolation with antialias (the *_reg backbones)')
    parser.add_argument('--meta-interp-offset', type=float, default=0.1,
                        help="Meta's interpolate_offset (0.1 released backbones, 0 for *_reg)")
    parser.add_argument('--prefix', default=None,
                        help='key prefix of the DINOv2 weights in SRC (default: found automatically)')
    parser.add_argument('--key-prefix', default='',
                        help='prefix to put before every output key, e.g. "backbone."')
    args = parser.parse_args(argv)
    if len(args.img_size) not in (1, 2):
        parser.error('--img-size takes S or H W')
    args.img_size = args.img_size[0] if len(args.img_size) == 1 else tuple(args.img_size)
    return args


def main(argv=None):
    args = parse_args(argv)
    meta = convert_checkpoint(args.src, args.dst, args.img_size, args.pos_interp, args.prefix, args.key_prefix,
                              args.meta_antialias, args.meta_interp_offset)
    arch = meta['arch']
    layer_cfgs = ", layer_cfgs=dict(ffn_type='swiglu_fused')" if meta['ffn_type'] != 'origin' else ''
    print(f"Converted {meta['layout']} DINOv2 ({arch['num_layers']} layers, width {arch['embed_dims']}, "
          f"patch {meta['patch_size']}, pos-embed -> {args.img_size} with {meta['pos_interp']} interpolation; "
          f"dropped {meta['dropped_keys']}) to {args.dst}\n"
          f"backbone: dict(type='mmpretrain.VisionTransformer', arch={arch}, img_size={args.img_size}, "
          f"patch_size={meta['patch_size']}, layer_scale_init_value=1e-5{layer_cfgs}, "
          f"init_cfg=dict(type='Pretrained', checkpoint='{args.dst}'))")


if __name__ == '__main__':
    main()
