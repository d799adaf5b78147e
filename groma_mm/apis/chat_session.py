"""One person's conversation with Groma about one image: the logic the web demo and the terminal chat share.

A session holds the image, the user's boxes (named ``<box0>``, ``<box1>``, … in questions) and the
history of the free-chat mode. Each task mode turns the user's words into the prompt the model was
trained on (paper Table 9); the answer comes back as a :class:`GroundedResult`.
"""
import html
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from groma_mm.apis.inferencer import GroundedResult
from groma_mm.apis.inputs import InputError
from groma_mm.apis.visualization import PHRASE_PALETTE

MODES = ('chat', 'grounded caption', 'find', 'describe region', 'proposals')
MODE_HELP = {
    'chat': 'free chat, multi-turn; refer to your boxes as <box0>, <box1>, …',
    'grounded caption': 'a short description whose phrases point at boxes',
    'find': 'type what to find ("the red circle"); the answer box is drawn',
    'describe region': 'describes <box0> (draw or type a box first)',
    'proposals': "draws the proposer's regions with their scores",
}

_NUMBER = r'-?\d+(?:\.\d+)?'
_BOX_TEXT = re.compile(rf'\[?\s*({_NUMBER})[\s,]+({_NUMBER})[\s,]+({_NUMBER})[\s,]+({_NUMBER})\s*\]?')


def parse_boxes(text: str) -> List[List[float]]:
    """Boxes typed as ``x1 y1 x2 y2`` groups (commas, spaces, brackets or ``;`` between them).

    Raises:
        InputError: the text holds something that is not a whole number of 4-number boxes.
    """
    text = (text or '').strip()
    if not text:
        return []
    boxes = [[float(v) for v in m.groups()] for m in _BOX_TEXT.finditer(text)]
    if _BOX_TEXT.sub(';', text).replace(';', '').replace(',', '').strip():
        raise InputError(f'cannot read boxes from {text!r}: write each as "x1 y1 x2 y2", separated by ";"')
    return boxes


def format_boxes(boxes: Sequence[Sequence[float]]) -> str:
    return '; '.join(' '.join(f'{v:g}' for v in box) for box in boxes)


@dataclass
class GenerationSettings:
    """What the user may change about decoding; greedy unless ``greedy`` is off."""
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    greedy: bool = True

    def to_generation_cfg(self) -> dict:
        if self.max_new_tokens < 1:
            raise InputError(f'max new tokens must be at least 1, got {self.max_new_tokens}')
        cfg = dict(max_new_tokens=int(self.max_new_tokens))
        if not self.greedy:
            if self.temperature <= 0 or not 0 < self.top_p <= 1:
                raise InputError(f'sampling needs temperature > 0 and 0 < top-p ≤ 1, '
                                 f'got {self.temperature} and {self.top_p}')
            cfg.update(do_sample=True, temperature=float(self.temperature), top_p=float(self.top_p))
        return cfg


@dataclass
class Turn:
    """What one question needs from the inferencer: ``kind`` is ``'answer'`` or ``'proposals'``."""
    kind: str
    conversation: List[dict] = field(default_factory=list)
    grounding: bool = False


@dataclass
class ChatSession:
    """The image, the user's boxes (xyxy, image pixels) and the free-chat history of one person."""
    image: Optional[np.ndarray] = None
    boxes: List[List[float]] = field(default_factory=list)
    history: List[dict] = field(default_factory=list)

    def reset(self) -> None:
        self.history = []

    def set_image(self, image: Optional[np.ndarray]) -> None:
        """A new image starts a new conversation; its boxes belonged to the old image."""
        self.image, self.boxes, self.history = image, [], []

    def turn(self, question: str, mode: str = 'chat') -> Turn:
        """The prompt of one question in ``mode``.

        Raises:
            InputError: no image, an unknown mode, an empty question where one is needed, or a region
                question without a box.
        """
        if self.image is None:
            raise InputError('no image: upload one or pick an example first')
        question = (question or '').strip()
        if mode == 'proposals':
            return Turn('proposals')
        if mode == 'grounded caption':
            return Turn('answer', [dict(role='user', content=question or 'Give me a short description of the image.')],
                        grounding=True)
        if mode == 'describe region':
            if not self.boxes:
                raise InputError('describe region needs a box: draw one (two clicks) or type "x1 y1 x2 y2"')
            return Turn('answer', [dict(role='user', content='Please briefly describe <box0>.')])
        if not question:
            raise InputError('type a question first')
        if mode == 'find':
            return Turn('answer', [dict(role='user', content=f'Locate <p>{question}</p> in the image.')])
        if mode == 'chat':
            grounding = question.startswith('[grounding]')
            content = question[len('[grounding]'):].strip() if grounding else question
            return Turn('answer', self.history + [dict(role='user', content=content)], grounding=grounding)
        raise InputError(f'unknown mode {mode!r}; choose one of {", ".join(MODES)}')

    def remember(self, turn: Turn, mode: str, result: GroundedResult) -> None:
        """Keep a free-chat exchange in the history (other modes are one-shot)."""
        if mode == 'chat' and turn.kind == 'answer' and not result.error:
            self.history = turn.conversation + [dict(role='assistant', content=result.text)]


def answer_html(result: GroundedResult) -> str:
    """The answer as HTML: every grounded phrase in the colour of its boxes in the drawing (RGB)."""
    if result.error:
        return f'<div class="groma-error">⚠ {html.escape(result.error)}</div>'
    text, pieces, start = result.text, [], 0
    for i, span in enumerate(result.spans):
        phrase = span.get('phrase') or ''
        at = text.find(phrase, start) if phrase else -1
        if at < 0:
            continue
        r, g, b = PHRASE_PALETTE[i % len(PHRASE_PALETTE)]
        pieces.append(html.escape(text[start:at]))
        pieces.append(f'<span class="groma-phrase" style="border-bottom:3px solid rgb({r},{g},{b});'
                      f'background:rgba({r},{g},{b},0.18)">{html.escape(phrase)}</span>')
        start = at + len(phrase)
    pieces.append(html.escape(text[start:]))
    return f'<div class="groma-answer">{"".join(pieces) or "(empty answer)"}</div>'


def box_legend(boxes: Sequence[Sequence[float]]) -> str:
    if not boxes:
        return 'No boxes yet: click two corners on the image, or type "x1 y1 x2 y2; …".'
    return '\n'.join(f'- `<box{k}>`: [{", ".join(f"{v:.0f}" for v in box)}]' for k, box in enumerate(boxes))


def result_record(result: GroundedResult, proposals: Optional[Dict[str, np.ndarray]] = None) -> dict:
    """The JSON panel: raw answer, spans and boxes in pixels (or the proposals)."""
    if proposals is not None:
        return {'proposals': {k: np.round(np.asarray(v), 2).tolist() for k, v in proposals.items()}}
    return result.to_dict()


def corner_box(first: Tuple[float, float], second: Tuple[float, float]) -> List[float]:
    """The box two clicked corners span (in any order).

    Raises:
        InputError: both clicks at the same row or column (no area).
    """
    (xa, ya), (xb, yb) = first, second
    box = [min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)]
    if box[2] <= box[0] or box[3] <= box[1]:
        raise InputError(f'the two clicks {first} and {second} span no area; click two opposite corners')
    return box
