"""DINOv2 state dicts (HF ``Dinov2Model`` or Meta's layout) → mmpretrain ``VisionTransformer`` keys.

The position embedding is resized to the target grid exactly as the source model resizes it at run time
(see ``interpolate_pos_embed_hf`` / ``interpolate_pos_embed_meta``). Only torch is needed; the CLI is
``tools/model_converters/dinov2_to_mmpretrain.py``.
"""
import math
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


def preview_keys(keys, n: int = 8) -> str:
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


def interpolate_pos_embed_hf432(pos_embed: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Resize like HF ``Dinov2Embeddings.interpolate_pos_encoding`` of transformers 4.32, which the
    released Groma checkpoints were trained and evaluated with.

    4.32 asks for bicubic with ``scale_factor = (n + 0.1) / M`` (not a target size), so PyTorch samples
    the source at ``(dst + 0.5) * M / (n + 0.1) - 0.5`` instead of 4.51's ``(dst + 0.5) * M / n - 0.5``;
    for 37 → 32 that moves the embeddings by ~2–3 %. It is the same operation as Meta's resize with
    ``interpolate_offset=0.1`` and no antialias.

    Args:
        pos_embed: (1, 1 + M*M, C), cls position first.
        grid: target (h, w) in patches.

    Returns:
        (1, 1 + h*w, C) in the input dtype.
    """
    return interpolate_pos_embed_meta(pos_embed, grid, antialias=False, offset=0.1)


POS_INTERP_CHOICES = ('hf', 'hf4.32', 'meta')


def _resize_pos_embed(pos_embed: Tensor, grid: Tuple[int, int], pos_interp: str, **meta_kwargs) -> Tensor:
    if pos_interp == 'hf':
        return interpolate_pos_embed_hf(pos_embed, grid)
    if pos_interp == 'hf4.32':
        return interpolate_pos_embed_hf432(pos_embed, grid)
    if pos_interp == 'meta':
        return interpolate_pos_embed_meta(pos_embed, grid, **meta_kwargs)
    raise ValueError(f'pos_interp must be one of {POS_INTERP_CHOICES}, got {pos_interp!r}')


def _check_no_registers(state_dict: StateDict) -> None:
    regs = [k for k in state_dict if 'register_tokens' in k]
    if regs:
        raise ConversionError(f'DINOv2 with register tokens ({preview_keys(regs)}) is not supported: '
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
        pos_interp: 'hf' (what ``Dinov2Model`` of the pinned transformers does at run time), 'hf4.32'
            (transformers 4.32, the official Groma stack) or 'meta'.

    Returns:
        New ordered dict; q/k/v linears are concatenated into ``layers.N.attn.qkv``.

    Raises:
        ConversionError: on keys that are not part of ``Dinov2Model`` (listed in the message).
    """
    _check_no_registers(state_dict)
    if HF_ANCHOR not in state_dict:
        raise ConversionError(f'no "{HF_ANCHOR}" in the state dict; keys: {preview_keys(state_dict)}')
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
        raise ConversionError(f'unexpected keys for an HF Dinov2Model: {preview_keys(unexpected)}')
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
        pos_interp: 'meta' (what Meta's model does at run time), 'hf' or 'hf4.32'.
        antialias, interp_offset: Meta's ``interpolate_antialias`` / ``interpolate_offset`` (released
            backbones: False / 0.1; ``*_reg`` backbones: True / 0.0). Used only with ``pos_interp='meta'``.

    Returns:
        New ordered dict.

    Raises:
        ConversionError: on keys that are not part of Meta's ``DinoVisionTransformer``.
    """
    _check_no_registers(state_dict)
    if META_ANCHOR not in state_dict:
        raise ConversionError(f'no "{META_ANCHOR}" in the state dict; keys: {preview_keys(state_dict)}')
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
        raise ConversionError(f"unexpected keys for Meta's DinoVisionTransformer: {preview_keys(unexpected)}")
    return out


# ----------------------------------------------------------------------------------------------- file I/O
