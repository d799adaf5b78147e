import pytest
import torch
from transformers import AutoTokenizer

from groma_mm.models.llms.special_tokens import (GROMA_TOKENS, GromaTokenIds, add_groma_tokens, groma_special_tokens,
                                                 proxy_token)
from groma_mm.testing.tiny_tokenizer import CHATML_TOKENS, build_tiny_tokenizer


def test_tokens_are_added_in_order_and_ids_returned():
    tok = build_tiny_tokenizer()
    n_before = len(tok)
    ids = add_groma_tokens(tok, num_proxy_tokens=5)
    assert len(tok) == n_before + len(GROMA_TOKENS) + 5
    assert ids.all_ids == list(range(n_before, n_before + 12))
    assert [ids.image, ids.region, ids.roi_start, ids.roi_end, ids.p_start, ids.p_end, ids.grounding] == \
        tok.convert_tokens_to_ids(['<image>', '<region>', '<roi>', '</roi>', '<p>', '</p>', '[grounding]'])
    assert ids.proxy == tuple(tok.convert_tokens_to_ids([f'<r{k}>' for k in range(5)]))
    assert '<r5>' not in tok.get_vocab()


def test_adding_is_idempotent_and_keeps_other_special_tokens():
    tok = build_tiny_tokenizer()
    first = add_groma_tokens(tok, num_proxy_tokens=5)
    n = len(tok)
    assert add_groma_tokens(tok, num_proxy_tokens=5) == first
    assert len(tok) == n
    assert tok.additional_special_tokens[:2] == list(CHATML_TOKENS)
    assert tok.additional_special_tokens[2:] == groma_special_tokens(5)


def test_more_proxies_later_extend_the_vocabulary():
    tok = build_tiny_tokenizer()
    small = add_groma_tokens(tok, num_proxy_tokens=3)
    big = add_groma_tokens(tok, num_proxy_tokens=6)
    assert big.proxy[:3] == small.proxy and big.image == small.image
    assert big.num_proxy_tokens == 6


def test_tokens_are_never_split_nor_merged():
    tok = build_tiny_tokenizer()
    add_groma_tokens(tok, num_proxy_tokens=100)
    text = '<p>a dog</p><roi><r4><r99></roi>[grounding]<image><region>'
    assert tok.tokenize(text) == ['<p>', 'a', 'dog', '</p>', '<roi>', '<r4>', '<r99>', '</roi>', '[grounding]',
                                  '<image>', '<region>']


def test_default_is_100_proxy_tokens():
    tok = build_tiny_tokenizer()
    ids = add_groma_tokens(tok)
    assert ids.num_proxy_tokens == 100
    assert tok.convert_ids_to_tokens(ids.proxy[-1]) == '<r99>'


def test_proxy_helpers():
    tok = build_tiny_tokenizer()
    ids = add_groma_tokens(tok, num_proxy_tokens=4)
    assert proxy_token(3) == '<r3>'
    with pytest.raises(ValueError):
        proxy_token(-1)
    assert ids.proxy_id(2) == tok.convert_tokens_to_ids('<r2>')
    with pytest.raises(IndexError, match='<r0>…<r3>'):
        ids.proxy_id(4)
    assert [ids.proxy_index(ids.proxy_id(k)) for k in range(4)] == [0, 1, 2, 3]
    assert ids.proxy_index(ids.region) is None
    assert ids.proxy_index(torch.tensor(ids.proxy[1])) == 1
    input_ids = torch.tensor([[ids.proxy[3], ids.region, 5], [ids.proxy[0], ids.image, ids.proxy[1]]])
    assert ids.proxy_indices(input_ids).tolist() == [[3, -1, -1], [0, -1, 1]]


def test_from_tokenizer_needs_the_tokens():
    with pytest.raises(KeyError, match='add_groma_tokens'):
        GromaTokenIds.from_tokenizer(build_tiny_tokenizer(), num_proxy_tokens=2)
    with pytest.raises(ValueError):
        groma_special_tokens(0)


def test_ids_survive_save_and_load(tmp_path):
    tok = build_tiny_tokenizer()
    ids = add_groma_tokens(tok, num_proxy_tokens=7)
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert GromaTokenIds.from_tokenizer(loaded, num_proxy_tokens=7) == ids
    assert add_groma_tokens(loaded, num_proxy_tokens=7) == ids
