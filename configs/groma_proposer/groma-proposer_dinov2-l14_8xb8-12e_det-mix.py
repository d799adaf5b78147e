# Stage 1 of Groma (paper §3.3, Table 10): the region proposer on COCO + Objects365 + OpenImages + V3Det
# + SA-1B boxes, class-agnostic, 8 GPUs × 8 images, 12 epochs. The DINOv2 encoder stays frozen.
_base_ = [
    '../_base_/models/groma_proposer_dinov2_l14.py',
    '../_base_/datasets/class_agnostic_detection.py',
    '../_base_/schedules/groma_stage1_12e.py',
    '../_base_/default_runtime.py',
]

# The mixed-source sampler is infinite: checkpoints and logs count iterations.
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval={{_base_.checkpoint_interval}}, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
