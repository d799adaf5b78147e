"""The main job end to end on a very small world: every stage runs through the real tools and every
expected output file is written."""
import argparse
import glob
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import cv2
from mmengine.config import Config, DictAction

from groma_mm.testing.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location('run_main_job', osp.join(REPO_ROOT, 'tools/run_main_job.py'))
run_main_job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_main_job)


def _losses(work_dir):
    (path, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        return [json.loads(line)['loss'] for line in f if '"loss"' in line]


def test_quick_main_job_runs_every_stage_and_writes_its_outputs(tmp_path):
    out = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/run_main_job.py'), '--root', str(tmp_path),
                          '--quick'], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    work = tmp_path / 'work_dirs' / 'main_job'
    for ckpt in ('stage1_proposer/epoch_1.pth', 'stage2/epoch_2.pth', 'stage3/epoch_2.pth'):
        assert (work / ckpt).is_file(), ckpt
    for stage in ('stage1_proposer', 'stage2', 'stage3'):
        losses = _losses(str(work / stage))
        assert losses and all(l == l and abs(l) < 1e4 for l in losses), (stage, losses)
        if stage != 'stage1_proposer':  # (stage 1 runs 3 iterations here; its learning is tested elsewhere)
            assert sum(losses[-3:]) < sum(losses[:3]), (stage, losses)
    for dump in ('rec_predictions.json', 'caption_predictions.json'):
        with open(work / dump) as f:
            record = json.load(f)
        assert record['predictions'] and record['metrics'], dump
    assert (tmp_path / 'data' / 'synthetic_world' / 'tokenizer' / 'tokenizer.json').is_file()
    # Stages 2 and 3 load stage 0's LLM (16 heads) rather than building the config's random one.
    llm_config = json.loads((work / 'stage0_llm' / 'config.json').read_text())
    assert llm_config['num_attention_heads'] == 16
    assert 'stage 0: <rK> accuracy on 512 fresh prompts' in (work / 'stage0_llm.log').read_text()
    stage2_config = (work / 'stage2' / 'groma_tiny_1xb8-stage2-align_synthetic.py').read_text()
    assert "pretrained='work_dirs/main_job/stage0_llm'" in stage2_config
    with open(work / 'summary.json') as f:
        summary = json.load(f)
    for name in ('proposer AR@100 (held-out)', 'REC Acc@0.5 (held-out, %)', 'region caption CIDEr (held-out)',
                 'REC expressions whose size/colour/shape words alone name the target (held-out, %)'):
        assert name in summary['summary'] and name in out.stdout
    # The caption test ran beside the REC test: its log is a file, its metrics are the summary's.
    assert str(summary['metrics']['captions']) in (work / 'caption_test.log').read_text().replace('"', "'")
    assert 0 < summary['metrics']['rec_reference']['attribute_words_suffice'] <= 100
    assert {'coco/AR@100'} <= set(summary['metrics']['proposals']) and summary['metrics']['rec']
    steps = ('world', 'stage 0 train (LLM)', 'stage 1 train', 'stage 2 train', 'stage 3 train', 'REC test',
             'region caption test', 'grounded answers')
    for times in (summary['wall_s'], summary['cpu_s']):
        assert all(times[step] > 0 for step in steps) and times['total'] >= max(times[s] for s in steps)
    table = (work / 'summary.md').read_text()
    assert '| REC Acc@0.5 (held-out, %) |' in table and 'grounded_examples.png' in table
    picture = cv2.imread(str(work / 'grounded_examples.png'))
    # One row per held-out image (3 in the quick run), three panels per row.
    assert picture is not None and picture.shape[0] > 3 * 112 and picture.shape[1] > 3 * 112


def test_stage3_share_scales_every_sampler_ratio_of_the_config():
    config = run_main_job.CONFIGS['stage3']
    assert run_main_job.sampler_share_options(config, 1.0) == []
    options = run_main_job.sampler_share_options(config, 0.5)
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(config)
    ratios = list(cfg.train_dataloader.sampler.ratios)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *options]).cfg_options)
    assert list(cfg.train_dataloader.sampler.ratios) == [r * 0.5 for r in ratios] and len(ratios) > 1


def test_a_stage3_share_that_samples_nothing_is_refused_before_any_work(tmp_path):
    out = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/run_main_job.py'), '--root', str(tmp_path),
                          '--stage3-share', '0'], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and '--stage3-share' in out.stderr and '> 0' in out.stderr
    assert not (tmp_path / 'data').exists()
