import copy
import warnings

import numpy as np
import pytest
import torch

from groma_mm.datasets.prompt_builder import GromaPromptBuilder
from groma_mm.models.llms import builder as llm_builder  # noqa: F401  (registers HFCausalLM, HFTokenizer)
from groma_mm.models.llms.special_tokens import GromaTokenIds
from groma_mm.registry import MODELS
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer, tiny_vocabulary

N_PROXY = 8
VOCAB = len(tiny_vocabulary())
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=512, vocab_size=VOCAB)
# Two families, no code change between them: LLaMA (separate LM head) and Qwen2 (tied LM head).
CONFIGS = {
    'llama': dict(TINY, model_type='llama', tie_word_embeddings=False),
    'qwen2': dict(TINY, model_type='qwen2', tie_word_embeddings=True),
}


def _build(family, **kwargs):
    torch.manual_seed(0)
    tok = build_tiny_tokenizer()
    model = MODELS.build(dict(type='HFCausalLM', config=CONFIGS[family], tokenizer=tok, num_proxy_tokens=N_PROXY,
                              **kwargs))
    return model, tok, GromaTokenIds.from_tokenizer(tok, N_PROXY)


def _batch(tok, ids):
    """A short sequence that uses Groma tokens, with labels on every position."""
    input_ids = torch.tensor([[tok.bos_token_id, ids.p_start, 10, ids.p_end, ids.roi_start, ids.proxy[3], ids.roi_end,
                               ids.region, ids.grounding, 20]])
    return dict(input_ids=input_ids, labels=input_ids.clone())


@pytest.mark.parametrize('family', ['llama', 'qwen2'])
def test_tokens_added_and_embeddings_resized(family):
    model, tok, ids = _build(family)
    assert len(tok) == VOCAB + 7 + N_PROXY
    assert ids.all_ids == list(range(VOCAB, len(tok)))
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    assert emb.shape[0] == head.shape[0] == model.config.vocab_size == len(tok)
    assert (head is emb) == (family == 'qwen2')
    new = torch.tensor(ids.all_ids)
    for weight in (emb, head):
        # A random LLM's new rows are random draws like its other rows: every proxy token its own.
        assert weight[new].std(0).mean() > 0.5 * weight[:VOCAB].std(0).mean()
    out = model(**_batch(tok, ids))
    assert out.logits.shape == (1, 10, len(tok)) and torch.isfinite(out.loss)


@pytest.mark.parametrize('family', ['llama', 'qwen2'])
def test_a_pretrained_llms_new_rows_start_at_the_mean_of_its_trained_rows(family, tmp_path):
    torch.manual_seed(0)
    MODELS.build(dict(type='HFCausalLM', config=CONFIGS[family])).save_pretrained(tmp_path)
    tok = build_tiny_tokenizer()
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)  # nothing trained is overwritten here
        model = MODELS.build(dict(type='HFCausalLM', pretrained=str(tmp_path), tokenizer=tok,
                                  num_proxy_tokens=N_PROXY))
    new = torch.tensor(GromaTokenIds.from_tokenizer(tok, N_PROXY).all_ids)
    for weight in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
        torch.testing.assert_close(weight[new], weight[:VOCAB].mean(0).expand(len(new), -1))


def test_loading_an_llm_saved_with_groma_tokens_warns_only_with_a_tokenizer_that_lacks_them(tmp_path, recwarn):
    torch.manual_seed(0)
    saved_tok = build_tiny_tokenizer()
    MODELS.build(dict(type='HFCausalLM', config=CONFIGS['llama'], tokenizer=saved_tok,
                      num_proxy_tokens=N_PROXY)).save_pretrained(tmp_path)
    saved_tok.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match=r'reset to the mean.*model.tokenizer.pretrained'):
        MODELS.build(dict(type='HFCausalLM', pretrained=str(tmp_path), tokenizer=build_tiny_tokenizer(),
                          num_proxy_tokens=N_PROXY))
    recwarn.clear()
    tok = MODELS.build(dict(type='HFTokenizer', pretrained=str(tmp_path)))
    MODELS.build(dict(type='HFCausalLM', pretrained=str(tmp_path), tokenizer=tok, num_proxy_tokens=N_PROXY))
    assert not [w for w in recwarn if 'reset to the mean' in str(w.message)]


