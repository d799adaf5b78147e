"""Groma's proposal cache: a frozen proposer runs once per image across batches, with the same regions."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

from groma_mm.models.mllm.proposal_cache import ProposalCache
from groma_mm.registry import MODELS
from groma_mm.testing.paths import TINY_GROMA_MODEL_CONFIG


def _model(**overrides):
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY_GROMA_MODEL_CONFIG)
    cfg.model.update(overrides)
    # A random proposer scores below the default threshold: keep every proposal so regions are compared.
    cfg.model.post_processor = dict(type='RegionPostProcessor', score_thr=0.0)
    model = MODELS.build(cfg.model)
    model.init_weights()  # the DETR's level embeddings and the like are empty tensors until then
    return model.eval()


def _batch(model, seeds, flip=()):
    images = []
    for k, seed in enumerate(seeds):
        image = torch.randint(0, 255, (3, 112, 112), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
        images.append(image.flip(-1) if k in flip else image)
    samples = []
    for k in range(len(seeds)):
        sample = DetDataSample(metainfo=dict(img_shape=(112, 112), ori_shape=(112, 112), scale_factor=(1.0, 1.0),
                                             img_path=f'img{k}.jpg', conversation=[]))
        sample.bboxes = torch.zeros((0, 4))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), False)
    return data['inputs'], data['data_samples']


class _ProposeCalls:
    """Counts the images the proposer's ``propose`` is asked for."""

    def __init__(self, model):
        self.images, self.model, self.propose = [], model, model.proposer.propose

    def __enter__(self):
        def counted(feats, samples):
            self.images.append(len(samples))
            return self.propose(feats, samples)

        self.model.proposer.propose = counted
        return self

    def __exit__(self, *exc):
        del self.model.proposer.propose


def _regions(model, inputs, samples):
    with torch.no_grad():
        return model._encode(inputs, samples, training=False)[2]


def test_an_image_seen_before_skips_the_proposer_and_gets_the_same_regions():
    model = _model(proposal_cache=8)
    inputs, samples = _batch(model, [1, 2, 1])
    with _ProposeCalls(model) as calls:
        first = _regions(model, inputs, samples)
        again = _regions(model, inputs, samples)
        mixed_inputs, mixed_samples = _batch(model, [3, 2])
        mixed = _regions(model, mixed_inputs, mixed_samples)
    # Two distinct images, then none new, then only image 3 (image 2 comes from the cache).
    assert calls.images == [2, 1]
    for a, b in zip(first, again):
        assert torch.equal(a.bboxes, b.bboxes)
    uncached = _regions(_model(), mixed_inputs, mixed_samples)
    for a, b in zip(mixed, uncached):
        torch.testing.assert_close(a.bboxes, b.bboxes)


def test_a_flipped_image_is_another_image_for_the_cache():
    model = _model(proposal_cache=8)
    with _ProposeCalls(model) as calls:
        _regions(model, *_batch(model, [1]))
        _regions(model, *_batch(model, [1], flip=(0, )))
    assert calls.images == [1, 1]


def test_the_cache_keeps_at_most_max_images_dropping_the_least_recently_used():
    model = _model(proposal_cache=2)
    with _ProposeCalls(model) as calls:
        for seeds in ([1], [2], [1], [3], [1], [2]):
            _regions(model, *_batch(model, seeds))
    # 1, 2 new; 1 cached (now most recent); 3 new evicts 2; 1 cached; 2 new again.
    assert calls.images == [1, 1, 1, 1]
    assert len(model.proposal_cache) == 2


def test_loading_proposer_weights_empties_the_cache():
    model = _model(proposal_cache=8)
    inputs, samples = _batch(model, [1, 2])
    _regions(model, inputs, samples)
    assert len(model.proposal_cache) == 2
    model.load_state_dict(model.state_dict(), strict=False)
    assert len(model.proposal_cache) == 0


def test_a_cache_with_a_training_proposer_or_a_negative_size_is_refused():
    with pytest.raises(ValueError, match='freeze_proposer=False'):
        _model(proposal_cache=8, freeze_proposer=False)
    with pytest.raises(ValueError, match='max_images=0'):
        ProposalCache(0)
    with pytest.raises(ValueError, match='proposal_cache is the number of images .* got -1'):
        _model(proposal_cache=-1)
