"""convert_official_proposer / official_proposer_cfg: strict key bookkeeping and config checks."""
import copy
import os.path as osp

import pytest
import torch

from groma_mm.converters import ConversionError, SourceKeys
from groma_mm.converters.official_proposer import convert_official_proposer, official_proposer_cfg
from groma_mm.testing.golden import load_golden
from groma_mm.testing.paths import REPO_ROOT

GOLDEN = osp.join(REPO_ROOT, 'tests/data/parity/03_proposer_seed0.pt')


@pytest.fixture(scope='module')
def case():
    return load_golden(GOLDEN)['cases']['levels1']


def convert(state, config, prefix=''):
    src = SourceKeys(state, source='ckpt')
    out = convert_official_proposer(src, config, prefix=prefix)
    src.check_all_used()
    return out


def test_an_unexpected_detr_key_is_named(case):
    state = dict(case['state_dict'], **{'ddetr_transformer.decoder.layers.0.extra_norm.weight': torch.ones(32)})
    with pytest.raises(ConversionError, match=r'ddetr_transformer\.decoder\.layers\.0\.extra_norm\.weight'):
        convert(state, case['config'])


def test_an_unexpected_key_outside_the_proposer_is_left_for_check_all_used(case):
    state = dict(case['state_dict'], **{'something_else.weight': torch.ones(1)})
    with pytest.raises(ConversionError, match=r'unexpected keys.*something_else\.weight'):
        convert(state, case['config'])


def test_an_unexpected_dinov2_key_is_named(case):
    state = dict(case['state_dict'], **{'vis_encoder.encoder.layer.0.adapter.weight': torch.ones(1)})
    with pytest.raises(ConversionError, match=r'encoder\.layer\.0\.adapter\.weight'):
        convert(state, case['config'])


@pytest.mark.parametrize('key', [
    'ddetr_transformer.pos_trans.weight',
    'ddetr_transformer.decoder.layers.1.self_attn.k_proj.bias',
    'vis_encoder.encoder.layer.2.attention.attention.query.weight',
    'vis_encoder.encoder.layer.1.norm1.weight',
    'input_proj.0.1.bias',
])
def test_a_missing_key_is_named(case, key):
    state = dict(case['state_dict'])
    del state[key]
    with pytest.raises(ConversionError, match=key.replace('.', r'\.')):
        convert(state, case['config'])


def test_a_head_missing_under_both_tied_names_is_named(case):
    state = dict(case['state_dict'])
    for key in ('ddetr_transformer.bbox_embed.2.layers.1.bias', 'ddetr_transformer.decoder.bbox_embed.2.layers.1.bias'):
        del state[key]
    with pytest.raises(ConversionError, match=r'bbox_embed\.2\.layers\.1\.bias'):
        convert(state, case['config'])


def test_a_checkpoint_that_kept_one_name_per_tied_tensor_converts_the_same(case):
    full = convert(case['state_dict'], case['config'])
    # safetensors writers drop one name of every shared tensor; here the decoder attributes go
    tied_names = ('ddetr_transformer.decoder.bbox_embed', 'ddetr_transformer.decoder.class_embed')
    deduplicated = {k: v for k, v in case['state_dict'].items() if not k.startswith(tied_names)}
    assert len(deduplicated) < len(case['state_dict'])
    out = convert(deduplicated, case['config'])
    assert out.keys() == full.keys() and all(torch.equal(out[k], full[k]) for k in out)


def test_tied_copies_that_differ_are_rejected(case):
    state = dict(case['state_dict'])
    key = 'ddetr_transformer.decoder.class_embed_sa1b.1.weight'
    state[key] = state[key] + 1
    with pytest.raises(ConversionError, match='copy'):
        convert(state, case['config'])


def test_a_groma_folder_uses_the_perceiver_prefix_and_config(case):
    state = {f'perceiver.{k}': v for k, v in case['state_dict'].items()}
    state['llm.lm_head.weight'] = torch.ones(2, 2)
    src = SourceKeys(state, source='groma')
    out = convert_official_proposer(src, {'perceiver_cfg': case['config']['perceiver_cfg']}, prefix='perceiver.')
    assert src.unused() == ['llm.lm_head.weight']
    assert out.keys() == convert(case['state_dict'], case['config']).keys()


@pytest.mark.parametrize('field, value, message', [
    ('num_feature_levels', 2, 'num_feature_levels=2'),
    ('two_stage', False, 'two_stage=False'),
    ('with_box_refine', False, 'with_box_refine=False'),
    ('activation_function', 'gelu', "activation_function='gelu'"),
])
def test_an_unsupported_detr_config_value_is_named(case, field, value, message):
    config = copy.deepcopy(case['config'])
    config['perceiver_cfg']['ddetr_cfg'][field] = value
    with pytest.raises(ConversionError, match=message):
        official_proposer_cfg(config)
    with pytest.raises(ConversionError, match=message):
        convert(case['state_dict'], config)


def test_a_config_that_is_not_an_official_proposer_is_rejected():
    with pytest.raises(ConversionError, match='not an official Groma proposer config'):
        official_proposer_cfg({'model_type': 'llama', 'hidden_size': 4096})


def test_the_config_follows_the_hf_config(case):
    cfg = official_proposer_cfg(case['config'], img_size=448)
    det = case['config']['perceiver_cfg']['ddetr_cfg']
    assert cfg['num_queries'] == det['num_queries'] == 30
    assert cfg['neck']['scale_factors'] == (1.0, )
    assert cfg['backbone']['out_indices'] == [0, 1, 2, 3] and cfg['backbone']['final_norm'] is False
    assert cfg['encoder']['layer_cfg']['ffn_cfg']['feedforward_channels'] == det['encoder_ffn_dim']
    config4 = copy.deepcopy(case['config'])
    config4['perceiver_cfg']['ddetr_cfg']['num_feature_levels'] = 4
    assert official_proposer_cfg(config4)['neck']['scale_factors'] == (4.0, 2.0, 1.0, 0.5)