def test_extra_rows_are_reused_not_shrunk():
    # Qwen2 checkpoints have more embedding rows than tokens: new tokens land in those rows.
    tok = build_tiny_tokenizer()
    model = MODELS.build(dict(type='HFCausalLM', config=dict(CONFIGS['qwen2'], vocab_size=VOCAB + 64), tokenizer=tok,
                              num_proxy_tokens=N_PROXY))
    assert model.get_input_embeddings().num_embeddings == VOCAB + 64
    assert len(tok) < VOCAB + 64


@pytest.mark.parametrize('family', ['llama', 'qwen2'])
def test_random_llm_without_vocab_size_is_sized_to_its_tokenizer(family):
    # The model type's default (32000 rows for llama) would make a tiny LM head its most expensive layer.
    tok = build_tiny_tokenizer()
    config = {k: v for k, v in CONFIGS[family].items() if k != 'vocab_size'}
    model = MODELS.build(dict(type='HFCausalLM', config=config, tokenizer=tok, num_proxy_tokens=N_PROXY))
    assert model.get_input_embeddings().num_embeddings == len(tok) == model.config.vocab_size
    assert model.get_output_embeddings().out_features == len(tok)
    assert len(tok) < 32000


def test_existing_groma_rows_are_not_reinitialised():
    tok = build_tiny_tokenizer()
    model = MODELS.build(dict(type='HFCausalLM', config=CONFIGS['llama'], tokenizer=tok, num_proxy_tokens=N_PROXY))
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        emb[VOCAB:] = 3.0
    # A second pass (e.g. tokenizer saved with the tokens) adds nothing and keeps trained rows.
    llm_builder.resize_embeddings_to_tokenizer(model, tok, init_ids=[], old_vocab_size=len(tok))
    assert (model.get_input_embeddings().weight[VOCAB:] == 3.0).all()


def _train_step(model, tok, ids, steps=2):
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    for _ in range(steps):
        optim.zero_grad()
        model(**_batch(tok, ids)).loss.backward()
        optim.step()


@pytest.mark.parametrize('family', ['llama', 'qwen2'])
def test_freeze_llm_trains_only_the_new_rows(family):
    model, tok, ids = _build(family, freeze_llm=True)
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, p in model.named_parameters() if p is emb or p is head}
    before = copy.deepcopy(model.state_dict())
    _train_step(model, tok, ids)
    after = model.state_dict()
    new = torch.zeros(len(tok), dtype=torch.bool)
    new[ids.all_ids] = True
    for name, value in after.items():
        if value.shape[:1] == (len(tok), ) and value.dim() == 2:
            assert torch.equal(value[~new], before[name][~new]), name
            assert not torch.equal(value[new], before[name][new]), name
        else:
            assert torch.equal(value, before[name]), name


def test_without_freezing_everything_trains():
    model, tok, ids = _build('llama')
    assert all(p.requires_grad for p in model.parameters())
    before = model.get_input_embeddings().weight.detach().clone()
    _train_step(model, tok, ids, steps=1)
    # Old rows that appear in the batch (BOS, word ids) move too.
    assert not torch.equal(model.get_input_embeddings().weight[:VOCAB], before[:VOCAB])


def test_gradient_checkpointing_with_frozen_llm():
    model, tok, ids = _build('llama', freeze_llm=True, gradient_checkpointing=True)
    assert model.is_gradient_checkpointing and not model.config.use_cache
    model.train()
    before = model.get_input_embeddings().weight.detach().clone()
    _train_step(model, tok, ids, steps=1)
    changed = (model.get_input_embeddings().weight != before).any(1).nonzero().flatten().tolist()
    assert changed and set(changed) <= set(ids.all_ids)


def test_lora_trains_adapters_and_new_rows_only():
    pytest.importorskip('peft', reason='LoRA needs peft')
    model, tok, ids = _build('llama', lora=dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj']))
    from peft import PeftModel
    assert isinstance(model, PeftModel)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any('lora_A' in n for n in trainable) and any('lora_B' in n for n in trainable)
    assert all('lora_' in n or 'embed_tokens' in n or 'lm_head' in n for n in trainable)
    before = copy.deepcopy(model.state_dict())
    _train_step(model, tok, ids)
    after = model.state_dict()
    new = torch.zeros(len(tok), dtype=torch.bool)
    new[ids.all_ids] = True
    for name, value in after.items():
        if 'lora_B' in name:
            assert not torch.equal(value, before[name]), name  # B starts at zero, so it must have moved
        elif 'embed_tokens' in name or 'lm_head' in name:
            assert torch.equal(value[~new], before[name][~new]), name
        elif 'lora_' not in name:
            assert torch.equal(value, before[name]), name


def test_load_from_local_folder(tmp_path):
    model, tok, ids = _build('qwen2')
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded_tok = MODELS.build(dict(type='HFTokenizer', pretrained=str(tmp_path)))
    # Tokens are already there: nothing is added, nothing re-initialised.
    loaded = MODELS.build(dict(type='HFCausalLM', pretrained=str(tmp_path), tokenizer=loaded_tok,
                               num_proxy_tokens=N_PROXY, torch_dtype='float32', attn_implementation='eager'))
    assert GromaTokenIds.from_tokenizer(loaded_tok, N_PROXY) == ids
    assert loaded.config._attn_implementation == 'eager'
    batch = _batch(tok, ids)
    model.eval(), loaded.eval()
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)
    bf16 = MODELS.build(dict(type='HFCausalLM', pretrained=str(tmp_path), torch_dtype='bfloat16'))
    assert bf16.dtype == torch.bfloat16


