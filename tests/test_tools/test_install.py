"""Install correctness: the mmcv wheel cache is keyed by every build input; the tokenizer stack is pinned and works."""
import importlib.metadata
import importlib.util
import os.path as osp
import re
import subprocess
import sys

import pytest

from groma_mm.testing.paths import REPO_ROOT


def _key_module():
    spec = importlib.util.spec_from_file_location('wheel_cache_key', osp.join(REPO_ROOT, 'tools/wheel_cache_key.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_wheel_cache_key_changes_with_each_build_input():
    key = _key_module().cache_key
    base = dict(torch_version='2.14.1+cu130', cuda_version='13.0', python_abi='cpython-311-x86_64-linux-gnu',
                force_cuda=False, arch_list=None, gpu_archs=[])
    variants = [base, dict(base, torch_version='2.14.0+cu130'), dict(base, cuda_version=None),
                dict(base, cuda_version='12.8'), dict(base, python_abi='cpython-312-x86_64-linux-gnu'),
                dict(base, force_cuda=True, arch_list='9.0'), dict(base, force_cuda=True, arch_list='8.0;9.0'),
                dict(base, gpu_archs=['8.6'])]
    keys = [key(**v) for v in variants]
    assert len(set(keys)) == len(keys), keys
    assert all(re.fullmatch(r'[0-9A-Za-z._-]+', k) for k in keys)
    assert 'ops-cpu' in keys[0] and 'ops-cuda' in keys[-1]  # a CPU-only build is never the GPU host's
    # The same build reached two ways shares its wheel.
    assert key(**dict(base, force_cuda=True, arch_list='8.6')) == keys[-1]


def test_install_sh_keeps_wheels_under_the_full_key():
    with open(osp.join(REPO_ROOT, 'tools/install.sh')) as f:
        script = f.read()
    assert 'tools/wheel_cache_key.py' in script and 'torch-$TORCH_VERSION' not in script
    out = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/wheel_cache_key.py')], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == _key_module().current_key()


def _pins():
    with open(osp.join(REPO_ROOT, 'requirements.txt')) as f:
        return dict(line.strip().split('==') for line in f if '==' in line and not line.startswith('#'))


@pytest.mark.parametrize('package', ['sentencepiece', 'protobuf'])
def test_the_tokenizer_dependencies_are_pinned_and_installed_at_the_pin(package):
    assert importlib.metadata.version(package) == _pins()[package]


def test_a_sentencepiece_llama_tokenizer_loads_as_a_fast_tokenizer(tmp_path):
    """What a Vicuna/LLaMA checkpoint folder needs: sentencepiece reads tokenizer.model, protobuf converts it."""
    import sentencepiece as spm
    from transformers import AutoTokenizer, LlamaTokenizer
    text = tmp_path / 'corpus.txt'
    text.write_text('\n'.join(['a red circle left of a blue square', 'the dog on the left'] * 40))
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / 'sp'), vocab_size=24,
                                   model_type='unigram', minloglevel=2)
    LlamaTokenizer(str(tmp_path / 'sp.model'), legacy=False).save_pretrained(str(tmp_path / 'tok'))
    fast = AutoTokenizer.from_pretrained(str(tmp_path / 'tok'), use_fast=True, from_slow=True)
    assert fast.is_fast and fast.decode(fast('the red dog').input_ids, skip_special_tokens=True) == 'the red dog'
