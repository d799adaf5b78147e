# LoRA fine-tuning of Groma on your own data, on one 24–48 GB GPU (README "Fine-tune on your own data
# with LoRA"). Starts from a full Groma checkpoint (one inference file: tools/model_converters/...).
#   python tools/validate_dataset.py data/my_data/train.json --img-dir data/my_data/images
#   python tools/train.py configs/groma/groma-lora_dinov2-l14_vicuna-7b_1xb4-3e_own-data.py
#   python tools/model_converters/groma_merge_lora.py configs/groma/groma-lora_... work_dirs/.../epoch_3.pth out.pth
# The LLM stays frozen in bf16 with LoRA adapters on every projection; the adapters, the region encoder and
# both projectors train in fp32 (master weights) under bf16 autocast. Memory: README "Scale training".
_base_ = [
    '../_base_/models/groma_dinov2-l14_vicuna-7b.py',
    '../_base_/default_runtime.py',
]
groma_checkpoint = 'checkpoints/groma_7b_full.pth'  # every weight, plain (non-LoRA) names
data_root = 'data/my_data/'

model = dict(
    # The Groma checkpoint holds the proposer too: no stage-1 file or DINOv2 weights needed.
    proposer_checkpoint=None,
    proposer=dict(backbone=dict(init_cfg=None)),
    llm=dict(
        freeze_llm=False,
        torch_dtype='bfloat16',
        trainable_dtype='float32',
        gradient_checkpointing=True,
        # The checkpoint's LLM already knows Groma's tokens: their rows stay as trained. Training them makes
        # the whole embedding / LM-head matrices trainable (+4 GB: too much for a 24 GB card).
        train_new_token_rows=False,
        lora=dict(r=64, lora_alpha=16, lora_dropout=0.05,
                  target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'])))
# Everything, the LLM included, starts from the Groma checkpoint (the LoRA model accepts its plain names);
# only the new adapters start as peft initialises them.
load_from = groma_checkpoint

# Your data in Groma Instruct format (groma_mm/datasets/readers/chat.py): conversations whose boxes are
# <ground_box>/<refer_box> placeholders with box_inds, boxes as [x, y, w, h] pixels.
mllm_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(448, 448), keep_ratio=False),
    dict(type='PackGromaInputs'),
]
batch_size = 4
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='LengthGroupedMixSampler', batch_size=batch_size),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='GromaInstructDataset', data_root=data_root, ann_file='train.json',
                 data_prefix=dict(img='images/'), pipeline=mllm_pipeline))

max_epochs = 3
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='SkipNonFiniteAutocastOptimWrapper',
    dtype='bfloat16',
    constructor='Fp32MasterOptimWrapperConstructor',
    accumulative_counts=4,  # 4 × 4 = 16 samples per step
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=0.03, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0.03, end=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2),
    visualization=dict(_delete_=True, type='mmdet.DetVisualizationHook', draw=False))
val_dataloader = None
val_evaluator = None
val_cfg = None
randomness = dict(seed=42)
