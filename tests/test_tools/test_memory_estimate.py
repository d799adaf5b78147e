"""tools/analysis/memory_estimate.py: exact parameter counts of the 7B configs from meta-device builds, and the
states sharded as each strategy shards them."""
import re
import subprocess
import sys

import pytest

from groma_mm.testing.paths import REPO_ROOT

STAGE3 = f'{REPO_ROOT}/configs/groma/groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct'
LORA = f'{REPO_ROOT}/configs/groma/groma-lora_dinov2-l14_vicuna-7b_1xb4-3e_own-data.py'


def _estimate(config):
    out = subprocess.run([sys.executable, f'{REPO_ROOT}/tools/analysis/memory_estimate.py', config],
                         capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    trained = int(re.search(r'([\d,]+)M trained parameters', out.stdout).group(1).replace(',', ''))
    per_gpu = dict((k, float(v)) for k, v in re.findall(r'(\w+) (\d+\.\d)', out.stdout.split('per GPU (GB): ')[1]))
    return trained, per_gpu, out.stdout


def test_fsdp_shards_every_state_of_the_ddp_stage_3_and_lora_trains_adapters_and_groma_parts():
    trained, ddp, text = _estimate(STAGE3 + '.py')
    # Vicuna-7B (6,738M, plus Groma's 107 token rows in embedding and head) + image tokenizer + region encoder
    assert trained == 6840 and 'does not fit' in text
    _, fsdp, _ = _estimate(STAGE3 + '_fsdp.py')
    for state in ('weights', 'grads', 'optimizer'):
        assert fsdp[state] == pytest.approx(ddp[state] / 8, abs=0.1)
    assert fsdp['activations'] == ddp['activations'] and fsdp['total'] < 40
    lora, single, _ = _estimate(LORA)
    assert lora == 261  # LoRA r=64 on all seven projections (160M) + image tokenizer and region encoder (101M)
    assert single['total'] < 24
