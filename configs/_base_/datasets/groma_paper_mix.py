# The paper's stage-2/3 data (Table 1), each source in its public format under data/ (see README).
# GRIT-20m has no reader yet and is left out of the alignment mix.
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
llava_instruct = _src('LLaVAChatDataset', 'llava/llava_v1_5_mix665k_no_detail.json', '')
groma_instruct = _src('GromaInstructDataset', 'groma_instruct/groma_instruct.json', 'vg/')
flickr30k = _src('Flickr30kEntitiesDataset', 'flickr30k_entities/train.txt', 'flickr30k/flickr30k-images/',
                 sentences_dir='flickr30k_entities/Sentences', annotations_dir='flickr30k_entities/Annotations')
vg_region_caption = _src('VGRegionCaptionDataset', 'vg/region_descriptions.json', 'vg/',
                         image_data_file='vg/image_data.json')
refcocog_region_caption = _src('RefCOCOgRegionCaptionDataset', 'refcocog/refs(umd).p', 'coco/train2014/',
                               split='train')
refcoco = _src('RefCOCODataset', 'refcoco/refs(unc).p', 'coco/train2014/', split='train')
refcoco_plus = _src('RefCOCODataset', 'refcoco+/refs(unc).p', 'coco/train2014/', split='train')
refcocog = _src('RefCOCODataset', 'refcocog/refs(umd).p', 'coco/train2014/', split='train')
coco_grounding = _src('DetectionGroundingDataset', 'coco/annotations/instances_train2017.json', 'coco/train2017/')

alignment_sources = [sharegpt4v_pt, flickr30k, vg_region_caption, refcocog_region_caption, refcoco, refcoco_plus,
                     refcocog, coco_grounding]
instruction_sources = [flickr30k, vg_region_caption, refcocog_region_caption, refcoco, refcoco_plus, refcocog,
                       coco_grounding, groma_instruct, llava_instruct, sharegpt4v]

# REC benchmark: the eight splits of Table 2, scored per split by RECMetric.
rec_splits = [('refcoco', 'unc', 'val'), ('refcoco', 'unc', 'testA'), ('refcoco', 'unc', 'testB'),
              ('refcoco+', 'unc', 'val'), ('refcoco+', 'unc', 'testA'), ('refcoco+', 'unc', 'testB'),
              ('refcocog', 'umd', 'val'), ('refcocog', 'umd', 'test')]
test_dataloader = dict(
    batch_size=8,
    num_workers=4,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
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
