import pytest
import torch

from groma_mm.models.necks import LayerMeanNeck


def test_every_level_is_projected_from_the_mean_of_the_layers():
    torch.manual_seed(0)
    neck = LayerMeanNeck(in_channels=8, out_channels=16, scale_factors=(4.0, 2.0, 1.0, 0.5))
    neck.init_weights()
    layers = [torch.randn(2, 8, 6, 6) for _ in range(4)]
    levels = neck(layers)
    assert [tuple(x.shape) for x in levels] == [(2, 16, 24, 24), (2, 16, 12, 12), (2, 16, 6, 6), (2, 16, 3, 3)]
    mean = torch.stack(layers).mean(0)
    for level, again in zip(levels, neck([mean])):
        torch.testing.assert_close(level, again)
    # the released single level: Conv1×1 (with bias) then a channel LayerNorm, eps 1e-6, biased variance
    conv, norm = neck.projections[2]
    x = conv(mean)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    expected = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(var + 1e-6)
    expected = expected * norm.weight[:, None, None] + norm.bias[:, None, None]
    torch.testing.assert_close(levels[2], expected, rtol=1e-5, atol=1e-5)


def test_an_unknown_scale_is_refused():
    with pytest.raises(ValueError, match='scale factors 4, 2, 1 and 0.5, got 8.0'):
        LayerMeanNeck(in_channels=8, out_channels=16, scale_factors=(8.0, ))
