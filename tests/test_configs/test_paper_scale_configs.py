"""The paper-scale stage-2/3 configs (DDP, FSDP, ZeRO-2/3) and the LoRA config build their model and data loader
with random tiny weights put in through ``--cfg-options`` (groma_mm.testing.tiny_overrides), over their real
``data/`` layout filled from the synthetic world; the DDP-style ones also train one step in their precision,
and the dry-run tool counts the same samples per epoch as the sampler draws."""
import argparse
import json
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner

from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT
from groma_mm.testing.tiny_overrides import save_tiny_llm, tiny_paper_model_options

from .paper_layout import build_paper_layout

STAGE = f'{REPO_ROOT}/configs/groma/groma_dinov2-l14_vicuna-7b_8xb16-'
CONFIGS = {
    'stage2': STAGE + '2e_stage2-align.py',
    'stage3': STAGE + '1e_stage3-instruct.py',
    'stage3_fsdp': STAGE + '1e_stage3-instruct_fsdp.py',
    'stage3_zero2': STAGE + '1e_stage3-instruct_zero2.py',
    'stage3_zero3': STAGE + '1e_stage3-instruct_zero3.py',
    'lora': f'{REPO_ROOT}/configs/groma/groma-lora_dinov2-l14_vicuna-7b_1xb4-3e_own-data.py',
}
SMALL_LOADER = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                'train_dataloader.batch_size=2', 'train_dataloader.sampler.batch_size=2']


@pytest.fixture(scope='module')
def paper_root(tmp_path_factory):
    from groma_mm.datasets.synthetic_world import generate_world
    root = tmp_path_factory.mktemp('paper')
    world = root / 'world'
    generate_world(str(world), num_train=6, num_val=2, seed=0)
    build_paper_layout(world, root)
    mine = root / 'data' / 'my_data'  # the LoRA recipe's own data, in Groma Instruct format
    mine.mkdir()
    (mine / 'train.json').write_text((world / 'groma_instruct/groma_instruct_train.json').read_text())
    os.symlink(world / 'images', mine / 'images')
    return root, save_tiny_llm(root / 'tiny_llm')


def _config(name, llm_dir) -> Config:
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(['--cfg-options'] + tiny_paper_model_options(llm_dir) + SMALL_LOADER).cfg_options
    cfg = Config.fromfile(CONFIGS[name])
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_paper_config_builds_model_and_loader_and_trains_a_step(name, paper_root, monkeypatch):
    root, llm_dir = paper_root
    monkeypatch.chdir(root)
    cfg = _config(name, llm_dir)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    sources = getattr(loader.dataset, 'datasets', [loader.dataset])
    assert all(len(d) > 0 for d in sources), [type(d).__name__ for d in sources if not len(d)]
    ratios = cfg.train_dataloader.sampler.get('ratios')
    assert ratios is None or len(ratios) == len(sources) == len(cfg.train_source_names)
    batch = next(iter(loader))

    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and {p.dtype for p in trained} == {torch.float32}  # fp32 master weights
    if name in ('stage2', 'lora'):  # the frozen LLM body stays bf16
        assert any(p.dtype == torch.bfloat16 for p in model.llm.parameters())
    if 'runner_type' in cfg:  # FSDP / DeepSpeed: the step needs their processes (tests/test_engine)
        return
    model.init_weights()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)  # refuses bf16 trainable weights
    log = model.train_step(batch, wrapper)  # under the config's bf16 autocast
    assert torch.isfinite(log['loss']) and float(log['skipped']) == 0


def test_dry_run_counts_what_the_sampler_draws(paper_root, tmp_path, monkeypatch):
    root, llm_dir = paper_root
    out = tmp_path / 'mix.json'
    run = subprocess.run([sys.executable, f'{REPO_ROOT}/tools/print_data_mix.py', CONFIGS['stage3'], '--json', str(out)],
                         cwd=root, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [s['origin'] for s in report['sources']] == ['counted'] * len(report['sources'])
    assert 'VG multi-round region captions' in run.stdout and 'iterations per epoch' in run.stdout

    monkeypatch.chdir(root)
    cfg = _config('stage3', llm_dir)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    assert report['samples_per_epoch'] == loader.sampler.num_total
    assert [s['size'] for s in report['sources']] == [len(d) for d in loader.dataset.datasets]
    assert report['world_size'] == 8 and report['batch_size'] == 16  # from the name 8xb16 and the config
    assert report['iterations_per_epoch'] == -(-loader.sampler.num_total // 128)
