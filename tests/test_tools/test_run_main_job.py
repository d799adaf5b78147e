"""The main job end to end on a very small world: every stage runs through the real tools and every
expected output file is written."""
import glob
import json
import os.path as osp
import subprocess
import sys

from groma_mm.testing.paths import REPO_ROOT


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
    drawings = glob.glob(str(work / 'inference' / '*_groma.jpg'))
    assert len(drawings) == 1 and glob.glob(str(work / 'inference' / '*.json'))
    assert (tmp_path / 'data' / 'synthetic_world' / 'tokenizer' / 'tokenizer.json').is_file()
    for name in ('proposer AR@100', 'REC Acc@0.5', 'region caption METEOR', 'time: total'):
        assert name in out.stdout
