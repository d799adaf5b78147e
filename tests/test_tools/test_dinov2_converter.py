"""DINOv2 (HF / Meta layout) -> mmpretrain VisionTransformer: the converted encoder reproduces the source.

A tiny random HF ``Dinov2Model`` (source grid 4x4 or 11x11) is run at 112x112 (8x8 patches, or 8x10 for a
non-square input), so the position table really is interpolated; every parameter, the layer-scale gammas
and the position table included, is randomized at a scale where a wrong mapping is visible.
"""
import importlib.util
import math
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip('transformers')
from mmpretrain.models.backbones import VisionTransformer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'model_converters' / 'dinov2_to_mmpretrain.py'
_spec = importlib.util.spec_from_file_location('dinov2_to_mmpretrain', SCRIPT)
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)

WIDTH, LAYERS, HEADS, PATCH = 64, 3, 2, 14
TOL = 1e-4


def make_hf_model(image_size: int = 56, seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.Dinov2Config(
        hidden_size=WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS, mlp_ratio=4,
        patch_size=PATCH, image_size=image_size, layerscale_value=1e-5, layer_norm_eps=1e-6,
        hidden_act='gelu', attn_implementation='eager')
    model = transformers.Dinov2Model(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('lambda1'):  # layer scale: far from 1e-5 so the residual branches matter
                p.uniform_(0.5, 1.5)
            elif name.endswith('.weight') and p.ndim == 1:  # LayerNorm
                p.normal_(1.0, 0.2)
            elif name.endswith('.bias'):
                p.normal_(0.0, 0.1)
            elif name.endswith('.weight'):  # linear / conv: unit-scale activations
                p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()))
            else:  # cls token, mask token, position table
                p.normal_(0.0, 1.0)
    return model


def make_mm_vit(img_size, out_type='featmap', **kwargs):
    vit = VisionTransformer(
        arch=dict(embed_dims=WIDTH, num_layers=LAYERS, num_heads=HEADS, feedforward_channels=4 * WIDTH),
        img_size=img_size, patch_size=PATCH, layer_scale_init_value=1e-5, out_type=out_type,
        out_indices=list(range(LAYERS)), **kwargs)
    vit.eval()  # (mmpretrain's BaseBackbone.train returns None, so no chaining)
    return vit


