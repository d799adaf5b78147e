# The tiny stage 3 under DeepSpeed ZeRO-3 (weights sharded too), as *_stage3-instruct_zero3.py.
_base_ = ['./groma_tiny_2xb2-stage3-instruct-zero2_synthetic.py']
strategy = dict(zero_optimization=dict(_delete_=True, stage=3, stage3_gather_16bit_weights_on_model_save=True))
