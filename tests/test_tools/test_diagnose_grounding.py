"""diagnose_grounding.py --word-bags: the word bags, the fitted projector and the bag regions."""
from types import SimpleNamespace

import pytest
import torch

from groma_mm.testing.paths import load_tool


def _tool():
    return load_tool('tools/analysis/diagnose_grounding.py')


def _model(words):
    vocab = {w: i for i, w in enumerate(words)}
    embedding = torch.nn.Embedding(len(words), 4)
    return SimpleNamespace(tokenizer=SimpleNamespace(get_vocab=lambda: vocab),
                           llm=SimpleNamespace(get_input_embeddings=lambda: embedding)), embedding


def test_a_word_bag_is_the_sum_of_the_objects_three_word_embeddings():
    tool = _tool()
    model, embedding = _model(['small', 'large', 'red', 'blue', 'circle', 'star'])
    objects = [dict(size='large', colour='red', shape='star'), dict(size='small', colour='blue', shape='circle')]
    bags = tool.word_bags(model, objects)
    w = embedding.weight
    assert torch.allclose(bags, torch.stack([w[1] + w[2] + w[5], w[0] + w[3] + w[4]]))
    with pytest.raises(ValueError, match=r"lacks the attribute words \['green'\]"):
        tool.word_bags(model, [dict(size='small', colour='green', shape='star')])


def test_the_fitted_projector_recovers_an_affine_map():
    tool = _tool()
    torch.manual_seed(0)
    x = torch.randn(50, 6)
    weight, bias = torch.randn(3, 6), torch.randn(3)
    linear = tool.fit_linear(x, x @ weight.T + bias)
    assert torch.allclose(linear.weight, weight, atol=1e-4) and torch.allclose(linear.bias, bias, atol=1e-4)


def test_bag_regions_give_each_ground_truth_box_its_bag_and_name_a_box_that_is_none():
    tool = _tool()
    bags = {(1, 2, 3, 4): torch.ones(4), (5, 6, 7, 8): torch.zeros(4)}
    encode = tool.bag_regions(bags)
    regions = [SimpleNamespace(bboxes=torch.tensor([[5.0, 6.0, 7.0, 8.0], [1.2, 2.0, 3.0, 3.9]]))]
    tokens = encode(None, [0], regions, None)
    assert torch.equal(tokens[0], torch.stack([torch.zeros(4), torch.ones(4)]))
    with pytest.raises(KeyError, match=r'region \(9, 9, 9, 9\) is no ground-truth box'):
        encode(None, [0], [SimpleNamespace(bboxes=torch.tensor([[9.0, 9.0, 9.0, 9.0]]))], None)


def test_zeroed_image_tokens_replaces_them_within_the_block_records_their_norm_and_restores_them():
    tool = _tool()
    torch.manual_seed(0)
    model = SimpleNamespace(image_tokenizer=torch.nn.Linear(3, 4))
    x = torch.randn(2, 5, 3)
    before = model.image_tokenizer(x)
    norms = []
    with tool.zeroed_image_tokens(model, norms):
        assert torch.equal(model.image_tokenizer(x), torch.zeros(2, 5, 4))
    assert norms == [pytest.approx(float(before.norm(dim=-1).mean()))]
    assert torch.equal(model.image_tokenizer(x), before)
    with pytest.raises(RuntimeError):
        with tool.zeroed_image_tokens(model):
            raise RuntimeError('the block failed')
    assert torch.equal(model.image_tokenizer(x), before)
