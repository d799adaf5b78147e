# Tiny CPU variant of groma_dinov2-l14_vicuna-7b_8xb16_lvis-ground.py: the tiny random model on the tiny files
# that groma_mm.testing.benchmark_files writes in the official layouts (a plumbing check, not a score):
#   python -c "from groma_mm.testing.benchmark_files import write_benchmark_files as w; w('data/benchmarks_tiny')"
#   python tools/test.py configs/groma/benchmarks/groma_tiny_1xb4_lvis-ground.py TINY_CKPT
_base_ = ['../../_base_/models/groma_tiny.py', '../../_base_/default_runtime.py',
          '../../_base_/datasets/benchmarks_tiny.py']

model = dict(generation_cfg=dict(max_new_tokens=10))
test_dataloader = dict(
    dataset=dict(
        type='LVISGroundDataset',
        ann_file='groma_eval/lvis_test.json',
        data_prefix=dict(img='coco/'),
        test_mode=True))
test_evaluator = dict(type='LVISGroundMetric')
env_cfg = dict(dist_cfg=dict(backend='gloo'))