def load_strict(vit, state_dict):
    # Same shape as the model's table, so mmpretrain's load hook does not resize it a second time.
    assert state_dict['pos_embed'].shape == vit.pos_embed.shape
    result = vit.load_state_dict(state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return vit


@torch.no_grad()
def max_diffs(hf_model, vit, img_hw):
    """Per layer max |mmpretrain featmap - HF hidden state| (last layer: vs last_hidden_state)."""
    torch.manual_seed(1)
    x = torch.randn(2, 3, *img_hw)
    hf_out = hf_model(pixel_values=x, output_hidden_states=True)
    refs = list(hf_out.hidden_states[1:-1]) + [hf_out.last_hidden_state]
    feats = vit(x)
    grid = (img_hw[0] // PATCH, img_hw[1] // PATCH)
    diffs = []
    for feat, ref in zip(feats, refs):
        assert feat.shape == (2, WIDTH, *grid)
        diffs.append((feat.flatten(2).transpose(1, 2) - ref[:, 1:]).abs().max().item())
    return diffs


def hf_state_dict(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def hf_to_meta_layout(sd):
    """Rename an HF Dinov2Model state dict into Meta's DinoVisionTransformer layout (inverse of HF's
    convert_dinov2_to_hf.py, which splits Meta's qkv rows into q, k, v)."""
    out = {
        'cls_token': sd['embeddings.cls_token'],
        'mask_token': sd['embeddings.mask_token'],
        'pos_embed': sd['embeddings.position_embeddings'],
        'patch_embed.proj.weight': sd['embeddings.patch_embeddings.projection.weight'],
        'patch_embed.proj.bias': sd['embeddings.patch_embeddings.projection.bias'],
        'norm.weight': sd['layernorm.weight'],
        'norm.bias': sd['layernorm.bias'],
    }
    for i in range(LAYERS):
        s, d = f'encoder.layer.{i}.', f'blocks.{i}.'
        for p in ('weight', 'bias'):
            out[f'{d}attn.qkv.{p}'] = torch.cat(
                [sd[f'{s}attention.attention.{n}.{p}'] for n in ('query', 'key', 'value')])
            for hf_name, meta_name in (('norm1', 'norm1'), ('norm2', 'norm2'), ('mlp.fc1', 'mlp.fc1'),
                                       ('mlp.fc2', 'mlp.fc2'), ('attention.output.dense', 'attn.proj')):
                out[f'{d}{meta_name}.{p}'] = sd[f'{s}{hf_name}.{p}']
        out[f'{d}ls1.gamma'] = sd[f'{s}layer_scale1.lambda1']
        out[f'{d}ls2.gamma'] = sd[f'{s}layer_scale2.lambda1']
    return out


def meta_interpolate_pos_encoding(self, embeddings, height, width):
    """Stand-in for HF's method that transcribes Meta's DinoVisionTransformer.interpolate_pos_encoding
    (released backbones: interpolate_offset=0.1, interpolate_antialias=False; Meta names the input's
    height ``w`` and its width ``h``)."""
    w, h = height, width
    npatch = embeddings.shape[1] - 1
    N = self.position_embeddings.shape[1] - 1
    if npatch == N and w == h:
        return self.position_embeddings
    pos_embed = self.position_embeddings.float()
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    dim = embeddings.shape[-1]
    w0, h0 = w // PATCH, h // PATCH
    M = int(math.sqrt(N))
    sx, sy = float(w0 + 0.1) / M, float(h0 + 0.1) / M
    patch_pos_embed = F.interpolate(
        patch_pos_embed.reshape(1, M, M, dim).permute(0, 3, 1, 2), mode='bicubic', antialias=False,
        scale_factor=(sx, sy))
    assert (w0, h0) == patch_pos_embed.shape[-2:]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


# (source image_size of the HF model, test input (H, W)): up-sampling, down-sampling, non-square
CASES = [(56, (112, 112)), (154, (112, 112)), (56, (112, 140))]


@pytest.mark.parametrize('src_size,img_hw', CASES)
def test_hf_layout_matches_hf_model(src_size, img_hw):
    hf_model = make_hf_model(src_size)
    converted = conv.convert_hf_dinov2(hf_state_dict(hf_model), img_size=img_hw, patch_size=PATCH)
    vit = load_strict(make_mm_vit(img_hw), converted)
    diffs = max_diffs(hf_model, vit, img_hw)
    print(f'hf layout, source {src_size}, input {img_hw}: max abs diff per layer {diffs}')
    assert max(diffs) <= TOL

    # The cls token and its position are kept: the raw sequence (cls first) matches too.
    raw = load_strict(make_mm_vit(img_hw, out_type='raw'), converted)
    x = torch.randn(1, 3, *img_hw)
    with torch.no_grad():
        assert (raw(x)[-1] - hf_model(pixel_values=x).last_hidden_state).abs().max() <= TOL


def test_hf_pos_interp_is_discriminated():
    """The exactness check sees the interpolation: an antialiased bicubic, or Meta's (+0.1 offset), is off
    by far more than the tolerance. (transformers 4.51.3 resizes with plain bicubic, no antialias.)"""
    hf_model = make_hf_model(154)
    sd = hf_state_dict(hf_model)
    img_hw = (112, 112)
    wrong = conv.convert_hf_dinov2(sd, img_size=img_hw, pos_interp='meta')
    assert max(max_diffs(hf_model, load_strict(make_mm_vit(img_hw), wrong), img_hw)) > 100 * TOL

    wrong = conv.convert_hf_dinov2(sd, img_size=img_hw)
    table = sd['embeddings.position_embeddings']
    grid = table[:, 1:].reshape(1, 11, 11, WIDTH).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(8, 8), mode='bicubic', align_corners=False, antialias=True)
    wrong['pos_embed'] = torch.cat([table[:, :1], grid.permute(0, 2, 3, 1).reshape(1, 64, WIDTH)], dim=1)
    assert max(max_diffs(hf_model, load_strict(make_mm_vit(img_hw), wrong), img_hw)) > 100 * TOL

    # mmpretrain's own load-time resize (plain bicubic to size) happens to equal HF 4.51's.
    unresized = conv.convert_hf_dinov2(sd, img_size=154)
    vit = make_mm_vit(img_hw)
    vit.load_state_dict(unresized, strict=True)
    assert max(max_diffs(hf_model, vit, img_hw)) <= TOL


def test_meta_layout_matches():
    hf_model = make_hf_model(56)
    meta_sd = hf_to_meta_layout(hf_state_dict(hf_model))
    img_hw = (112, 140)

    # Same weights, HF's interpolation -> the HF model.
    converted = conv.convert_meta_dinov2(meta_sd, img_size=img_hw, pos_interp='hf')
    diffs = max_diffs(hf_model, load_strict(make_mm_vit(img_hw), converted), img_hw)
    print(f'meta layout, hf interpolation: max abs diff per layer {diffs}')
    assert max(diffs) <= TOL

    # Meta's own interpolation (default) -> the model with Meta's run-time resize.
    converted = conv.convert_meta_dinov2(meta_sd, img_size=img_hw)
    vit = load_strict(make_mm_vit(img_hw), converted)
    assert max(max_diffs(hf_model, vit, img_hw)) > 100 * TOL  # the two interpolations really differ
    hf_model.embeddings.interpolate_pos_encoding = types.MethodType(
        meta_interpolate_pos_encoding, hf_model.embeddings)
    diffs = max_diffs(hf_model, vit, img_hw)
    print(f'meta layout, meta interpolation: max abs diff per layer {diffs}')
    assert max(diffs) <= TOL

    # Chunked FSDP checkpoints ("blocks.<chunk>.<index>.") convert to the same weights.
    chunked = {(k.replace('blocks.', f'blocks.{int(k.split(".")[1]) // 2}.', 1) if k.startswith('blocks.')
                else k): v for k, v in meta_sd.items()}
    rechunked = conv.convert_meta_dinov2(chunked, img_size=img_hw)
    assert rechunked.keys() == converted.keys()
    assert all(torch.equal(rechunked[k], converted[k]) for k in converted)


def test_cli_converts_hf_folder(tmp_path):
    from mmengine.runner import load_checkpoint

    hf_model = make_hf_model(56)
    hf_model.save_pretrained(tmp_path / 'hf')
    dst = tmp_path / 'out' / 'dinov2_mmpretrain.pth'
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / 'hf'), str(dst), '--img-size', '112'],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'img_size=112' in proc.stdout

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert ckpt['meta']['layout'] == 'hf' and ckpt['meta']['arch']['num_heads'] == HEADS
    vit = make_mm_vit((112, 112))
    load_checkpoint(vit, str(dst), map_location='cpu', strict=True)
    assert max(max_diffs(hf_model, vit, (112, 112))) <= TOL

    # As a config would load it: init_cfg on the backbone.
    vit = make_mm_vit((112, 112), init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    vit.init_weights()
    vit.eval()
    assert max(max_diffs(hf_model, vit, (112, 112))) <= TOL


def test_cli_meta_file_with_prefix(tmp_path):
    hf_model = make_hf_model(56)
    meta_sd = {f'teacher.backbone.{k}': v for k, v in hf_to_meta_layout(hf_state_dict(hf_model)).items()}
    meta_sd['teacher.dino_head.mlp.0.weight'] = torch.zeros(2, 2)  # outside the backbone: ignored
    torch.save(meta_sd, tmp_path / 'meta.pth')
    conv.main([str(tmp_path / 'meta.pth'), str(tmp_path / 'out.pth'), '--img-size', '112', '--pos-interp', 'hf',
               '--key-prefix', 'backbone.'])
    sd = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    assert all(k.startswith('backbone.') for k in sd)
    vit = load_strict(make_mm_vit((112, 112)), {k[len('backbone.'):]: v for k, v in sd.items()})
    assert max(max_diffs(hf_model, vit, (112, 112))) <= TOL


def test_errors_name_file_and_keys(tmp_path):
    bad = tmp_path / 'not_dinov2.pth'
    torch.save({'conv1.weight': torch.zeros(1), 'fc.bias': torch.zeros(1)}, bad)
    with pytest.raises(conv.ConversionError, match=r'not_dinov2\.pth.*conv1\.weight'):
        conv.convert_checkpoint(str(bad), str(tmp_path / 'out.pth'))

    sd = hf_state_dict(make_hf_model(56))
    sd['encoder.layer.0.attention.attention.rotary.weight'] = torch.zeros(1)
    extra = tmp_path / 'extra.safetensors'
    from safetensors.torch import save_file
    save_file(sd, str(extra))
    with pytest.raises(conv.ConversionError, match=r'extra\.safetensors.*rotary\.weight'):
        conv.convert_checkpoint(str(extra), str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()


def test_frozen_encoder_stays_frozen():
    from groma_mm.models.encoders.frozen_vit import FreezableVisionTransformer  # noqa: F401  (registers it)
    from groma_mm.registry import MODELS

    cfg = dict(type='FreezableVisionTransformer',
               arch=dict(embed_dims=WIDTH, num_layers=LAYERS, num_heads=HEADS, feedforward_channels=4 * WIDTH),
               img_size=112, patch_size=PATCH, layer_scale_init_value=1e-5, out_type='featmap',
               out_indices=[-2, -1], frozen_stages=LAYERS, drop_rate=0.5, drop_path_rate=0.5)
    vit = MODELS.build(cfg)
    vit.train()
    assert [n for n, p in vit.named_parameters() if p.requires_grad] == []
    assert [n for n, m in vit.named_modules() if m.training] == []
    x = torch.randn(1, 3, 112, 112)
    a, b = vit(x)[-1], vit(x)[-1]
    assert torch.equal(a, b)  # dropout / drop-path inactive

    # Partial freezing keeps mmpretrain's meaning: the first stages frozen, the rest trainable.
    vit = MODELS.build(dict(cfg, frozen_stages=1)).train()
    assert not vit.layers[0].training and vit.layers[1].training and vit.ln1.training
    assert not any(p.requires_grad for p in vit.layers[0].parameters()) and vit.ln1.weight.requires_grad
