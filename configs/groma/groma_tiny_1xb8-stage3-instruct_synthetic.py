# Stage 3 (instruction finetuning): the LLM trains too, and the chat data join (paper Table 1).
# load_from is the stage-2 checkpoint (only what stage 2 trained; the rest comes from the sources).
_base_ = ['./groma_tiny_1xb8-stage2-align_synthetic.py']

model = dict(llm=dict(freeze_llm=False))
train_dataloader = dict(
    # caption, grounded caption, region caption, REC, multi-object grounding, LLaVA chat, Groma Instruct
    sampler=dict(ratios=[0.5, 0.5, 1, 1, 0.5, 0.5, 0.5]),
    dataset=dict(datasets=[
        {{_base_.caption_train}}, {{_base_.grounded_caption_train}}, {{_base_.region_caption_train}},
        {{_base_.rec_train}}, {{_base_.multi_grounding_train}}, {{_base_.chat_train}},
        {{_base_.groma_instruct_train}}
    ]))
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
