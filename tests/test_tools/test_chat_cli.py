"""tools/chat.py driven over stdin: two turns, box commands and /save, as a user types them."""
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
    root = tmp_path_factory.mktemp('chat')
    return save_tiny_groma_checkpoint(str(root / 'groma_tiny_full.pth'))


def _chat(checkpoint, cwd, lines, *extra):
    image = cwd / 'scene.png'
    cv2.imwrite(str(image), np.full((90, 120, 3), 150, np.uint8))
    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/chat.py'), TINY_GROMA_MODEL_CONFIG, checkpoint,
                           '--image', str(image), '--max-new-tokens', '5', *extra],
                          input='\n'.join(lines) + '\n', cwd=cwd, capture_output=True, text=True, timeout=300)


def test_two_turns_box_commands_and_save(checkpoint, tmp_path):
    out = _chat(checkpoint, tmp_path, ['What is <box0>?', '/box 20 20 70 60', '/box', 'And <box1>?', '/save',
                                       '/reset', '/exit'], '--box', '5', '5', '50', '40')
    assert out.returncode == 0, out.stderr
    assert out.stdout.count('Groma:') == 2
    assert '<box0>: [5, 5, 50, 40]' in out.stdout and '<box1>: [20, 20, 70, 60]' in out.stdout
    saved = tmp_path / 'outputs' / 'chat_1.jpg'
    assert f'(saved {osp.join("outputs", "chat_1.jpg")})' in out.stdout and saved.is_file()
    assert cv2.imread(str(saved)).shape == (90, 120, 3)
    assert '(conversation cleared)' in out.stdout


def test_bad_box_and_unknown_box_reference_are_reported_and_the_chat_goes_on(checkpoint, tmp_path):
    out = _chat(checkpoint, tmp_path, ['/box 30 30 10 10', 'What is <box3>?', 'Hello?'])
    assert out.returncode == 0, out.stderr
    errors = [line for line in out.stdout.splitlines() if line.startswith('error: ')]
    assert len(errors) == 2 and 'degenerate' in errors[0] and '<box3>' in errors[1]
    assert out.stdout.count('Groma:') == 1
