# Table 3: LVIS-Ground average recall (AS-MANY; AR, AR@0.5, AR@0.75, AR s/m/l, averaged per category as
# lvis-api's LVISEval), one query per (image, category): "Locate all <p>{class}</p> in this image."
#   bash tools/dist_test.sh configs/groma/benchmarks/groma_dinov2-l14_vicuna-7b_8xb16_lvis-ground.py CKPT 8
# The model under test is the one base below. For the released checkpoints, swap it for
#   _base_ = ['../groma_official_vicuna-7b_finetune.py']
_base_ = ['../groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct.py']

data_root = 'data/'
# The answer is "<roi><rA><rB>…</roi>": 10 tokens, as the official evaluation decodes, name at most 9 boxes.
model = dict(generation_cfg=dict(max_new_tokens=10))
test_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(448, 448), keep_ratio=False),
    dict(type='PackGromaInputs'),
]
test_dataloader = dict(
    _delete_=True,
    batch_size=16,
    num_workers=4,
    drop_last=False,
    # The queries of one image (one per category in it) go into one batch, which encodes the image once.
    sampler=dict(type='GroupedInferenceSampler'),
    dataset=dict(
        type='LVISGroundDataset',
        # The official release's lvis_test.json, or ours from lvis_v1_val.json (OUT = groma_eval/lvis_ground.json):
        #   python tools/dataset_converters/build_lvis_ground.py data/lvis/lvis_v1_val.json data/OUT
        ann_file='groma_eval/lvis_test.json',
        data_root=data_root,
        data_prefix=dict(img='coco/'),  # LVIS images are named train2017/… and val2017/…
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(_delete_=True, type='LVISGroundMetric')
test_cfg = dict(type='TestLoop')
