"""An HF causal LM whose new tokens live in tables of their own, as in the released Groma checkpoints.

The official ``GromaModel`` never resizes the LLM's vocabulary. Its V original tokens keep the LLM's
embedding matrix and ``lm_head``; the new tokens (ids ≥ V) are embedded by a second table
``new_input_embs`` (row ``id − V``) and scored by a second head ``extra_lm_head`` whose logits are
concatenated after ``lm_head``'s, so the logits are V + n wide. Here the two pairs are one module each,
swapped into the HF model in place of ``embed_tokens`` and ``lm_head``, so the model still runs every HF
path (loss, ``generate``, KV cache) unchanged:

- :class:`SplitVocabEmbedding`: ``weight`` (V, D) + ``new_input_embs`` (n, D);
- :class:`ConcatLMHead`: ``weight`` (V, D) + ``extra_lm_head`` (n, D).

Our default recipe (``HFCausalLM``) resizes the vocabulary instead; both give the same function, this
layout is what the official weights need. A side effect that is handy for the frozen-LLM stage:
``freeze_llm`` freezes whole matrices and leaves the new tables trainable, with no row masks.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedModel

from groma_mm.models.llms.builder import DType, load_causal_lm
from groma_mm.models.llms.official_tokens import OFFICIAL_ADDED_TOKENS, add_official_tokens
from groma_mm.models.llms.special_tokens import DEFAULT_NUM_PROXY_TOKENS
from groma_mm.registry import MODELS


class SplitVocabEmbedding(nn.Embedding):
    """The LLM's embedding (ids < V) plus ``new_input_embs`` for ids V … V+n−1.

    Shapes:
        (*) ids → (*, D)
    """

    def __init__(self, base: nn.Embedding, num_new_tokens: int) -> None:
        # _weight: reuse the LLM's matrix instead of allocating a second V × D one.
        super().__init__(base.num_embeddings, base.embedding_dim, padding_idx=base.padding_idx,
                         _weight=base.weight.data)
        self.weight = base.weight
        self.new_input_embs = nn.Embedding(num_new_tokens, base.embedding_dim, device=base.weight.device,
                                           dtype=base.weight.dtype)
        with torch.no_grad():
            self.new_input_embs.weight.copy_(base.weight.float().mean(0).to(base.weight.dtype))

    def forward(self, input_ids: Tensor) -> Tensor:
        is_new = input_ids >= self.num_embeddings
        old = super().forward(input_ids.masked_fill(is_new, 0))
        new = self.new_input_embs((input_ids - self.num_embeddings).clamp(min=0))
        return torch.where(is_new[..., None], new, old)


class ConcatLMHead(nn.Linear):
    """The LLM's head (V logits) followed by ``extra_lm_head`` (n logits).

    Shapes:
        (*, D) → (*, V + n)
    """

    def __init__(self, base: nn.Linear, num_new_tokens: int) -> None:
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None, device='meta')
        self.weight = base.weight
        self.bias = base.bias
        self.extra_lm_head = nn.Linear(base.in_features, num_new_tokens, bias=False, device=base.weight.device,
                                       dtype=base.weight.dtype)
        with torch.no_grad():
            self.extra_lm_head.weight.copy_(base.weight.float().mean(0).to(base.weight.dtype))

    def forward(self, hidden: Tensor) -> Tensor:
        return torch.cat([F.linear(hidden, self.weight, self.bias), self.extra_lm_head(hidden)], dim=-1)


def split_vocabulary(model: PreTrainedModel, num_new_tokens: int) -> None:
    """Swap ``model``'s input embedding and LM head for their split versions (in place); new rows start at
    the mean of the old ones. ``config.vocab_size`` becomes V + n, the logits' width."""
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    if isinstance(embedding, SplitVocabEmbedding):
        raise ValueError('the model already has a split vocabulary')
    if head is None:
        raise ValueError(f'{type(model).__name__} has no LM head to extend')
    vocab_size = embedding.num_embeddings
    model.set_input_embeddings(SplitVocabEmbedding(embedding, num_new_tokens))
    model.set_output_embeddings(ConcatLMHead(head, num_new_tokens))
    model.config.vocab_size = vocab_size + num_new_tokens


@MODELS.register_module(name='HFSplitVocabCausalLM')
def build_split_vocab_causal_lm(pretrained: Optional[str] = None,
                                config: Optional[dict] = None,
                                tokenizer=None,
                                num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS,
                                torch_dtype: DType = None,
                                attn_implementation: Optional[str] = None,
                                freeze_llm: bool = False,
                                gradient_checkpointing: bool = False) -> PreTrainedModel:
    """An HF causal LM with the official Groma token layout (the 14 added tokens, then the proxies).

    Args:
        pretrained / config / torch_dtype / attn_implementation: see ``load_causal_lm`` (``config`` builds
            the skeleton that a converted checkpoint then fills).
        tokenizer: a built tokenizer; it gets the official tokens at ids V… (or is checked to have them).
        num_proxy_tokens: N of ``<r0>…<r{N-1}>`` (100 in the released checkpoints).
        freeze_llm: freeze the LLM; the new-token table and head stay trainable.
        gradient_checkpointing: enable HF gradient checkpointing (non-reentrant).

    Returns:
        The HF model with :class:`SplitVocabEmbedding` / :class:`ConcatLMHead`; logits are V + 14 + N wide.
    """
    model = load_causal_lm(pretrained, config, torch_dtype, attn_implementation)
    vocab_size = model.get_input_embeddings().num_embeddings
    if tokenizer is not None:
        add_official_tokens(tokenizer, vocab_size, num_proxy_tokens)
    split_vocabulary(model, len(OFFICIAL_ADDED_TOKENS) + num_proxy_tokens)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
        model.config.use_cache = False
    if freeze_llm:
        model.requires_grad_(False)
        model.get_input_embeddings().new_input_embs.requires_grad_(True)
        model.get_output_embeddings().extra_lm_head.requires_grad_(True)
    return model
