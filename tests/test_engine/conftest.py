"""A tiny synthetic world laid out as the tiny configs expect (``data/synthetic_world`` under the run's
folder) and the helpers that run tools/*.py on it and read the logged losses."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from groma_mm.testing.paths import REPO_ROOT

# Samples per epoch in the tiny stage-3 configs' source order (caption, grounded caption, region caption,
# REC, multi grounding, chat, Groma Instruct) on an 8-image world: 4 captions + 6 grounded chats = 10.
TEN_SAMPLES = '[0.5,0,0,0,0,0,0.75]'


@pytest.fixture(scope='package')
def world_root(tmp_path_factory):
    from groma_mm.datasets.synthetic_world import generate_world
    from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
    root = tmp_path_factory.mktemp('scale')
    world = root / 'data' / 'synthetic_world'
    generate_world(str(world), num_train=8, num_val=2, seed=0)
    build_tiny_tokenizer(save_dir=str(world / 'tokenizer'))
    return root


def run_tool(root, args, nproc=None, timeout=900):
    """Run ``tools/<args[0]>`` from ``root`` (1 process, or ``nproc`` through tools/dist_train.sh)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO_ROOT, PYTHON=sys.executable)
    if nproc is None:
        cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', args[0])] + list(args[1:])
    else:
        env['PORT'] = str(29500 + os.getpid() % 1000)
        cmd = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), args[0], str(nproc)] + list(args[1:])
    out = subprocess.run(cmd, cwd=str(root), env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return out


def logged_losses(work_dir, key: str = 'loss') -> dict:
    """``{iteration: value}`` of ``key`` (the loss by default) as logged under ``work_dir``."""
    values = {}
    for path in sorted(glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if key in record:
                    values[record['step']] = record[key]
    return values
