import pytest
import torch
from mmcv.ops import roi_align as mmcv_roi_align

from groma_mm.models.region_encoders.roi_align import aligned_roi_align


def _rois(num: int, image_count: int, size: float, gen: torch.Generator) -> torch.Tensor:
    index = torch.randint(0, image_count, (num, 1), generator=gen).float()
    corner = torch.rand(num, 2, generator=gen) * size * 1.2 - 0.1 * size  # some reach past the borders
    extent = torch.rand(num, 2, generator=gen) * size * 0.4 + 0.5
    return torch.cat([index, corner, corner + extent], 1)


@pytest.mark.parametrize('side,sampling_ratio', [(16, 2), (8, 0), (4, 1)])
def test_cpu_roi_align_equals_mmcv_compiled_kernel_on_valid_rois(side, sampling_ratio):
    gen = torch.Generator().manual_seed(side)
    feat = torch.randn(3, 5, side, side, generator=gen)
    rois = _rois(40, 3, 112.0, gen)
    ours = aligned_roi_align(feat, rois, 4, side / 112, sampling_ratio)
    mmcv = mmcv_roi_align(feat, rois, 4, side / 112, sampling_ratio, 'avg', True)
    assert ours.shape == (40, 5, 4, 4)
    assert torch.equal(ours, mmcv)


def test_cpu_roi_align_takes_negative_size_rois_that_mmcv_cpu_refuses():
    feat = torch.randn(1, 2, 8, 8)
    rois = torch.tensor([[0, 60.0, 60.0, 20.0, 30.0]])  # x2 < x1, y2 < y1
    with pytest.raises(Exception):
        mmcv_roi_align(feat, rois, 2, 8 / 112, 2, 'avg', True)
    out = aligned_roi_align(feat, rois, 2, 8 / 112, 2)
    assert out.shape == (1, 2, 2, 2) and torch.isfinite(out).all() and out.abs().sum() > 0
