"""The official token layout: new tokens in their own embedding table and LM head, official ids."""
import pytest
import torch
import torch.nn.functional as F

from groma_mm.models.llms import OFFICIAL_ADDED_TOKENS, build_split_vocab_causal_lm, official_new_tokens
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer

LLAMA = dict(model_type='llama', hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
             num_key_value_heads=4, max_position_embeddings=256)


def _build(**kwargs):
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    llm = build_split_vocab_causal_lm(config=dict(LLAMA, vocab_size=len(tokenizer)), tokenizer=tokenizer,
                                      num_proxy_tokens=10, **kwargs)
    return tokenizer, llm


def test_new_tokens_get_the_official_ids_after_the_llm_vocabulary():
    tokenizer, llm = _build()
    vocab = llm.get_input_embeddings().num_embeddings
    tokens = official_new_tokens(10)
    assert tokens[:len(OFFICIAL_ADDED_TOKENS)] == list(OFFICIAL_ADDED_TOKENS)
    assert tokenizer.convert_tokens_to_ids(tokens) == list(range(vocab, vocab + len(tokens)))
    assert tokenizer.pad_token == '[PAD]' and tokenizer.pad_token_id == vocab


def test_new_ids_are_embedded_by_their_own_table_and_scored_by_the_extra_head():
    _, llm = _build()
    embedding, head = llm.get_input_embeddings(), llm.get_output_embeddings()
    vocab = embedding.num_embeddings
    with torch.no_grad():
        embedding.new_input_embs.weight.normal_()
        head.extra_lm_head.weight.normal_()
    ids = torch.tensor([[1, vocab - 1, vocab, vocab + 23]])
    embeds = embedding(ids)
    assert torch.equal(embeds[0, :2], embedding.weight[[1, vocab - 1]])
    assert torch.equal(embeds[0, 2:], embedding.new_input_embs.weight[[0, 23]])

    out = llm(input_ids=ids, labels=ids, output_hidden_states=True)
    hidden = out.hidden_states[-1]
    assert out.logits.shape[-1] == vocab + 24
    torch.testing.assert_close(out.logits[..., vocab:], hidden @ head.extra_lm_head.weight.T)
    torch.testing.assert_close(out.logits[..., :vocab], hidden @ head.weight.T)
    expected = F.cross_entropy(out.logits[0, :-1], ids[0, 1:])
    torch.testing.assert_close(out.loss, expected)


def test_generation_feeds_new_tokens_back_through_the_split_table():
    _, llm = _build()
    vocab = llm.get_input_embeddings().num_embeddings
    with torch.no_grad():  # make the extra head win: every greedy step emits a new token
        llm.get_output_embeddings().extra_lm_head.weight.normal_(std=10.0)
    out = llm.generate(input_ids=torch.tensor([[1, 5, 6]]), max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert (out[0, 3:] >= vocab).all()


def test_frozen_llm_trains_only_the_new_tables():
    _, llm = _build(freeze_llm=True)
    trainable = {n for n, p in llm.named_parameters() if p.requires_grad}
    assert trainable == {'model.embed_tokens.new_input_embs.weight', 'lm_head.extra_lm_head.weight'}


def test_a_tokenizer_with_other_ids_is_refused():
    tokenizer = build_tiny_tokenizer()
    tokenizer.add_tokens(['<roi>'], special_tokens=True)  # takes the id [PAD] needs
    with pytest.raises(ValueError, match='embedding rows'):
        build_split_vocab_causal_lm(config=dict(LLAMA, vocab_size=len(tokenizer) - 1), tokenizer=tokenizer,
                                    num_proxy_tokens=10)


def test_a_tokenizer_with_the_tokens_in_another_order_is_refused():
    tokenizer = build_tiny_tokenizer()
    vocab = len(tokenizer)
    tokenizer.add_tokens(official_new_tokens(10)[::-1], special_tokens=True)
    with pytest.raises(ValueError, match=r'official Groma token ids .*\[PAD\] has id'):
        build_split_vocab_causal_lm(config=dict(LLAMA, vocab_size=vocab), tokenizer=tokenizer, num_proxy_tokens=10)
