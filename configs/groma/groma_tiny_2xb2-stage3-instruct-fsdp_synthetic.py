# The tiny stage 3 (groma_tiny_1xb8-stage3-instruct_synthetic.py) sharded with FSDP, as the paper-scale
# *_stage3-instruct_fsdp.py config does: runs on 2 CPU processes (gloo) as well as on GPUs.
#   bash tools/dist_train.sh configs/groma/groma_tiny_2xb2-stage3-instruct-fsdp_synthetic.py 2
_base_ = [
    './groma_tiny_1xb8-stage3-instruct_synthetic.py',
    '../_base_/strategies/fsdp_full-shard.py',
]
batch_size = 2
train_dataloader = dict(batch_size=batch_size, sampler=dict(batch_size=batch_size))
optim_wrapper = dict(type='SkipNonFiniteAutocastOptimWrapper', dtype='bfloat16', cache_enabled=False,
                     constructor='Fp32MasterOptimWrapperConstructor')
