# A tiny Groma that runs on CPU: 4-layer ViT at 112 px (8×8 patches → 16 image tokens after the 2×2
# merge), the tiny proposer, a 2-layer LLaMA of width 64 and an offline word-level tokenizer.
_base_ = ['./groma_proposer_tiny_vit.py']
image_size = (112, 112)

model = dict(
    _delete_=True,
    type='Groma',
    # The encoder sees images normalized exactly as in stage 1.
    data_preprocessor={{_base_.model.data_preprocessor}},
    proposer={{_base_.model}},
    proposer_checkpoint=None,
    image_tokenizer=dict(type='MergedPatchTokenizer', in_channels=64, merge=2),
    # Region tokens read a frozen random conv (a stand-in for DINOv2's general features; the ViT above
    # learns objectness only and drops shape): its stride-2 layer, RoIAlign 4×4. `checkpoint=FILE` loads weights
    # that tools/pretrain_region_features.py trained on the world's attributes instead (docs/main_job.md).
    region_feature_encoder=dict(type='FrozenConvEncoder', channels=(32, 32), strides=(1, 2)),
    region_layers=(-1, ),
    region_encoder=dict(
        type='MultiScaleRoIRegionEncoder',
        in_channels=32,
        channels=64,
        scale_factors=(1.0, ),
        roi_size=4,
        region_channels=128),
    tokenizer=dict(type='TinyWordTokenizer'),
    llm=dict(
        type='HFCausalLM',
        config=dict(
            model_type='llama',
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=1024)),
    prompt=dict(template='vicuna_v1', num_image_tokens=16, max_length=1024),
    generation_cfg=dict(max_new_tokens=24),
    # Static KV cache (CUDA-graph decode on a GPU); 'hf' runs transformers' generate instead.
    generator='static')
