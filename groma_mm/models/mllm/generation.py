"""Generators: how Groma's LLM turns a batch of prompt embeddings into answer tokens.

Groma hands its generator the LLM, the left-padded prompt embeddings (image and region slots already
filled), the attention mask, the stop ids and the generation options; the generator returns the new
tokens. Two are registered (``TASK_UTILS``), chosen by ``Groma(generator=...)``:

- ``HFGenerator`` (``'hf'``): transformers' ``generate``. Every option it knows (beams, repetition
  penalty, …) works; each step re-creates its cache views and masks in Python, so short answers are
  launch-bound on a GPU and overhead-bound on a CPU.
- ``StaticCacheGenerator`` (``'static'``): a lean loop over a transformers ``StaticCache`` sized to the
  batch. Prefill runs once from the embeddings; each decode step feeds one token per row with fixed
  shapes, so on CUDA the step is captured once in a ``torch.cuda.CUDAGraph`` and replayed. Greedy,
  temperature, top-k and top-p; rows stop independently at their stop ids.

Left-padded rows keep their own positions: ``position_ids`` count the real tokens of each row (as
transformers' ``generate`` does), so a prompt gives the same answer alone and in a ragged batch.
"""
import inspect
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from torch import Tensor
from transformers import GenerationConfig, StaticCache

from groma_mm.registry import TASK_UTILS

GENERATOR_ALIASES = {'hf': 'HFGenerator', 'static': 'StaticCacheGenerator'}
# generation_config fields that change the tokens under transformers' generate but not under the static loop.
_HF_ONLY_FIELDS = ('num_beams', 'repetition_penalty', 'no_repeat_ngram_size', 'bad_words_ids', 'suppress_tokens',
                   'begin_suppress_tokens', 'forced_bos_token_id', 'forced_eos_token_id', 'min_length',
                   'min_new_tokens', 'typical_p', 'epsilon_cutoff', 'eta_cutoff', 'min_p', 'sequence_bias',
                   'encoder_repetition_penalty', 'exponential_decay_length_penalty')


def build_generator(cfg: Union[str, dict]):
    """``'hf'`` / ``'static'`` or a ``TASK_UTILS`` config dict → a generator."""
    if isinstance(cfg, str):
        if cfg not in GENERATOR_ALIASES:
            raise ValueError(f'unknown generator {cfg!r}: use one of {sorted(GENERATOR_ALIASES)} or a config dict')
        cfg = dict(type=GENERATOR_ALIASES[cfg])
    return TASK_UTILS.build(cfg)


def left_padded_positions(attention_mask: Tensor) -> Tensor:
    """(B, L) 0/1 mask → (B, L) position ids counting each row's real tokens (padding gets 1, as in HF)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 1)


@TASK_UTILS.register_module()
class HFGenerator:
    """transformers' ``generate`` from ``inputs_embeds``; any ``generate`` option is passed through."""

    def __call__(self, llm, inputs_embeds: Tensor, attention_mask: Tensor, stop_token_ids: Sequence[int],
                 pad_token_id: int, **options) -> Tensor:
        """Generate the answers.

        Args:
            llm: an HF causal LM (or a peft model over one).
            inputs_embeds: (B, L, D) left-padded prompt embeddings.
            attention_mask: (B, L), 0 on padding.
            stop_token_ids: ids that end a row; empty: every row runs ``max_new_tokens``.
            pad_token_id: written after a row has stopped.
            **options: ``generate`` options (``max_new_tokens``, ``do_sample``, ``temperature``, …).

        Returns:
            (B, N) new token ids, N ≤ ``max_new_tokens``.
        """
        return llm.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                            eos_token_id=list(stop_token_ids), pad_token_id=pad_token_id, **options)

    def release(self) -> None:
        """Nothing is kept between calls."""


def sample_next(logits: Tensor, do_sample: bool, temperature: float, top_k: int, top_p: float) -> Tensor:
    """(B, V) float logits → (B,) next ids: argmax, or a draw after temperature, top-k and top-p (HF order)."""
    if not do_sample:
        return logits.argmax(-1)
    if temperature != 1.0:
        logits = logits / temperature
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float('-inf'))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative <= (1 - top_p)
        drop[:, -1] = False  # the most likely token always stays
        logits = logits.masked_fill(drop.scatter(1, order, drop), float('-inf'))
    return torch.multinomial(logits.softmax(-1), 1).squeeze(1)


