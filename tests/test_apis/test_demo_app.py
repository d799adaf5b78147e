"""The demo's request handling without a browser: bad requests get messages, good ones share a forward."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from groma_mm.apis import GromaInferencer
from groma_mm.apis.demo_app import GromaDemo, strip_remote_tags
from groma_mm.testing.paths import TINY_GROMA_MODEL_CONFIG


@pytest.fixture(scope='module')
def demo():
    torch.manual_seed(0)
    inferencer = GromaInferencer(Config.fromfile(TINY_GROMA_MODEL_CONFIG))
    calls = []
    chat = inferencer.chat

    def counting_chat(images, *args, **kwargs):
        calls.append(len(images))
        return chat(images, *args, **kwargs)

    inferencer.chat = counting_chat
    return GromaDemo(inferencer), calls


def _batch(demo, requests):
    keys = ('image', 'boxes', 'question', 'mode', 'max_new_tokens', 'temperature', 'top_p', 'greedy', 'session')
    defaults = dict(boxes='', mode='chat', max_new_tokens=4, temperature=1.0, top_p=1.0, greedy=True, session=None)
    columns = [[dict(defaults, **r)[k] for r in requests] for k in keys]
    return demo.answer_batch(*columns)


def test_bad_requests_get_their_message_and_the_good_ones_one_forward(demo):
    app, calls = demo
    image = np.full((60, 80, 3), 120, np.uint8)
    too_many = '; '.join('1 1 9 9' for _ in range(app.inferencer.max_boxes + 1))
    answers, drawings, records, sessions = _batch(app, [
        dict(image=None, question='hi'),
        dict(image=image, boxes=too_many, question='What is <box0>?'),
        dict(image=image, boxes='30 30 10 10', question='What is <box0>?'),
        dict(image=image, boxes='10 10 40 40', question='What is <box0>?'),
        dict(image=image, question='Where is <p>it</p>?', mode='find'),
        dict(image=image, question='', mode='proposals'),
    ])
    assert 'no image' in answers[0] and 'region slots' in answers[1] and 'degenerate' in answers[2]
    assert all('groma-error' in a for a in answers[:3]) and all(d is None for d in drawings[:3])
    assert all('groma-answer' in a for a in answers[3:]) and all(d.shape == (60, 80, 3) for d in drawings[3:])
    assert calls == [2]  # the two answerable questions went through one chat call
    assert 'proposals' in records[5] and records[3]['regions']['bboxes'][0] == [10.0, 10.0, 40.0, 40.0]
    assert sessions[3].image is not None


def test_requests_with_other_generation_settings_are_not_merged(demo):
    app, calls = demo
    calls.clear()
    image = np.full((60, 80, 3), 90, np.uint8)
    _batch(app, [dict(image=image, question='a'), dict(image=image, question='b', max_new_tokens=2),
                 dict(image=image, question='c')])
    assert sorted(calls) == [1, 2]


def test_remote_script_and_link_tags_are_removed_local_ones_kept():
    page = ('<link rel="preconnect" href="https://fonts.googleapis.com" /><script src="https://cdn.x/y.js" async>'
            '</script><script src="./assets/index.js"></script><link href="http://127.0.0.1:7860/a.css">')
    kept = strip_remote_tags(page)
    assert 'googleapis' not in kept and 'cdn.x' not in kept
    assert './assets/index.js' in kept and '127.0.0.1:7860/a.css' in kept
