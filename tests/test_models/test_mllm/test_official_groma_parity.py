"""Numerical parity of the official-architecture Groma with the official ``GromaModel`` (golden 04, seed 0).

The golden holds the official state dict of a tiny GromaModel (DINOv2 64-d, Deformable DETR 32-d, LLaMA
4096-d × 2 layers, 174 M weights), its inputs (token ids, image, user / ground-truth boxes, labels), its
outputs and intermediates for three cases: ``grounding`` (an REC-style question), ``referring`` (a user
box) and ``training`` (a supervised grounded answer). We build our model from the golden's config with
``official_groma_cfg``, convert the state dict with ``convert_official_groma`` and run our own pipeline —
conversation → region selection → prompt → embeddings → LLM — on the same inputs. The official code
shuffles the regions at random; the test injects the golden's permutation (``intermediates.randperm``)
through ``OfficialRegionSelector.permutation``. Every output must match to 1e-4 (fp32).
"""
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample

from groma_mm.converters import SourceKeys, check_complete
from groma_mm.converters.official_boxes import official_to_xyxy, xyxy_to_official
from groma_mm.converters.official_groma import convert_official_groma, official_groma_cfg
from groma_mm.registry import MODELS
from groma_mm.testing.golden import load_golden
from groma_mm.testing.golden_tokenizer import build_golden_tokenizer
from groma_mm.testing.paths import REPO_ROOT

GOLDEN = osp.join(REPO_ROOT, 'tests/data/parity/04_groma_seed0.pt')
TOL = 1e-4
INPUT_SHAPE = (448, 448)
# The golden's queries as a groma_mm user writes them (user boxes as <boxK>, answers with <roi><boxK></roi>).
CONVERSATIONS = {
    'grounding': [dict(role='user', content='Locate the white dog in the image.')],
    'referring': [dict(role='user', content='Please briefly describe <box0>.')],
    'training': [dict(role='user', content='Locate the white dog in the image.'),
                 dict(role='assistant', content='<roi><box0></roi>')],
}


@pytest.fixture(scope='module')
def golden():
    return load_golden(GOLDEN)


@pytest.fixture(scope='module')
def official(golden, tmp_path_factory):
    """The tiny official-mode Groma with the converted golden weights, built once (174 M weights).

    The three cases share one state dict; it is converted once, strictly (every official key used, every
    key of our model filled).
    """
    tokenizer_dir = str(tmp_path_factory.mktemp('golden_tokenizer'))
    build_golden_tokenizer(golden['tokenizer']['tokenizer_vocab'], save_dir=tokenizer_dir)
    first, *others = golden['cases'].values()
    for case in others:
        assert case['state_dict'].keys() == first['state_dict'].keys()
        assert all(torch.equal(v, first['state_dict'][k]) for k, v in case['state_dict'].items())
    hf_config = first['config']['groma_cfg']
    model = MODELS.build(official_groma_cfg(hf_config, tokenizer=dict(type='HFTokenizer', pretrained=tokenizer_dir)))
    src = SourceKeys(first['state_dict'], source='golden 04')
    state = convert_official_groma(src, hf_config)
    src.check_all_used()
    check_complete(state, model.full_state_dict(), 'Groma')
    model.load_state_dict(state, strict=True)
    return model.eval()


def inject_region_order(model, case):
    """Replay the official run's random region order instead of score order."""
    permutation = case['intermediates']['randperm']
    model.region_selector.permutation = lambda num: permutation


def sample_for(name, case, **meta):
    inputs = case['inputs']
    sample = DetDataSample(metainfo=dict(img_shape=INPUT_SHAPE, ori_shape=INPUT_SHAPE, batch_input_shape=INPUT_SHAPE,
                                         scale_factor=(1.0, 1.0), img_path=f'golden 04 {name}', sample_idx=0,
                                         conversation=CONVERSATIONS[name], grounding=False, **meta))
    boxes = inputs['refer_boxes'] or inputs['ground_boxes']
    if boxes:
        sample.bboxes = official_to_xyxy(boxes[0], INPUT_SHAPE)
    return sample


def max_diff(ours, theirs) -> float:
    return (ours.float() - theirs.float()).abs().max().item()


@torch.no_grad()
def run_official_mode(model, name, case) -> dict:
    """Our outputs under the golden's names; asserts the token sequences on the way."""
    training = name == 'training'
    images, outputs, inter = case['inputs']['images'], case['outputs'], case['intermediates']
    sample = sample_for(name, case)
    image_tokens, region_tokens, regions, maps = model._encode(images, [sample], training=training)
    prompt = model.prompt_builder(sample.conversation, len(regions[0]), maps[0], grounding=False)
    # The expanded sequence: <image> slots, <rK><region> listing, <refer_box>/<ground_box> replaced by <rK>.
    assert prompt.input_ids.tolist() == inter['llm_input_ids'][0].tolist()
    if training:
        assert prompt.labels.tolist() == inter['llm_labels'][0].tolist()
    batch = model.prompt_builder.pad([prompt])
    embeds = model._embed(batch, image_tokens, region_tokens)
    out = model.llm(inputs_embeds=embeds, attention_mask=batch['attention_mask'], use_cache=True)
    selected = xyxy_to_official(regions[0].bboxes, INPUT_SHAPE)
    diffs = dict(selected_boxes=max_diff(selected, outputs['selected_boxes'][0]),
                 region_features=max_diff(region_tokens[0], outputs['region_features']),
                 logits=max_diff(out.logits, outputs['logits']))
    # The official KV-cache branch: one fed token per step, an all-ones mask, no vision work.
    past, length = out.past_key_values, embeds.shape[1]
    for step, official_step in enumerate(outputs['greedy']):
        fed = official_step['input_id']
        step_out = model.llm(input_ids=fed[:, None], past_key_values=past, use_cache=True,
                             attention_mask=torch.ones(1, length + step + 1, dtype=torch.long))
        diffs[f'greedy_{step}'] = max_diff(step_out.logits[:, -1], official_step['logits'])
        past = step_out.past_key_values
    if training:
        diffs['loss'] = max_diff(model.loss(images, [sample_for(name, case)])['loss'], outputs['loss'])
    return diffs


def test_tokenizer_gets_the_official_token_ids(official, golden):
    added = golden['tokenizer']['added_tokens']
    assert {t: official.tokenizer.convert_tokens_to_ids(t) for t in added} == added
    vocab = golden['tokenizer']
    assert official.llm.config.vocab_size == vocab['base_vocab_size'] + vocab['num_new_token']


@pytest.mark.parametrize('name', ['grounding', 'referring', 'training'])
def test_official_mode_matches_the_official_model(official, golden, name):
    case = golden['cases'][name]
    inject_region_order(official, case)
    diffs = run_official_mode(official, name, case)
    print(f'{name}: ' + ', '.join(f'{k} {v:.2e}' for k, v in diffs.items()))
    assert len(diffs) == (4 if name == 'training' else 6)
    assert max(diffs.values()) <= TOL, diffs


def test_predict_generates_the_official_greedy_tokens(official, golden):
    name = 'referring'
    case = golden['cases'][name]
    inject_region_order(official, case)
    fed = [int(step['input_id']) for step in case['outputs']['greedy']]
    sample = sample_for(name, case, generation_cfg=dict(max_new_tokens=len(fed), do_sample=False))
    (result, ) = official.predict(case['inputs']['images'], [sample])
    assert result.raw_answer == official.prompt_builder.decode_reply(fed)
    assert torch.allclose(xyxy_to_official(result.regions.bboxes, INPUT_SHAPE), case['outputs']['selected_boxes'][0],
                          atol=TOL)
