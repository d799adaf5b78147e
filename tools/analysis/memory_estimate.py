"""Per-GPU training memory of a Groma config, computed (not measured): weights, gradients, AdamW state and
activations, under the config's strategy (DDP, FSDP full shard, DeepSpeed ZeRO-2/3) and precision.

    python tools/analysis/memory_estimate.py CONFIG [--gpus 8] [--batch 16] [--seq-len 1024]

Parameter counts are exact: every part is built from the config on the meta device (no weights, no memory;
the LLM from its ``llm_random_init_config`` or its local folder's config.json). The rest is arithmetic:

- weights / gradients / AdamW state (two fp32 moments) of each part in its dtype; sharded over the GPUs as
  the strategy shards them, plus what it gathers at a time (FSDP: the root unit and two decoder layers;
  ZeRO-3: the prefetch bucket; ZeRO-2: the gradient buckets);
- activations of the LLM with activation checkpointing (the vision side is frozen and runs without
  gradients): the input of every decoder layer (fp32 residual stream when the LLM weights are fp32,
  bf16 otherwise), one layer recomputed in bf16 with its gradients, and the logits (bf16, their fp32
  copy for the loss, and its gradient), for ``batch`` sequences of ``seq-len`` tokens per GPU.

Not counted: the CUDA context and allocator slack (~1–3 GB), data-loader pinned memory.
"""
import argparse
import os.path as osp
import re
import sys

GB = 1e9


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--gpus', type=int, help='GPUs (default: N of the config name NxbB, else 1)')
    parser.add_argument('--batch', type=int, help='sequences per GPU (default: the config batch size)')
    parser.add_argument('--seq-len', type=int, default=1024, help='tokens per sequence (default 1024)')
    return parser.parse_args(argv)


def _dtype_bytes(name) -> int:
    return 2 if str(name).replace('torch.', '') in ('bfloat16', 'float16') else 4


