"""Next-token loss over the replies, with the LM head applied only from the first labelled position on.

In Groma's prompts the intro (system line, image slots, one ``<rK><region>`` entry per region) comes
before any reply and is never a target, yet an HF forward with ``labels`` scores every position: a
(B, L, V) float tensor, of which the intro is most. For a 7B LLM (V = 32k) at B = 16, L = 2048 that is
4 GiB of logits; for the toy LLM (V ≈ 5.5k, width 64) the LM head is the dearest layer. HF's
``logits_to_keep`` keeps the last K positions in one forward of the whole model, so LoRA, FSDP and
DeepSpeed wrappers see an ordinary call. The loss equals HF's (the mean over labelled tokens, in float32).

Every prompt of a batch starts with the same system line and intro words. With ``shared_prefix=P`` those
first P positions are run once for the whole batch and their keys and values repeated for every row (a
KV cache that keeps its gradient): the same logits and gradients, for the price of one row's prefix.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from groma_mm.datasets.prompt_builder import IGNORE_INDEX


def reply_logits(llm, inputs_embeds: Tensor, attention_mask: Tensor, labels: Tensor,
                 shared_prefix: int = 0) -> Tuple[Tensor, Tensor]:
    """Logits from the position before the batch's first label to the end, and the tokens they predict.

    Args:
        llm: an HF causal LM (or a peft/FSDP/DeepSpeed wrapper of one) that takes ``logits_to_keep``.
        inputs_embeds: (B, L, D).
        attention_mask: (B, L).
        labels: (B, L), ``IGNORE_INDEX`` where nothing is learned.
        shared_prefix: P, the number of leading positions whose embeddings and mask are the same in every row
            (:func:`shared_prefix_length`); 0 runs every row whole. Positions from the one before the
            first label on are never shared.

    Returns:
        logits (B, K - 1, V) and targets (B, K - 1), with K = L - (first labelled column) + 1.
    """
    labelled = (labels != IGNORE_INDEX).any(0).nonzero()
    if not len(labelled):
        raise ValueError('no position of the batch has a label')
    first = int(labelled[0])
    keep = labels.shape[1] - first + 1 if first > 0 else labels.shape[1]
    prefix = min(shared_prefix, first - 1)
    cache = None
    if prefix > 0 and len(inputs_embeds) > 1:
        cache = llm(inputs_embeds=inputs_embeds[:1, :prefix], attention_mask=attention_mask[:1, :prefix],
                    use_cache=True, logits_to_keep=1).past_key_values
    if cache is None:  # nothing shared, or a model that keeps no cache in training (gradient checkpointing)
        out = llm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False, logits_to_keep=keep)
    else:
        cache.batch_repeat_interleave(len(inputs_embeds))
        out = llm(inputs_embeds=inputs_embeds[:, prefix:], attention_mask=attention_mask, past_key_values=cache,
                  use_cache=True, logits_to_keep=keep)
    return out.logits[:, :-1], labels[:, labels.shape[1] - keep + 1:]


def shared_prefix_length(input_ids: Tensor, *slot_masks: Tensor) -> int:
    """How many leading columns hold the same token in every row and no slot of ``slot_masks`` (B, L)
    (image or region slots, whose embeddings differ from row to row although their ids do not)."""
    same = (input_ids == input_ids[:1]).all(0)
    for mask in slot_masks:
        same &= ~mask.bool().any(0)
    differs = (~same).nonzero()
    return int(differs[0]) if len(differs) else input_ids.shape[1]


def reply_loss(llm, inputs_embeds: Tensor, attention_mask: Tensor, labels: Tensor, shared_prefix: int = 0) -> Tensor:
    """Mean next-token cross entropy over the labelled tokens (args as :func:`reply_logits`)."""
    return token_cross_entropy(*reply_logits(llm, inputs_embeds, attention_mask, labels, shared_prefix))


def token_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross entropy (in float32) of logits (..., V) against targets (...), ``IGNORE_INDEX`` left out."""
    return F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten(), ignore_index=IGNORE_INDEX)
