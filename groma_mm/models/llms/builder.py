"""Any HF causal LM and its tokenizer as registry entries (mmpretrain-style shims), ready for Groma.

``dict(type='HFCausalLM', pretrained='/path/to/vicuna-7b-v1.5', tokenizer=tok)`` loads local weights
(never a hub), ``dict(type='HFCausalLM', config=dict(model_type='llama', hidden_size=64, …))`` builds a
randomly initialised skeleton (tests, tiny configs). With a tokenizer, Groma's tokens are added to it and
the embeddings / LM head grow to match: a pretrained LLM's new rows start at the mean of its trained rows,
a random skeleton's keep their own random draws. Tokens the tokenizer already has keep their rows, so an
LLM saved with Groma's tokens is loaded with the tokenizer saved beside it (a warning says when rows the
checkpoint has would be reset). Options:

- ``freeze_llm``: freeze the LLM except the embedding and LM-head rows of Groma's tokens, which must
  learn (paper stage 2). Done with gradient masks because a row of a matrix cannot be frozen by
  ``requires_grad``. Use weight decay 0 on those matrices: decoupled decay would still shrink frozen rows.
- ``lora``: wrap the LLM with peft LoRA (base frozen; Groma token rows still train).
- ``gradient_checkpointing``: trade compute for activation memory.
- ``trainable_dtype``: the dtype the weights that train are stored in, whatever ``torch_dtype`` the LLM is
  loaded in; ``'float32'`` gives fp32 master weights over a bf16 frozen body (see
  :mod:`groma_mm.engine.precision`). When that leaves the embedding / LM head in another dtype than the
  body, casts at those two boundaries let the model also run without autocast (inference).
"""
import os
import warnings
from typing import List, Optional, Sequence, Union

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from groma_mm.models.llms.lora import accept_plain_weights
from groma_mm.models.llms.special_tokens import DEFAULT_NUM_PROXY_TOKENS, GromaTokenIds, add_groma_tokens
from groma_mm.registry import MODELS
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer

DType = Union[None, str, torch.dtype]


def _local_source(pretrained: str, gguf_file: Optional[str]):
    """Split a ``.gguf`` path into (folder, file name) and check that the local files exist."""
    if gguf_file is None and pretrained.endswith('.gguf'):
        pretrained, gguf_file = os.path.split(os.path.abspath(pretrained))
    target = os.path.join(pretrained, gguf_file) if gguf_file else pretrained
    if not os.path.exists(target):
        raise FileNotFoundError(f'{target} does not exist; groma_mm loads LLMs and tokenizers from local paths '
                                'only (download the weights first)')
    return pretrained, gguf_file


def _to_dtype(torch_dtype: DType):
    if torch_dtype is None or torch_dtype == 'auto' or isinstance(torch_dtype, torch.dtype):
        return torch_dtype
    dtype = getattr(torch, torch_dtype, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"torch_dtype must be a torch dtype name like 'bfloat16' or 'auto', got {torch_dtype!r}")
    return dtype


@MODELS.register_module(name='HFTokenizer')
def build_tokenizer(pretrained: str, gguf_file: Optional[str] = None, **kwargs) -> PreTrainedTokenizerBase:
    """Load a tokenizer from a local folder (or the tokenizer inside a GGUF file)."""
    pretrained, gguf_file = _local_source(pretrained, gguf_file)
    if gguf_file:
        kwargs['gguf_file'] = gguf_file
    return AutoTokenizer.from_pretrained(pretrained, local_files_only=True, **kwargs)


def load_causal_lm(pretrained: Optional[str] = None,
                   config: Optional[dict] = None,
                   torch_dtype: DType = None,
                   attn_implementation: Optional[str] = None,
                   gguf_file: Optional[str] = None) -> PreTrainedModel:
    """Load local weights (``pretrained``, a folder or ``.gguf`` file) or build from ``config``
    (``AutoConfig.for_model(**config)``, random init). Exactly one of the two."""
    if (pretrained is None) == (config is None):
        raise ValueError('give exactly one of pretrained (a local path) and config (a dict with model_type)')
    kwargs = dict(torch_dtype=_to_dtype(torch_dtype))
    if attn_implementation is not None:
        kwargs['attn_implementation'] = attn_implementation
    if config is not None:
        config = dict(config)
        if 'model_type' not in config:
            raise KeyError(f'LLM config needs a model_type (e.g. llama, qwen2), got keys {sorted(config)}')
        config = AutoConfig.for_model(**config)
        if kwargs['torch_dtype'] == 'auto':  # 'auto' means the checkpoint's dtype; a config may name one
            kwargs['torch_dtype'] = config.torch_dtype
        return AutoModelForCausalLM.from_config(config, **kwargs)
    pretrained, gguf_file = _local_source(pretrained, gguf_file)
    if gguf_file:
        kwargs['gguf_file'] = gguf_file
    return AutoModelForCausalLM.from_pretrained(pretrained, local_files_only=True, **kwargs)