# Decoders laid out as transformers' Llama (embed_tokens, rotary_emb, layers, norm; a plain lm_head), whose
# decode step can run layer by layer. Others run through their own forward.
LAYER_LOOP_MODEL_TYPES = ('llama', 'qwen2')
# RoPE variants whose frequencies do not depend on the sequence length, so a table of all positions holds.
_FIXED_ROPE_TYPES = ('default', 'linear', 'llama3')


def _layer_stack(llm) -> Optional[tuple]:
    """``(embed_tokens, rotary_emb, layers, norm, lm_head)`` of a Llama-layout decoder, else ``None``."""
    base = llm.get_base_model() if hasattr(llm, 'get_base_model') else llm
    config = base.config
    if config.model_type not in LAYER_LOOP_MODEL_TYPES or getattr(config, 'use_sliding_window', False):
        return None
    decoder = base.get_decoder() if hasattr(base, 'get_decoder') else None
    parts = tuple(getattr(decoder, name, None) for name in ('embed_tokens', 'rotary_emb', 'layers', 'norm'))
    head = base.get_output_embeddings()
    if any(p is None for p in parts) or head is None:
        return None
    if getattr(parts[1], 'rope_type', 'default') not in _FIXED_ROPE_TYPES:
        return None
    return parts + (head, )


class _DecodeSession:
    """A static cache for one (batch, cache length) plus the fixed-shape buffers of one decode step.

    The step reads ``input_ids`` (B, 1), ``position_ids`` (B, 1), ``cache_position`` (1,) and the
    additive ``decode_mask`` (B, 1, 1, cache_len) from these buffers and writes ``logits`` (B, V), so on CUDA it
    can be captured once and replayed for every later call of the same shape.

    For a Llama-layout decoder (``layer_loop``) the step calls the decoder layers itself, with rotary
    embeddings looked up in a table of every cache position: the model's forward would recompute them, rebuild
    the mask and wrap outputs each step, which is most of a small model's step. The arithmetic is the same.
    """

    def __init__(self, llm, batch_size: int, cache_len: int, dtype: torch.dtype, device: torch.device,
                 pass_logits_to_keep: bool, layer_loop: bool) -> None:
        self.llm = llm
        self.cache = StaticCache(config=llm.config, max_batch_size=batch_size, max_cache_len=cache_len,
                                 device=device, dtype=dtype)
        self.cache_len = cache_len
        self.extra = dict(logits_to_keep=1) if pass_logits_to_keep else {}
        self.input_ids = torch.zeros(batch_size, 1, dtype=torch.long, device=device)
        self.position_ids = torch.zeros(batch_size, 1, dtype=torch.long, device=device)
        self.cache_position = torch.zeros(1, dtype=torch.long, device=device)
        self.attention_mask = torch.zeros(batch_size, cache_len, dtype=torch.long, device=device)
        # The decode step's additive mask, kept up to date in place: transformers would rebuild it from the
        # 2-D mask with a dozen ops per step (a 4-D mask is taken as it is).
        self.min_value = torch.finfo(dtype).min
        self.decode_mask = torch.zeros(batch_size, 1, 1, cache_len, dtype=dtype, device=device)
        self.layers = _layer_stack(llm) if layer_loop else None
        if self.layers is not None:
            embed, rotary = self.layers[:2]
            probe = torch.zeros(1, dtype=embed.weight.dtype, device=device)
            cos, sin = rotary(probe, torch.arange(cache_len, device=device)[None])
            self.rope_table = (cos[0], sin[0])  # (cache_len, head_dim) each
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        self.graph_logits: Optional[Tensor] = None
        self.graph_failed = False

    def prefill(self, inputs_embeds: Tensor, attention_mask: Tensor) -> Tensor:
        """Fill the cache from the (B, L, D) prompt; returns the (B, V) logits of its last column."""
        length = inputs_embeds.shape[1]
        self.attention_mask.zero_()
        self.attention_mask[:, :length] = attention_mask
        positions = left_padded_positions(attention_mask)
        out = self.llm(inputs_embeds=inputs_embeds, attention_mask=self.attention_mask, position_ids=positions,
                       cache_position=torch.arange(length, device=inputs_embeds.device), past_key_values=self.cache,
                       use_cache=True, **self.extra)
        # The decode buffers start where the prompt ends: the next column, each row's next position.
        self.decode_mask.copy_(((self.attention_mask == 0) * self.min_value)[:, None, None, :])
        self.cache_position.fill_(length)
        self.position_ids.copy_(positions[:, -1:] + 1)
        return out.logits[:, -1].float()

    def _step(self) -> Tensor:
        if self.layers is not None:
            embed, _, layers, norm, head = self.layers
            hidden = embed(self.input_ids)
            rope = (self.rope_table[0][self.position_ids], self.rope_table[1][self.position_ids])
            for layer in layers:
                hidden = layer(hidden, attention_mask=self.decode_mask, position_ids=self.position_ids,
                               past_key_value=self.cache, use_cache=True, cache_position=self.cache_position,
                               position_embeddings=rope)[0]
            return head(norm(hidden))[:, -1]
        out = self.llm(input_ids=self.input_ids, attention_mask=self.decode_mask, position_ids=self.position_ids,
                       cache_position=self.cache_position, past_key_values=self.cache, use_cache=True, **self.extra)
        return out.logits[:, -1]

    def _capture(self) -> None:
        """Record the step in a CUDA graph. Warm-up runs compute the pending step itself (same inputs, same
        cache column), so they change nothing the replay would not write again."""
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.graph_logits = self._step()
        self.graph = graph

    def decode(self, token: Tensor, use_graph: bool) -> Tensor:
        """Feed (B,) tokens at the pending column; returns the (B, V) logits and advances the buffers."""
        self.input_ids.copy_(token[:, None])
        self.decode_mask.index_fill_(3, self.cache_position, 0)
        if use_graph and self.graph is None and not self.graph_failed:
            try:
                self._capture()
            except RuntimeError as err:  # an op that cannot be captured: stay correct, lose the speed
                self.graph_failed = True
                MMLogger.get_current_instance().warning(
                    f'StaticCacheGenerator: CUDA graph capture failed ({err}); decoding without graphs')
        if use_graph and self.graph is not None:
            self.graph.replay()
            logits = self.graph_logits.float()  # read before the next replay overwrites it
        else:
            logits = self._step().float()
        self.cache_position.add_(1)
        self.position_ids.add_(1)
        return logits


