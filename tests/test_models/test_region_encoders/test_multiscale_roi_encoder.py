"""MultiScaleRoIRegionEncoder: a region token is made of the features under its box."""
import torch

from groma_mm.models.region_encoders import MultiScaleRoIRegionEncoder


def test_a_region_token_does_not_change_when_features_far_from_its_box_change():
    torch.manual_seed(0)
    encoder = MultiScaleRoIRegionEncoder(in_channels=16, out_channels=8, channels=16, roi_size=2,
                                         region_channels=32).eval()
    layers = [torch.randn(1, 16, 8, 8) for _ in range(3)]
    far = [x.clone() for x in layers]
    for x in far:  # the bottom-right corner, away from the box in the top-left (stride 14: 112-px input)
        x[..., 6:, 6:] = torch.randn_like(x[..., 6:, 6:]) * 5
    box = [torch.tensor([[0.0, 0.0, 28.0, 28.0]])]
    with torch.no_grad():
        token, token_far = encoder(layers, box, (112, 112))[0], encoder(far, box, (112, 112))[0]
        other = encoder(layers, [torch.tensor([[70.0, 70.0, 112.0, 112.0]])], (112, 112))[0]
        other_far = encoder(far, [torch.tensor([[70.0, 70.0, 112.0, 112.0]])], (112, 112))[0]
    torch.testing.assert_close(token, token_far)
    assert not torch.allclose(other, other_far)
