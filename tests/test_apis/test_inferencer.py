"""GromaInferencer: batched answers equal one-by-one answers; bad inputs get messages, not crashes."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from groma_mm.apis import GromaInferencer
from groma_mm.testing.paths import TINY_GROMA_MODEL_CONFIG


@pytest.fixture(scope='module')
def inferencer():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY_GROMA_MODEL_CONFIG)
    cfg.model.generation_cfg = dict(max_new_tokens=12)
    return GromaInferencer(cfg)


def _image(seed, size=(96, 128)):
    rng = np.random.default_rng(seed)
    img = np.full((*size, 3), 120, np.uint8)
    x, y = rng.integers(0, 60, 2)
    img[y:y + 30, x:x + 40] = rng.integers(0, 255, 3)
    return img


def test_batched_generation_equals_one_by_one(inferencer):
    images = [_image(i) for i in range(4)]
    prompts = ['What is <box0>?', 'Locate <p>the red circle</p> in the image.', 'Please briefly describe <box0>.',
               'Give me a short description of the image.']
    boxes = [[[10, 10, 60, 50]], None, [[30, 20, 120, 90]], None]
    batched = inferencer.ask(images, prompts, boxes=boxes, batch_size=4)
    single = [inferencer.ask(img, p, boxes=b) for img, p, b in zip(images, prompts, boxes)]
    for b, s in zip(batched, single):
        assert b.error is None and s.error is None
        assert b.raw == s.raw
        np.testing.assert_allclose(b.regions['bboxes'], s.regions['bboxes'], atol=1e-3)
    # User boxes come first among the regions, in original pixels.
    np.testing.assert_allclose(batched[0].regions['bboxes'][0], [10, 10, 60, 50], atol=1e-3)


@pytest.mark.parametrize('image, boxes, prompt, message', [
    ('/nonexistent/photo.jpg', None, 'Hi', 'cannot read /nonexistent/photo.jpg'),
    (None, [[50, 50, 50, 80]], 'What is <box0>?', 'box 0 [50, 50, 50, 80] is degenerate'),
    (None, [[10, 10, 400, 80]], 'What is <box0>?', 'lies outside the 128×96 image'),
    (None, [[1, 1, 5, 5]] * 101, 'What is <box0>?', '101 boxes given but the model has 100 region slots'),
    (None, [[10, 10, 50, 50]], 'Compare <box0> and <box1>.', 'the prompt refers to <box1> but 1 box(es) were given'),
])
def test_bad_input_gets_a_clear_message_and_the_batch_goes_on(inferencer, image, boxes, prompt, message):
    image = _image(0) if image is None else image
    good = _image(1)
    bad, ok = inferencer.ask([image, good], [prompt, 'What is <box0>?'], boxes=[boxes, [[5, 5, 40, 40]]])
    assert bad.error is not None and message in bad.error, bad.error
    assert ok.error is None and isinstance(ok.text, str)


def test_corrupt_file_is_reported(inferencer, tmp_path):
    path = tmp_path / 'broken.jpg'
    path.write_bytes(b'\xff\xd8\xff\xe0 this is not really a jpeg')
    result = inferencer.ask(str(path), 'Hi')
    assert result.error and 'broken.jpg' in result.error


@pytest.mark.parametrize('array', [
    np.full((50, 70), 200, np.uint8),
    np.full((50, 70, 4), 100, np.uint8),
    np.full((50, 70, 3), 40000, np.uint16),
    np.full((50, 70, 3), 0.5, np.float32),
])
def test_grayscale_rgba_16bit_and_float_images_are_converted(inferencer, array):
    result = inferencer.ask(array, 'What is <box0>?', boxes=[[5, 5, 40, 30]])
    assert result.error is None
    np.testing.assert_allclose(result.regions['bboxes'][0], [5, 5, 40, 30], atol=1e-3)


def test_task_helpers_build_the_paper_prompts(inferencer):
    img = _image(3)
    for result in (inferencer.ground(img, 'the red square'), inferencer.ground(img, 'squares', all_instances=True),
                   inferencer.describe_region(img, [10, 10, 50, 40]), inferencer.grounded_caption(img),
                   inferencer.chat(img, [dict(role='user', content='What is <box0>?'),
                                         dict(role='assistant', content='a square'),
                                         dict(role='user', content='And its colour?')], boxes=[[10, 10, 50, 40]])):
        assert result.error is None
    proposals = inferencer.propose(img)
    assert proposals['bboxes'].shape[1] == 4 and len(proposals['bboxes']) == len(proposals['scores'])
