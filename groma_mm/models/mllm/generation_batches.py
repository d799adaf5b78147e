"""Inference prompts grouped by generation settings, padded on the left and embedded for the generator."""
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

from mmengine.structures import InstanceData
from torch import Tensor

from groma_mm.datasets.prompt_builder import GromaPromptBuilder, PromptError
from groma_mm.models.mllm.generation import generation_key


def sample_name(sample) -> str:
    """How errors and warnings name a sample: its image and index."""
    return f"{sample.get('img_path', '?')} (sample {sample.get('sample_idx', '?')})"


def generation_prompt(conversation: Sequence[dict]) -> List[dict]:
    """The conversation up to its last user message: what the model answers at inference."""
    roles = [m.get('role', m.get('from')) for m in conversation]
    last_user = max(i for i, r in enumerate(roles) if r in ('user', 'human'))
    return list(conversation[:last_user + 1])


@dataclass
class GenerationBatch:
    """Answerable samples that share generation settings, ready for the generator.

    Attributes:
        indices: the samples' positions in the batch (N of them).
        options: their generation options.
        inputs_embeds: (N, L, D) left-padded prompt embeddings.
        attention_mask: (N, L), 0 on padding.
    """
    indices: List[int]
    options: dict
    inputs_embeds: Tensor
    attention_mask: Tensor


def build_generation_batches(prompt_builder: GromaPromptBuilder, generation_cfg: dict, embed: Callable,
                             data_samples: list, image_tokens: Tensor, region_tokens: List[Tensor],
                             regions: List[InstanceData], maps: List[dict]) -> List[GenerationBatch]:
    """Generation prompts, padded and embedded, one :class:`GenerationBatch` per distinct settings.

    Args:
        prompt_builder: builds and pads the prompts.
        generation_cfg: the model's generation options; a sample's metainfo ``generation_cfg`` overrides
            them for that sample alone.
        embed: ``embed(padded_batch, image_tokens (N, T, D), region_tokens)`` → (N, L, D) input embeddings.
        data_samples: B samples with ``conversation``.
        image_tokens: (B, T, D); region_tokens: B tensors (R_b, D).
        regions: B regions; maps: B maps from a sample's box index to its region.

    A sample whose prompt cannot be built gets ``error`` and joins no batch.
    """
    groups: Dict[tuple, GenerationBatch] = {}
    prompts = {}
    for i, sample in enumerate(data_samples):
        try:
            prompts[i] = prompt_builder(generation_prompt(sample.conversation), len(regions[i]), maps[i],
                                        grounding=sample.get('grounding', False), sample=sample_name(sample))
        except (PromptError, ValueError) as err:  # one bad request must not sink the batch
            sample.error = str(err)
            continue
        options = dict(generation_cfg, **(sample.get('generation_cfg', None) or {}))
        groups.setdefault(generation_key(options), GenerationBatch([], options, None, None)).indices.append(i)
    device = image_tokens.device
    for group in groups.values():
        batch = prompt_builder.pad([prompts[i] for i in group.indices], padding_side='left')
        batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        group.inputs_embeds = embed(batch, image_tokens[group.indices], [region_tokens[i] for i in group.indices])
        group.attention_mask = batch['attention_mask']
    return list(groups.values())
