# Tiny CPU variant of groma_dinov2-l14_vicuna-7b_8xb8_refcocog-cap.py: the tiny random model on the tiny files
# that groma_mm.testing.benchmark_files writes in the official layouts (a plumbing check, not a score):
#   python -c "from groma_mm.testing.benchmark_files import write_benchmark_files as w; w('data/benchmarks_tiny')"
#   python tools/test.py configs/groma/benchmarks/groma_tiny_1xb4_refcocog-cap.py TINY_CKPT
_base_ = ['../../_base_/models/groma_tiny.py', '../../_base_/default_runtime.py',
          '../../_base_/datasets/benchmarks_tiny.py']

model = dict(generation_cfg=dict(max_new_tokens=8))
test_dataloader = dict(
    dataset=dict(
        type='RegionCaptionCocoDataset',
        ann_file='groma_eval/refcocog_cap_val.json',
        instruction_task='detailed_region_caption',
        data_prefix=dict(img='coco/train2017/'),
        test_mode=True))
test_evaluator = dict(type='RegionCaptionMetric')
env_cfg = dict(dist_cfg=dict(backend='gloo'))
