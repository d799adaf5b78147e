"""Groma's training loss: one bad sample is skipped, counted and logged with its file and index, the rest of
the batch trains; the LM head scores the reply span only."""
import logging

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.logging import MMLogger

from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT

GOOD = [dict(role='user', content='What is <box0>?'), dict(role='assistant', content='a red circle')]


@pytest.fixture(scope='module')
def model():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/groma_tiny.py')
    cfg.model.post_processor = dict(type='RegionPostProcessor', max_regions=8)
    cfg.model.num_proxy_tokens = 8
    torch.manual_seed(0)
    groma = MODELS.build(cfg.model)
    groma.init_weights()
    return groma.train()


def _sample(index, conversation=GOOD, boxes=((10.0, 10.0, 60.0, 70.0), )):
    s = DetDataSample(metainfo=dict(img_shape=(112, 112), ori_shape=(112, 112), scale_factor=(1.0, 1.0),
                                    img_path=f'images/{index}.jpg', sample_idx=index, conversation=conversation))
    s.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return s


def _batch(samples):
    images = [torch.randint(0, 255, (3, 112, 112), dtype=torch.uint8, generator=torch.Generator().manual_seed(
        s.sample_idx)) for s in samples]
    return dict(inputs=images, data_samples=samples)


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings():
    handler = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


BAD = {
    'too many boxes': lambda i: _sample(i, [dict(role='user', content='Describe <box0>.'),
                                            dict(role='assistant', content='It is ' + ' '.join(
                                                f'<box{k}>' for k in range(12)))],
                                        [(2.0 * k, 2.0 * k, 40.0 + k, 40.0 + k) for k in range(12)]),
    'NaN box': lambda i: _sample(i, boxes=((10.0, float('nan'), 60.0, 70.0), )),
    'empty conversation': lambda i: _sample(i, conversation=[]),
    'all labels masked': lambda i: _sample(i, [dict(role='user', content='What is <box0>?')]),
    'malformed message': lambda i: _sample(i, [dict(role='user'), dict(role='assistant', content=None)]),
}


@pytest.mark.parametrize('fault', sorted(BAD))
def test_a_bad_sample_is_skipped_and_named_the_rest_trains(model, warnings, fault):
    good = [_sample(0), _sample(2)]
    data = model.data_preprocessor(_batch([good[0], BAD[fault](1), good[1]]), True)
    before = model.num_skipped
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss']) and losses['loss'].requires_grad
    assert losses['skipped'].item() == 1 and model.num_skipped == before + 1
    assert any('images/1.jpg (sample 1)' in m for m in warnings), warnings
    # The good samples alone give the same loss: the bad one took no part.
    alone = model(**model.data_preprocessor(_batch(good), True), mode='loss')
    torch.testing.assert_close(losses['loss'], alone['loss'])


def test_a_batch_of_only_bad_samples_gives_a_zero_loss_that_backpropagates(model, warnings):
    data = model.data_preprocessor(_batch([BAD['NaN box'](0), BAD['empty conversation'](1)]), True)
    losses = model(**data, mode='loss')
    assert losses['loss'].item() == 0 and losses['skipped'].item() == 2
    losses['loss'].backward()


def test_a_non_finite_loss_is_logged_with_the_batch_samples(model, warnings):
    data = model.data_preprocessor(_batch([_sample(5), _sample(6)]), True)
    head = model.llm.get_output_embeddings().weight
    saved = head.detach().clone()
    with torch.no_grad():
        head.fill_(float('inf'))
    try:
        losses = model(**data, mode='loss')
    finally:
        with torch.no_grad():
            head.copy_(saved)
    assert not torch.isfinite(losses['loss'])
    assert any('non-finite loss' in m and 'images/5.jpg (sample 5)' in m and 'images/6.jpg (sample 6)' in m
               for m in warnings), warnings


def test_the_lm_head_scores_only_the_reply_tokens_not_the_intro(model):
    data = model.data_preprocessor(_batch([_sample(7), _sample(8)]), True)
    scored, embedded = [], []
    head = model.llm.get_output_embeddings().register_forward_hook(lambda m, a, o: scored.append(a[0].shape))
    embed = model.llm.get_input_embeddings().register_forward_hook(lambda m, a, o: embedded.append(o.shape[:2]))
    try:
        loss = model(**data, mode='loss')['loss']
    finally:
        head.remove()
        embed.remove()
    assert torch.isfinite(loss)
    # The prompts are the intro (image slots, region list) and a short reply: the head sees the reply tokens
    # alone (the plain LLM's decoder runs without it), far fewer than the batch's positions.
    assert len(embedded) == 1 and len(scored) == 1 and len(scored[0]) == 2
    assert 0 < scored[0][0] < embedded[0].numel() / 4


def test_the_shared_system_line_runs_once_and_changes_neither_loss_nor_gradients(model, monkeypatch):
    data = model.data_preprocessor(_batch([_sample(7), _sample(8), _sample(9)]), True)
    rows, results = [], []
    first_layer = model.llm.model.layers[0].register_forward_hook(lambda m, a, o: rows.append(a[0].shape[:2]))
    try:
        for share in (True, False):
            if not share:
                monkeypatch.setattr('groma_mm.models.mllm.groma.shared_prefix_length', lambda *args: 0)
            model.zero_grad()
            loss = model(**data, mode='loss')['loss']
            loss.backward()
            results.append((loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    finally:
        first_layer.remove()
    assert rows[0][0] == 1 and rows[1][0] == 3 and rows[2][0] == 3  # prefix once, then the batch; then whole
    (shared, shared_grads), (whole, whole_grads) = results
    torch.testing.assert_close(shared, whole)
    assert len(shared_grads) == len(whole_grads) > 0
    for a, b in zip(shared_grads, whole_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
