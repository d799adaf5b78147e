# The region proposer of the released Groma checkpoints (groma-det-pretrain, and the proposer inside
# groma-7b-pretrain / -finetune), in groma_mm's official-architecture mode. Weights come from the official
# HF folder converted by tools/model_converters/groma_official_to_mm.py; nothing here is pretrained-init.
#
# Values (official scripts/det_pretrain.sh + HF DeformableDetrConfig defaults, facebook/dinov2-large):
#   DINOv2-L/14 at 448 px (position table 37×37 resized to 32×32 the transformers-4.32 way, by the converter),
#   mean of its last 4 blocks before the final LayerNorm → Conv1×1 + LayerNorm, ONE feature level
#   (--num_feature_levels 1 in the released training script; the official code also has a 4-level variant:
#   scale_factors=(4.0, 2.0, 1.0, 0.5) and num_levels=4 below), d_model 256, 6 + 6 layers, 8 heads,
#   4 points, FFN 1024, dropout 0.1, 300 queries, two-stage with box refinement (references fixed),
#   two objectness heads fused as sigmoid(coco)^0.4 · sigmoid(sa1b)^0.6.
# groma_mm.converters.official_proposer.official_proposer_cfg(config.json) gives this same dict for a given
# folder (tests/test_configs checks that they agree).
num_levels = 1
d_model = 256
dropout = 0.1

ffn_cfg = dict(embed_dims=d_model, feedforward_channels=1024, ffn_drop=0.0,
               dropout_layer=dict(type='Dropout', drop_prob=dropout), act_cfg=dict(type='ReLU', inplace=True))

model = dict(
    type='OfficialGromaProposer',
    num_queries=300,
    with_box_refine=True,
    as_two_stage=True,
    num_feature_levels=num_levels,
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='FreezableVisionTransformer',
        arch=dict(embed_dims=1024, num_layers=24, num_heads=16, feedforward_channels=4096),
        img_size=448,
        patch_size=14,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        layer_scale_init_value=1.0,
        # HF hidden_states[-4:] = blocks 21-24, taken before the final LayerNorm (which is never used).
        out_indices=[20, 21, 22, 23],
        out_type='featmap',
        final_norm=False,
        frozen_stages=24),
    neck=dict(type='LayerMeanNeck', in_channels=1024, out_channels=d_model, scale_factors=(1.0, ), norm_eps=1e-6),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=d_model, num_heads=8, num_levels=num_levels, num_points=4, dropout=dropout),
            ffn_cfg=ffn_cfg)),
    decoder=dict(
        num_layers=6,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=d_model, num_heads=8, attn_drop=0.0, proj_drop=dropout),
            cross_attn_cfg=dict(embed_dims=d_model, num_heads=8, num_levels=num_levels, num_points=4, dropout=dropout),
            ffn_cfg=ffn_cfg),
        post_norm_cfg=None),
    # HF's sine positions: (cumsum - 0.5) / (last + 1e-6) · 2π, temperature 10000.
    positional_encoding=dict(num_feats=d_model // 2, normalize=True, offset=-0.5, temperature=10000),
    bbox_head=dict(
        type='DualObjectnessHead',
        num_classes=1,
        embed_dims=d_model,
        reg_hidden_dims=256,
        sync_cls_avg_factor=True,
        # Official training: focal α 0.25 and loss weights 2 / 5 / 2, matching costs 2 / 5 / 2.
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=5.0),
        loss_iou=dict(type='mmdet.GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='mmdet.HungarianAssigner',
            match_costs=[
                dict(type='mmdet.FocalLossCost', weight=2.0),
                dict(type='mmdet.BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='mmdet.IoUCost', iou_mode='giou', weight=2.0)
            ])),
    # Every query reaches the post-processor (as the official GromaModel: NMS 0.6, score > 0.15, top 100).
    test_cfg=dict(max_per_img=300),
    post_processor=dict(type='RegionPostProcessor', iou_thr=0.6, score_thr=0.15, max_regions=100))
