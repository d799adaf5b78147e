"""Numerical parity of OfficialGromaProposer with the official CustomDDETRModel (golden 03, seed 0).

The golden holds the official state dict, the input image, outputs and intermediates of the official
proposer on tiny random weights (1 and 4 feature levels). We build our model from the golden's HF config
with ``official_proposer_cfg``, convert the state dict with ``convert_official_proposer`` and require the
same numbers (fp32, max abs diff ≤ 1e-4).
"""
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample

from groma_mm.converters import SourceKeys, check_complete
from groma_mm.converters.official_proposer import convert_official_proposer, official_proposer_cfg
from groma_mm.registry import MODELS
from groma_mm.testing.golden import load_golden
from groma_mm.testing.paths import REPO_ROOT

GOLDEN = osp.join(REPO_ROOT, 'tests/data/parity/03_proposer_seed0.pt')
TOL = 1e-4


@pytest.fixture(scope='module')
def golden():
    return load_golden(GOLDEN)


def build_converted(case):
    cfg = official_proposer_cfg(case['config']['perceiver_cfg'], img_size=case['config']['image_size'])
    model = MODELS.build(cfg)
    src = SourceKeys(case['state_dict'], source='golden 03')
    state = convert_official_proposer(src, case['config'])
    src.check_all_used()
    check_complete(state, model.state_dict(), 'OfficialGromaProposer')
    model.load_state_dict(state, strict=True)
    return model.eval()


def sample_for(images):
    h, w = images.shape[-2:]
    return DetDataSample(metainfo=dict(img_shape=(h, w), batch_input_shape=(h, w), ori_shape=(h, w),
                                       scale_factor=(1.0, 1.0)))


@torch.no_grad()
def run_stages(model, images):
    """Our model's tensors under the golden's names (mmdet's forward_transformer, step by step)."""
    samples = [sample_for(images)]
    feats = model.backbone(images)
    levels = model.neck(feats)
    encoder_inputs, decoder_inputs = model.pre_transformer(levels, samples)
    encoder_outputs = model.forward_encoder(**encoder_inputs)
    memory = encoder_outputs['memory']
    proposal_memory, proposal_logits = model.gen_encoder_output_proposals(memory, None,
                                                                          encoder_outputs['spatial_shapes'])
    last = model.decoder.num_layers
    decoder_queries, _ = model.pre_decoder(**encoder_outputs)
    decoder_inputs.update(decoder_queries)
    decoder_outputs = model.forward_decoder(**decoder_inputs)
    logits, boxes = model.bbox_head(decoder_outputs['hidden_states'], decoder_outputs['references'])
    (proposals, ) = model.propose(feats, samples)
    references = decoder_outputs['references']
    return dict(
        blocks=feats,
        ddetr_input=torch.stack(feats).mean(0),
        srcs=levels,
        encoder_last_hidden_state=memory,
        enc_outputs_class=model.bbox_head.cls_branches[last](proposal_memory),
        enc_outputs_coord_logits=model.bbox_head.reg_branches[last](proposal_memory) + proposal_logits,
        init_reference_points=references[0],
        intermediate_reference_points=torch.stack(references[1:], dim=1),
        intermediate_hidden_states=decoder_outputs['hidden_states'].transpose(0, 1),
        logits_coco=logits['coco'][-1],
        logits_sa1b=logits['sa1b'][-1],
        pred_boxes=boxes[-1],
        scores_fused=proposals.scores[None],
        pred_boxes_xyxy=proposals.bboxes[None] / images.new_tensor([images.shape[-1], images.shape[-2]]).repeat(2),
    )


# How the golden summarises tensors too large to store (4 levels: a 128² map, 21760 encoder tokens).
SUMMARIES = {
    'mean_hw': lambda t: t.mean(dim=(2, 3)),
    'corner3': lambda t: t[..., :3, :3],
    'mean_tokens': lambda t: t.mean(dim=1),
    'first_tokens': lambda t: t[:, :64],
}


def max_diff(ours, ref):
    if isinstance(ref, dict):
        assert list(ours.shape) == list(ref['shape'])
        return max(max_diff(SUMMARIES[k](ours), v) for k, v in ref.items() if k != 'shape')
    assert ours.shape == ref.shape
    finite = torch.isfinite(ref)
    # Invalid encoder proposals are +inf in both (grid boxes too close to the border).
    assert torch.equal(finite, torch.isfinite(ours))
    return (ours[finite] - ref[finite]).abs().max().item()


@pytest.fixture(scope='module', params=['levels1', 'levels4'])
def parity(request, golden):
    case = golden['cases'][request.param]
    return case, run_stages(build_converted(case), case['inputs']['images'])


@pytest.mark.parametrize('name', ['pred_boxes', 'logits_coco', 'logits_sa1b', 'scores_fused', 'pred_boxes_xyxy'])
def test_outputs_match_the_official_proposer(parity, name):
    case, ours = parity
    assert max_diff(ours[name], case['outputs'][name]) <= TOL


@pytest.mark.parametrize('name', [
    'ddetr_input', 'encoder_last_hidden_state', 'enc_outputs_class', 'enc_outputs_coord_logits',
    'init_reference_points', 'intermediate_reference_points', 'intermediate_hidden_states'
])
def test_intermediates_match_the_official_proposer(parity, name):
    case, ours = parity
    assert max_diff(ours[name], case['intermediates'][name]) <= TOL


def test_backbone_blocks_are_the_hf_hidden_states_before_the_final_norm(parity):
    case, ours = parity
    hidden = case['intermediates']['vis_hidden_states']  # HF: [0] embeddings, then one per block
    for ours_block, ref in zip(ours['blocks'], hidden[-4:]):
        b, c, h, w = ours_block.shape
        assert max_diff(ours_block, ref[:, 1:].reshape(b, h, w, c).permute(0, 3, 1, 2)) <= TOL


def test_every_neck_level_matches_the_official_input_projections(parity):
    case, ours = parity
    assert len(ours['srcs']) == len(case['intermediates']['srcs'])
    for level, ref in zip(ours['srcs'], case['intermediates']['srcs']):
        assert max_diff(level, ref) <= TOL


def test_proposals_are_every_query_unclipped_in_input_pixels(parity):
    case, ours = parity
    boxes = ours['pred_boxes_xyxy'] * 448
    assert boxes.shape == (1, case['config']['perceiver_cfg']['ddetr_cfg']['num_queries'], 4)
    # the official boxes leave the image (cx - w/2 < 0): NMS downstream must see them as they are
    assert boxes.min() < 0
