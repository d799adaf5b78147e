"""Convert DINOv2 weights (HF ``Dinov2Model`` or Meta's original layout) to mmpretrain ``VisionTransformer``.

Usage::

    python tools/model_converters/dinov2_to_mmpretrain.py SRC DST [--img-size 448] [--pos-interp hf|meta]

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

The conversion itself (``convert_hf_dinov2`` / ``convert_meta_dinov2``) only needs torch.
"""
import argparse
import json
import math
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
StateDict = Dict[str, Tensor]
ImgSize = Union[int, Sequence[int]]

HF_ANCHOR = 'embeddings.patch_embeddings.projection.weight'
META_ANCHOR = 'patch_embed.proj.weight'
# Tokens that exist only for masked-image-modelling pretraining; mmpretrain's ViT has no counterpart and
# inference never uses them.
DROPPED_KEYS = ('mask_token', )
# DINOv2 heads per width (the checkpoints do not store the head count).
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1536: 24}


class ConversionError(ValueError):
    """The state dict is not a DINOv2 layout this converter understands."""


def _preview(keys, n: int = 8) -> str:
    keys = sorted(keys)
    more = f' ... (+{len(keys) - n} more)' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def _grid(img_size: ImgSize, patch_size: int) -> Tuple[int, int]:
    h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    if h % patch_size or w % patch_size:
        raise ValueError(f'img_size {(h, w)} is not a multiple of the patch size {patch_size}')
    return h // patch_size, w // patch_size


def _split_pos_embed(pos_embed: Tensor) -> Tuple[Tensor, Tensor, int]:
    """(1, 1 + M*M, C) -> cls (1, 1, C), patch grid (1, C, M, M) in float32, M."""
    num_positions = pos_embed.shape[1] - 1
    m = int(math.sqrt(num_positions))
    if m * m != num_positions:
        raise ConversionError(f'position embedding of {num_positions} patches is not a square grid')
    patch = pos_embed[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2).float()
    return pos_embed[:, :1], patch, m


def _join_pos_embed(cls_pos: Tensor, patch: Tensor, dtype: torch.dtype) -> Tensor:
    patch = patch.permute(0, 2, 3, 1).reshape(1, -1, patch.shape[1]).to(dtype)
    return torch.cat([cls_pos, patch], dim=1)


