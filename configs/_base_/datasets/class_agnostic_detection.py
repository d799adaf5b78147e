# Stage-1 data (paper §3.3): boxes from several detection sources, categories dropped, mixed with
# per-source ratios. Every source is a COCO-format json (SA-1B: masks only is fine).
dataset_type = 'ClassAgnosticCocoDataset'
data_root = 'data/'
backend_args = None
image_size = (448, 448)

train_pipeline = [
    # A file that fails to read mid-run is logged and replaced, not fatal.
    dict(type='RobustLoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.RandomFlip', prob=0.5),
    # DETR-style multi-scale resize + random crop, then the fixed encoder resolution.
    dict(
        type='RandomApply',
        prob=0.5,
        transforms=[
            dict(type='mmdet.RandomChoiceResize', scales=[(400, 4200), (500, 4200), (600, 4200)], keep_ratio=True),
            dict(type='mmdet.RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                 allow_negative_crop=True),
        ]),
    dict(type='mmdet.Resize', scale=image_size, keep_ratio=False),
    dict(type='mmdet.PackDetInputs')
]
test_pipeline = [
    dict(type='mmdet.LoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.Resize', scale=image_size, keep_ratio=False),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    # `instances` lets CocoMetric build a class-agnostic ground truth without the source json.
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'))
]


def _source(name, ann_file, img_prefix):
    return dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        data_prefix=dict(img=img_prefix),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=train_pipeline,
        backend_args=backend_args)


train_sources = [
    _source('coco', 'coco/annotations/instances_train2017.json', 'coco/train2017/'),
    _source('objects365', 'objects365/annotations/zhiyuan_objv2_train.json', 'objects365/train/'),
    _source('openimages', 'openimages/annotations/openimages_v6_train_bbox_coco.json', 'openimages/train/'),
    _source('v3det', 'v3det/annotations/v3det_2023_v1_train.json', 'v3det/'),
    _source('sa1b', 'sa1b/annotations/sa1b_2m_glee_filtered.json', 'sa1b/images/'),
]
source_ratio = [2, 2, 1, 1, 2]

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='mmdet.MultiSourceSampler', batch_size=8, source_ratio=source_ratio),
    dataset=dict(type='ConcatDataset', datasets=train_sources))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='coco/annotations/instances_val2017.json',
        data_prefix=dict(img='coco/val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# Class-agnostic AP and AR. mmdet names its AR keys AR@100/300/1000 whatever proposal_nums holds, so
# proposal_nums must be exactly (100, 300, 1000) for the names to be true.
val_evaluator = dict(
    type='mmdet.CocoMetric', ann_file=None, metric=['bbox', 'proposal'], proposal_nums=(100, 300, 1000),
    format_only=False, backend_args=backend_args)
test_evaluator = val_evaluator
