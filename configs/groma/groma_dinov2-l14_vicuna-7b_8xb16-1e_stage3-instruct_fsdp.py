# Stage 3 with FSDP full shard (configs/_base_/strategies/fsdp_full-shard.py): weights, gradients and AdamW
# state sharded over the 8 GPUs; each decoder layer an FSDP unit, recomputed in the backward (so HF's own
# gradient checkpointing is off). FSDP's sharded fp32 weights are the master weights; bf16 autocast compute.
#   bash tools/dist_train.sh configs/groma/groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct_fsdp.py 8 \
#       --cfg-options load_from=work_dirs/<stage 2>/iter_N.pth
_base_ = [
    './groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct.py',
    '../_base_/strategies/fsdp_full-shard.py',
]
model = dict(llm=dict(gradient_checkpointing=False))
optim_wrapper = dict(cache_enabled=False)
