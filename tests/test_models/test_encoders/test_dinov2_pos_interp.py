"""The DINOv2 position-table resize of transformers 4.32 (the official Groma stack) vs the pinned 4.51."""
import torch

from groma_mm.models.encoders.dinov2_convert import convert_hf_dinov2, interpolate_pos_embed_hf


def cubic_resample(values, src):
    """1-D cubic convolution (PyTorch's bicubic: A = -0.75, clamped borders) of ``values`` at ``src``."""
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    x0 = torch.floor(src)
    t = src - x0
    weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    out = torch.zeros_like(src)
    for offset, w in zip((-1, 0, 1, 2), weights):
        out += w * values[(x0.long() + offset).clamp(0, len(values) - 1)]
    return out


def column_table(columns):
    """(1, 1 + m*m, 1) whose every row holds ``columns``; cls position 7."""
    m = len(columns)
    return torch.cat([torch.full((1, 1, 1), 7.0), columns.repeat(m).reshape(1, m * m, 1)], dim=1)


def tiny_hf_dinov2(pos_embed):
    c = pos_embed.shape[-1]
    state = {'embeddings.cls_token': torch.zeros(1, 1, c), 'embeddings.position_embeddings': pos_embed,
             'embeddings.patch_embeddings.projection.weight': torch.zeros(c, 3, 14, 14),
             'embeddings.patch_embeddings.projection.bias': torch.zeros(c),
             'layernorm.weight': torch.ones(c), 'layernorm.bias': torch.zeros(c)}
    return state


def test_hf432_samples_the_table_at_the_scale_factor_positions():
    columns = torch.randn(37)
    out = convert_hf_dinov2(tiny_hf_dinov2(column_table(columns)), img_size=448, pos_interp='hf4.32')['pos_embed']
    assert out.shape == (1, 1 + 32 * 32, 1) and out[0, 0, 0] == 7.0
    grid = out[0, 1:, 0].reshape(32, 32)
    dst = torch.arange(32, dtype=torch.float64)
    src = (dst + 0.5) * 37 / 32.1 - 0.5  # PyTorch's mapping for scale_factor = (32 + 0.1) / 37
    expected = cubic_resample(columns.double(), src).float()
    for row in (0, 13, 31):
        torch.testing.assert_close(grid[row], expected, atol=1e-5, rtol=0)
    # transformers 4.51's size=(32, 32) samples at (dst + 0.5) * 37 / 32 - 0.5 instead
    assert (grid[0] - cubic_resample(columns.double(), (dst + 0.5) * 37 / 32 - 0.5).float()).abs().max() > 1e-2


def test_the_default_stays_the_pinned_transformers_resize():
    table = torch.randn(1, 1 + 37 * 37, 8)
    default = convert_hf_dinov2(tiny_hf_dinov2(table), img_size=448)['pos_embed']
    torch.testing.assert_close(default, interpolate_pos_embed_hf(table, (32, 32)))
    old = convert_hf_dinov2(tiny_hf_dinov2(table), img_size=448, pos_interp='hf4.32')['pos_embed']
    assert (old - default).abs().max() > 1e-2
