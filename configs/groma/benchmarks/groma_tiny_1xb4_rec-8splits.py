# Tiny CPU variant of groma_dinov2-l14_vicuna-7b_8xb16_rec-8splits.py: the tiny random model on the tiny files
# that groma_mm.testing.benchmark_files writes in the official layouts (a plumbing check, not a score):
#   python -c "from groma_mm.testing.benchmark_files import write_benchmark_files as w; w('data/benchmarks_tiny')"
#   python tools/test.py configs/groma/benchmarks/groma_tiny_1xb4_rec-8splits.py TINY_CKPT
_base_ = ['../../_base_/models/groma_tiny.py', '../../_base_/default_runtime.py',
          '../../_base_/datasets/benchmarks_tiny.py']

model = dict(generation_cfg=dict(max_new_tokens=3))
test_dataloader = dict(
    dataset=dict(
        type='RECBenchmarkDataset',
        layout='official',
        ann_dir='groma_eval/',
        data_prefix=dict(img='coco/train2017/')))
test_evaluator = dict(
    type='RECMetric',
    splits=['refcoco_val', 'refcoco_testA', 'refcoco_testB', 'refcoco+_val', 'refcoco+_testA', 'refcoco+_testB',
            'refcocog_val', 'refcocog_test'])
env_cfg = dict(dist_cfg=dict(backend='gloo'))
