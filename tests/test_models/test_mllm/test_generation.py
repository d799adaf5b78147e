"""The static-cache generator answers exactly as transformers' generate, row by row, in ragged batches."""
import pytest
import torch

from groma_mm.models.llms import build_causal_lm
from groma_mm.models.mllm.generation import (HFGenerator, StaticCacheGenerator, build_generator, left_padded_positions,
                                             sample_next)

FAMILIES = {
    'llama': dict(model_type='llama', hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, vocab_size=500),
    'qwen2': dict(model_type='qwen2', hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, vocab_size=500),
}
PAD = 0


@pytest.fixture(scope='module', params=sorted(FAMILIES))
def llm(request):
    torch.manual_seed(0)
    return build_causal_lm(config=FAMILIES[request.param]).eval()


def _ragged_batch(lengths, width=64, seed=0):
    """Left-padded random prompt embeddings: (B, L, D) and the (B, L) mask."""
    gen = torch.Generator().manual_seed(seed)
    total = max(lengths)
    embeds = torch.randn(len(lengths), total, width, generator=gen)
    mask = torch.zeros(len(lengths), total, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, total - n:] = 1
        embeds[row, :total - n] = 0
    return embeds, mask


def test_left_padded_positions_count_each_rows_real_tokens():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert left_padded_positions(mask).tolist() == [[1, 1, 0, 1, 2], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize('layer_loop', [True, False], ids=['layer-loop', 'model-forward'])
@torch.no_grad()
def test_static_greedy_tokens_equal_hf_generate_on_mixed_length_batches(llm, layer_loop):
    lengths = [9, 37, 20, 3]
    embeds, mask = _ragged_batch(lengths)
    hf = HFGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=16, do_sample=False)
    generator = StaticCacheGenerator(layer_loop=layer_loop)
    static = generator(llm, embeds, mask, [], PAD, max_new_tokens=16, do_sample=False)
    assert (next(iter(generator._sessions.values())).layers is not None) == layer_loop
    assert hf.shape == static.shape == (4, 16)
    assert torch.equal(hf, static)
    # Each row alone (no padding) gives the same tokens: the padded rows kept their own positions.
    for row, n in enumerate(lengths):
        alone = StaticCacheGenerator()(llm, embeds[row:row + 1, -n:], mask[row:row + 1, -n:], [], PAD,
                                       max_new_tokens=16)
        assert torch.equal(alone[0], static[row])


@torch.no_grad()
def test_rows_stop_independently_at_their_stop_tokens(llm):
    embeds, mask = _ragged_batch([12, 30, 5], seed=1)
    free = StaticCacheGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=12)
    # Stop ids picked from the free run: row 0 meets one at step 2; the others run on until theirs.
    stops = [int(free[0, 2])]
    expected = HFGenerator()(llm, embeds, mask, stops, PAD, max_new_tokens=12)
    got = StaticCacheGenerator()(llm, embeds, mask, stops, PAD, max_new_tokens=12)
    assert torch.equal(got, expected)
    assert got[0, 2] == stops[0] and (got[0, 3:] == PAD).all()
    for row in range(3):
        hits = (free[row] == stops[0]).nonzero().flatten().tolist()
        end = hits[0] + 1 if hits else free.shape[1]
        assert torch.equal(got[row, :end], free[row, :end])


@torch.no_grad()
def test_all_rows_stopped_ends_the_loop_early(llm):
    embeds, mask = _ragged_batch([6], seed=2)
    free = StaticCacheGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=10)
    got = StaticCacheGenerator()(llm, embeds, mask, [int(free[0, 1])], PAD, max_new_tokens=10)
    assert got.tolist() == [free[0, :2].tolist()]


@torch.no_grad()
def test_a_reused_cache_forgets_the_previous_prompt(llm):
    generator = StaticCacheGenerator(cache_multiple=64)
    first, first_mask = _ragged_batch([30, 10], seed=3)
    other, other_mask = _ragged_batch([28, 25], seed=4)
    a = generator(llm, first, first_mask, [], PAD, max_new_tokens=8)
    generator(llm, other, other_mask, [], PAD, max_new_tokens=8)
    assert len(generator._sessions) == 1  # same batch size and cache length: one cache, reused
    assert torch.equal(generator(llm, first, first_mask, [], PAD, max_new_tokens=8), a)


@torch.no_grad()
def test_sampling_narrowed_to_one_token_is_greedy(llm):
    embeds, mask = _ragged_batch([15, 7], seed=5)
    greedy = StaticCacheGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=8)
    for options in (dict(top_k=1), dict(top_p=1e-6), dict(temperature=1e-4, top_k=0)):
        sampled = StaticCacheGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=8, do_sample=True, **options)
        assert torch.equal(sampled, greedy), options


@torch.no_grad()
def test_sampling_is_seeded_and_differs_from_greedy(llm):
    embeds, mask = _ragged_batch([15, 7], seed=6)
    greedy = StaticCacheGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=8)
    draws = []
    for _ in range(2):
        torch.manual_seed(123)
        draws.append(StaticCacheGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=8, do_sample=True,
                                            temperature=5.0, top_k=0))
    assert torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], greedy)


def test_top_k_and_top_p_draw_only_from_the_kept_tokens():
    torch.manual_seed(0)
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0, -1.0]]).repeat(2000, 1)
    top_k = sample_next(logits, True, 1.0, 3, 1.0)
    assert set(top_k.tolist()) == {0, 1, 2}
    probs = logits[0].softmax(0)
    # top_p keeps the smallest prefix of the sorted tokens whose mass reaches p: here the first two.
    p = float(probs[:2].sum()) - 1e-3
    top_p = sample_next(logits, True, 1.0, 0, p)
    assert set(top_p.tolist()) == {0, 1}
    share = (top_p == 0).float().mean().item()
    assert abs(share - float(probs[0] / probs[:2].sum())) < 0.05


def test_unsupported_options_are_refused_by_name(llm):
    embeds, mask = _ragged_batch([4])
    with pytest.raises(ValueError, match=r"\['num_beams'\].*generator=\"hf\""):
        StaticCacheGenerator()(llm, embeds, mask, [], PAD, max_new_tokens=4, num_beams=2)


def test_llm_defaults_the_static_loop_cannot_apply_are_named_once(llm, monkeypatch):
    from mmengine.logging import MMLogger
    warnings = []
    monkeypatch.setattr(MMLogger.get_current_instance(), 'warning', warnings.append)
    monkeypatch.setattr(llm.generation_config, 'repetition_penalty', 1.3)
    embeds, mask = _ragged_batch([4])
    generator = StaticCacheGenerator()
    for _ in range(2):
        generator(llm, embeds, mask, [], PAD, max_new_tokens=2)
    assert len(warnings) == 1 and 'repetition_penalty=1.3' in warnings[0]


def test_generators_are_built_from_aliases_and_configs():
    assert isinstance(build_generator('hf'), HFGenerator)
    assert isinstance(build_generator('static'), StaticCacheGenerator)
    assert build_generator(dict(type='StaticCacheGenerator', cache_multiple=8)).cache_multiple == 8
    with pytest.raises(ValueError, match='unknown generator'):
        build_generator('fast')
