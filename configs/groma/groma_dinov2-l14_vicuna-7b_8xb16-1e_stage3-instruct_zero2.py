# Stage 3 with DeepSpeed ZeRO-2 (configs/_base_/strategies/deepspeed_zero2.py): gradients and AdamW state
# sharded, fp32 weights replicated (needs the 80 GB A100; ZeRO-3 or FSDP fit 40 GB). HF gradient
# checkpointing stays on.
_base_ = [
    './groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct.py',
    '../_base_/strategies/deepspeed_zero2.py',
]
# DeepSpeed runs the optimizer step, the gradient clipping (strategy.gradient_clipping) and the autocast.
optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper', optimizer=dict(type='AdamW', lr=1e-5,
                                                                                  weight_decay=0.0))
