# A tiny proposer that trains on CPU in seconds: a 4-layer ViT at 112 px and a 1+2-layer DETR.
# The data is any small COCO-format set; tests and the embedded demo generate one under data/tiny_coco/.
_base_ = [
    '../_base_/models/groma_proposer_dinov2_l14.py',
    '../_base_/datasets/class_agnostic_detection.py',
    '../_base_/default_runtime.py',
]
image_size = (112, 112)
num_levels = 3  # 8×8, 4×4, 2×2: a 16×16 level would cost 3× the encoder time on CPU
data_root = 'data/tiny_coco/'

model = dict(
    num_queries=30,
    num_feature_levels=num_levels,
    backbone=dict(
        _delete_=True,
        type='FreezableVisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=128),
        img_size=image_size[0],
        patch_size=14,
        layer_scale_init_value=1e-5,
        out_indices=[1, 2, 3],
        out_type='featmap',
        final_norm=True,
        # Random init cannot stay frozen; the real configs freeze the pretrained encoder.
        frozen_stages=0),
    neck=dict(in_channels=64, out_channels=256, scale_factors=(1.0, 0.5, 0.25)),
    encoder=dict(
        num_layers=1,
        layer_cfg=dict(self_attn_cfg=dict(num_levels=num_levels), ffn_cfg=dict(feedforward_channels=256))),
    decoder=dict(
        num_layers=2,
        layer_cfg=dict(cross_attn_cfg=dict(num_levels=num_levels), ffn_cfg=dict(feedforward_channels=256))),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=10)),
    test_cfg=dict(max_per_img=30))

train_pipeline = [
    # A file that fails to read mid-run is logged and replaced, not fatal.
    dict(type='RobustLoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.Resize', scale=image_size, keep_ratio=False),
    dict(type='mmdet.PackDetInputs')
]
test_pipeline = [
    dict(type='mmdet.LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=image_size, keep_ratio=False),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'))
]
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='ClassAgnosticCocoDataset',
        data_root=data_root,
        ann_file='train/annotations.json',
        data_prefix=dict(img='train/images/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ClassAgnosticCocoDataset',
        data_root=data_root,
        ann_file='val/annotations.json',
        data_prefix=dict(img='val/images/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 20
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
param_scheduler = []
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_epochs))
log_processor = dict(window_size=5)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