def interpolate_pos_embed_hf(pos_embed: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Resize like HF ``Dinov2Embeddings.interpolate_pos_encoding`` (transformers 4.51.3: float32,
    bicubic to the target size, ``align_corners=False``, no antialias).

    Args:
        pos_embed: (1, 1 + M*M, C), cls position first.
        grid: target (h, w) in patches.

    Returns:
        (1, 1 + h*w, C) in the input dtype.
    """
    cls_pos, patch, m = _split_pos_embed(pos_embed)
    # HF returns the table untouched only for the same number of patches on a square input.
    if (m, m) == tuple(grid):
        return pos_embed
    patch = F.interpolate(patch, size=tuple(grid), mode='bicubic', align_corners=False)
    return _join_pos_embed(cls_pos, patch, pos_embed.dtype)


def interpolate_pos_embed_meta(pos_embed: Tensor,
                               grid: Tuple[int, int],
                               antialias: bool = False,
                               offset: float = 0.1) -> Tensor:
    """Resize like Meta's ``DinoVisionTransformer.interpolate_pos_encoding``.

    The released DINOv2 backbones use ``interpolate_offset=0.1`` (the output size is given through a
    scale factor ``(n + 0.1) / M``, which PyTorch also uses for the sampling positions) and
    ``interpolate_antialias=False``; the ``*_reg`` backbones use ``offset=0`` (an explicit size) and
    ``antialias=True``.

    Args:
        pos_embed: (1, 1 + M*M, C), cls position first.
        grid: target (h, w) in patches.

    Returns:
        (1, 1 + h*w, C) in the input dtype.
    """
    cls_pos, patch, m = _split_pos_embed(pos_embed)
    if (m, m) == tuple(grid):
        return pos_embed
    if offset:
        kwargs = dict(scale_factor=((grid[0] + offset) / m, (grid[1] + offset) / m))
    else:
        kwargs = dict(size=tuple(grid))
    patch = F.interpolate(patch, mode='bicubic', antialias=antialias, **kwargs)
    if tuple(patch.shape[-2:]) != tuple(grid):
        raise ValueError(f'Meta-style interpolation gave a {tuple(patch.shape[-2:])} grid, not {grid}')
    return _join_pos_embed(cls_pos, patch, pos_embed.dtype)


def _resize_pos_embed(pos_embed: Tensor, grid: Tuple[int, int], pos_interp: str, **meta_kwargs) -> Tensor:
    if pos_interp == 'hf':
        return interpolate_pos_embed_hf(pos_embed, grid)
    if pos_interp == 'meta':
        return interpolate_pos_embed_meta(pos_embed, grid, **meta_kwargs)
    raise ValueError(f'pos_interp must be "hf" or "meta", got {pos_interp!r}')


def _check_no_registers(state_dict: StateDict) -> None:
    regs = [k for k in state_dict if 'register_tokens' in k]
    if regs:
        raise ConversionError(f'DINOv2 with register tokens ({_preview(regs)}) is not supported: '
                              'mmpretrain VisionTransformer has a single extra (cls) token')


def convert_hf_dinov2(state_dict: StateDict,
                      img_size: ImgSize = 448,
                      patch_size: Optional[int] = None,
                      pos_interp: str = 'hf') -> StateDict:
    """HF ``Dinov2Model`` state dict (no prefix) -> mmpretrain ``VisionTransformer`` state dict.

    Args:
        state_dict: keys ``embeddings.*``, ``encoder.layer.N.*``, ``layernorm.*``.
        img_size: input size (int or (H, W)) the ViT will run at; the position table is resized to its grid.
        patch_size: defaults to the patch-embedding kernel size.
        pos_interp: 'hf' (what ``Dinov2Model`` does at run time) or 'meta'.

    Returns:
        New ordered dict; q/k/v linears are concatenated into ``layers.N.attn.qkv``.

    Raises:
        ConversionError: on keys that are not part of ``Dinov2Model`` (listed in the message).
    """
    _check_no_registers(state_dict)
    if HF_ANCHOR not in state_dict:
        raise ConversionError(f'no "{HF_ANCHOR}" in the state dict; keys: {_preview(state_dict)}')
    patch_size = patch_size or state_dict[HF_ANCHOR].shape[-1]

    out = OrderedDict()
    used = set()

    def take(src: str) -> Tensor:
        used.add(src)
        return state_dict[src]

    out['cls_token'] = take('embeddings.cls_token')
    out['pos_embed'] = _resize_pos_embed(
        take('embeddings.position_embeddings'), _grid(img_size, patch_size), pos_interp)
    for p in ('weight', 'bias'):
        out[f'patch_embed.projection.{p}'] = take(f'embeddings.patch_embeddings.projection.{p}')

    layer_ids = sorted({int(m.group(1)) for k in state_dict for m in [re.match(r'encoder\.layer\.(\d+)\.', k)] if m})
    if layer_ids != list(range(len(layer_ids))):
        raise ConversionError(f'encoder layers are not numbered 0..N-1: {layer_ids}')
    plain = {  # HF name -> mmpretrain name, inside one layer
        'norm1': 'ln1',
        'attention.output.dense': 'attn.proj',
        'norm2': 'ln2',
        'mlp.fc1': 'ffn.layers.0.0',
        'mlp.fc2': 'ffn.layers.1',
        'mlp.weights_in': 'ffn.w12',  # SwiGLU (giant): build with layer_cfgs=dict(ffn_type='swiglu_fused')
        'mlp.weights_out': 'ffn.w3',
    }
    for i in layer_ids:
        src, dst = f'encoder.layer.{i}.', f'layers.{i}.'
        for p in ('weight', 'bias'):
            # mmpretrain's qkv output rows are [q; k; v] (it reshapes to (3, heads, head_dim)).
            out[f'{dst}attn.qkv.{p}'] = torch.cat(
                [take(f'{src}attention.attention.{n}.{p}') for n in ('query', 'key', 'value')], dim=0)
            for hf_name, mm_name in plain.items():
                if f'{src}{hf_name}.{p}' in state_dict:
                    out[f'{dst}{mm_name}.{p}'] = take(f'{src}{hf_name}.{p}')
        out[f'{dst}attn.gamma1.weight'] = take(f'{src}layer_scale1.lambda1')
        out[f'{dst}ffn.gamma2.weight'] = take(f'{src}layer_scale2.lambda1')
    for p in ('weight', 'bias'):
        out[f'ln1.{p}'] = take(f'layernorm.{p}')

    unexpected = set(state_dict) - used - {f'embeddings.{k}' for k in DROPPED_KEYS}
    if unexpected:
        raise ConversionError(f'unexpected keys for an HF Dinov2Model: {_preview(unexpected)}')
    return out


def convert_meta_dinov2(state_dict: StateDict,
                        img_size: ImgSize = 448,
                        patch_size: Optional[int] = None,
                        pos_interp: str = 'meta',
                        antialias: bool = False,
                        interp_offset: float = 0.1) -> StateDict:
    """Meta DINOv2 state dict (no prefix) -> mmpretrain ``VisionTransformer`` state dict.

    Args:
        state_dict: keys ``patch_embed.proj.*``, ``cls_token``, ``pos_embed``, ``mask_token``,
            ``blocks.N.*`` (or chunked ``blocks.C.N.*``), ``norm.*``.
        img_size: input size (int or (H, W)) the ViT will run at.
        patch_size: defaults to the patch-embedding kernel size.
        pos_interp: 'meta' (what Meta's model does at run time) or 'hf'.
        antialias, interp_offset: Meta's ``interpolate_antialias`` / ``interpolate_offset`` (released
            backbones: False / 0.1; ``*_reg`` backbones: True / 0.0). Used only with ``pos_interp='meta'``.

    Returns:
        New ordered dict.

    Raises:
        ConversionError: on keys that are not part of Meta's ``DinoVisionTransformer``.
    """
    _check_no_registers(state_dict)
    if META_ANCHOR not in state_dict:
        raise ConversionError(f'no "{META_ANCHOR}" in the state dict; keys: {_preview(state_dict)}')
    patch_size = patch_size or state_dict[META_ANCHOR].shape[-1]

    # Chunked checkpoints (block_chunks > 0, FSDP training) name blocks "blocks.<chunk>.<global index>.".
    renamed = OrderedDict()
    for k, v in state_dict.items():
        renamed[re.sub(r'^blocks\.\d+\.(\d+)\.', r'blocks.\1.', k)] = v
    state_dict = renamed

    out = OrderedDict()
    used = set()

    def take(src: str) -> Tensor:
        used.add(src)
        return state_dict[src]

    meta_kwargs = dict(antialias=antialias, offset=interp_offset) if pos_interp == 'meta' else {}
    out['cls_token'] = take('cls_token')
    out['pos_embed'] = _resize_pos_embed(take('pos_embed'), _grid(img_size, patch_size), pos_interp, **meta_kwargs)
    for p in ('weight', 'bias'):
        out[f'patch_embed.projection.{p}'] = take(f'patch_embed.proj.{p}')

    layer_ids = sorted({int(m.group(1)) for k in state_dict for m in [re.match(r'blocks\.(\d+)\.', k)] if m})
    if layer_ids != list(range(len(layer_ids))):
        raise ConversionError(f'blocks are not numbered 0..N-1: {layer_ids}')
    plain = {
        'norm1': 'ln1',
        'attn.qkv': 'attn.qkv',
        'attn.proj': 'attn.proj',
        'norm2': 'ln2',
        'mlp.fc1': 'ffn.layers.0.0',
        'mlp.fc2': 'ffn.layers.1',
        'mlp.w12': 'ffn.w12',  # SwiGLU (giant)
        'mlp.w3': 'ffn.w3',
    }
    for i in layer_ids:
        src, dst = f'blocks.{i}.', f'layers.{i}.'
        for p in ('weight', 'bias'):
            for meta_name, mm_name in plain.items():
                if f'{src}{meta_name}.{p}' in state_dict:
                    out[f'{dst}{mm_name}.{p}'] = take(f'{src}{meta_name}.{p}')
        out[f'{dst}attn.gamma1.weight'] = take(f'{src}ls1.gamma')
        out[f'{dst}ffn.gamma2.weight'] = take(f'{src}ls2.gamma')
    for p in ('weight', 'bias'):
        out[f'ln1.{p}'] = take(f'norm.{p}')

    unexpected = set(state_dict) - used - set(DROPPED_KEYS)
    if unexpected:
        raise ConversionError(f"unexpected keys for Meta's DinoVisionTransformer: {_preview(unexpected)}")
    return out


# ----------------------------------------------------------------------------------------------- file I/O
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
                              f'(Meta), pass --prefix to choose; keys: {_preview(state_dict)}')
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
    parser.add_argument('--pos-interp', choices=['hf', 'meta'], default=None,
                        help='whose run-time interpolation to reproduce (default: the layout of SRC)')
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
