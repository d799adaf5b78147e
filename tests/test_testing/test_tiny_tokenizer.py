from transformers import AutoTokenizer, PreTrainedTokenizerFast

from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer


def test_llama_like_special_tokens():
    tok = build_tiny_tokenizer()
    assert isinstance(tok, PreTrainedTokenizerFast) and tok.is_fast
    assert (tok.unk_token, tok.bos_token, tok.eos_token, tok.pad_token) == ('<unk>', '<s>', '</s>', '<pad>')
    ids = tok('A dog is jumping.')['input_ids']
    assert ids[0] == tok.bos_token_id
    assert tok.convert_ids_to_tokens(ids[1:]) == ['A', 'dog', 'is', 'jumping', '.']
    assert tok('dog', add_special_tokens=False)['input_ids'] == [tok.convert_tokens_to_ids('dog')]


def test_unknown_words_and_round_trip():
    tok = build_tiny_tokenizer()
    assert tok.tokenize('zyzzyva') == ['<unk>']
    ids = tok('The dog, a cat and 42 birds.', add_special_tokens=False)['input_ids']
    assert tok.decode(ids) == 'The dog, a cat and 4 2 birds.'


def test_extra_words():
    assert build_tiny_tokenizer(extra_words=['zyzzyva']).tokenize('Zyzzyva') == ['Zyzzyva']


def test_save_and_load_offline(tmp_path):
    tok = build_tiny_tokenizer(save_dir=str(tmp_path))
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = '<|im_start|>user\nWhat is this photo about?<|im_end|>\n'
    assert loaded(text)['input_ids'] == tok(text)['input_ids']
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded.additional_special_tokens == ['<|im_start|>', '<|im_end|>']
