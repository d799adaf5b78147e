# What the tiny CPU benchmark configs share: the tiny files groma_mm.testing.benchmark_files writes in the
# official layouts, read at the tiny model's input size, batched by image; each config names its dataset.
data_root = 'data/benchmarks_tiny/'
test_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(112, 112), keep_ratio=False),  # the tiny model's input size
    dict(type='PackGromaInputs'),
]
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='GroupedInferenceSampler'),
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_cfg = dict(type='TestLoop')
