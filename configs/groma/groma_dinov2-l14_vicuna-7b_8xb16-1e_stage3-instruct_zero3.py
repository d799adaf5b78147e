# Stage 3 with DeepSpeed ZeRO-3 (configs/_base_/strategies/deepspeed_zero3.py): weights, gradients and
# AdamW state sharded over the 8 GPUs.
_base_ = ['./groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct_zero2.py']
strategy = dict(
    zero_optimization=dict(
        _delete_=True,
        stage=3,
        overlap_comm=True,
        contiguous_gradients=True,
        reduce_bucket_size=500_000_000,
        stage3_prefetch_bucket_size=500_000_000,
        stage3_param_persistence_threshold=1_000_000,
        # The model file of each checkpoint then holds the gathered weights too.
        stage3_gather_16bit_weights_on_model_save=True))
