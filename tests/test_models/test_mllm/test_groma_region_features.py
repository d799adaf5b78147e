"""Region tokens read ``region_feature_encoder`` when the config gives one, else the proposer's encoder."""
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT

TINY = f'{REPO_ROOT}/configs/_base_/models/groma_tiny.py'


def _model(with_feature_encoder: bool):
    cfg = Config.fromfile(TINY)
    if not with_feature_encoder:
        cfg.model.region_feature_encoder = None
        cfg.model.region_layers = (-3, -2, -1)
        cfg.model.region_encoder.update(in_channels=64, scale_factors=(2.0, 1.0, 0.5))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _inputs(model):
    samples = []
    for k in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(112, 112), ori_shape=(112, 112), scale_factor=(1.0, 1.0),
                                        img_path=f'synthetic{k}', sample_idx=k,
                                        conversation=[dict(role='user', content='What is <box0>?')]))
        s.bboxes = torch.tensor([[10.0, 10.0, 60.0, 70.0]])
        samples.append(s)
    torch.manual_seed(1)
    data = model.data_preprocessor(dict(inputs=[torch.randint(0, 255, (3, 112, 112), dtype=torch.uint8)
                                                for _ in samples], data_samples=samples), False)
    return data['inputs'], data['data_samples']


@torch.no_grad()
def _region_tokens(model, inputs, samples):
    return torch.cat(model._encode(inputs, samples, training=False)[1])


@torch.no_grad()
def test_with_a_feature_encoder_region_tokens_ignore_the_proposer_encoder():
    model = _model(with_feature_encoder=True)
    inputs, samples = _inputs(model)
    feats, image_of = model.encode_images(inputs, samples)
    layers = model.region_layer_feats(feats, image_of, inputs)
    assert [tuple(x.shape) for x in layers] == [(2, 32, 56, 56)]
    before = _region_tokens(model, inputs, samples)
    for p in model.proposer.backbone.parameters():
        p.add_(0.5 * torch.randn_like(p))
    after = _region_tokens(model, inputs, samples)
    # The proposals move with the proposer's encoder; the user box's token (listed first) does not.
    assert torch.allclose(before[0], after[0])
    # Frozen, yet in the stage checkpoint: a pretrained encoder's file is named only where stage 2 builds it.
    assert any(k.startswith('region_feature_encoder.') for k in model.state_dict())


@torch.no_grad()
def test_without_one_region_tokens_read_the_proposer_encoder():
    model = _model(with_feature_encoder=False)
    inputs, samples = _inputs(model)
    feats, image_of = model.encode_images(inputs, samples)
    assert all(a is b for a, b in zip(model.region_layer_feats(feats, image_of, inputs), feats[-3:]))
    before = _region_tokens(model, inputs, samples)
    for p in model.proposer.backbone.parameters():
        p.add_(0.5 * torch.randn_like(p))
    assert not torch.allclose(before[0], _region_tokens(model, inputs, samples)[0])


def test_a_feature_encoder_with_trainable_weights_gets_gradients():
    model = _model(with_feature_encoder=True)
    inputs, samples = _inputs(model)
    model.region_feature_encoder.requires_grad_(True)
    torch.cat(model._encode(inputs, samples, training=False)[1]).sum().backward()
    assert model.region_feature_encoder.layers[0].weight.grad is not None


def test_region_layers_beyond_the_feature_encoder_are_named():
    import pytest
    model = _model(with_feature_encoder=True)
    model.region_layers = (-3, -2, -1)  # the ViT's default, but the conv has 2 layers
    inputs, samples = _inputs(model)
    with pytest.raises(ValueError, match=r"region_layers \(-3, -2, -1\) .* which has 2 layers"):
        model._encode(inputs, samples, training=False)