def part_sizes(cfg) -> dict:
    """Parameter counts of the parts (millions of elements are exact integers here)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from groma_mm.registry import MODELS
    model, llm_cfg = cfg.model, cfg.model.llm
    if cfg.get('llm_random_init_config'):
        arch = AutoConfig.for_model(**cfg.llm_random_init_config)
    else:
        arch = AutoConfig.from_pretrained(llm_cfg.pretrained, local_files_only=True)
    proposer = dict(model.proposer)
    proposer['backbone'] = dict(proposer['backbone'], init_cfg=None)
    with torch.device('meta'):
        llm = AutoModelForCausalLM.from_config(arch)
        parts = dict(
            proposer=MODELS.build(proposer),
            image_tokenizer=MODELS.build(dict(model.image_tokenizer, out_channels=arch.hidden_size)),
            region_encoder=MODELS.build(dict(model.region_encoder, out_channels=arch.hidden_size)))
        lora = 0
        if llm_cfg.get('lora'):
            import peft
            wrapped = peft.get_peft_model(llm, peft.LoraConfig(**dict(dict(task_type='CAUSAL_LM'), **llm_cfg.lora)))
            lora = sum(p.numel() for n, p in wrapped.named_parameters() if 'lora_' in n)
    count = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    rows = 2 * llm.get_input_embeddings().weight.numel()  # embedding + LM head (untied in LLaMA)
    new_rows = 2 * arch.hidden_size * (7 + model.get('num_proxy_tokens', 100))  # Groma's tokens
    layer = sum(p.numel() for p in llm.model.layers[0].parameters())
    return dict(count, llm=sum(p.numel() for p in llm.parameters()) + new_rows, llm_rows=rows + new_rows,
                llm_layer=layer, lora=lora, arch=arch)


def estimate(cfg, gpus: int, batch: int, seq_len: int) -> dict:
    """Per-GPU GB of weights, gradients, optimizer state, gathered (transient) weights and activations."""
    sizes = part_sizes(cfg)
    model, llm_cfg = cfg.model, cfg.model.llm
    arch = sizes['arch']
    llm_bytes = _dtype_bytes(llm_cfg.get('torch_dtype') or 'float32')
    trainable_bytes = _dtype_bytes(llm_cfg.get('trainable_dtype') or llm_cfg.get('torch_dtype') or 'float32')
    groma = sizes['image_tokenizer'] * (not model.get('freeze_image_tokenizer', False)) + \
        sizes['region_encoder'] * (not model.get('freeze_region_encoder', False))
    lora, rows = sizes['lora'], sizes['llm_rows']
    if llm_cfg.get('lora') or llm_cfg.get('freeze_llm'):
        llm_trained = lora + (rows if llm_cfg.get('train_new_token_rows', True) else 0)
    else:
        llm_trained = sizes['llm']
    trained = llm_trained + groma
    frozen_llm = sizes['llm'] - (llm_trained - lora)
    weights = (frozen_llm * llm_bytes + (llm_trained + groma) * trainable_bytes + sizes['proposer'] * 4 +
               (sizes['image_tokenizer'] + sizes['region_encoder'] - groma) * 4)
    grads, optim = trained * trainable_bytes, trained * 8  # AdamW: two fp32 moments

    strategy = cfg.get('strategy') or {}
    kind, gathered = 'DDP' if gpus > 1 else 'one GPU', 0.0
    if 'FSDP' in str(strategy.get('type', '')):
        kind = 'FSDP full shard'
        root = sizes['proposer'] + sizes['image_tokenizer'] + sizes['region_encoder'] + rows
        gathered = (root + 2 * sizes['llm_layer']) * 4
        weights, grads, optim = weights / gpus, grads / gpus, optim / gpus
    elif 'DeepSpeed' in str(strategy.get('type', '')):
        zero = strategy.get('zero_optimization', {})
        stage = zero.get('stage', 0)
        kind = f'ZeRO-{stage}'
        grads, optim = grads / gpus, optim / gpus
        gathered = 2 * zero.get('reduce_bucket_size', 5e8) * 4
        if stage == 3:
            weights /= gpus
            gathered += zero.get('stage3_prefetch_bucket_size', 5e8) * 4

    tokens = batch * seq_len
    hidden, inter, vocab, layers = arch.hidden_size, arch.intermediate_size, arch.vocab_size, arch.num_hidden_layers
    stream = 4 if trainable_bytes == 4 and llm_trained >= sizes['llm'] else 2
    checkpoints = layers * tokens * hidden * stream
    recompute = 2 * (4 * tokens * hidden * 2 + 2 * tokens * hidden * 4 + 4 * tokens * inter * 2)
    logits = tokens * vocab * (2 + 4 + 4)
    activations = checkpoints + recompute + logits
    out = dict(strategy=kind, gpus=gpus, batch=batch, seq_len=seq_len, trained_params=trained,
               weights=weights / GB, grads=grads / GB, optimizer=optim / GB, gathered=gathered / GB,
               activations=activations / GB)
    out['total'] = sum(out[k] for k in ('weights', 'grads', 'optimizer', 'gathered', 'activations'))
    return out


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config

    from groma_mm.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    match = re.search(r'(\d+)xb(\d+)', osp.basename(args.config))
    gpus = args.gpus or (int(match.group(1)) if match else 1)
    batch = args.batch or int(cfg.train_dataloader.batch_size)
    r = estimate(cfg, gpus, batch, args.seq_len)
    print(f'{osp.basename(args.config)}: {r["strategy"]}, {gpus} GPU(s), batch {batch} × {args.seq_len} tokens '
          f'per GPU, {r["trained_params"] / 1e6:,.0f}M trained parameters')
    print('per GPU (GB): ' + ', '.join(f'{k} {r[k]:.1f}' for k in
                                      ('weights', 'grads', 'optimizer', 'gathered', 'activations', 'total')))
    for memory in (80, 40):
        print(f'  A100-{memory}G: {"fits" if r["total"] < memory - 2 else "does not fit"} (computed, not measured)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
