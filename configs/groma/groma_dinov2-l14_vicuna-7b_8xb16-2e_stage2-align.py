# Stage 2, alignment pretraining (paper §3.3, Table 10): the stage-1 proposer and Vicuna-7B stay frozen;
# the region encoder, both projectors and Groma's new token rows train. AdamW lr 1e-4, no weight decay,
# batch 128 (8 GPUs × 16), 2 epochs over the official mixture (3.2M samples per epoch in the paper; see
# tools/print_data_mix.py for this mixture's count). Plain DDP: nothing here needs sharding.
# Precision: the frozen LLM is held in bf16; everything that trains is fp32 (master weights, including the
# embedding / LM-head matrices the new token rows live in) and the forward runs under bf16 autocast.
_base_ = [
    '../_base_/models/groma_dinov2-l14_vicuna-7b.py',
    '../_base_/datasets/groma_paper_mix.py',
    '../_base_/default_runtime.py',
]
model = dict(llm=dict(torch_dtype='bfloat16', trainable_dtype='float32'))
batch_size = 16
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='LengthGroupedMixSampler', batch_size=batch_size, ratios={{_base_.alignment_ratios}}),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ConcatDataset', datasets={{_base_.alignment_sources}}))
# For tools/print_data_mix.py: the sources' names and public sizes (used where an annotation file is absent).
train_source_names = {{_base_.alignment_names}}
train_source_sizes = {{_base_.alignment_sizes}}

max_epochs = 2
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='SkipNonFiniteAutocastOptimWrapper',
    dtype='bfloat16',
    # Refuses, at start-up, an optimizer over bf16 weights (their lr-sized updates would round away).
    constructor='Fp32MasterOptimWrapperConstructor',
    # No decay: it would shrink the frozen rows of the embedding matrix the new tokens live in.
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=0.03, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0.03, end=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=2),
    visualization=dict(_delete_=True, type='mmdet.DetVisualizationHook', draw=False))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=128)
# A batch whose images get no region (no proposal passes the filter, no box given) leaves the region encoder
# without gradients; DDP must not wait for them.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', broadcast_buffers=False, find_unused_parameters=True)
randomness = dict(seed=42)
