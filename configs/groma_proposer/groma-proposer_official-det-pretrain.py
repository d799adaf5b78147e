# The released groma-det-pretrain proposer (official architecture), for evaluation and for re-training
# the official recipe. Convert the HF folder first:
#   python tools/model_converters/groma_official_to_mm.py checkpoints/groma-det-pretrain \
#       checkpoints/groma-det-pretrain_mm.pth
#   python tools/test.py configs/groma_proposer/groma-proposer_official-det-pretrain.py \
#       checkpoints/groma-det-pretrain_mm.pth
# Known input difference: the official processor resizes to 448×448 with PIL; here mmcv (cv2) resizes.
_base_ = [
    '../_base_/models/groma_proposer_official_dinov2_l14.py',
    '../_base_/datasets/class_agnostic_detection.py',
    '../_base_/schedules/groma_stage1_12e.py',
    '../_base_/default_runtime.py',
]
load_from = 'checkpoints/groma-det-pretrain_mm.pth'

# Stage-1 re-training: each image is scored by the objectness head of its source (SA-1B → sa1b, the
# rest → coco), so the samples carry `source`.
train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        prob=0.5,
        transforms=[
            dict(type='mmdet.RandomChoiceResize', scales=[(400, 4200), (500, 4200), (600, 4200)], keep_ratio=True),
            dict(type='mmdet.RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                 allow_negative_crop=True),
        ]),
    dict(type='mmdet.Resize', scale=(448, 448), keep_ratio=False),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
                    'source'))
]


def _source(name, ann_file, img_prefix):
    return dict(
        type='ClassAgnosticCocoDataset',
        source=name,
        data_root='data/',
        ann_file=ann_file,
        data_prefix=dict(img=img_prefix),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=train_pipeline)


train_dataloader = dict(
    dataset=dict(datasets=[
        _source('coco', 'coco/annotations/instances_train2017.json', 'coco/train2017/'),
        _source('objects365', 'objects365/annotations/zhiyuan_objv2_train.json', 'objects365/train/'),
        _source('openimages', 'openimages/annotations/openimages_v6_train_bbox_coco.json', 'openimages/train/'),
        _source('v3det', 'v3det/annotations/v3det_2023_v1_train.json', 'v3det/'),
        _source('sa1b', 'sa1b/annotations/sa1b_2m_glee_filtered.json', 'sa1b/images/'),
    ]))

# The released schedule: AdamW 2e-4 / wd 1e-4, gradient clip 1.0, 100 warm-up steps then cosine; the
# sampling offsets learn 10× slower (as the base schedule).
optim_wrapper = dict(clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end={{_base_.max_iters}}, eta_min=0.0),
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval={{_base_.checkpoint_interval}}, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
