# The embedded default: the synthetic grounding world (tools/make_synthetic_world.py) read by the real
# public-format readers. Every task of the paper's Table 1 has a source here.
data_root = 'data/synthetic_world/'
backend_args = None

mllm_pipeline = [
    dict(type='RobustLoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.Resize', scale=(112, 112), keep_ratio=False),  # the tiny model's image_size
    dict(type='PackGromaInputs'),
]
common = dict(data_root=data_root, data_prefix=dict(img='images/'), pipeline=mllm_pipeline)

rec_train = dict(type='RefCOCODataset', ann_file='refcoco/refs(unc).p', split='train', **common)
multi_grounding_train = dict(type='DetectionGroundingDataset', ann_file='annotations/instances_train.json', **common)
region_caption_train = dict(
    type='VGRegionCaptionDataset',
    ann_file='vg/region_descriptions_train.json',
    image_data_file='vg/image_data.json',
    data_root=data_root,
    data_prefix=dict(img=''),  # image_data.json's url gives 'images/<id>.jpg'
    pipeline=mllm_pipeline)
grounded_caption_train = dict(
    type='Flickr30kEntitiesDataset',
    ann_file='flickr30k/train.txt',
    sentences_dir='flickr30k/Sentences',
    annotations_dir='flickr30k/Annotations',
    **common)
caption_train = dict(type='ImageCaptionDataset', ann_file='sharegpt4v/share-captioner_train.json', **common)
chat_train = dict(type='LLaVAChatDataset', ann_file='llava/llava_instruct_train.json', **common)
groma_instruct_train = dict(type='GromaInstructDataset', ann_file='groma_instruct/groma_instruct_train.json', **common)

rec_val = dict(type='RefCOCODataset', ann_file='refcoco/refs(unc).p', split='val', test_mode=True, **common)
region_caption_val = dict(
    type='VGRegionCaptionDataset',
    ann_file='vg/region_descriptions_val.json',
    image_data_file='vg/image_data.json',
    data_root=data_root,
    data_prefix=dict(img=''),
    test_mode=True,
    pipeline=mllm_pipeline)

val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    drop_last=False,
    # One image's queries together, similar lengths together: less padding, one front end per image.
    sampler=dict(type='GroupedInferenceSampler'),
    dataset=rec_val)
test_dataloader = val_dataloader
val_evaluator = dict(type='RECMetric')
test_evaluator = val_evaluator
