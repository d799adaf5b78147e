"""The benchmark configs (configs/groma/benchmarks/): the paper-scale ones read the official files and swap
their model in one line; every tiny variant runs end to end on the tiny model, on files in the official
layouts, with the same metrics and predictions on 1 and on 2 gloo processes; ``tools/test.py`` prints the
paper's keys, a progress bar and the samples per second."""
import ast
import glob
import json
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp
from mmengine.config import Config

from groma_mm.testing.benchmark_files import write_benchmark_files
from groma_mm.testing.paths import REPO_ROOT
from groma_mm.testing.tiny_checkpoint import save_tiny_groma_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
import _benchmark_worker as worker  # noqa: E402

BENCH_DIR = osp.join(REPO_ROOT, 'configs', 'groma', 'benchmarks')
PAPER = sorted(glob.glob(osp.join(BENCH_DIR, 'groma_dinov2-l14_vicuna-7b_*.py')))
TINY = sorted(glob.glob(osp.join(BENCH_DIR, 'groma_tiny_*.py')))
BENCHMARKS = ('rec-8splits', 'lvis-ground', 'refcocog-cap', 'vg-cap')
# Queries in the tiny files: 7 REC splits × 4 + 3; LVIS (image, category) pairs; VG and RefCOCOg regions.
NUM_SAMPLES = {'rec-8splits': 31, 'lvis-ground': 11, 'refcocog-cap': 3, 'vg-cap': 5}
# What the paper's tables report, plus the missing-answer rates.
KEYS = {
    'rec-8splits': {f'rec/{s}/{k}' for s in ('refcoco_val', 'refcoco_testA', 'refcoco_testB', 'refcoco+_val',
                                             'refcoco+_testA', 'refcoco+_testB', 'refcocog_val', 'refcocog_test')
                    for k in ('Acc@0.5', 'mIoU', 'missing')},
    'lvis-ground': {f'lvis_ground/{k}' for k in ('AR', 'AR@0.5', 'AR@0.75', 'AR_s', 'AR_m', 'AR_l', 'missing')},
    'refcocog-cap': {'region_caption/METEOR', 'region_caption/CIDEr'},
    'vg-cap': {'region_caption/METEOR', 'region_caption/CIDEr'},
}
MAX_NEW_TOKENS = {'rec-8splits': 3, 'lvis-ground': 10, 'refcocog-cap': 100, 'vg-cap': 100}  # the official ones


def benchmark_of(path: str) -> str:
    return next(b for b in BENCHMARKS if osp.basename(path).endswith(f'_{b}.py'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp('bench')
    write_benchmark_files(str(root / 'data'))
    save_tiny_groma_checkpoint(str(root / 'groma_tiny_full.pth'))
    return dict(data_root=str(root / 'data') + '/', checkpoint=str(root / 'groma_tiny_full.pth'))


def test_one_paper_config_and_one_tiny_variant_per_benchmark():
    assert sorted(map(benchmark_of, PAPER)) == sorted(map(benchmark_of, TINY)) == sorted(BENCHMARKS)
    for paper in PAPER:
        text = Path(paper).read_text()
        # The model is the one `_base_` line; the official-architecture config is named as its swap.
        assert len(re.findall(r'^_base_ = ', text, flags=re.M)) == 1
        assert "#   _base_ = ['../groma_official_vicuna-7b_finetune.py']" in text
        cfg = Config.fromfile(paper)
        tiny = Config.fromfile(next(t for t in TINY if benchmark_of(t) == benchmark_of(paper)))
        assert cfg.model.llm.pretrained and cfg.test_dataloader.batch_size >= 8
        assert cfg.model.generation_cfg.max_new_tokens == MAX_NEW_TOKENS[benchmark_of(paper)]
        # The tiny variant reads the same files with the same metric, only smaller.
        for key in ('type', 'ann_file', 'ann_dir', 'layout', 'data_prefix', 'instruction_task', 'test_mode'):
            assert cfg.test_dataloader.dataset.get(key) == tiny.test_dataloader.dataset.get(key), (paper, key)
        assert cfg.test_evaluator == tiny.test_evaluator
        assert cfg.test_dataloader.sampler.type == 'GroupedInferenceSampler'


def test_refcocog_captions_ask_for_detail_and_vg_for_a_short_description():
    types = {benchmark_of(p): Config.fromfile(p).test_dataloader.dataset.instruction_task for p in PAPER
             if 'cap' in p}
    assert types == {'refcocog-cap': 'detailed_region_caption', 'vg-cap': 'region_caption'}


@pytest.mark.skipif(shutil.which('java') is None, reason='the caption metrics need Java')
def test_tiny_benchmarks_match_on_one_and_two_processes(bench, tmp_path):
    single = {osp.basename(c): worker.run_config(c, bench['data_root'], bench['checkpoint'], str(tmp_path), 1)
              for c in TINY}
    mp.spawn(worker.run_rank, args=(2, free_port(), TINY, bench['data_root'], bench['checkpoint'], str(tmp_path)),
             nprocs=2, join=True)
    for config in TINY:
        name, benchmark = osp.splitext(osp.basename(config))[0], benchmark_of(config)
        one = json.loads((tmp_path / f'{name}_1.json').read_text())
        two = json.loads((tmp_path / f'{name}_2.json').read_text())
        assert len(one['predictions']) == NUM_SAMPLES[benchmark], name  # every query once
        assert two == one, name  # metrics and every prediction, bit for bit
        assert one['metrics'] == single[osp.basename(config)]
        assert KEYS[benchmark] <= set(one['metrics']), name
        if benchmark == 'lvis-ground':  # the random model's answers differ between these queries
            assert len({row['pred_text'] for row in one['predictions']}) > 1
    for rank in (0, 1):
        assert json.loads((tmp_path / f'returned_rank{rank}.json').read_text()) == single


def test_test_tool_prints_lvis_ground_recall_progress_and_throughput(bench, tmp_path):
    config = next(t for t in TINY if benchmark_of(t) == 'lvis-ground')
    out = subprocess.run(
        [sys.executable, 'tools/test.py', config, bench['checkpoint'], '--work-dir', str(tmp_path), '--cfg-options',
         f'test_dataloader.dataset.data_root={bench["data_root"]}'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = ast.literal_eval(out.stdout.strip().splitlines()[-1])  # the metrics dict tools/test.py prints last
    assert KEYS['lvis-ground'] == set(printed)
    log = out.stdout + out.stderr
    assert re.search(r'test \[#+\] 100% 3/3 batches, 11 samples, [\d.]+ samples/s, elapsed \S+, ETA 0:00:00', log)
    assert re.search(r'test: 11 samples in \S+ \([\d.]+ samples/s over 1 process\)', log)
