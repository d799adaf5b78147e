# Paper Table 10, detection pretraining: AdamW lr 2e-4, wd 1e-4, batch 64 (8 GPUs × 8), 12 epochs of
# 5.7M samples. The mixed-source sampler is infinite, so epochs are counted in iterations.
samples_per_epoch = 5_700_000
batch_size = 64
max_epochs = 12
iters_per_epoch = samples_per_epoch // batch_size
max_iters = max_epochs * iters_per_epoch
checkpoint_interval = iters_per_epoch // 4

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=iters_per_epoch)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='SkipNonFiniteOptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    # Deformable DETR's rule: offsets and reference points learn 10× slower.
    paramwise_cfg=dict(custom_keys={
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[11 * iters_per_epoch], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
