"""The released groma-7b configs are the model the converter derives from the released config.json."""
import os.path as osp

import pytest
from mmengine.config import Config

from groma_mm.converters import ConversionError
from groma_mm.converters.official_groma import official_groma_cfg
from groma_mm.testing.paths import REPO_ROOT

# config.json of groma-7b-{pretrain,finetune} as the official train.py writes it (only the fields the converter
# reads): the groma-det-pretrain perceiver, lmsys/vicuna-7b-v1.5, 14 + 100 new tokens, the released thresholds.
RELEASED_GROMA_CONFIG = dict(
    model_type='groma',
    architectures=['GromaModel'],
    num_new_token=114,
    nms_thres=0.6,
    box_score_thres=0.15,
    max_region_num=100,
    perceiver_cfg=dict(
        model_type='ddetr',
        vis_output_layer=-1,
        vis_encoder_cfg=dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4,
                             patch_size=14, image_size=518, layer_norm_eps=1e-6, layerscale_value=1.0,
                             hidden_act='gelu', qkv_bias=True, use_swiglu_ffn=False),
        ddetr_cfg=dict(d_model=256, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                       decoder_attention_heads=8, encoder_ffn_dim=1024, decoder_ffn_dim=1024, encoder_n_points=4,
                       decoder_n_points=4, num_feature_levels=1, num_queries=300, two_stage_num_proposals=300,
                       two_stage=True, with_box_refine=True, activation_function='relu',
                       position_embedding_type='sine', dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
                       id2label={'0': 'LABEL_0'})),
    llm_cfg=dict(model_type='llama', vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, hidden_act='silu',
                 max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=None,
                 tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0))


def _model(name: str) -> dict:
    return Config.fromfile(osp.join(REPO_ROOT, f'configs/groma/groma_official_vicuna-7b_{name}.py')).model.to_dict()


def _without_proposer_post_processor(model: dict) -> dict:
    # The released-proposer config adds the standalone proposer's own post-processor (tools/test.py on it);
    # inside Groma the region selector decides instead.
    model['proposer'].pop('post_processor')
    return model


@pytest.mark.parametrize('name, template', [('finetune', 'llava'), ('pretrain', 'default')])
def test_released_configs_match_the_converter_config(name, template):
    ours = _without_proposer_post_processor(_model(name))
    generation = ours.pop('generation_cfg')
    assert ours['tokenizer'] == dict(type='HFTokenizer', pretrained=f'checkpoints/groma-7b-{name}_tokenizer')
    expected = official_groma_cfg(RELEASED_GROMA_CONFIG, tokenizer=ours['tokenizer'], template=template,
                                  torch_dtype='bfloat16', attn_implementation='sdpa')
    assert ours == Config(dict(model=expected)).model.to_dict()
    assert generation['max_new_tokens'] > 0


@pytest.mark.parametrize('field, value, message', [
    ('num_new_token', 107, 'num_new_token=107'),
    ('max_region_num', 150, 'max_region_num=150'),
    ('model_type', 'ddetr', "expected 'groma'"),
])
def test_unsupported_official_configs_are_refused(field, value, message):
    with pytest.raises(ConversionError, match=message):
        official_groma_cfg(dict(RELEASED_GROMA_CONFIG, **{field: value}), tokenizer={})


def test_an_unsupported_image_layer_is_refused():
    perceiver = dict(RELEASED_GROMA_CONFIG['perceiver_cfg'], vis_output_layer=-6)
    config = dict(RELEASED_GROMA_CONFIG, perceiver_cfg=perceiver)
    with pytest.raises(ConversionError, match='vis_output_layer'):
        official_groma_cfg(config, tokenizer={})
