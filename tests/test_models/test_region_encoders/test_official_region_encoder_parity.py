"""The GPT4RoI region encoder with the official quirks reproduces the official Groma region encoder.

Golden 01 was made by running the official ``MLVLROIQueryModule`` (tiny random weights, 128 channels,
3 token maps of 32×32, 5 + 3 boxes); its state dict goes through our converter, its inputs through our
module (boxes handed over as xyxy pixels, as the MLLM does), and the outputs and intermediates must match.
"""
import pytest
import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from groma_mm.converters import (SourceKeys, convert_official_region_encoder, official_region_encoder_cfg)
from groma_mm.models.region_encoders.roi_align import aligned_roi_align
from groma_mm.registry import MODELS
from groma_mm.testing.golden import load_golden

GOLDEN = 'tests/data/parity/01_region_encoder_seed0.pt'
TOL = 1e-4
INPUT = 448


@pytest.fixture(scope='module')
def case():
    return load_golden(GOLDEN)['cases']['default']


def hf_config(case) -> dict:
    """The fields of a ``groma`` config.json the converter reads, for the golden's tiny sizes."""
    return dict(perceiver_cfg=dict(vis_encoder_cfg=dict(hidden_size=case['config']['embed_dims'])),
                llm_cfg=dict(hidden_size=case['config']['out_dims']))


def build(case, **options):
    cfg = official_region_encoder_cfg(hf_config(case))
    cfg.update(options)
    return MODELS.build(dict(cfg, out_channels=case['config']['out_dims'])).eval()


@pytest.fixture(scope='module')
def official(case):
    model = build(case)
    src = SourceKeys(case['state_dict'], source=GOLDEN)
    model.load_state_dict(convert_official_region_encoder(src, hf_config(case), prefix=''), strict=True)
    src.check_all_used()
    return model


def feature_maps(case):
    """(B, h·w, C) token maps → (B, C, h, w), the layout the MLLM hands over."""
    side = case['config']['tokens_hw']
    return [t.reshape(t.shape[0], side, side, t.shape[-1]).permute(0, 3, 1, 2) for t in case['inputs']['mlvl_feats']]


def pixel_boxes(case):
    """The golden's normalized cxcywh boxes as xyxy pixels of the 448-px input."""
    return [bbox_cxcywh_to_xyxy(b * INPUT) for b in case['inputs']['bboxes']]


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


def test_region_features_match_official(case, official):
    with torch.no_grad():
        features = official(feature_maps(case), pixel_boxes(case), (INPUT, INPUT))
    for ours, golden in zip(features, case['outputs']['region_features'], strict=True):
        assert ours.shape == golden.shape
        assert max_diff(ours, golden) <= TOL


@pytest.fixture(scope='module')
def roi_stage(case, official):
    """Fused levels and what RoIAlign is handed, computed once."""
    with torch.no_grad():
        levels = official.fused_levels(feature_maps(case))
    rois, scales = official.roi_inputs(pixel_boxes(case), [x.shape[-1] for x in levels], (INPUT, INPUT))
    return levels, rois, scales


def test_fused_levels_match_official(case, roi_stage):
    levels, _, _ = roi_stage
    for ours, golden in zip(levels, case['intermediates']['levels_after_mlvl_fuse'], strict=True):
        assert list(ours.shape) == list(golden['shape'])
        assert max_diff(ours.mean((2, 3)), golden['mean_hw']) <= TOL
        assert max_diff(ours[..., :3, :3], golden['corner3']) <= TOL


def test_roialign_inputs_and_crops_match_official(case, official, roi_stage):
    inter = case['intermediates']
    levels, rois, scales = roi_stage
    assert max_diff(rois, inter['rois_passed_to_roialign']) <= TOL
    assert scales == pytest.approx(inter['roialign_spatial_scale'], abs=1e-9)
    # the official rois have negative sizes, which only the CPU fallback samples
    assert bool(((rois[:, 3] < rois[:, 1]) | (rois[:, 4] < rois[:, 2])).any())
    first_per_image = [0, len(case['inputs']['bboxes'][0])]
    for level, scale, golden in zip(levels, scales, inter['roialign_out_first_box_per_image'], strict=True):
        crops = aligned_roi_align(level, rois[first_per_image], official.roi_size, scale, official.sampling_ratio)
        assert max_diff(crops, golden) <= TOL


def test_box_embedding_and_flatten_match_official(case, official, roi_stage):
    inter = case['intermediates']
    levels, rois, scales = roi_stage
    with torch.no_grad():
        assert max_diff(official.geometry(torch.cat(case['inputs']['bboxes'])), inter['pos_embedd_out']) <= TOL
        fused = sum(conv(aligned_roi_align(x, rois, official.roi_size, s, official.sampling_ratio))
                    for x, s, conv in zip(levels, scales, official.level_convs))
        flat = official.flatten_proj(fused.relu().flatten(1))
    assert max_diff(flat, inter['flatten_linear_out']) <= TOL


def test_correct_defaults_hand_roialign_xyxy_at_true_strides(case, official):
    boxes = pixel_boxes(case)
    correct = build(case, roi_box_format='xyxy', featmap_strides=None)
    widths = [128, 64, 32]
    quirk_rois, quirk_scales = official.roi_inputs(boxes, widths, (INPUT, INPUT))
    rois, scales = correct.roi_inputs(boxes, widths, (INPUT, INPUT))
    assert torch.equal(rois[:, 1:], torch.cat(boxes))
    assert max_diff(rois, quirk_rois) > 10
    assert scales == pytest.approx([w / INPUT for w in widths])
    assert scales == pytest.approx([s / 2 for s in quirk_scales])


def test_defaults_are_the_correct_behaviour():
    model = MODELS.build(dict(type='GPT4RoIRegionEncoder', in_channels=8, out_channels=16,
                              norm_cfg=dict(type='GN', num_groups=2), region_channels=16, geometry_channels=8))
    assert (model.roi_box_format, model.featmap_strides) == ('xyxy', None)


def test_images_without_boxes_give_empty_tokens(case, official):
    feats = feature_maps(case)
    tokens = official(feats, [torch.zeros(0, 4), torch.zeros(0, 4)], (INPUT, INPUT))
    assert [tuple(t.shape) for t in tokens] == [(0, 4096), (0, 4096)]


def test_unknown_roi_box_format_is_refused(case):
    with pytest.raises(ValueError, match='roi_box_format'):
        build(case, roi_box_format='cxcy')
