"""tools/benchmark.py: a user's run on the tiny config gives the table and a complete JSON report; the paper
config becomes buildable without weights. Timings are only checked to be measured, never compared."""
import importlib.util
import json
import os
import subprocess
import sys

from mmengine.config import Config

from groma_mm.testing.paths import REPO_ROOT

TOOL = os.path.join(REPO_ROOT, 'tools', 'benchmark.py')
_spec = importlib.util.spec_from_file_location('benchmark', TOOL)
benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchmark)
STAGES = ('encoder', 'proposer', 'image_tokenizer', 'region_encoder', 'prompt')


def test_benchmark_tiny_config_reports_every_stage_for_each_batch_and_generator(tmp_path):
    out = tmp_path / 'bench.json'
    cmd = [sys.executable, TOOL, os.path.join(REPO_ROOT, 'configs/_base_/models/groma_tiny.py'), '--random-weights',
           '--batch-sizes', '1', '2', '--new-tokens', '3', '--repeats', '1', '--warmup', '0', '--device', 'cpu',
           '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS='1'), cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'decode ms/tok' in proc.stdout and 'decode static vs hf at batch 1' in proc.stdout
    report = json.loads(out.read_text())
    assert report['environment']['memory_kind'] == 'cpu_rss_peak'
    rows = report['results']
    assert [(r['batch_size'], r['generator']) for r in rows] == [(1, 'static'), (1, 'hf'), (2, 'static'), (2, 'hf')]
    for row in rows:
        assert set(row['ms_per_image']) == set(STAGES) and all(v > 0 for v in row['ms_per_image'].values())
        assert row['first_call_ms'] > 0 and row['prefill_ms'] > 0 and row['samples_per_s'] > 0 and row['new_tokens'] == 3
        # With the score threshold dropped, a random proposer still gives every image its regions.
        assert row['regions_per_image'] > 0
        for stage in STAGES[:-1] + ('prefill', 'generate'):
            assert row['memory'][stage]['peak_mib'] > 0


def test_random_weights_make_the_paper_config_buildable_without_files():
    cfg = Config.fromfile(os.path.join(REPO_ROOT, 'configs/_base_/models/groma_dinov2-l14_vicuna-7b.py'))
    cfg.merge_from_dict({'model.llm.config.num_hidden_layers': 2})
    benchmark.random_weights_config(cfg)
    llm = cfg.model.llm
    assert 'pretrained' not in llm and llm.config.hidden_size == 4096 and llm.config.num_hidden_layers == 2
    assert cfg.model.tokenizer.type == 'TinyWordTokenizer' and cfg.model.proposer_checkpoint is None
    assert cfg.model.proposer.backbone.init_cfg is None
