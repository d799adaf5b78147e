"""Parse Groma's grounded replies into clean text, phrases and boxes (paper §3.2).

``"<p> a dog </p> <roi><r4></roi> is jumping over <p>a man</p> <roi><r1><r7></roi>."`` becomes the text
``"a dog is jumping over a man."`` with spans ``("a dog", [4])`` and ``("a man", [1, 7])``, whose boxes are
looked up by region id in the sample's region boxes. A ``<roi>`` with no phrase before it (REC answers
like ``"<roi><r3></roi>"``) is a span with an empty phrase.

Generated text can be malformed; nothing here raises on it. Unknown region ids, stray or unclosed tags and
proxies outside ``<roi>`` are dropped and described in ``GroundedAnswer.flags``.
"""
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch

from groma_mm.models.llms.special_tokens import (GROUNDING_TOKEN, IMAGE_TOKEN, PHRASE_END_TOKEN, PHRASE_START_TOKEN,
                                                 REGION_TOKEN, ROI_END_TOKEN, ROI_START_TOKEN)

_TAG = re.compile('|'.join(re.escape(t) for t in (PHRASE_START_TOKEN, PHRASE_END_TOKEN, ROI_START_TOKEN,
                                                   ROI_END_TOKEN, GROUNDING_TOKEN, IMAGE_TOKEN, REGION_TOKEN))
                  + r'|<r(\d+)>')
_PUNCT = re.compile(r'\s*([.,;:!?)])')


@dataclass
class GroundedSpan:
    """A phrase grounded to regions.

    Attributes:
        phrase: the phrase ('' for a bare ``<roi>``).
        region_ids: ids of the regions it refers to, in the order written.
        boxes: (k, 4) xyxy boxes of those regions, in the units of the region boxes given to the parser
            (original-image pixels), or ``None`` when none were given.
        start, end: the phrase's character span in ``GroundedAnswer.text``.
    """
    phrase: str
    region_ids: List[int]
    boxes: Optional[torch.Tensor]
    start: int
    end: int


@dataclass
class GroundedAnswer:
    """A parsed reply: ``text`` without tags, its grounded ``spans``, every region referred to (first
    mention order, no repeats) and ``flags`` describing what was malformed and dropped."""
    text: str
    spans: List[GroundedSpan] = field(default_factory=list)
    referred_region_ids: List[int] = field(default_factory=list)
    flags: List[str] = field(default_factory=list)


class _TextBuffer:
    """Accumulates clean text: one space between words, none before punctuation, none at the ends."""

    def __init__(self):
        self.text = ''

    def append(self, chunk: str) -> None:
        chunk = re.sub(r'\s+', ' ', chunk)
        if _PUNCT.match(chunk):
            self.text = self.text.rstrip(' ')
            chunk = chunk.lstrip(' ')
        if not self.text or self.text.endswith(' '):
            chunk = chunk.lstrip(' ')
        self.text += chunk

    def span_since(self, start: int) -> Tuple[str, int, int]:
        """The stripped text written since ``start``, with its (start, end) offsets."""
        raw = self.text[start:]
        phrase = raw.strip(' ')
        begin = start + len(raw) - len(raw.lstrip(' '))
        return phrase, begin, begin + len(phrase)


