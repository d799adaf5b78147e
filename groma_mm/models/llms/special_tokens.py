"""Groma's special tokens and the proxy tokens that name regions (paper §3.2).

``<image>`` / ``<region>`` are slots whose embeddings are replaced by visual tokens; ``<p> … </p>`` marks a
grounded phrase, ``<roi> … </roi>`` encloses the regions it refers to, ``[grounding]`` asks for a grounded
answer, and ``<r0> … <r{N-1}>`` are proxy tokens: region ``k`` is registered as ``<rk><region>`` so the LLM
can refer back to it by emitting ``<rk>``.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch

IMAGE_TOKEN = '<image>'
REGION_TOKEN = '<region>'
ROI_START_TOKEN = '<roi>'
ROI_END_TOKEN = '</roi>'
PHRASE_START_TOKEN = '<p>'
PHRASE_END_TOKEN = '</p>'
GROUNDING_TOKEN = '[grounding]'
DEFAULT_NUM_PROXY_TOKENS = 100

# Order matters: tokens are appended to the vocabulary in this order, so the ids of a fresh tokenizer are
# the same from run to run (checkpoints store rows by id).
GROMA_TOKENS: Tuple[str, ...] = (IMAGE_TOKEN, REGION_TOKEN, ROI_START_TOKEN, ROI_END_TOKEN, PHRASE_START_TOKEN,
                                 PHRASE_END_TOKEN, GROUNDING_TOKEN)


def proxy_token(k: int) -> str:
    """The proxy token string of region ``k``: ``proxy_token(4) == '<r4>'``."""
    if k < 0:
        raise ValueError(f'proxy token index must be >= 0, got {k}')
    return f'<r{k}>'


def groma_special_tokens(num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS) -> List[str]:
    """All Groma tokens in vocabulary order: the 7 fixed ones, then ``<r0> … <r{N-1}>``."""
    if num_proxy_tokens < 1:
        raise ValueError(f'num_proxy_tokens must be >= 1, got {num_proxy_tokens}')
    return list(GROMA_TOKENS) + [proxy_token(k) for k in range(num_proxy_tokens)]


@dataclass(frozen=True)
class GromaTokenIds:
    """Vocabulary ids of Groma's tokens in one tokenizer.

    ``proxy[k]`` is the id of ``<rk>``; ids of a fresh tokenizer are contiguous, but nothing here relies on
    it (a tokenizer may already have had some of the tokens).
    """
    image: int
    region: int
    roi_start: int
    roi_end: int
    p_start: int
    p_end: int
    grounding: int
    proxy: Tuple[int, ...]
    _proxy_lookup: Dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, 'proxy', tuple(int(i) for i in self.proxy))
        object.__setattr__(self, '_proxy_lookup', {token_id: k for k, token_id in enumerate(self.proxy)})

    @classmethod
    def from_tokenizer(cls, tokenizer, num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS) -> 'GromaTokenIds':
        """Read the ids from a tokenizer that already has the tokens (see :func:`add_groma_tokens`).

        Raises:
            KeyError: a Groma token is missing from the tokenizer's vocabulary.
        """
        vocab = tokenizer.get_vocab()
        tokens = groma_special_tokens(num_proxy_tokens)
        missing = [t for t in tokens if t not in vocab]
        if missing:
            raise KeyError(f'tokenizer {type(tokenizer).__name__} lacks Groma tokens {missing[:5]}'
                           f'{" …" if len(missing) > 5 else ""}; call add_groma_tokens first')
        ids = [vocab[t] for t in tokens]
        return cls(*ids[:len(GROMA_TOKENS)], proxy=tuple(ids[len(GROMA_TOKENS):]))

    @property
    def num_proxy_tokens(self) -> int:
        return len(self.proxy)

    @property
    def all_ids(self) -> List[int]:
        """Every Groma token id, fixed tokens first then proxies (the rows that a frozen LLM still trains)."""
        return [self.image, self.region, self.roi_start, self.roi_end, self.p_start, self.p_end, self.grounding,
                *self.proxy]

    def proxy_id(self, k: int) -> int:
        """Id of ``<rk>``."""
        if not 0 <= k < len(self.proxy):
            raise IndexError(f'region {k} has no proxy token: only <r0>…<r{len(self.proxy) - 1}> exist')
        return self.proxy[k]

    def proxy_index(self, token_id: int) -> Optional[int]:
        """``k`` if ``token_id`` is ``<rk>``, else ``None``."""
        return self._proxy_lookup.get(int(token_id))

    def proxy_indices(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Region index of every proxy token in ``input_ids`` and -1 elsewhere.

        Args:
            input_ids: (*) integer ids.

        Returns:
            (*) long tensor.
        """
        proxy = torch.as_tensor(self.proxy, device=input_ids.device)
        # Proxy ids need not be contiguous, so match against the whole table instead of subtracting an offset.
        hits = input_ids.unsqueeze(-1) == proxy
        return torch.where(hits.any(-1), hits.long().argmax(-1), torch.full_like(input_ids, -1, dtype=torch.long))


def add_groma_tokens(tokenizer, num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS) -> GromaTokenIds:
    """Add Groma's tokens to an HF tokenizer as special tokens (never split, never merged) and return ids.

    Idempotent: tokens the tokenizer already has keep their ids, and calling twice adds nothing. Existing
    additional special tokens (e.g. ChatML's ``<|im_start|>``) are kept.

    Args:
        tokenizer: any ``PreTrainedTokenizerBase``; modified in place.
        num_proxy_tokens: N, the number of proxy tokens ``<r0>…<r{N-1}>`` (the most regions per image).
    """
    tokens = groma_special_tokens(num_proxy_tokens)
    already_special = set(tokenizer.additional_special_tokens)
    missing = [t for t in tokens if t not in already_special]
    if missing:
        # replace_additional_special_tokens=False keeps the tokenizer's own extra special tokens listed.
        tokenizer.add_special_tokens({'additional_special_tokens': missing}, replace_additional_special_tokens=False)
    return GromaTokenIds.from_tokenizer(tokenizer, num_proxy_tokens)

