"""FrozenConvEncoder: fixed weights from its seed alone or from a checkpoint, never trained, one map per layer."""
import pytest
import torch

from groma_mm.models.encoders import FrozenConvEncoder


def test_the_seed_alone_fixes_the_weights_whatever_the_global_rng():
    torch.manual_seed(0)
    a = FrozenConvEncoder(seed=3)
    torch.manual_seed(1)
    _ = torch.randn(100)
    b = FrozenConvEncoder(seed=3)
    other = FrozenConvEncoder(seed=4)
    for (name, pa), pb, po in zip(a.state_dict().items(), b.state_dict().values(), other.state_dict().values()):
        assert torch.equal(pa, pb), name
        if name.endswith('weight'):
            assert not torch.equal(pa, po), name
    a.init_weights()
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.state_dict().values(), b.state_dict().values()))


def test_it_stays_frozen_and_in_eval_mode():
    encoder = FrozenConvEncoder()
    encoder.train()
    assert not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())


def test_each_layer_gives_a_map_at_its_stride():
    encoder = FrozenConvEncoder(channels=(8, 16, 4), strides=(1, 2, 2))
    outs = encoder(torch.randn(2, 3, 32, 48))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 32, 48), (2, 16, 16, 24), (2, 4, 8, 12)]
    assert all((o >= 0).all() for o in outs)  # ReLU maps


def test_mismatched_layer_settings_are_refused_with_both_named():
    with pytest.raises(ValueError, match=r'channels \(8, 16\) and strides \(1,\)'):
        FrozenConvEncoder(channels=(8, 16), strides=(1, ))


def test_a_checkpoint_replaces_the_seeded_weights(tmp_path):
    path = tmp_path / 'features.pth'
    torch.save(FrozenConvEncoder(seed=3).state_dict(), path)
    loaded = FrozenConvEncoder(seed=4, checkpoint=str(path))
    for (name, pa), pb in zip(FrozenConvEncoder(seed=3).state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not any(p.requires_grad for p in loaded.parameters())


def test_a_checkpoint_of_other_layers_is_refused_naming_the_file_and_the_weights(tmp_path):
    path = tmp_path / 'features.pth'
    torch.save(FrozenConvEncoder(channels=(16, 32)).state_dict(), path)
    with pytest.raises(ValueError, match=r'features\.pth is not a checkpoint .*layers\.0\.weight \(16, 3, 3, 3\)'):
        FrozenConvEncoder(channels=(32, 32), checkpoint=str(path))
    torch.save(FrozenConvEncoder(channels=(32, 32, 8), strides=(1, 2, 2)).state_dict(), path)
    with pytest.raises(ValueError, match=r'layers\.2\.bias'):
        FrozenConvEncoder(channels=(32, 32), checkpoint=str(path))
