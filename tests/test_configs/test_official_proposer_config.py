"""The released-proposer config is the model the converter derives from the released HF config."""
import os.path as osp

from mmengine.config import Config

from groma_mm.converters.official_proposer import official_proposer_cfg
from groma_mm.testing.paths import REPO_ROOT

# config.json of groma-det-pretrain as the official scripts/det_pretrain.sh writes it: facebook/dinov2-large,
# DeformableDetrConfig defaults plus the script's arguments (only the fields the converter reads).
RELEASED_HF_CONFIG = dict(
    model_type='ddetr',
    vis_output_layer=-1,
    vis_encoder_cfg=dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4, patch_size=14,
                         image_size=518, layer_norm_eps=1e-6, layerscale_value=1.0, hidden_act='gelu',
                         qkv_bias=True, use_swiglu_ffn=False),
    ddetr_cfg=dict(d_model=256, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                   decoder_attention_heads=8, encoder_ffn_dim=1024, decoder_ffn_dim=1024, encoder_n_points=4,
                   decoder_n_points=4, num_feature_levels=1, num_queries=300, two_stage_num_proposals=300,
                   two_stage=True, with_box_refine=True, activation_function='relu', position_embedding_type='sine',
                   dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, id2label={'0': 'LABEL_0'}))


def test_released_proposer_config_matches_the_converter_config():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/groma_proposer/groma-proposer_official-det-pretrain.py'))
    ours = cfg.model.to_dict()
    assert ours.pop('post_processor') == dict(type='RegionPostProcessor', iou_thr=0.6, score_thr=0.15,
                                              max_regions=100)
    assert ours == Config(dict(model=official_proposer_cfg(RELEASED_HF_CONFIG, img_size=448))).model.to_dict()