def _write_llama_gguf(model, path):
    """Write a LLaMA as an F32 GGUF file the way llama.cpp's converter does (q/k rows permuted)."""
    gguf = pytest.importorskip('gguf', reason='GGUF loading needs the gguf package')
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), 'llama')
    writer.add_name('tiny')
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_vocab_size(cfg.vocab_size)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        array = tensor.numpy().astype(np.float32)
        heads = {'q_proj': cfg.num_attention_heads, 'k_proj': cfg.num_key_value_heads}.get(name.split('.')[-2])
        if heads:
            array = array.reshape(heads, 2, -1, array.shape[1]).swapaxes(1, 2).reshape(array.shape)
        writer.add_tensor(names.get_name(name, try_suffixes=('.weight', )), array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_load_from_gguf_file(tmp_path):
    torch.manual_seed(0)
    original = llm_builder.load_causal_lm(config=CONFIGS['llama']).eval()
    _write_llama_gguf(original, tmp_path / 'tiny.gguf')
    tok = build_tiny_tokenizer()
    by_path = MODELS.build(dict(type='HFCausalLM', pretrained=str(tmp_path / 'tiny.gguf'), tokenizer=tok,
                                num_proxy_tokens=N_PROXY)).eval()
    by_name = llm_builder.load_causal_lm(pretrained=str(tmp_path), gguf_file='tiny.gguf').eval()
    assert by_path.get_input_embeddings().num_embeddings == len(tok)
    words = torch.tensor([[tok.bos_token_id, 10, 20, 30]])
    torch.testing.assert_close(by_path(words).logits[..., :VOCAB], original(words).logits)
    torch.testing.assert_close(by_name(words).logits, original(words).logits)


def test_prompt_builder_output_trains_a_tiny_llm():
    model, tok, ids = _build('llama')
    builder = GromaPromptBuilder(tok, num_image_tokens=4, num_proxy_tokens=N_PROXY)
    conv = [dict(role='user', content='What is <box0>?'), dict(role='assistant', content='A dog <roi><box0></roi>.')]
    prompts = [builder(conv, num_regions=n, box_to_region=[n - 1]) for n in (2, 5)]
    batch = builder.pad(prompts)
    out = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'], labels=batch['labels'])
    assert torch.isfinite(out.loss)


def test_dtype_and_attention_from_config():
    model = llm_builder.load_causal_lm(config=CONFIGS['llama'], torch_dtype='bfloat16', attn_implementation='sdpa')
    assert model.dtype == torch.bfloat16 and model.config._attn_implementation == 'sdpa'
    assert llm_builder.load_causal_lm(config=CONFIGS['llama'], torch_dtype='auto').dtype == torch.float32
    named = dict(CONFIGS['llama'], torch_dtype='bfloat16')
    assert llm_builder.load_causal_lm(config=named, torch_dtype='auto').dtype == torch.bfloat16


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(), ValueError, 'exactly one of pretrained'),
    (dict(pretrained='/x', config=dict(model_type='llama')), ValueError, 'exactly one of pretrained'),
    (dict(config=dict(hidden_size=8)), KeyError, 'model_type'),
    (dict(pretrained='/no/such/folder'), FileNotFoundError, 'local paths only'),
    (dict(pretrained='/no/such/model.gguf'), FileNotFoundError, '/no/such/model.gguf'),
    (dict(config=CONFIGS['llama'], torch_dtype='float33'), ValueError, 'torch_dtype'),
])
def test_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        llm_builder.load_causal_lm(**kwargs)
    with pytest.raises(FileNotFoundError):
        llm_builder.build_tokenizer('/no/such/tokenizer')
