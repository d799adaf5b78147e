"""tools/infer.py as a user runs it: answer + phrase lines, a drawing and a JSON; clear errors."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from groma_mm.testing.paths import REPO_ROOT, TINY_GROMA_MODEL_CONFIG
from groma_mm.testing.tiny_checkpoint import save_tiny_groma_checkpoint


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpt')
    return save_tiny_groma_checkpoint(str(root / 'groma_tiny_full.pth'))


def _run(*args, cwd):
    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/infer.py'), TINY_GROMA_MODEL_CONFIG, *args],
                          cwd=cwd, capture_output=True, text=True)


def test_cli_prints_the_answer_and_writes_drawing_and_json(checkpoint, tmp_path):
    img = tmp_path / 'scene.png'
    cv2.imwrite(str(img), np.full((90, 120, 3), 150, np.uint8))
    out = _run(checkpoint, '--image', str(img), '--prompt', 'What is <box0>?', '--box', '10', '10', '60', '50',
               '--out-dir', str(tmp_path / 'out'), '--json', '--max-new-tokens', '6', cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout.strip().splitlines()[-1])
    assert record['error'] is None and record['regions']['bboxes'][0] == [10.0, 10.0, 60.0, 50.0]
    assert osp.isfile(tmp_path / 'out' / 'scene_groma.jpg') and osp.isfile(tmp_path / 'out' / 'scene.json')
    drawing = cv2.imread(str(tmp_path / 'out' / 'scene_groma.jpg'))
    assert drawing.shape == (90, 120, 3)
    # The --box is drawn (dashed white) on the flat grey scene.
    assert (drawing[10, 12:58].min(axis=1) > 200).mean() > 0.3


def test_cli_proposals_mode_draws_the_regions(checkpoint, tmp_path):
    img = tmp_path / 'scene.jpg'
    cv2.imwrite(str(img), np.full((64, 64, 3), 90, np.uint8))
    out = _run(checkpoint, '--image', str(img), '--proposals', '--out-dir', str(tmp_path / 'o'), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'regions, drawing:' in out.stdout and osp.isfile(tmp_path / 'o' / 'scene_groma.jpg')


def test_cli_reports_bad_input_and_exits_non_zero(checkpoint, tmp_path):
    out = _run(checkpoint, '--image', str(tmp_path / 'missing.jpg'), '--prompt', 'Hi', cwd=tmp_path)
    assert out.returncode == 1 and 'cannot read' in out.stderr and 'missing.jpg' in out.stderr
    img = tmp_path / 'x.png'
    cv2.imwrite(str(img), np.zeros((40, 40, 3), np.uint8))
    out = _run(checkpoint, '--image', str(img), '--prompt', 'What is <box0>?', '--box', '5', '5', '90', '20',
               cwd=tmp_path)
    assert out.returncode == 1 and 'outside the 40×40 image' in out.stderr
