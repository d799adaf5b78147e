"""Groma's prompt: conversation + regions -> ``input_ids``, ``labels`` and the visual-slot masks (paper §3.2).

The first user turn introduces the image and every region by its proxy token::

    Here is an image with region crops from it. Image: <image>. Regions: <r0><region>, <r1><region>, ….
    [grounding] Please briefly describe the image content.

``<image>`` becomes ``num_image_tokens`` slots and each ``<region>`` one slot; the model overwrites the
slots' embeddings with image/region tokens. The number of regions varies per sample.

Conversation format: a list of messages ``dict(role='user'|'assistant'|'system', content=str)``; LLaVA's
``dict(from='human'|'gpt', value=str)`` is accepted too. Users' boxes are written either as ``<boxK>``
(box ``K`` of the sample) or as ``<region>`` with a per-message ``box_inds`` list naming the box of each
``<region>`` in order (Groma Instruct style). ``box_to_region[K]`` is the region id (or ids) box ``K``
received after region selection; it becomes ``<rR><region>`` in user messages and ``<rR>`` in replies,
e.g. ``<roi><box0></roi>`` -> ``<roi><r5></roi>``. A literal ``<image>`` in a message is dropped: the intro
already places the image.

Labels follow the xtuner recipe: -100 everywhere except assistant replies and the end separator closing
them. Labels are assigned by character span on the whole rendered prompt, tokenized once (fast tokenizers'
offset mapping), so the ids are exactly those of the same text at inference, whatever the tokenizer does
with leading spaces.
"""
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from groma_mm.datasets.templates import DEFAULT_TEMPLATE, Segment, get_template, render_segments
from groma_mm.models.llms.special_tokens import (DEFAULT_NUM_PROXY_TOKENS, GROUNDING_TOKEN, IMAGE_TOKEN,
                                                 REGION_TOKEN, GromaTokenIds, proxy_token)

IGNORE_INDEX = -100
INTRO = 'Here is an image with region crops from it. Image: {image}. Regions: {regions}.'
# The official checkpoints see the intro as its own round, answered by this line (docs/design.md §4).
INTRO_REPLY = 'Thank you for the image! How can I assist you with it?'

BoxToRegion = Union[Sequence[Union[int, Sequence[int]]], Mapping[int, Union[int, Sequence[int]]]]

_BOX_PLACEHOLDER = re.compile(r'<box(\d+)>')
_IMAGE_IN_TEXT = re.compile(r'\s*' + re.escape(IMAGE_TOKEN) + r'\s*')
_ROLES = {'user': 'user', 'human': 'user', 'assistant': 'assistant', 'gpt': 'assistant', 'system': 'system'}


class PromptError(ValueError):
    """A sample's conversation cannot be turned into a prompt; the message names the sample."""


class PromptTooLongError(PromptError):
    """Truncating to ``max_length`` would drop visual slots or every target token."""


@dataclass
class GromaPrompt:
    """One tokenized sample (L tokens after ``<image>`` expansion, R ``<region>`` slots).

    Attributes:
        input_ids: (L,) long.
        labels: (L,) long, -100 where not a training target.
        image_mask: (L,) bool, the ``num_image_tokens`` image slots.
        region_mask: (L,) bool, the region slots (``<region>``, and the builder's other
            ``region_slot_tokens``).
        region_slot_ids: (R,) long, the region id of each slot in order (the proxy token ``<rK>`` nearest
            before it), i.e. which region token fills it.
        text: the rendered prompt before ``<image>`` expansion.
    """
    input_ids: torch.Tensor
    labels: torch.Tensor
    image_mask: torch.Tensor
    region_mask: torch.Tensor
    region_slot_ids: torch.Tensor
    text: str


def _slot_regions(proxy_idx: torch.Tensor, is_slot: torch.Tensor) -> torch.Tensor:
    """Region of every slot, in order: the proxy token nearest before it; -1 where there is none or another
    slot sits in between (each ``<rK>`` names one slot).

    Args:
        proxy_idx: (L,) region index of each proxy token, -1 elsewhere.
        is_slot: (L,) bool.

    Returns:
        (S,) long, S = number of slots.
    """
    positions = torch.arange(len(proxy_idx))
    last_proxy = torch.where(proxy_idx >= 0, positions, -1).cummax(0).values
    last_slot = torch.where(is_slot, positions, -1).cummax(0).values
    slots = is_slot.nonzero().flatten()
    before = (slots - 1).clamp(min=0)
    named = (slots > 0) & (last_proxy[before] >= 0) & (last_proxy[before] > last_slot[before])
    return torch.where(named, proxy_idx[last_proxy[before].clamp(min=0)], torch.full_like(slots, -1))