@TASK_UTILS.register_module()
class StaticCacheGenerator:
    """Static-KV-cache decoding, with the decode step as a CUDA graph on CUDA (module docstring).

    Options not given per call come from the LLM's ``generation_config`` (as with ``generate``).

    Args:
        cuda_graph: capture the decode step on CUDA devices (CPUs always run it eagerly).
        layer_loop: run the decode step layer by layer for Llama-layout decoders (``LAYER_LOOP_MODEL_TYPES``);
            ``False`` always calls the model's forward.
        cache_multiple: cache lengths are rounded up to a multiple of this, so prompts of similar length
            share one cache (and one graph).
        max_sessions: caches (and graphs) kept for reuse, least recently used dropped first; each holds
            a full KV cache for its batch size and length.
    """

    supported_options = ('max_new_tokens', 'do_sample', 'temperature', 'top_k', 'top_p')

    def __init__(self, cuda_graph: bool = True, layer_loop: bool = True, cache_multiple: int = 64,
                 max_sessions: int = 2) -> None:
        if cache_multiple < 1 or max_sessions < 1:
            raise ValueError(f'cache_multiple and max_sessions must be >= 1, got {cache_multiple}, {max_sessions}')
        self.cuda_graph = cuda_graph
        self.layer_loop = layer_loop
        self._warned = False
        self.cache_multiple = cache_multiple
        self.max_sessions = max_sessions
        self._sessions: 'OrderedDict[Tuple, _DecodeSession]' = OrderedDict()

    def _options(self, llm, options: dict) -> dict:
        unknown = sorted(k for k, v in options.items() if k not in self.supported_options and v is not None)
        if unknown:
            raise ValueError(f'StaticCacheGenerator does not support {unknown} (it supports '
                             f'{list(self.supported_options)}); use generator="hf" for them')
        defaults = getattr(llm, 'generation_config', None)
        self._warn_ignored(defaults)
        resolved = {}
        for name in self.supported_options:
            value = options.get(name)
            resolved[name] = getattr(defaults, name, None) if value is None else value
        resolved['max_new_tokens'] = int(resolved['max_new_tokens'] or 20)  # HF's default length
        resolved['temperature'] = float(1.0 if resolved['temperature'] is None else resolved['temperature'])
        resolved['top_k'] = int(resolved['top_k'] or 0)
        resolved['top_p'] = float(1.0 if resolved['top_p'] is None else resolved['top_p'])
        resolved['do_sample'] = bool(resolved['do_sample'])
        if resolved['do_sample'] and resolved['temperature'] <= 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {resolved['temperature']}")
        if not 0 < resolved['top_p'] <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {resolved['top_p']}")
        return resolved

    def _warn_ignored(self, config: Optional[GenerationConfig]) -> None:
        """Say once which of the LLM's own generation defaults the static loop does not apply."""
        if config is None or self._warned:
            return
        plain = GenerationConfig()
        ignored = [f'{k}={getattr(config, k)!r}' for k in _HF_ONLY_FIELDS
                   if getattr(config, k, None) != getattr(plain, k, None)]
        if ignored:
            MMLogger.get_current_instance().warning(
                f'StaticCacheGenerator ignores the LLM generation_config settings {ignored}; use generator="hf" '
                'for transformers\' generate to apply them')
        self._warned = True

    def _session(self, llm, batch_size: int, cache_len: int, dtype: torch.dtype,
                 device: torch.device) -> _DecodeSession:
        # The weights' address joins the key: a graph replays reads of the memory it was captured on, and moving
        # or recasting the model puts the weights elsewhere.
        weights = llm.get_input_embeddings().weight.data_ptr()
        key = (id(llm), weights, batch_size, cache_len, dtype, device)
        session = self._sessions.pop(key, None)
        if session is None:
            if not getattr(llm, '_supports_static_cache', False):
                raise TypeError(f'{type(llm).__name__} has no static-cache support in transformers; use '
                                'generator="hf"')
            # A peft wrapper passes keyword arguments through to the model it wraps.
            base = llm.get_base_model() if hasattr(llm, 'get_base_model') else llm
            keeps = 'logits_to_keep' in inspect.signature(base.forward).parameters
            session = _DecodeSession(llm, batch_size, cache_len, dtype, device, keeps, self.layer_loop)
            while len(self._sessions) >= self.max_sessions:
                self._sessions.popitem(last=False)
        self._sessions[key] = session
        return session

    def __call__(self, llm, inputs_embeds: Tensor, attention_mask: Tensor, stop_token_ids: Sequence[int],
                 pad_token_id: int, **options) -> Tensor:
        """Same contract as :meth:`HFGenerator.__call__` (greedy/sampling options only)."""
        with torch.inference_mode():  # no autograd bookkeeping at all: it is a large share of a small step
            return self._generate(llm, inputs_embeds, attention_mask, stop_token_ids, pad_token_id,
                                  self._options(llm, options))

    def _generate(self, llm, inputs_embeds: Tensor, attention_mask: Tensor, stop_token_ids: Sequence[int],
                  pad_token_id: int, opts: dict) -> Tensor:
        batch_size, length = inputs_embeds.shape[:2]
        device = inputs_embeds.device
        cache_len = -(-(length + opts['max_new_tokens']) // self.cache_multiple) * self.cache_multiple
        session = self._session(llm, batch_size, cache_len, inputs_embeds.dtype, device)
        use_graph = self.cuda_graph and device.type == 'cuda'
        stops = torch.as_tensor(list(stop_token_ids), dtype=torch.long, device=device)
        tokens = torch.full((batch_size, opts['max_new_tokens']), pad_token_id, dtype=torch.long, device=device)
        finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
        sampling = (opts['do_sample'], opts['temperature'], opts['top_k'], opts['top_p'])
        logits = session.prefill(inputs_embeds, attention_mask.to(device))
        steps = 0
        for step in range(opts['max_new_tokens']):
            token = sample_next(logits, *sampling)
            token = token.masked_fill(finished, pad_token_id)
            tokens[:, step] = token
            steps = step + 1
            if len(stops):
                finished |= torch.isin(token, stops)
                if bool(finished.all()):
                    break
            if step + 1 < opts['max_new_tokens']:
                logits = session.decode(token, use_graph)
        return tokens[:, :steps]

    def release(self) -> None:
        """Drop every cached KV cache and graph (e.g. before training on the same device)."""
        self._sessions.clear()


GenerationKey = Tuple[Tuple[str, str], ...]


def generation_key(options: Dict[str, object]) -> GenerationKey:
    """A hashable identity of generation options: requests with equal keys can share one ``generate``."""
    return tuple(sorted((str(k), repr(v)) for k, v in options.items()))
