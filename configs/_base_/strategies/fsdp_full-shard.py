# FSDP full shard through mmengine's FlexibleRunner (see groma_mm/engine/strategies.py): parameters, gradients
# and AdamW state are sharded over the ranks; every LLM decoder layer is its own FSDP unit and is
# recomputed in the backward (activation checkpointing), the rest of Groma lives in the root unit.
# Precision: FSDP keeps the fp32 weights (the master weights) and the forward runs under bf16 autocast;
# gradients are reduced in fp32. Checkpoints are one file written by rank 0 ('full').
runner_type = 'FlexibleRunner'
strategy = dict(
    type='groma_mm.GromaFSDPStrategy',
    wrap_layers=['LlamaDecoderLayer', 'Qwen2DecoderLayer'],
    activation_checkpointing=True,
    state_dict_cfg='full',
    model_wrapper=dict(sharding_strategy='FULL_SHARD', use_orig_params=True, limit_all_gathers=True))
# The stage config sets the optimizer wrapper; FSDP wants autocast without the weight-cast cache (it would keep
# a bf16 copy of every gathered layer until the forward ends):
#   optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16', cache_enabled=False, ...)
