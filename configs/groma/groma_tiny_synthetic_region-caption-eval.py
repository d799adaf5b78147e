# Region captioning on the synthetic world's held-out Visual-Genome-style regions (METEOR, CIDEr, …).
_base_ = ['./groma_tiny_1xb8-stage3-instruct_synthetic.py']

test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='VGRegionCaptionDataset',
        ann_file='vg/region_descriptions_val.json',
        image_data_file='vg/image_data.json',
        data_root={{_base_.data_root}},
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline={{_base_.mllm_pipeline}}))
test_evaluator = dict(_delete_=True, type='RegionCaptionMetric')
