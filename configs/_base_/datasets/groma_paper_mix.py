# The paper's stage-2/3 data (Table 1), each source in its public format under data/ (see README), mixed with
# the official per-source ratios. Print a config's mixture without loading images:
#   python tools/print_data_mix.py CONFIG
data_root = 'data/'
backend_args = None

mllm_pipeline = [
    dict(type='RobustLoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.Resize', scale=(448, 448), keep_ratio=False),
    dict(type='PackGromaInputs'),
]


def _src(type, ann_file, img, **kwargs):
    return dict(type=type, data_root=data_root, ann_file=ann_file, data_prefix=dict(img=img), pipeline=mllm_pipeline,
                **kwargs)


sharegpt4v_pt = _src('ImageCaptionDataset', 'sharegpt4v/share-captioner_coco_lcs_sam_1246k_1107.json', '')
sharegpt4v = _src('LLaVAChatDataset', 'sharegpt4v/sharegpt4v_instruct_gpt4-vision_cap100k.json', '')
# LLaVA-Instruct-150K's conversation and complex-reasoning parts (the official llava_conversation_reasoning.json).
llava_conversation = _src('LLaVAChatDataset', 'llava/conversation_58k.json', 'coco/train2017/')
llava_reasoning = _src('LLaVAChatDataset', 'llava/complex_reasoning_77k.json', 'coco/train2017/')
groma_instruct = _src('GromaInstructDataset', 'groma_instruct/groma_instruct.json', 'vg/')
flickr30k = _src('Flickr30kEntitiesDataset', 'flickr30k_entities/train.txt', 'flickr30k/flickr30k-images/',
                 sentences_dir='flickr30k_entities/Sentences', annotations_dir='flickr30k_entities/Annotations')
# VG regions of the DenseCap/GRiT train split only: the VG region-caption benchmark tests on its test split.
_vg = dict(image_data_file='vg/image_data.json', image_ids_file='vg/densecap_splits.json', image_ids_key='train')
vg_region_caption = _src('VGRegionCaptionDataset', 'vg/region_descriptions.json', 'vg/', **_vg)
# Stage 3 asks up to 10 regions of an image in one conversation, once per image (official MultiRoundsVG).
vg_multi_round = _src('VGRegionCaptionDataset', 'vg/region_descriptions.json', 'vg/', regions_per_sample=10,
                      dedup_iou=0.6, samples_per_image=1, **_vg)
refcocog_region_caption = _src('RefCOCOgRegionCaptionDataset', 'refcocog/refs(umd).p', 'coco/train2014/',
                               split='train')
refcoco = _src('RefCOCODataset', 'refcoco/refs(unc).p', 'coco/train2014/', split='train')
refcoco_plus = _src('RefCOCODataset', 'refcoco+/refs(unc).p', 'coco/train2014/', split='train')
refcocog = _src('RefCOCODataset', 'refcocog/refs(umd).p', 'coco/train2014/', split='train')
# One category per image, as the official COCO grounding data asks.
coco_grounding = _src('DetectionGroundingDataset', 'coco/annotations/instances_train2017.json', 'coco/train2017/',
                      categories_per_image=1)
grit = _src('GRITDataset', 'grit/grit-20m.jsonl', 'grit/images/')

# The mixtures, source by source as the official groma/data/configs/vl_pretrain.py and vl_finetune.py set
# them: (name, dataset, ratio = share of the source used per epoch, size of the public source as these
# readers count it). The sizes only feed tools/print_data_mix.py when the annotation files are absent;
# "~" marks estimates (the others are the datasets' published counts).
alignment_mix = [
    ('ShareGPT-4V-PT', sharegpt4v_pt, 1.0, 1_246_901),
    ('RefCOCO', refcoco, 1.0, 120_624),
    ('RefCOCO+', refcoco_plus, 1.0, 120_191),
    ('RefCOCOg', refcocog, 1.0, 80_512),
    ('Flickr30k Entities', flickr30k, 1.0, 148_915),
    ('VG region captions', vg_region_caption, 0.2, 3_870_000),  # ~ 50 regions/image x 77,398 train images
    ('GRIT-20m', grit, 0.1, 20_500_000),  # ~; the official run used a filtered 10M-record file
    ('RefCOCOg region captions', refcocog_region_caption, 1.0, 80_512),
    ('COCO grounding', coco_grounding, 1.0, 117_266),
]
instruction_mix = [
    ('RefCOCO', refcoco, 1.0, 120_624),
    ('RefCOCO+', refcoco_plus, 1.0, 120_191),
    ('RefCOCOg', refcocog, 1.0, 80_512),
    ('Flickr30k Entities', flickr30k, 1.0, 148_915),
    ('LLaVA-Instruct conversation', llava_conversation, 1.0, 56_681),
    ('LLaVA-Instruct complex reasoning', llava_reasoning, 1.0, 76_643),
    ('ShareGPT-4V', sharegpt4v, 0.23, 102_025),
    ('VG multi-round region captions', vg_multi_round, 1.0, 77_398),  # one per train image
    ('RefCOCOg region captions', refcocog_region_caption, 1.0, 80_512),
    ('COCO grounding', coco_grounding, 0.5, 117_266),
    ('Groma Instruct', groma_instruct, 1.0, 30_000),
]
alignment_names = [m[0] for m in alignment_mix]
alignment_sources = [m[1] for m in alignment_mix]
alignment_ratios = [m[2] for m in alignment_mix]
alignment_sizes = [m[3] for m in alignment_mix]
instruction_names = [m[0] for m in instruction_mix]
instruction_sources = [m[1] for m in instruction_mix]
instruction_ratios = [m[2] for m in instruction_mix]
instruction_sizes = [m[3] for m in instruction_mix]

# REC benchmark: the eight splits of Table 2, scored per split by RECMetric.
rec_splits = [('refcoco', 'unc', 'val'), ('refcoco', 'unc', 'testA'), ('refcoco', 'unc', 'testB'),
              ('refcoco+', 'unc', 'val'), ('refcoco+', 'unc', 'testA'), ('refcoco+', 'unc', 'testB'),
              ('refcocog', 'umd', 'val'), ('refcocog', 'umd', 'test')]
test_dataloader = dict(
    batch_size=8,
    num_workers=4,
    drop_last=False,
    # One image's expressions in one batch (its front end runs once), similar lengths together.
    sampler=dict(type='GroupedInferenceSampler'),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            _src('RefCOCODataset', f'{name}/refs({by}).p', 'coco/train2014/', split=split, test_mode=True)
            for name, by, split in rec_splits
        ]))
test_evaluator = dict(type='RECMetric')
val_dataloader = None
val_evaluator = None
val_cfg = None
