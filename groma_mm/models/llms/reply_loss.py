"""Next-token loss over the replies, with the LM head applied only where a label is.

In Groma's prompts the intro (system line, image slots, one ``<rK><region>`` entry per region) comes
before any reply and is never a target, yet an HF forward with ``labels`` scores every position: a
(B, L, V) float tensor, of which the intro is most. For a 7B LLM (V = 32k) at B = 16, L = 2048 that is
4 GiB of logits; for the toy LLM (V ≈ 11k, width 64) the LM head is the dearest layer. For a plain HF
causal LM whose head is one linear layer (:data:`PLAIN_HEAD_MODEL_TYPES`) the decoder runs and the head
scores the labelled positions alone; any other model (a LoRA, FSDP or DeepSpeed wrapper, a head with
soft-capping) is called whole with HF's ``logits_to_keep``, which keeps the positions from the batch's first
label on, and the labelled ones are picked from those. The loss equals HF's (the mean over labelled tokens,
in float32).

Every prompt of a batch starts with the same system line and intro words. With ``shared_prefix=P`` those
first P positions are run once for the whole batch and their keys and values repeated for every row (a
KV cache that keeps its gradient): the same logits and gradients, for the price of one row's prefix.
"""
from typing import Tuple

import torch.nn.functional as F
from torch import Tensor
from transformers import PreTrainedModel

from groma_mm.datasets.prompt_builder import IGNORE_INDEX

# Causal LMs whose logits are ``lm_head(last_hidden_state)`` and nothing more (no soft-capping or scaling).
PLAIN_HEAD_MODEL_TYPES = ('llama', 'mistral', 'qwen2', 'qwen3')


def reply_logits(llm, inputs_embeds: Tensor, attention_mask: Tensor, labels: Tensor,
                 shared_prefix: int = 0) -> Tuple[Tensor, Tensor]:
    """Logits at the positions that predict a label, and the labels they predict.

    Args:
        llm: an HF causal LM, or a peft/FSDP/DeepSpeed wrapper of one that takes ``logits_to_keep``.
        inputs_embeds: (B, L, D).
        attention_mask: (B, L).
        labels: (B, L), ``IGNORE_INDEX`` where nothing is learned.
        shared_prefix: P, the number of leading positions whose embeddings and mask are the same in every row
            (:func:`shared_prefix_length`); 0 runs every row whole. Positions from the one before the
            first label on are never shared.

    Returns:
        logits (N, V) and targets (N, ), one row per labelled token after the first column, in row-major order.
    """
    labelled = (labels != IGNORE_INDEX).any(0).nonzero()
    if not len(labelled):
        raise ValueError('no position of the batch has a label')
    first = int(labelled[0])
    keep = labels.shape[1] - first + 1 if first > 0 else labels.shape[1]
    targets = labels[:, labels.shape[1] - keep + 1:]
    scored = targets != IGNORE_INDEX
    plain = isinstance(llm, PreTrainedModel) and llm.config.model_type in PLAIN_HEAD_MODEL_TYPES
    model = llm.get_decoder() if plain else llm

    def run(embeds: Tensor, mask: Tensor, head_positions: int, **kwargs):
        return model(inputs_embeds=embeds, attention_mask=mask, **kwargs,
                     **({} if plain else dict(logits_to_keep=head_positions)))

    prefix = min(shared_prefix, first - 1)
    # HF keeps no cache when it checkpoints in training: the prefix run would be thrown away.
    checkpointing = llm.training and getattr(llm, 'is_gradient_checkpointing', False)
    cache = None
    if prefix > 0 and len(inputs_embeds) > 1 and not checkpointing:
        cache = run(inputs_embeds[:1, :prefix], attention_mask[:1, :prefix], 1, use_cache=True).past_key_values
    if cache is None:  # nothing shared, or a model that kept no cache
        out = run(inputs_embeds, attention_mask, keep, use_cache=False)
    else:
        cache.batch_repeat_interleave(len(inputs_embeds))
        out = run(inputs_embeds[:, prefix:], attention_mask, keep, past_key_values=cache, use_cache=True)
    if plain:
        return llm.get_output_embeddings()(out.last_hidden_state[:, -keep:-1][scored]), targets[scored]
    return out.logits[:, :-1][scored], targets[scored]


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
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX)
