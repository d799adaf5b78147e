# Stage 3, instruction finetuning (paper §3.3, Table 10): the LLM trains too; lr 1e-5, 1 epoch, batch 128.
# Start from the stage-2 checkpoint: --cfg-options load_from=work_dirs/<stage 2>/iter_N.pth
_base_ = ['./groma_dinov2-l14_vicuna-7b_8xb16-2e_stage2-align.py']

model = dict(llm=dict(freeze_llm=False))
train_dataloader = dict(dataset=dict(datasets={{_base_.instruction_sources}}))
max_epochs = 1
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=0.03, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0.03, end=max_epochs, convert_to_iter_based=True),
]
