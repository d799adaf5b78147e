"""Shared checks for the reader tests: the sample contract, and that every sample becomes a prompt."""
import os
import re

import numpy as np
import pytest

from groma_mm.datasets.prompt_builder import GromaPromptBuilder
from groma_mm.models.llms.special_tokens import add_groma_tokens
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer

CONTRACT_KEYS = {'img_path', 'img_id', 'height', 'width', 'conversation', 'bboxes', 'task', 'grounding', 'gt'}
TASKS = {'caption', 'region_caption', 'rec', 'multi_grounding', 'grounded_caption', 'chat'}
_BOX = re.compile(r'<box(\d+)>')


@pytest.fixture
def touch_images():
    """``touch_images(folder, *names)`` creates empty image files: readers only check that they exist."""

    def touch(folder, *names):
        for name in names:
            path = os.path.join(str(folder), name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, 'wb').close()

    return touch


@pytest.fixture(scope='session')
def prompt_builder():
    tokenizer = build_tiny_tokenizer()
    add_groma_tokens(tokenizer, num_proxy_tokens=20)
    return GromaPromptBuilder(tokenizer, num_image_tokens=4, num_proxy_tokens=20)


@pytest.fixture
def check_contract(prompt_builder):
    """Assert that every sample of a dataset follows the contract and renders through the prompt builder."""

    def check(dataset):
        assert len(dataset) > 0
        for i in range(len(dataset)):
            s = dataset.get_data_info(i)
            where = f'{type(dataset).__name__}[{i}]'
            assert CONTRACT_KEYS <= set(s), where
            assert isinstance(s['img_path'], str) and s['img_path'], where
            assert s['task'] in TASKS and isinstance(s['grounding'], bool) and isinstance(s['gt'], dict), where
            assert (s['height'] is None) == (s['width'] is None), where
            boxes = s['bboxes']
            assert isinstance(boxes, np.ndarray) and boxes.dtype == np.float32 and boxes.ndim == 2, where
            assert boxes.shape[1] == 4, where
            assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all(), where
            if s['height'] is not None:
                assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= s['width']).all(), where
                assert (boxes[:, [1, 3]] <= s['height']).all(), where
            roles = [m['role'] for m in s['conversation']]
            assert roles == ['user', 'assistant'] * (len(roles) // 2) and roles, where
            assert all(isinstance(m['content'], str) and m['content'] for m in s['conversation']), where
            mentioned = {int(k) for m in s['conversation'] for k in _BOX.findall(m['content'])}
            assert mentioned == set(range(len(boxes))), f'{where}: boxes {len(boxes)}, mentioned {mentioned}'
            assert '<image>' not in ''.join(m['content'] for m in s['conversation']), where
            prompt = prompt_builder(s['conversation'], num_regions=len(boxes), box_to_region=list(range(len(boxes))),
                                    grounding=s['grounding'], sample=where)
            assert (prompt.labels != -100).any(), where

    return check
