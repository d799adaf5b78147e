import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from groma_mm.datasets.prompt_builder import IGNORE_INDEX
from groma_mm.models.llms.reply_loss import reply_loss


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


def test_lm_head_scores_only_from_the_first_label_on(llm):
    embeds, mask, labels = _batch((7, 9))
    seen = []
    handle = llm.lm_head.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[1]))
    try:
        reply_loss(llm, embeds, mask, labels)
    finally:
        handle.remove()
    assert seen == [12 - 7 + 1]


def test_a_batch_without_labels_is_refused(llm):
    embeds, mask, labels = _batch((3, ))
    with pytest.raises(ValueError, match='no position'):
        reply_loss(llm, embeds, mask, torch.full_like(labels, IGNORE_INDEX))
