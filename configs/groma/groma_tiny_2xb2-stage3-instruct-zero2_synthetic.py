# The tiny stage 3 (groma_tiny_1xb8-stage3-instruct_synthetic.py) under DeepSpeed ZeRO-2, as the paper-scale
# *_stage3-instruct_zero2.py config does: runs on 2 CPU processes (gloo) as well as on GPUs.
#   bash tools/dist_train.sh configs/groma/groma_tiny_2xb2-stage3-instruct-zero2_synthetic.py 2
_base_ = [
    './groma_tiny_1xb8-stage3-instruct_synthetic.py',
    '../_base_/strategies/deepspeed_zero2.py',
]
batch_size = 2
train_dataloader = dict(batch_size=batch_size, sampler=dict(batch_size=batch_size))
optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper', optimizer=dict(type='AdamW', lr=1e-3,
                                                                                  weight_decay=0.0))
