# Table 4: Visual Genome region captions (METEOR, CIDEr), asked for a short description ("What is <region>?").
#   bash tools/dist_test.sh configs/groma/benchmarks/groma_dinov2-l14_vicuna-7b_8xb8_vg-cap.py CKPT 8
# Needs Java (METEOR and the PTB tokenizer). The model under test is the one base below. For the released
# checkpoints, swap it for
#   _base_ = ['../groma_official_vicuna-7b_finetune.py']
_base_ = ['../groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct.py']

data_root = 'data/'
model = dict(generation_cfg=dict(max_new_tokens=100))  # as the official evaluation
test_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(448, 448), keep_ratio=False),
    dict(type='PackGromaInputs'),
]
test_dataloader = dict(
    _delete_=True,
    batch_size=8,
    num_workers=4,
    drop_last=False,
    sampler=dict(type='GroupedInferenceSampler'),
    dataset=dict(
        type='RegionCaptionCocoDataset',
        ann_file='groma_eval/vg_test.json',  # the official release's file: one region per entry
        instruction_task='region_caption',
        data_root=data_root,
        data_prefix=dict(img='vg/'),
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(_delete_=True, type='RegionCaptionMetric')
test_cfg = dict(type='TestLoop')
