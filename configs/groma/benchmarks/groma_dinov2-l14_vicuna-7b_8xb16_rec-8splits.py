# Table 2: REC accuracy (IoU > 0.5, first box of the answer) on the eight RefCOCO/+/g test splits, with mIoU
# and the missing-answer rate per split.
#   bash tools/dist_test.sh configs/groma/benchmarks/groma_dinov2-l14_vicuna-7b_8xb16_rec-8splits.py CKPT 8
# The model under test is the one base below. For the released checkpoints, swap it for
#   _base_ = ['../groma_official_vicuna-7b_finetune.py']
_base_ = ['../groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct.py']

data_root = 'data/'
# The answer is the box alone, "<roi><rK></roi>": 3 tokens, as the official evaluation decodes.
model = dict(generation_cfg=dict(max_new_tokens=3))
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
    # The ≈7 expressions of an image go into one batch, which encodes the image once.
    sampler=dict(type='GroupedInferenceSampler'),
    dataset=dict(
        type='RECBenchmarkDataset',
        # 'official': groma_eval/refcoco_val.json, … (the official release's REC files, images named as in
        # train2017); 'mdetr': final_refcoco_val.json, …; 'refer': refcoco/refs(unc).p, … (images from
        # train2014: set data_prefix=dict(img='coco/train2014/')).
        layout='official',
        ann_dir='groma_eval/',
        # The questions come from our 'rec' pool (Table 9 first). With the official base, pass its
        # official_rec_instructions as `templates` to ask the official evaluation's six instructions.
        data_root=data_root,
        data_prefix=dict(img='coco/train2017/'),
        pipeline=test_pipeline))
test_evaluator = dict(
    _delete_=True,
    type='RECMetric',
    splits=['refcoco_val', 'refcoco_testA', 'refcoco_testB', 'refcoco+_val', 'refcoco+_testA', 'refcoco+_testB',
            'refcocog_val', 'refcocog_test'])
test_cfg = dict(type='TestLoop')
