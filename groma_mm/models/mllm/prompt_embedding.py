"""Groma's LLM input: the prompt's token embeddings with its image and region slots filled."""
from typing import List

import torch
from torch import Tensor, nn


def embed_prompts(input_embeddings: nn.Module, batch: dict, image_tokens: Tensor,
                  region_tokens: List[Tensor]) -> Tensor:
    """LLM input embeddings with the image/region slots replaced by visual tokens.

    Args:
        input_embeddings: the LLM's input embedding layer.
        batch: padded prompts (``GromaPromptBuilder.pad``): ``input_ids``, ``image_mask``,
            ``region_mask`` (B, L) and ``region_slot_ids`` (B lists).
        image_tokens: (B, T, D).
        region_tokens: B tensors (R_b, D).

    Returns:
        (B, L, D) embeddings.
    """
    embeds = input_embeddings(batch['input_ids'])
    image_mask, region_mask = batch['image_mask'], batch['region_mask']
    per_sample = image_mask.sum(1)
    if (per_sample != image_tokens.shape[1]).any():
        raise ValueError(f'prompts have {per_sample.tolist()} image slots but the image tokenizer gives '
                         f'{image_tokens.shape[1]} tokens: set prompt.num_image_tokens to match')
    embeds = embeds.masked_scatter(image_mask[..., None], image_tokens.to(embeds.dtype))
    slots = [tokens[ids.to(tokens.device)] for tokens, ids in zip(region_tokens, batch['region_slot_ids'])]
    if slots and sum(len(s) for s in slots):
        embeds = embeds.masked_scatter(region_mask[..., None], torch.cat(slots).to(embeds.dtype))
    return embeds
