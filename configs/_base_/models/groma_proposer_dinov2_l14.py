# Groma's region proposer (paper §3.1, §5.1): frozen DINOv2-L/14 at 448 px → last 4 layers →
# ViTDet simple pyramid (4 levels) → class-agnostic DINO-style Deformable DETR, 6+6 layers, 300 queries.
# Regions are then GromaProposer's default RegionPostProcessor: NMS 0.6, score ≥ 0.15, top 100.
num_levels = 4
model = dict(
    type='GromaProposer',
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
        arch='large',
        img_size=448,
        patch_size=14,
        layer_scale_init_value=1e-5,
        out_indices=[20, 21, 22, 23],
        out_type='featmap',
        final_norm=True,
        frozen_stages=24,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/dinov2_vitl14_448_mmpretrain.pth')),
    neck=dict(
        type='ViTSimplePyramid',
        in_channels=1024,
        out_channels=256,
        scale_factors=(2.0, 1.0, 0.5, 0.25),
        input_fusion='per_level'),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_levels=num_levels, dropout=0.0),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=2048, ffn_drop=0.0))),
    decoder=dict(
        num_layers=6,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0),
            cross_attn_cfg=dict(embed_dims=256, num_levels=num_levels, dropout=0.0),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=2048, ffn_drop=0.0)),
        post_norm_cfg=None),
    positional_encoding=dict(num_feats=128, normalize=True, offset=0.0, temperature=20),
    # One class: the sigmoid classifier is the binary objectness score.
    bbox_head=dict(
        type='mmdet.DINOHead',
        num_classes=1,
        sync_cls_avg_factor=True,
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=5.0),
        loss_iou=dict(type='mmdet.GIoULoss', loss_weight=2.0)),
    dn_cfg=dict(
        label_noise_scale=0.5,
        box_noise_scale=1.0,
        group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100)),
    train_cfg=dict(
        assigner=dict(
            type='mmdet.HungarianAssigner',
            match_costs=[
                dict(type='mmdet.FocalLossCost', weight=2.0),
                dict(type='mmdet.BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='mmdet.IoUCost', iou_mode='giou', weight=2.0)
            ])),
    # All 300 queries reach the post-processor, which applies the paper's filter.
    test_cfg=dict(max_per_img=300))