class GromaPromptBuilder:
    """Turns a conversation and a sample's regions into a :class:`GromaPrompt`.

    Args:
        tokenizer: a fast HF tokenizer that already has Groma's tokens (``add_groma_tokens``).
        template: a registered template name or a template dict.
        num_image_tokens: slots ``<image>`` expands to (16×16 = 256 in Groma).
        num_proxy_tokens: N of ``<r0>…<r{N-1}>``; at most N regions per sample.
        max_length: the most tokens per sample; longer prompts are cut at the end, never inside the
            visual slots.
        system: system message; ``None`` uses the template's.
        intro_turn: put the intro in a round of its own answered by :data:`INTRO_REPLY` (the official
            checkpoints' format) instead of prefixing the first user message (the paper's).
        region_separator: text between the intro's ``<rK><region>`` entries (``', '``; the official
            checkpoints list them with nothing between).
        grounding_separator: text between ``[grounding]`` and the first user message (``' '``; the official
            datasets glue them: ``'[grounding]Describe …'``).
        user_box_format: how a user message names a region its box received; ``{proxy}`` is ``<rK>``.
            Default ``'{proxy}<region>'`` (the region token sits at the box); the official checkpoints
            take ``'<roi>{proxy}</roi><refer_feat>'``.
        region_slot_tokens: tokens whose embeddings become region tokens; each is filled with the region
            of the proxy token ``<rK>`` nearest before it (no other slot in between): ``<region>`` by
            default, plus ``<refer_feat>`` for the official format.
    """

    def __init__(self,
                 tokenizer,
                 template: Union[str, dict] = DEFAULT_TEMPLATE,
                 num_image_tokens: int = 256,
                 num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS,
                 max_length: int = 2048,
                 system: Optional[str] = None,
                 intro_turn: bool = False,
                 region_separator: str = ', ',
                 grounding_separator: str = ' ',
                 user_box_format: str = '{proxy}' + REGION_TOKEN,
                 region_slot_tokens: Sequence[str] = (REGION_TOKEN, )):
        if not getattr(tokenizer, 'is_fast', False):
            raise TypeError(f'{type(tokenizer).__name__} is not a fast tokenizer; labels need its offset mapping')
        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.token_ids = GromaTokenIds.from_tokenizer(tokenizer, num_proxy_tokens)
        self.num_image_tokens = num_image_tokens
        self.max_length = max_length
        self.system = system
        self.intro_turn = intro_turn
        self.region_separator = region_separator
        self.grounding_separator = grounding_separator
        if '{proxy}' not in user_box_format:
            raise ValueError(f'user_box_format={user_box_format!r} lacks {{proxy}}')
        self.user_box_format = user_box_format
        vocab = tokenizer.get_vocab()
        missing = [t for t in region_slot_tokens if t not in vocab]
        if missing or not region_slot_tokens:
            raise ValueError(f'region_slot_tokens {list(region_slot_tokens)}: {missing or "none"} not in the '
                             'tokenizer')
        self.region_slot_tokens = tuple(region_slot_tokens)
        self.slot_token_ids = torch.tensor([vocab[t] for t in region_slot_tokens], dtype=torch.long)

    # ----------------------------------------------------------------------------------------- text
    def _resolve_boxes(self, text: str, role: str, box_inds: Optional[Sequence[int]],
                       box_to_region: Optional[BoxToRegion], where: str) -> str:
        """Replace ``<boxK>`` and ``<region>``+``box_inds`` by proxy tokens (+ ``<region>`` for users)."""

        def regions_of(box: int) -> str:
            try:
                regions = box_to_region[box]
            except (IndexError, KeyError, TypeError):
                raise PromptError(f'{where}: box {box} has no region in box_to_region') from None
            # An int, a list, a numpy array or a tensor: whatever the region selection produced.
            regions = [int(r) for r in torch.as_tensor(regions).flatten().tolist()]
            if not regions:
                raise PromptError(f'{where}: box {box} maps to no region')
            if role == 'user':
                return ''.join(self.user_box_format.format(proxy=proxy_token(r)) for r in regions)
            return ''.join(proxy_token(r) for r in regions)

        # <region> placeholders first: resolving <boxK> inserts <region> tokens of its own.
        pieces = text.split(REGION_TOKEN)
        box_inds = [] if box_inds is None else list(box_inds)
        if len(pieces) - 1 != len(box_inds):
            raise PromptError(f'{where}: {len(pieces) - 1} {REGION_TOKEN} placeholder(s) but '
                              f'{len(box_inds)} box_inds')
        text = pieces[0] + ''.join(regions_of(int(box)) + piece for box, piece in zip(box_inds, pieces[1:]))
        return _BOX_PLACEHOLDER.sub(lambda m: regions_of(int(m.group(1))), text)

    def _build_rounds(self,
                     conversation: Sequence[dict],
                     num_regions: int,
                     box_to_region: Optional[BoxToRegion] = None,
                     grounding: bool = False,
                     sample: str = '<sample>') -> Tuple[Optional[str], List[Tuple[str, Optional[str]]], List[bool]]:
        """Resolve placeholders and prepend the intro.

        Returns:
            (system message or None, [(user text, reply or None)], per round whether its reply is a target).
        """
        if num_regions > self.token_ids.num_proxy_tokens:
            raise PromptError(f'sample {sample!r}: {num_regions} regions but only '
                              f'{self.token_ids.num_proxy_tokens} proxy tokens')
        system = self.system
        messages = []
        for i, message in enumerate(conversation):
            role = _ROLES.get(message.get('role', message.get('from')))
            content = message.get('content', message.get('value'))
            where = f'sample {sample!r}, message {i}'
            if role is None or not isinstance(content, str):
                raise PromptError(f'{where}: needs role in {sorted(_ROLES)} and a string content, got {message!r}')
            if role == 'system':
                if i != 0:
                    raise PromptError(f'{where}: a system message must come first')
                system = content
                continue
            content = _IMAGE_IN_TEXT.sub(' ', content).strip()
            messages.append((role, self._resolve_boxes(content, role, message.get('box_inds'), box_to_region, where)))
        roles = [role for role, _ in messages]
        expected = ['user', 'assistant'] * (len(messages) // 2) + ['user'] * (len(messages) % 2)
        if not messages or roles != expected:
            raise PromptError(f'sample {sample!r}: messages must alternate user/assistant starting with user, '
                              f'got {roles}')

        first = messages[0][1]
        if grounding and GROUNDING_TOKEN not in first:
            first = f'{GROUNDING_TOKEN}{self.grounding_separator}{first}'.strip()
        regions = self.region_separator.join(proxy_token(k) + REGION_TOKEN for k in range(num_regions))
        intro = INTRO.format(image=IMAGE_TOKEN, regions=regions)
        users = [m for r, m in messages if r == 'user']
        replies = [m for r, m in messages if r == 'assistant'] + [None] * (len(messages) % 2)
        if self.intro_turn:
            rounds = [(intro, INTRO_REPLY)] + list(zip([first] + users[1:], replies))
            labelled = [False] + [True] * len(users)
        else:
            rounds = list(zip([f'{intro} {first}'.strip()] + users[1:], replies))
            labelled = [True] * len(users)
        return system, rounds, labelled

    def render(self, conversation: Sequence[dict], num_regions: int, box_to_region: Optional[BoxToRegion] = None,
               grounding: bool = False, sample: str = '<sample>') -> List[Segment]:
        """The prompt as labelled text segments (see :func:`render_segments`); same args as ``__call__``."""
        system, rounds, labelled = self._build_rounds(conversation, num_regions, box_to_region, grounding, sample)
        return render_segments(self.template, rounds, system=system, labelled_rounds=labelled)

    # ------------------------------------------------------------------------------------- tokens
    def __call__(self,
                 conversation: Sequence[dict],
                 num_regions: int,
                 box_to_region: Optional[BoxToRegion] = None,
                 grounding: bool = False,
                 sample: str = '<sample>') -> GromaPrompt:
        """Tokenize one sample.

        Args:
            conversation: messages (see module doc); ending with a user message gives a generation prompt.
            num_regions: regions of this sample, listed as ``<r0><region> … <r{n-1}><region>``.
            box_to_region: region id(s) of each user/GT box referred to in the conversation.
            grounding: put ``[grounding]`` before the first user message (if absent) to ask for a grounded reply.
            sample: the sample's name for error messages (image path, dataset index, …).

        Raises:
            PromptError: bad conversation, placeholders or region references.
            PromptTooLongError: see ``max_length``.
        """
        segments = self.render(conversation, num_regions, box_to_region, grounding, sample)
        text = ''.join(s.text for s in segments)
        spans, start = [], 0
        for seg in segments:
            if seg.labelled:
                spans.append((start, start + len(seg.text)))
            start += len(seg.text)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc['input_ids'])
        # A token is a target iff it starts inside a reply span; the spans begin after the role prefix.
        labels = [i if any(s <= off[0] < e for s, e in spans) else IGNORE_INDEX
                  for i, off in zip(ids, enc['offset_mapping'])]
        if self.template['add_bos'] and self.tokenizer.bos_token_id is not None:
            ids, labels = [self.tokenizer.bos_token_id] + ids, [IGNORE_INDEX] + labels

        tid = self.token_ids
        n_image = ids.count(tid.image)
        if n_image != 1:
            raise PromptError(f'sample {sample!r}: the prompt has {n_image} {IMAGE_TOKEN} tokens, expected 1')
        at = ids.index(tid.image)
        ids = ids[:at] + [tid.image] * self.num_image_tokens + ids[at + 1:]
        labels = labels[:at] + [IGNORE_INDEX] * self.num_image_tokens + labels[at + 1:]

        input_ids = torch.tensor(ids, dtype=torch.long)
        labels_t = torch.tensor(labels, dtype=torch.long)
        proxy_idx = tid.proxy_indices(input_ids)
        if (proxy_idx >= num_regions).any():
            bad = sorted(set(proxy_idx[proxy_idx >= num_regions].tolist()))
            raise PromptError(f'sample {sample!r}: refers to {[proxy_token(k) for k in bad]} but has only '
                              f'{num_regions} regions')
        is_slot = torch.isin(input_ids, self.slot_token_ids)
        slot_regions = _slot_regions(proxy_idx, is_slot)
        if (slot_regions < 0).any():
            raise PromptError(f'sample {sample!r}: every region slot ({", ".join(self.region_slot_tokens)}) must '
                              'follow a proxy token <rK> of its own')

        if len(ids) > self.max_length:
            visual = (input_ids == tid.image) | is_slot
            last_slot = int(visual.nonzero().max())
            if last_slot >= self.max_length:
                raise PromptTooLongError(
                    f'sample {sample!r}: {len(ids)} tokens, and max_length={self.max_length} would cut visual '
                    f'slots (the last is at {last_slot}); raise max_length or use fewer regions')
            had_targets = bool((labels_t != IGNORE_INDEX).any())
            input_ids, labels_t = input_ids[:self.max_length], labels_t[:self.max_length]
            if had_targets and not (labels_t != IGNORE_INDEX).any():
                raise PromptTooLongError(f'sample {sample!r}: {len(ids)} tokens; max_length={self.max_length} '
                                         'leaves no reply token to train on')
        return GromaPrompt(
            input_ids=input_ids,
            labels=labels_t,
            image_mask=input_ids == tid.image,
            region_mask=is_slot,
            region_slot_ids=slot_regions,
            text=text)

    # -------------------------------------------------------------------------------- batch / decode
    @property
    def pad_token_id(self) -> int:
        """The tokenizer's pad id, else unk, else eos (padded positions are masked anyway)."""
        for token_id in (self.tokenizer.pad_token_id, self.tokenizer.unk_token_id, self.tokenizer.eos_token_id):
            if token_id is not None:
                return token_id
        raise ValueError(f'{type(self.tokenizer).__name__} has no pad, unk or eos token to pad with')

    @property
    def stop_token_ids(self) -> List[int]:
        """Ids that end a reply: the template's ``assistant_end`` (when it is one token) and the tokenizer's EOS."""
        end = self.tokenizer(self.template['assistant_end'], add_special_tokens=False)['input_ids']
        ids = end if len(end) == 1 else []
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def pad(self, prompts: Sequence[GromaPrompt], padding_side: str = 'right') -> Dict[str, object]:
        """Batch prompts; left padding is for generation (every prompt then ends at the last column).

        Returns:
            dict with ``input_ids``, ``labels`` (-100 on padding), ``attention_mask``, ``image_mask``,
            ``region_mask``: (B, L_max); ``region_slot_ids``: list of B (R_b,) tensors.
        """
        if padding_side not in ('left', 'right'):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        length = max(len(p.input_ids) for p in prompts)

        def stack(tensors: List[torch.Tensor], value) -> torch.Tensor:
            out = torch.full((len(tensors), length), value, dtype=tensors[0].dtype)
            for b, t in enumerate(tensors):
                if padding_side == 'right':
                    out[b, :len(t)] = t
                else:
                    out[b, length - len(t):] = t
            return out

        return dict(
            input_ids=stack([p.input_ids for p in prompts], self.pad_token_id),
            labels=stack([p.labels for p in prompts], IGNORE_INDEX),
            attention_mask=stack([torch.ones_like(p.input_ids, dtype=torch.bool) for p in prompts], False).long(),
            image_mask=stack([p.image_mask for p in prompts], False),
            region_mask=stack([p.region_mask for p in prompts], False),
            region_slot_ids=[p.region_slot_ids for p in prompts])

    def decode_reply(self, token_ids: Sequence[int]) -> str:
        """Text of generated ids up to the first stop token, keeping Groma's tags for the parser
        (``skip_special_tokens=True`` would delete ``<p>``, ``<roi>``, ``<rK>`` since they are special)."""
        stops = set(self.stop_token_ids)
        kept = []
        for token_id in (int(t) for t in token_ids):
            if token_id in stops:
                break
            kept.append(token_id)
        return self.tokenizer.decode(kept, skip_special_tokens=False, clean_up_tokenization_spaces=False)