def parse_grounded_answer(text: str, region_boxes: Optional[torch.Tensor] = None,
                          num_regions: Optional[int] = None) -> GroundedAnswer:
    """Parse a generated reply.

    Args:
        text: decoded reply with Groma's tags kept (``skip_special_tokens=False``), without EOS.
        region_boxes: (N, 4) xyxy boxes of the sample's regions, row ``k`` for ``<rk>``.
        num_regions: N when no boxes are given; ids ≥ N are unknown. Neither given: any id is accepted.

    Returns:
        The :class:`GroundedAnswer`; never raises on malformed text.
    """
    if region_boxes is not None:
        region_boxes = torch.as_tensor(region_boxes)
        num_regions = region_boxes.shape[0]
    buf = _TextBuffer()
    answer = GroundedAnswer(text='')
    phrase_start: Optional[int] = None  # buffer offset of an open <p>
    pending: Optional[Tuple[str, int, int]] = None  # a closed phrase waiting for its <roi>
    roi_ids: Optional[List[int]] = None  # ids collected inside an open <roi>

    def close_roi(ids: List[int]) -> None:
        nonlocal pending
        here = len(buf.text.rstrip(' '))  # a trailing space may still be dropped before punctuation
        phrase, start, end = pending if pending is not None else ('', here, here)
        pending = None
        if not ids:
            answer.flags.append(f'empty {ROI_START_TOKEN} for phrase {phrase!r} dropped')
            return
        boxes = region_boxes[torch.as_tensor(ids, dtype=torch.long)] if region_boxes is not None else None
        answer.spans.append(GroundedSpan(phrase, ids, boxes, start, end))
        answer.referred_region_ids.extend(i for i in ids if i not in answer.referred_region_ids)

    def close_phrase(reason: str) -> None:
        nonlocal phrase_start, pending
        if reason:
            answer.flags.append(reason)
        pending = buf.span_since(phrase_start)
        phrase_start = None

    pos = 0
    for match in _TAG.finditer(text):
        chunk = text[pos:match.start()]
        pos = match.end()
        tag = match.group(0)
        if roi_ids is not None:
            if chunk.strip():
                answer.flags.append(f'text {chunk.strip()!r} inside {ROI_START_TOKEN} dropped')
        else:
            buf.append(chunk)
        if match.group(1) is not None:  # a proxy token <rK>
            k = int(match.group(1))
            if roi_ids is None:
                answer.flags.append(f'{tag} outside {ROI_START_TOKEN} dropped')
            elif num_regions is not None and k >= num_regions:
                answer.flags.append(f'unknown region {tag} dropped (only {num_regions} regions)')
            elif k not in roi_ids:
                roi_ids.append(k)
        elif tag == PHRASE_START_TOKEN:
            if roi_ids is not None:
                answer.flags.append(f'{tag} inside {ROI_START_TOKEN} dropped')
                continue
            if phrase_start is not None:
                answer.flags.append(f'unclosed {PHRASE_START_TOKEN} before another {PHRASE_START_TOKEN}')
            elif pending is not None:
                answer.flags.append(f'phrase {pending[0]!r} has no {ROI_START_TOKEN}')
            pending = None
            phrase_start = len(buf.text)
        elif tag == PHRASE_END_TOKEN:
            if phrase_start is None:
                answer.flags.append(f'stray {tag} dropped')
            else:
                close_phrase('')
        elif tag == ROI_START_TOKEN:
            if roi_ids is not None:
                answer.flags.append(f'nested {tag} dropped')
                continue
            if phrase_start is not None:
                close_phrase(f'unclosed {PHRASE_START_TOKEN} closed at {ROI_START_TOKEN}')
            roi_ids = []
        elif tag == ROI_END_TOKEN:
            if roi_ids is None:
                answer.flags.append(f'stray {tag} dropped')
            else:
                close_roi(roi_ids)
                roi_ids = None
        else:  # input-only tokens (<image>, <region>, [grounding]) have no place in a reply
            answer.flags.append(f'stray {tag} dropped')
    tail = text[pos:]
    if roi_ids is not None:
        # Generation cut off inside <roi>: the regions named so far are still the answer's best guess.
        answer.flags.append(f'unclosed {ROI_START_TOKEN} at the end closed')
        if tail.strip():
            answer.flags.append(f'text {tail.strip()!r} inside {ROI_START_TOKEN} dropped')
        close_roi(roi_ids)
    else:
        buf.append(tail)
    if phrase_start is not None:
        answer.flags.append(f'unclosed {PHRASE_START_TOKEN} at the end dropped')
    elif pending is not None:
        answer.flags.append(f'phrase {pending[0]!r} has no {ROI_START_TOKEN}')
    answer.text = buf.text.rstrip(' ')
    return answer
