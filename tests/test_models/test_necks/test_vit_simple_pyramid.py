import pytest
import torch

from groma_mm.models.necks import ViTSimplePyramid


def _layers(n, c=32, hw=8):
    return [torch.randn(2, c, hw, hw) for _ in range(n)]


def test_per_level_pyramid_gives_one_level_per_layer_at_its_scale():
    neck = ViTSimplePyramid(in_channels=32, out_channels=16, scale_factors=(4.0, 2.0, 1.0, 0.5, 0.25))
    outs = neck(_layers(5))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 32, 32), (2, 16, 16, 16), (2, 16, 8, 8), (2, 16, 4, 4),
                                              (2, 16, 2, 2)]


def test_per_level_uses_input_i_for_level_i():
    neck = ViTSimplePyramid(in_channels=32, out_channels=16, scale_factors=(1.0, 1.0))
    a, b = _layers(2)
    out_ab = neck([a, b])
    out_ac = neck([a, torch.randn_like(b)])
    torch.testing.assert_close(out_ab[0], out_ac[0])
    assert not torch.allclose(out_ab[1], out_ac[1])


def test_mean_fusion_builds_every_level_from_the_layer_average():
    neck = ViTSimplePyramid(in_channels=32, out_channels=16, scale_factors=(2.0, 1.0, 0.5), input_fusion='mean')
    layers = _layers(4)
    outs = neck(layers)
    same_mean = neck([torch.stack(layers).mean(0)] * 4)
    for o, s in zip(outs, same_mean):
        torch.testing.assert_close(o, s)
    assert [o.shape[-1] for o in outs] == [16, 8, 4]


def test_bad_configuration_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match='powers of 2'):
        ViTSimplePyramid(in_channels=8, scale_factors=(3.0, ))
    neck = ViTSimplePyramid(in_channels=32, out_channels=16, scale_factors=(1.0, 0.5))
    with pytest.raises(ValueError, match='one input per level'):
        neck(_layers(3))


def test_levels_are_contiguous_nchw_so_roi_align_reads_the_right_pixels():
    from mmcv.ops import roi_align
    neck = ViTSimplePyramid(in_channels=32, out_channels=16, scale_factors=(2.0, 1.0, 0.5))
    rois = torch.tensor([[0, 1.0, 2.0, 5.0, 7.0], [1, 3.0, 0.0, 8.0, 4.0]])
    for level in neck(_layers(3)):
        assert level.is_contiguous()
        torch.testing.assert_close(roi_align(level, rois, 2, level.shape[-1] / 8, 2, 'avg', True),
                                   roi_align(level.clone(memory_format=torch.contiguous_format), rois, 2,
                                             level.shape[-1] / 8, 2, 'avg', True))
