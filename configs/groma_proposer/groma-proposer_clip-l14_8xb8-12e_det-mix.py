# Table 6 ablation: the same proposer on a CLIP ViT-L/14 encoder instead of DINOv2 (weights converted
# to mmpretrain's layout, e.g. with mmpretrain's tools/model_converters/openai-clip_to_mmpretrain-clip.py).
_base_ = './groma-proposer_dinov2-l14_8xb8-12e_det-mix.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='FreezableVisionTransformer',
        arch='large',
        img_size=448,
        patch_size=14,
        pre_norm=True,
        out_indices=[20, 21, 22, 23],
        out_type='featmap',
        final_norm=True,
        frozen_stages=24,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/clip_vitl14_448_mmpretrain.pth')))
