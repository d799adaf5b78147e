# DeepSpeed ZeRO-2 through mmengine's FlexibleRunner (see groma_mm/engine/strategies.py): gradients and
# AdamW state are sharded over the ranks, the weights are replicated. Precision: the weights stay fp32 (the
# master weights) and DeepSpeed runs the forward under bf16 autocast ('torch_autocast'), reducing the
# gradients of Linear/Conv layers in bf16. Checkpoints are DeepSpeed folders (one file per rank);
# tools/model_converters/groma_sharded_to_full.py turns one into an inference file.
# The stage config sets optim_wrapper = dict(type='DeepSpeedOptimWrapper', optimizer=...).
runner_type = 'FlexibleRunner'
strategy = dict(
    type='groma_mm.GromaDeepSpeedStrategy',
    zero_optimization=dict(stage=2, overlap_comm=True, contiguous_gradients=True, reduce_bucket_size=500_000_000,
                           allgather_bucket_size=500_000_000),
    torch_autocast=dict(enabled=True, dtype='bfloat16'),
    gradient_clipping=1.0,
    # Groma's checkpoints hold what trains (the frozen encoder/proposer come from their sources).
    exclude_frozen_parameters=True)
