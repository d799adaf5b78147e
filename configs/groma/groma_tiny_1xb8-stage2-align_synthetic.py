# Stage 2 (alignment pretraining, paper §3.3) at toy scale on the synthetic world: the tiny proposer
# from stage 1 and the LLM stay frozen; the region encoder, the projectors and Groma's new token rows
# train. The main job passes stage 0's LLM (model.llm.pretrained=DIR model.llm.config=None
# model.tokenizer.pretrained=DIR); without it the LLM is random. The toy is small, so the learning rate
# is higher than the paper's 1e-4.
_base_ = [
    '../_base_/models/groma_tiny.py',
    '../_base_/datasets/groma_synthetic_world.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/synthetic_world/'
model = dict(
    # What tools/run_main_job.py writes with its defaults: the stage-1 proposer (12 epochs) and a tokenizer
    # over the world's words.
    proposer_checkpoint='work_dirs/main_job/stage1_proposer/epoch_12.pth',
    tokenizer=dict(_delete_=True, type='HFTokenizer', pretrained=data_root + 'tokenizer'),
    llm=dict(freeze_llm=True),
    # The proposer is frozen here and in stage 3: an image's proposals are kept after its first visit (every
    # image of the world fits), which takes the proposer out of more than half of each training step.
    proposal_cache=4096,
    generation_cfg=dict(max_new_tokens=24))

batch_size = 8
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    # REC carries the alignment: with a frozen LLM that points, its <rK> answer says which region token
    # should read as the expression (caption-heavy mixes stayed at chance; REC-heavy ones reach 58 % held-out
    # after 1 epoch and 76 % after 3 with a stage-0 LLM that points well: docs/main_job.md). The other sources
    # keep a few samples per epoch.
    sampler=dict(type='LengthGroupedMixSampler', batch_size=batch_size, ratios=[0.01, 0.01, 0.01, 1.0, 0.01]),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            {{_base_.caption_train}}, {{_base_.grounded_caption_train}}, {{_base_.region_caption_train}},
            {{_base_.rec_train}}, {{_base_.multi_grounding_train}}
        ]))

max_epochs = 2
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
# Held-out evaluation is a separate tools/test.py run (REC, region captions); none during training.
val_dataloader = None
val_evaluator = None
val_cfg = None
test_cfg = dict(type='TestLoop')
# The region encoder's inner layers (its pyramid, RoI projections, box geometry and norm) learn at a tenth of
# the rate of its projector: full-rate steps there move the features the projector reads and throw the
# alignment away (with the best stage-0 LLM: held-out REC 39 % after stage 2 at full rate, 79 % at a
# tenth; docs/main_job.md). Stage 3 inherits this. 3e-3: with a stage-0 LLM that reads region slots of any norm
# (pretrain_toy_llm.py --slot-scale) alignment needs the larger steps (held-out REC 36 % at 1e-3, 79 % at 3e-3).
optim_wrapper = dict(type='SkipNonFiniteOptimWrapper', optimizer=dict(type='AdamW', lr=3e-3, weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0),
                     paramwise_cfg=dict(custom_keys={f'region_encoder.{name}': dict(lr_mult=0.1)
                                                     for name in ('pyramid', 'level_projections', 'geometry', 'norm')}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs),
                     visualization=dict(_delete_=True, type='mmdet.DetVisualizationHook', draw=False))
log_processor = dict(window_size=10)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# Stages 2 and 3 build the same random toy LLM (stage 2 freezes it; its checkpoint does not hold it).
randomness = dict(seed=0)
