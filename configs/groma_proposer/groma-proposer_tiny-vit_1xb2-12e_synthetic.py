# Stage 1 at toy scale: the tiny proposer trains on CPU in minutes.
# The data is the synthetic world's COCO files (tools/make_synthetic_world.py data/synthetic_world).
_base_ = [
    '../_base_/models/groma_proposer_tiny_vit.py',
    '../_base_/datasets/class_agnostic_detection.py',
    '../_base_/schedules/groma_stage1_12e.py',
    '../_base_/default_runtime.py',
]
image_size = (112, 112)
data_root = 'data/synthetic_world/'

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
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'),
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
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# The paper's optimizer (AdamW 2e-4, wd 1e-4, clip, slower offsets) over a small epoch-based schedule.
max_epochs = 12
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[10], gamma=0.1)]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_epochs))
log_processor = dict(window_size=5)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
