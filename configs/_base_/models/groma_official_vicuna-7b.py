# The released Groma-7B (groma-7b-pretrain / groma-7b-finetune) in groma_mm's official-architecture mode: the
# model the official GromaModel is, part by part, so that its converted weights load strictly. Weights come
# from the official HF folder converted by tools/model_converters/groma_official_to_mm.py (README "Released
# checkpoints"); nothing here is pretrained-init.
#
# Parts (groma_mm.converters.official_groma.official_groma_cfg(config.json) gives this dict for a folder):
#   proposer         the released groma-det-pretrain proposer (DINOv2-L/14 at 448 px, layers before the final
#                    LayerNorm, Deformable DETR with two objectness heads);
#   image_tokenizer  last DINOv2 block, 2×2 merge in the released column order, Linear-GELU-Linear;
#   region_encoder   GPT4RoI's multi-level RoI module with both trained-in quirks on (cxcywh boxes handed to
#                    RoIAlign, feature strides 14/8, 14/4, 14/2);
#   llm              Vicuna-7B-v1.5 with the new tokens in their own table / head (ids 32000…32113);
#   region_selector  one NMS over proposals + user boxes (score 1.0) + answer boxes (0.2), regions in score
#                    order (the official code shuffles them: the one deliberate difference);
#   prompt           the official conversation: intro round, "<r0><region><r1><region>…", "[grounding]…",
#                    user boxes as "<roi><rK></roi><refer_feat>".
_base_ = ['./groma_proposer_official_dinov2_l14.py']

image_size = (448, 448)
model = dict(
    _delete_=True,
    type='Groma',
    data_preprocessor={{_base_.model.data_preprocessor}},
    proposer={{_base_.model}},
    image_tokenizer=dict(type='MergedPatchTokenizer', in_channels=1024, merge=2, merge_order='column',
                         projector_depth=2),
    region_encoder=dict(type='GPT4RoIRegionEncoder', in_channels=1024, roi_box_format='cxcywh',
                        featmap_strides=(14 / 8, 14 / 4, 14 / 2)),
    # The converted tokenizer folder (groma_official_to_mm.py --tokenizer-out); set by the configs below.
    tokenizer=dict(type='HFTokenizer', pretrained=None),
    llm=dict(
        type='HFSplitVocabCausalLM',
        # lmsys/vicuna-7b-v1.5's config.json (the llm_cfg of the released folders).
        config=dict(model_type='llama', vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, hidden_act='silu',
                    max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                    bos_token_id=1, eos_token_id=2, pad_token_id=0),
        # The official evaluation runs float32 eager attention; bf16 + SDPA halves the memory (≈14 GB) for a
        # small numerical difference. model.llm.torch_dtype='float32' reproduces the official numerics.
        torch_dtype='bfloat16',
        attn_implementation='sdpa'),
    region_selector=dict(type='OfficialRegionSelector', iou_thr=0.6, score_thr=0.15, max_regions=100),
    prompt=dict(
        template='llava',
        intro_turn=True,
        region_separator='',
        grounding_separator='',
        user_box_format='<roi>{proxy}</roi><refer_feat>',
        region_slot_tokens=('<region>', '<refer_feat>'),
        num_image_tokens=256,
        max_length=2048),
    image_layer=-1,
    region_layers=(-3, -2, -1),
    num_proxy_tokens=100,
    # Random region order in training, as the official code (inference keeps score order).
    shuffle_regions=True,
    freeze_proposer=True,
    generation_cfg=dict(max_new_tokens=512))
