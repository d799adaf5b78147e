"""The README's pointers lead to files of the repository, and its inference commands run as written."""
import copy
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from groma_mm.datasets.synthetic_world import generate_world, world_vocabulary
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT, load_tool
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer

with open(osp.join(REPO_ROOT, 'README.md')) as f:
    README = f.read()
# Paths into the repository (what a run writes, under data/ work_dirs/ outputs/, is not one).
_REPO_PATH = re.compile(r'(?<![\w/.~-])((?:configs|tools|groma_mm|docs|projects|tests)/[\w./+-]*)')


def _section(title: str) -> str:
    start = README.index(f'\n## {title}\n')
    end = README.find('\n## ', start + 1)
    return README[start:end if end > 0 else None]


def _blocks(text: str, language: str):
    return re.findall(rf'```{language}\n(.*?)```', text, re.S)


def test_every_path_the_readme_names_exists():
    paths = sorted({p.rstrip('.,:;)') for p in _REPO_PATH.findall(README)})
    assert paths
    missing = [p for p in paths if not osp.exists(osp.join(REPO_ROOT, p))]
    assert not missing, missing
    assert 'issue notes' not in README and 'DESIGN.md' not in README


@pytest.fixture(scope='module')
def main_job_root(tmp_path_factory):
    """A folder laid out as tools/run_main_job.py leaves it (tiny random weights), for the README's commands."""
    root = tmp_path_factory.mktemp('main_job')
    for name in ('configs', 'tools'):
        os.symlink(osp.join(REPO_ROOT, name), root / name)
    world = root / 'data/synthetic_world'
    generate_world(str(world), 4, 1, seed=0, img_size=112)
    build_tiny_tokenizer(extra_words=world_vocabulary(str(world)), save_dir=str(world / 'tokenizer'))
    stage3 = Config.fromfile(osp.join(REPO_ROOT, 'configs/groma/groma_tiny_1xb8-stage3-instruct_synthetic.py'))
    torch.manual_seed(0)
    proposer = MODELS.build(copy.deepcopy(stage3.model.proposer))
    proposer.init_weights()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        # Stage 0's LLM folder (one step), which stage 3 is built on as in the main job.
        load_tool('tools/pretrain_toy_llm.py').main([
            osp.join(REPO_ROOT, 'configs/groma/groma_tiny_stage0-llm-pretrain_synthetic.py'), '--out',
            'work_dirs/main_job/stage0_llm', '--phases', 'bare3:1', '--batch-size', '2'])
        stage3.model.llm.update(pretrained='work_dirs/main_job/stage0_llm', config=None)
        stage3.model.tokenizer.pretrained = 'work_dirs/main_job/stage0_llm'
        for stage, name, state in (('stage1_proposer', 'epoch_12.pth', lambda: proposer.state_dict()),
                                   ('stage3', 'epoch_2.pth', lambda: MODELS.build(stage3.model).state_dict())):
            path = f'work_dirs/main_job/{stage}/{name}'
            os.makedirs(osp.dirname(path), exist_ok=True)
            torch.save(dict(state_dict=state()), path)
            with open(f'work_dirs/main_job/{stage}/last_checkpoint', 'w') as f:
                f.write(path)
    finally:
        os.chdir(cwd)
    return root


def test_the_inference_commands_run_as_written(main_job_root):
    (script, ) = _blocks(_section('Inference'), 'bash')
    env = dict(os.environ, PATH=f'{osp.dirname(sys.executable)}:{os.environ["PATH"]}')
    out = subprocess.run(['bash', '-e', '-c', script], cwd=main_job_root, env=env, capture_output=True, text=True)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert osp.isfile(main_job_root / 'outputs/1_groma.jpg') and osp.isfile(main_job_root / 'outputs/1.json')
    assert out.stdout.count('data/synthetic_world/images/1.jpg') >= 3


def test_the_python_snippet_runs_as_written(main_job_root, monkeypatch):
    (snippet, ) = _blocks(_section('Inference'), 'python')
    monkeypatch.chdir(main_job_root)
    scope = {}
    exec(compile(snippet, 'README.md', 'exec'), scope)  # noqa: S102 — the README's own example
    assert scope['r'].error is None and len(scope['rs']) == 2 and all(x.error is None for x in scope['rs'])
    assert osp.isfile(main_job_root / 'out.jpg')
