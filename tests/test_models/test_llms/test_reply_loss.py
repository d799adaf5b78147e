import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from groma_mm.datasets.prompt_builder import IGNORE_INDEX
from groma_mm.models.llms.reply_loss import reply_logits, reply_loss, shared_prefix_length


@pytest.fixture(scope='module')
def llm():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2)).eval()


def _batch(first_labels, length=12):
    """Right-padded rows: row b is labelled from first_labels[b] to its end (row lengths differ)."""
    gen = torch.Generator().manual_seed(1)
    embeds = torch.randn(len(first_labels), length, 16, generator=gen)
    ids = torch.randint(50, (len(first_labels), length), generator=gen)
    mask = torch.ones(len(first_labels), length, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE_INDEX)
    for b, first in enumerate(first_labels):
        end = length - b  # row b has b pad positions at the end
        mask[b, end:] = 0
        labels[b, first:end] = ids[b, first:end]
    return embeds, mask, labels


@pytest.mark.parametrize('first_labels', [(7, 9), (4, 10, 6), (0, 5)])
def test_reply_loss_equals_hf_loss_over_the_whole_sequence(llm, first_labels):
    embeds, mask, labels = _batch(first_labels)
    expected = llm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
    assert torch.allclose(reply_loss(llm, embeds, mask, labels), expected, atol=1e-6)


def test_lm_head_scores_only_the_labelled_positions(llm):
    embeds, mask, labels = _batch((7, 9))
    seen = []
    handle = llm.lm_head.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    try:
        reply_loss(llm, embeds, mask, labels)
    finally:
        handle.remove()
    assert seen == [(int((labels[:, 1:] != IGNORE_INDEX).sum()), 16)]


class _Wrapper(torch.nn.Module):
    """Stands for a peft/FSDP/DeepSpeed wrapper: not an HF model, so it is called whole."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, **kwargs):
        return self.inner(**kwargs)


@pytest.mark.parametrize('shared', [0, 5])
def test_a_wrapped_llm_gives_the_logits_of_the_plain_one(llm, shared):
    embeds, mask, labels = _shared_batch(5)
    seen = []
    handle = llm.lm_head.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[1]))
    try:
        wrapped, wrapped_targets = reply_logits(_Wrapper(llm), embeds, mask, labels, shared)
    finally:
        handle.remove()
    plain, plain_targets = reply_logits(llm, embeds, mask, labels, shared)
    assert seen[-1] == 12 - 7 + 1  # the wrapper's head ran from the first label on, via logits_to_keep
    assert torch.equal(wrapped_targets, plain_targets) and wrapped.shape == plain.shape
    assert torch.allclose(wrapped, plain, atol=1e-5)


def test_a_batch_without_labels_is_refused(llm):
    embeds, mask, labels = _batch((3, ))
    with pytest.raises(ValueError, match='no position'):
        reply_loss(llm, embeds, mask, torch.full_like(labels, IGNORE_INDEX))


def _shared_batch(prefix=5):
    """_batch((7, 9, 8)) whose first ``prefix`` positions hold the same embeddings in every row."""
    embeds, mask, labels = _batch((7, 9, 8))
    embeds[:, :prefix] = embeds[:1, :prefix]
    return embeds, mask, labels


@pytest.mark.parametrize('prefix', [1, 5, 6, 11])
def test_a_shared_prefix_gives_the_same_logits_and_gradients(llm, prefix):
    embeds, mask, labels = _shared_batch(prefix)
    results = []
    for shared in (0, prefix):
        llm.zero_grad()
        logits, targets = reply_logits(llm, embeds, mask, labels, shared_prefix=shared)
        (logits.square().mean() + reply_loss(llm, embeds, mask, labels, shared)).backward()
        results.append((logits, targets, [p.grad.clone() for p in llm.parameters() if p.grad is not None]))
    (whole, whole_targets, whole_grads), (shared, shared_targets, shared_grads) = results
    assert torch.equal(whole_targets, shared_targets) and len(whole_grads) == len(shared_grads) > 10
    assert torch.allclose(whole, shared, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole_grads, shared_grads))


def test_a_shared_prefix_runs_once_for_the_batch(llm):
    embeds, mask, labels = _shared_batch(5)
    rows = []
    handle = llm.model.layers[0].register_forward_hook(lambda module, args, out: rows.append(args[0].shape[:2]))
    try:
        reply_logits(llm, embeds, mask, labels, shared_prefix=5)
    finally:
        handle.remove()
    assert [tuple(r) for r in rows] == [(1, 5), (3, 12 - 5)]


def test_shared_prefix_length_stops_at_the_first_differing_token_or_slot():
    ids = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 9, 5]])
    assert shared_prefix_length(ids) == 3
    slots = torch.zeros_like(ids)
    slots[1, 2] = 1
    assert shared_prefix_length(ids, slots) == 2
    assert shared_prefix_length(ids[:1]) == 5


def test_a_model_that_keeps_no_cache_in_training_runs_every_row_whole():
    torch.manual_seed(0)
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, num_key_value_heads=2))
    llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
    llm.train()
    embeds, mask, labels = _shared_batch(5)
    rows = []
    handle = llm.model.layers[0].register_forward_hook(lambda module, args, out: rows.append(args[0].shape[:2]))
    try:
        shared = reply_loss(llm, embeds, mask, labels, shared_prefix=5)
    finally:
        handle.remove()
    assert [tuple(r) for r in rows] == [(3, 12)]  # no prefix run whose cache would be thrown away
    torch.testing.assert_close(shared, reply_loss(llm, embeds, mask, labels))
