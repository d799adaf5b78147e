"""GromaInferencer.ask_about: several questions about one image, one encoder pass, the same answers."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from groma_mm.apis import GromaInferencer
from groma_mm.testing.paths import TINY_GROMA_MODEL_CONFIG

PROMPTS = ['Locate <p>the red circle</p> in the image.', 'What is <box0>?', 'Give me a short description.']


@pytest.fixture(scope='module')
def inferencer():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY_GROMA_MODEL_CONFIG)
    cfg.model.generation_cfg = dict(max_new_tokens=8)
    return GromaInferencer(cfg)


def _image():
    img = np.full((96, 128, 3), 90, np.uint8)
    img[20:60, 30:80] = (20, 40, 220)
    return img


def _encoder_batches(inferencer, fn):
    batches = []
    handle = inferencer.model.proposer.backbone.register_forward_hook(
        lambda m, args, out: batches.append(len(args[0])))
    try:
        return fn(), batches
    finally:
        handle.remove()


def test_questions_about_one_image_encode_it_once(inferencer):
    img, boxes = _image(), [[10, 10, 60, 50]]
    results, batches = _encoder_batches(inferencer, lambda: inferencer.ask_about(img, PROMPTS, boxes=boxes))
    assert batches == [1]
    assert len(results) == len(PROMPTS) and all(r.error is None for r in results)
    for prompt, result in zip(PROMPTS, results):
        alone = inferencer.ask(img, prompt, boxes=boxes)
        assert result.raw == alone.raw
        np.testing.assert_allclose(result.regions['bboxes'], alone.regions['bboxes'], atol=1e-3)


def test_a_smaller_batch_size_encodes_once_per_batch(inferencer):
    _, batches = _encoder_batches(inferencer, lambda: inferencer.ask_about(_image(), PROMPTS, boxes=[[5, 5, 40, 40]],
                                                                             batch_size=2))
    assert batches == [1, 1]


def test_ground_with_several_expressions_on_one_image_answers_each(inferencer):
    results, batches = _encoder_batches(inferencer, lambda: inferencer.ground(_image(), ['the square', 'a dot']))
    assert len(results) == 2 and batches == [1]
