"""Next-token loss over the replies, with the LM head applied only from the first labelled position on.

In Groma's prompts the intro (system line, image slots, one ``<rK><region>`` entry per region) comes
before any reply and is never a target, yet an HF forward with ``labels`` scores every position: a
(B, L, V) float tensor, of which the intro is most. For a 7B LLM (V = 32k) at B = 16, L = 2048 that is
4 GiB of logits; for the toy LLM (V ≈ 5.5k, width 64) the LM head is the dearest layer. HF's
``logits_to_keep`` keeps the last K positions in one forward of the whole model, so LoRA, FSDP and
DeepSpeed wrappers see an ordinary call. The loss equals HF's (the mean over labelled tokens, in float32).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from groma_mm.datasets.prompt_builder import IGNORE_INDEX


def reply_logits(llm, inputs_embeds: Tensor, attention_mask: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
    """Logits from the position before the batch's first label to the end, and the tokens they predict.

    Args:
        llm: an HF causal LM (or a peft/FSDP/DeepSpeed wrapper of one) that takes ``logits_to_keep``.
        inputs_embeds: (B, L, D).
        attention_mask: (B, L).
        labels: (B, L), ``IGNORE_INDEX`` where nothing is learned.

    Returns:
        logits (B, K - 1, V) and targets (B, K - 1), with K = L - (first labelled column) + 1.
    """
    labelled = (labels != IGNORE_INDEX).any(0).nonzero()
    if not len(labelled):
        raise ValueError('no position of the batch has a label')
    first = int(labelled[0])
    keep = labels.shape[1] - first + 1 if first > 0 else labels.shape[1]
    out = llm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False, logits_to_keep=keep)
    return out.logits[:, :-1], labels[:, labels.shape[1] - keep + 1:]


def reply_loss(llm, inputs_embeds: Tensor, attention_mask: Tensor, labels: Tensor) -> Tensor:
    """Mean next-token cross entropy over the labelled tokens (args as :func:`reply_logits`)."""
    return token_cross_entropy(*reply_logits(llm, inputs_embeds, attention_mask, labels))


def token_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross entropy (in float32) of logits (..., V) against targets (...), ``IGNORE_INDEX`` left out."""
    return F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten(), ignore_index=IGNORE_INDEX)
