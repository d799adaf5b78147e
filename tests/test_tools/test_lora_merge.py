"""LoRA fine-tuning from a full Groma file, and the merge tool: the LoRA config's model starts from the plain
checkpoint (its LLM too), and the merged inference file loads strictly into the config without LoRA and
answers as the LoRA model does."""
import argparse
import subprocess
import sys

import torch
from mmengine.config import Config, DictAction

from groma_mm.apis import GromaInferencer
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT
from groma_mm.testing.tiny_overrides import save_tiny_llm, tiny_paper_model_options

LORA = f'{REPO_ROOT}/configs/groma/groma-lora_dinov2-l14_vicuna-7b_1xb4-3e_own-data.py'


def _options(llm_dir, *extra) -> list:
    # fp32 body so that merging is exact up to rounding; the recipe's bf16 body is tested in test_configs.
    return tiny_paper_model_options(llm_dir) + ['model.llm.torch_dtype=float32'] + list(extra)


def _config(options) -> Config:
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(LORA)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options'] + options).cfg_options)
    return cfg


def _logits(model, ids):
    model.eval()  # no LoRA dropout
    with torch.no_grad():
        return model.llm(input_ids=ids).logits


def test_lora_run_starts_from_a_full_groma_file_and_merges_into_one(tmp_path):
    llm_dir = save_tiny_llm(tmp_path / 'llm')
    torch.manual_seed(0)
    plain = MODELS.build(_config(_options(llm_dir, 'model.llm.lora=None')).model)
    plain.init_weights()
    with torch.no_grad():  # a fine-tuned Groma LLM differs from the LLM folder the config names
        for p in plain.llm.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    full = tmp_path / 'groma_full.pth'
    torch.save(dict(state_dict=plain.full_state_dict()), full)

    # The LoRA model takes everything from the plain file, its LLM included (plain names, peft layout).
    torch.manual_seed(1)
    lora = MODELS.build(_config(_options(llm_dir)).model)
    lora.init_weights()
    lora.load_state_dict(torch.load(full, weights_only=True)['state_dict'], strict=False)
    ids = torch.randint(3, 200, (1, 12))
    torch.testing.assert_close(_logits(lora, ids), _logits(plain, ids))  # adapters start at zero (B = 0)
    with torch.no_grad():  # "fine-tuning" moved what trains: adapters, token rows, region encoder
        for name, p in lora.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.02)
    tuned = _logits(lora, ids)
    assert not torch.allclose(tuned, _logits(plain, ids))
    run = tmp_path / 'epoch_3.pth'
    torch.save(dict(state_dict=lora.state_dict()), run)  # a stage checkpoint: what trains only

    out = tmp_path / 'merged.pth'
    result = subprocess.run([sys.executable, f'{REPO_ROOT}/tools/model_converters/groma_merge_lora.py', LORA, str(run),
                             str(out), '--cfg-options'] + _options(llm_dir, f'load_from={full}'),
                            capture_output=True, text=True, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]

    merged = GromaInferencer(_config(_options(llm_dir, 'model.llm.lora=None')), str(out)).model  # strict load
    assert not any('lora' in k for k in merged.full_state_dict())
    torch.testing.assert_close(_logits(merged, ids), tuned, atol=1e-4, rtol=1e-4)
    tuned_state = lora.full_state_dict()
    torch.testing.assert_close(merged.region_encoder.projector[0].weight,
                               tuned_state['region_encoder.projector.0.weight'])
