# The released groma-7b-finetune checkpoint (official architecture), for inference and REC evaluation.
#   python tools/model_converters/groma_official_to_mm.py checkpoints/groma-7b-finetune \
#       checkpoints/groma-7b-finetune_mm.pth --tokenizer-out checkpoints/groma-7b-finetune_tokenizer
#   python tools/infer.py configs/groma/groma_official_vicuna-7b_finetune.py checkpoints/groma-7b-finetune_mm.pth \
#       --image demo.jpg --prompt "What is <box0>?" --box 40 60 200 220 --device cuda
#   python tools/test.py configs/groma/groma_official_vicuna-7b_finetune.py checkpoints/groma-7b-finetune_mm.pth
# The test set is REC on the eight RefCOCO/+/g splits of Table 2 (refer layout under data/, as the paper
# configs), asked with the official evaluation's six instructions.
_base_ = [
    '../_base_/models/groma_official_vicuna-7b.py',
    '../_base_/datasets/groma_paper_mix.py',
    '../_base_/default_runtime.py',
]
checkpoint = 'checkpoints/groma-7b-finetune_mm.pth'
tokenizer_path = 'checkpoints/groma-7b-finetune_tokenizer'
load_from = checkpoint

# conv_llava of the official repository: the finetuning and evaluation template.
model = dict(tokenizer=dict(pretrained=tokenizer_path), prompt=dict(template='llava'))

# groma/data/datasets/refcoco_rec.py INSTRUCTIONS, the expression in <p>…</p>; the answer is "<roi><rK></roi>".
official_rec_instructions = dict(rec=[
    'Locate <p>{expression}</p> in the image.',
    'Can you spot <p>{expression}</p> in the photograph?',
    'Identify where <p>{expression}</p> is located in the picture.',
    'Please detect <p>{expression}</p> in the picture.',
    'Which region matches the description <p>{expression}</p>?',
    'Please identify the object that corresponds to <p>{expression}</p>.',
])
rec_data_root = 'data/'
rec_splits = [('refcoco', 'unc', 'val'), ('refcoco', 'unc', 'testA'), ('refcoco', 'unc', 'testB'),
              ('refcoco+', 'unc', 'val'), ('refcoco+', 'unc', 'testA'), ('refcoco+', 'unc', 'testB'),
              ('refcocog', 'umd', 'val'), ('refcocog', 'umd', 'test')]
rec_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(448, 448), keep_ratio=False),
    dict(type='PackGromaInputs'),
]
test_dataloader = dict(
    _delete_=True,
    batch_size=8,
    num_workers=4,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(type='RefCOCODataset', data_root=rec_data_root, ann_file=f'{name}/refs({by}).p',
                 data_prefix=dict(img='coco/train2014/'), split=split, test_mode=True, pipeline=rec_pipeline,
                 templates=official_rec_instructions) for name, by, split in rec_splits
        ]))
test_evaluator = dict(_delete_=True, type='RECMetric')
test_cfg = dict(type='TestLoop')
val_dataloader = None
val_evaluator = None
val_cfg = None
default_hooks = dict(visualization=dict(_delete_=True, type='mmdet.DetVisualizationHook', draw=False))
