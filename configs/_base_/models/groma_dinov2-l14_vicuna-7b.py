# Groma as in the paper (§3.1, §5.1): frozen DINOv2-L/14 at 448 px shared by the stage-1 proposer, the
# image tokenizer (last layer, 2×2 merge → 256 tokens) and the region encoder (last 3 layers); Vicuna-7B.
_base_ = ['./groma_proposer_dinov2_l14.py']

llm_path = 'checkpoints/vicuna-7b-v1.5'
# Vicuna-7B's architecture, for runs without its weights (tools/benchmark.py --random-weights).
llm_random_init_config = dict(model_type='llama', hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                              num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                              max_position_embeddings=4096, rms_norm_eps=1e-5)
proposer_checkpoint = 'checkpoints/groma_stage1_proposer.pth'

model = dict(
    _delete_=True,
    type='Groma',
    # The encoder sees images normalized exactly as in stage 1.
    data_preprocessor={{_base_.model.data_preprocessor}},
    proposer={{_base_.model}},
    proposer_checkpoint=proposer_checkpoint,
    image_tokenizer=dict(type='MergedPatchTokenizer', in_channels=1024, merge=2),
    region_encoder=dict(
        type='MultiScaleRoIRegionEncoder',
        in_channels=1024,
        channels=256,
        scale_factors=(2.0, 1.0, 0.5),
        roi_size=7,
        region_channels=1024),
    tokenizer=dict(type='HFTokenizer', pretrained=llm_path, use_fast=True),
    llm=dict(
        type='HFCausalLM',
        pretrained=llm_path,
        torch_dtype='bfloat16',
        attn_implementation='sdpa',
        freeze_llm=True,
        gradient_checkpointing=True),
    prompt=dict(template='vicuna_v1', num_image_tokens=256, max_length=2048),
    num_proxy_tokens=100,
    generation_cfg=dict(max_new_tokens=512),
    # Static KV cache with the decode step as a CUDA graph; 'hf' runs transformers' generate instead.
    generator='static')
