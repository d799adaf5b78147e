"""``MergedPatchTokenizer`` with the official merge order reproduces the official Groma image tokens.

Golden 02 holds the official 2×2 merge and ``img_txt_bridge`` run on one (1, 32·32, 64) DINOv2 hidden state
with a 96-d LLM; the bridge weights go through our converter.
"""
import pytest
import torch

from groma_mm.converters import SourceKeys, convert_official_image_tokenizer, official_image_tokenizer_cfg
from groma_mm.converters.source_keys import ConversionError
from groma_mm.models.encoders import merge_patches_2d
from groma_mm.registry import MODELS
from groma_mm.testing.golden import load_golden

GOLDEN = 'tests/data/parity/02_image_tokenizer_seed0.pt'
TOL = 1e-4


@pytest.fixture(scope='module')
def case():
    return load_golden(GOLDEN)['cases']['default']


def hf_config(case, llm_hidden=None) -> dict:
    return dict(perceiver_cfg=dict(vis_encoder_cfg=dict(hidden_size=case['config']['vis_hidden'])),
                llm_cfg=dict(hidden_size=llm_hidden or case['config']['llm_hidden']))


def patch_grid(case):
    """(1, h·w, C) hidden state without CLS → (1, C, h, w), the layout the MLLM hands over."""
    x = case['inputs']['vis_hidden_state']
    side = case['config']['tokens_hw']
    return x.reshape(x.shape[0], side, side, x.shape[-1]).permute(0, 3, 1, 2)


def test_merged_features_match_official(case):
    merged = merge_patches_2d(patch_grid(case), 2, order='column')
    assert (merged - case['intermediates']['merged_features']).abs().max().item() <= TOL


def test_image_features_match_official(case):
    cfg = official_image_tokenizer_cfg(hf_config(case))
    tokenizer = MODELS.build(dict(cfg, out_channels=case['config']['llm_hidden'])).eval()
    src = SourceKeys(case['state_dict'], source=GOLDEN)
    tokenizer.load_state_dict(convert_official_image_tokenizer(src, hf_config(case), prefix=''), strict=True)
    src.check_all_used()
    with torch.no_grad():
        tokens = tokenizer(patch_grid(case))
    golden = case['outputs']['image_features']
    assert tokens.shape == golden.shape
    assert (tokens - golden).abs().max().item() <= TOL


def test_default_row_order_differs_from_official(case):
    grid = patch_grid(case)
    row, column = merge_patches_2d(grid, 2), merge_patches_2d(grid, 2, order='column')
    c = grid.shape[1]
    # top-left and bottom-right blocks agree, the two off-diagonal patches swap places
    assert torch.equal(row[..., :c], column[..., :c]) and torch.equal(row[..., 3 * c:], column[..., 3 * c:])
    assert torch.equal(row[..., c:2 * c], column[..., 2 * c:3 * c])
    assert not torch.equal(row, column)


def test_bridge_of_another_width_is_refused(case):
    src = SourceKeys(case['state_dict'], source=GOLDEN)
    with pytest.raises(ConversionError, match=r'0\.weight is \(96, 256\).*\(128, 256\)'):
        convert_official_image_tokenizer(src, hf_config(case, llm_hidden=128), prefix='')


def test_unknown_merge_order_is_refused():
    with pytest.raises(ValueError, match='merge_order'):
        MODELS.build(dict(type='MergedPatchTokenizer', in_channels=4, out_channels=8, merge_order='diagonal'))