def _embedding_weights(model: PreTrainedModel) -> List[torch.nn.Parameter]:
    """Input embedding and LM head weights, once each (tied models share one tensor)."""
    weights = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight is not weights[0]:
        weights.append(head.weight)
    return weights


def resize_embeddings_to_tokenizer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                                   init_ids: Sequence[int], old_vocab_size: int) -> None:
    """Give every token of ``tokenizer`` an embedding and LM-head row; set rows ``init_ids`` to the mean of
    rows ``[0, old_vocab_size)`` other than ``init_ids``.

    Never shrinks: some checkpoints (Qwen2) have more rows than tokens, and new ids may land in those.
    """
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        # mean_resizing=False: we set the rows below; HF's covariance-based sampling is slow at 7B.
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    if not init_ids:
        return
    init = torch.as_tensor(list(init_ids))
    with torch.no_grad():
        for weight in _embedding_weights(model):
            keep = torch.ones(old_vocab_size, dtype=torch.bool)
            keep[init[init < old_vocab_size]] = False
            # The mean in float32: a bf16 sum over 32k rows loses most of its bits.
            mean = weight[:old_vocab_size][keep.to(weight.device)].float().mean(0)
            weight[init.to(weight.device)] = mean.to(weight.dtype)


def train_token_rows(model: PreTrainedModel, row_ids: Sequence[int]) -> List[torch.utils.hooks.RemovableHandle]:
    """Make the embedding and LM-head rows ``row_ids`` trainable and every other row of them fixed.

    The matrices get ``requires_grad=True`` and a hook that zeroes the gradient of the other rows; the rest
    of the model is left as it is (call after freezing it).

    Returns:
        The hook handles (``handle.remove()`` lifts the masks).
    """
    rows = torch.as_tensor(list(row_ids), dtype=torch.long)

    def mask_grad(grad: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros(grad.shape[0], 1, dtype=grad.dtype, device=grad.device)
        mask[rows.to(grad.device)] = 1
        return grad * mask

    handles = []
    for weight in _embedding_weights(model):
        weight.requires_grad_(True)
        handles.append(weight.register_hook(mask_grad))
    return handles


def apply_lora(model: PreTrainedModel, lora: dict):
    """Wrap ``model`` with peft LoRA, e.g. ``lora=dict(r=64, lora_alpha=16, target_modules=['q_proj', 'v_proj'])``
    (any ``peft.LoraConfig`` field). Returns the ``PeftModel``, which also loads plain-named weights
    (:mod:`groma_mm.models.llms.lora`)."""
    try:
        import peft
    except ImportError as e:
        raise ImportError('lora=... needs peft (pip install peft)') from e
    model = peft.get_peft_model(model, peft.LoraConfig(**dict(dict(task_type='CAUSAL_LM'), **lora)))
    accept_plain_weights(model)  # so a full (non-LoRA) Groma checkpoint can be fine-tuned from
    return model


def keep_trainable_in(model: PreTrainedModel, dtype: DType) -> None:
    """Store every trainable parameter of ``model`` in ``dtype``; frozen ones keep theirs (module doc)."""
    dtype = _to_dtype(dtype)
    body = model.dtype
    for param in model.parameters():
        if param.requires_grad and param.dtype != dtype:
            param.data = param.data.to(dtype)  # same Parameter object: grad masks and sharing survive
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    if embedding.weight.dtype != body:
        embedding.register_forward_hook(lambda module, args, out: out.to(body))
    if head is not None and head.weight.dtype != body:
        head.register_forward_pre_hook(lambda module, args: (args[0].to(module.weight.dtype), *args[1:]))


def _warn_if_rows_are_reset(model: PreTrainedModel, new_ids: Sequence[int], old_vocab_size: int, source: str) -> None:
    """Warn when the mean init overwrites rows the checkpoint has: an LLM saved with Groma's tokens (e.g. by
    tools/pretrain_toy_llm.py) loaded with a tokenizer that lacks them loses its trained ``<rK>`` rows."""
    rows = model.get_input_embeddings().num_embeddings
    overwritten = [i for i in new_ids if i < rows]
    if overwritten:
        warnings.warn(f'{source}: the LLM has {rows} embedding rows but the tokenizer only {old_vocab_size} '
                      f'tokens before Groma\'s were added, so rows {overwritten[0]}…{overwritten[-1]} are reset '
                      'to the mean of the others. If the LLM was saved with Groma\'s tokens, build it with the '
                      'tokenizer saved beside it (model.tokenizer.pretrained=<the same folder>); padded '
                      'vocabularies can ignore this.')


@MODELS.register_module(name='HFCausalLM')
def build_causal_lm(pretrained: Optional[str] = None,
                    config: Optional[dict] = None,
                    tokenizer: Optional[PreTrainedTokenizerBase] = None,
                    num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS,
                    torch_dtype: DType = None,
                    attn_implementation: Optional[str] = None,
                    gguf_file: Optional[str] = None,
                    freeze_llm: bool = False,
                    gradient_checkpointing: bool = False,
                    lora: Optional[dict] = None,
                    trainable_dtype: DType = None,
                    train_new_token_rows: bool = True):
    """Build an HF causal LM ready for Groma (see the module doc for the options).

    Args:
        pretrained / config / torch_dtype / attn_implementation / gguf_file: see :func:`load_causal_lm`.
        tokenizer: a built tokenizer; Groma's tokens are added to it in place and the embeddings resized.
            Read their ids afterwards with ``GromaTokenIds.from_tokenizer(tokenizer, num_proxy_tokens)``.
        num_proxy_tokens: N of ``<r0>…<r{N-1}>``.
        freeze_llm: freeze all but Groma's token rows.
        gradient_checkpointing: enable HF gradient checkpointing (non-reentrant, so frozen inputs work).
        lora: ``peft.LoraConfig`` fields; the returned model is then a ``PeftModel``.
        trainable_dtype: store the trainable weights in this dtype (``'float32'``: fp32 master weights);
            None keeps ``torch_dtype``.
        train_new_token_rows: with ``freeze_llm`` or ``lora``, train the embedding / LM-head rows of Groma's
            tokens (which makes the two matrices trainable). False when the LLM already knows them (LoRA
            from a trained Groma): saves their gradients and AdamW state, ~4 GB for a 7B LLM.

    Returns:
        A ``PreTrainedModel`` (or ``PeftModel`` with ``lora``).
    """
    token_ids: Optional[GromaTokenIds] = None
    if tokenizer is not None:
        old_vocab_size = len(tokenizer)
        token_ids = add_groma_tokens(tokenizer, num_proxy_tokens)
        if config is not None and 'vocab_size' not in config:
            # A random LLM has no vocabulary of its own: size it to the tokenizer, not to the model type's
            # default (32000 rows for llama would make a tiny model's LM head its most expensive layer).
            config = dict(config, vocab_size=len(tokenizer))
    model = load_causal_lm(pretrained, config, torch_dtype, attn_implementation, gguf_file)
    if tokenizer is not None:
        # Trained rows: new tokens start at their mean, inside what the LLM has learned to read. Random rows
        # (an LLM built from a config) keep their own random draws: the mean of random rows is about zero
        # and the same for every new token, so <r0>…<r99> would start as one indistinguishable token.
        new_ids = [i for i in token_ids.all_ids if i >= old_vocab_size] if pretrained or gguf_file else []
        _warn_if_rows_are_reset(model, new_ids, old_vocab_size, pretrained or gguf_file)
        resize_embeddings_to_tokenizer(model, tokenizer, new_ids, old_vocab_size)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
        model.config.use_cache = False  # caching is pointless (and warned about) while checkpointing
    if lora is not None:
        model = apply_lora(model, lora)  # peft leaves only the adapters trainable, so freeze_llm is implied
    elif freeze_llm:
        model.requires_grad_(False)
    if (freeze_llm or lora is not None) and token_ids is not None and train_new_token_rows:
        train_token_rows(model, token_ids.all_ids)
    if trainable_dtype is not None:
        keep_trainable_in(model, trainable_dtype)
    return model


# Tiny configs (tests, the embedded demo) build their tokenizer offline from a fixed vocabulary.
MODELS.register_module(name='TinyWordTokenizer', module=build_tiny_tokenizer)
