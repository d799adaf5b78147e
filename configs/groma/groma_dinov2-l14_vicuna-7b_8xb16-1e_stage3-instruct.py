# Stage 3, instruction finetuning (paper §3.3, Table 10): the LLM trains too; lr 1e-5, 1 epoch, batch 128
# (8 GPUs × 16) over the official mixture (857k samples per epoch in the paper; see tools/print_data_mix.py).
# Start from the stage-2 checkpoint: --cfg-options load_from=work_dirs/<stage 2>/iter_N.pth
#
# These are the stage's settings under plain DDP, which needs > 112 GB per GPU for a 7B LLM (fp32 weights,
# gradients and AdamW state unsharded). On 8×A100 run a sharded variant (memory table: README "Scale
# training"): *_fsdp.py (FSDP full shard), *_zero2.py / *_zero3.py (DeepSpeed).
_base_ = ['./groma_dinov2-l14_vicuna-7b_8xb16-2e_stage2-align.py']

# The whole LLM trains: fp32 master weights everywhere, bf16 autocast compute.
model = dict(llm=dict(freeze_llm=False, torch_dtype='float32'))
train_dataloader = dict(
    sampler=dict(ratios={{_base_.instruction_ratios}}),
    dataset=dict(datasets={{_base_.instruction_sources}}))
train_source_names = {{_base_.instruction_names}}
train_source_sizes = {{_base_.instruction_sizes}}
max_epochs = 1
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=0.03, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0.03, end=max_epochs, convert_to_iter_based=True),
]
