"""``--cfg-options`` that shrink a paper-scale Groma config to random tiny weights, so it builds and runs on a
CPU in seconds: the smoke test of a 7B config without its weights.

    llm_dir = save_tiny_llm('work_dirs/tiny_llm')   # a random tiny LLaMA + tokenizer, saved like a real one
    opts = tiny_paper_model_options(llm_dir)
    python tools/train.py CONFIG --cfg-options <opts> ...

The image encoder becomes DeiT-tiny (12 layers of width 192, still at 448 px), the DETR proposer keeps one
encoder and one decoder layer, nothing is loaded from ``checkpoints/``, and the LLM and tokenizer come from
``llm_dir``. Everything else (data, schedule, strategy, precision) is the config's own.
"""
from typing import List

TINY_ENCODER_WIDTH = 192  # DeiT-tiny


def tiny_paper_model_options(llm_dir: str) -> List[str]:
    """``key=value`` overrides (module docstring), in the syntax of ``--cfg-options``."""
    width = TINY_ENCODER_WIDTH
    return [
        f'model.llm.pretrained={llm_dir}',
        f'model.tokenizer.pretrained={llm_dir}',
        'model.proposer_checkpoint=None',
        'model.proposer.backbone.arch=deit-tiny',
        'model.proposer.backbone.out_indices=[8,9,10,11]',
        'model.proposer.backbone.frozen_stages=12',
        'model.proposer.backbone.init_cfg=None',
        f'model.proposer.neck.in_channels={width}',
        'model.proposer.encoder.num_layers=1',
        'model.proposer.decoder.num_layers=1',
        f'model.image_tokenizer.in_channels={width}',
        f'model.region_encoder.in_channels={width}',
    ]


def save_tiny_llm(folder: str) -> str:
    """A random 2-layer LLaMA of width 64 with the tiny tokenizer, saved like a real LLM folder; returns it."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
    tokenizer = build_tiny_tokenizer(save_dir=str(folder))
    config = AutoConfig.for_model(model_type='llama', hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                                  vocab_size=len(tokenizer))
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))
    return str(folder)
