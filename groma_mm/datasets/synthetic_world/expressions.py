"""Referring expressions of the synthetic world: a small grammar, its matcher and the shortest-unique generator.

Grammar (every expression names a shape; the rest narrows it down)::

    the [small|large] [<colour>] <shape> [<position> | <relation> <anchor>]
    position: at the top | at the bottom | on the left | on the right | in the middle
              | at the top left | at the top right | at the bottom left | at the bottom right
    relation: left of | right of | above | below | behind | in front of
    anchor:   an expression without a relation ("the green triangle left of the yellow circle")

Positions are thirds of the image (by box centre); ``left of`` & co compare box centres; ``behind`` /
``in front of`` mean that one shape hides part of the other.

Matching has two strengths. The *loose* matcher, :func:`match`, lists every object a listener might take
the expression to mean (zones widened by a margin, any overlap counts as "behind"). The generator only
emits an expression when the loose matcher finds exactly the target *and* the target fits it *strictly*
(zones narrowed by the margin, clear displacement, a visible overlap), so no expression rests on a
borderline judgement. Tests parse written expressions back with :func:`parse_expression` and check
``match(...) == [target]``.
"""
import re
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .scene import COLOURS, SHAPES, SIZES, Scene, Shape

ZONE_MARGIN = 0.05  # × image side
RELATION_MIN_SHIFT = 0.15  # × image side; strict "left of" needs at least this displacement…
RELATION_STRICT_RATIO = 1.5  # …and this much more along the relation axis than across it
RELATION_LOOSE_RATIO = 0.5
MIN_HIDDEN_SHARE = 0.08  # strict "behind": at least this share of the shape is hidden

# position name -> (horizontal third or None, vertical third or None, words)
POSITIONS: Dict[str, Tuple[Optional[str], Optional[str], str]] = {
    'left': ('left', None, 'on the left'),
    'right': ('right', None, 'on the right'),
    'top': (None, 'top', 'at the top'),
    'bottom': (None, 'bottom', 'at the bottom'),
    'middle': ('centre', 'middle', 'in the middle'),
    'top left': ('left', 'top', 'at the top left'),
    'top right': ('right', 'top', 'at the top right'),
    'bottom left': ('left', 'bottom', 'at the bottom left'),
    'bottom right': ('right', 'bottom', 'at the bottom right'),
}
RELATIONS: Tuple[str, ...] = ('left of', 'right of', 'above', 'below', 'behind', 'in front of')
_THIRDS = ('left', 'centre', 'right')  # same order for ('top', 'middle', 'bottom')


@dataclass(frozen=True)
class Description:
    """A parsed referring expression; ``None`` fields match anything."""
    shape: str
    colour: Optional[str] = None
    size: Optional[str] = None
    position: Optional[str] = None
    relation: Optional[str] = None
    anchor: Optional['Description'] = None

    @property
    def text(self) -> str:
        words = ['the'] + [w for w in (self.size, self.colour) if w] + [self.shape]
        if self.position:
            words.append(POSITIONS[self.position][2])
        if self.relation:
            words += [self.relation, self.anchor.text]
        return ' '.join(words)


_POSITION_WORDS = {words: name for name, (_, _, words) in POSITIONS.items()}
_SIMPLE = re.compile(r'^the (?:(?P<size>{})\s)?(?:(?P<colour>{})\s)?(?P<shape>{})(?:\s(?P<position>{}))?$'.format(
    '|'.join(SIZES), '|'.join(COLOURS), '|'.join(SHAPES), '|'.join(sorted(_POSITION_WORDS, key=len, reverse=True))))
_RELATION = re.compile(r'\s({})\s(?=the\s)'.format('|'.join(RELATIONS)))


def parse_expression(text: str) -> Description:
    """Inverse of ``Description.text``.

    Raises:
        ValueError: the text is not in the grammar.
    """
    text = ' '.join(text.lower().strip().rstrip('.').split())
    found = _RELATION.search(text)
    if found:
        target, anchor = parse_expression(text[:found.start()]), parse_expression(text[found.end():])
        if target.position or target.relation or anchor.relation:
            raise ValueError(f'not a synthetic-world expression: {text!r}')
        return replace(target, relation=found.group(1), anchor=anchor)
    m = _SIMPLE.match(text)
    if m is None:
        raise ValueError(f'not a synthetic-world expression: {text!r}')
    position = m.group('position')
    return Description(shape=m.group('shape'), colour=m.group('colour'), size=m.group('size'),
                       position=_POSITION_WORDS[position] if position else None)


def third(coord: float, side: float) -> str:
    """Which third of ``side`` a coordinate lies in: 'left' | 'centre' | 'right' (also used for rows)."""
    return _THIRDS[min(2, int(3 * coord / side))]


def _in_third(coord: float, side: float, which: str, slack: float) -> bool:
    """``coord`` in third ``which``; ``slack`` > 0 widens the third, < 0 narrows it (× side)."""
    lo, hi = {'left': (0, 1 / 3), 'centre': (1 / 3, 2 / 3), 'right': (2 / 3, 1)}[which]
    lo = -np.inf if lo == 0 else lo - slack
    hi = np.inf if hi == 1 else hi + slack
    return lo < coord / side < hi


def in_position(obj: Shape, position: str, width: int, height: int, strict: bool = False) -> bool:
    horizontal, vertical, _ = POSITIONS[position]
    slack = -ZONE_MARGIN if strict else ZONE_MARGIN
    cx, cy = obj.centre
    vertical_third = None if vertical is None else _THIRDS[('top', 'middle', 'bottom').index(vertical)]
    return ((horizontal is None or _in_third(cx, width, horizontal, slack))
            and (vertical_third is None or _in_third(cy, height, vertical_third, slack)))


def related(scene: Scene, t: int, a: int, relation: str, strict: bool = False) -> bool:
    """Whether object ``t`` is ``relation`` object ``a`` (e.g. ``t`` left of ``a``)."""
    if t == a:
        return False
    objs = scene.objects
    if relation in ('behind', 'in front of'):
        back, front = (t, a) if relation == 'behind' else (a, t)
        hidden = objs[back].hidden_by(front)
        return hidden >= MIN_HIDDEN_SHARE * objs[back].full_area if strict else hidden > 0
    (tx, ty), (ax, ay) = objs[t].centre, objs[a].centre
    along, across = {
        'left of': (ax - tx, abs(ay - ty)),
        'right of': (tx - ax, abs(ay - ty)),
        'above': (ay - ty, abs(ax - tx)),
        'below': (ty - ay, abs(ax - tx)),
    }[relation]
    if strict:
        return along >= RELATION_MIN_SHIFT * max(scene.width, scene.height) and along >= RELATION_STRICT_RATIO * across
    return along > 0 and along >= RELATION_LOOSE_RATIO * across


def match(desc: Description, scene: Scene, strict: bool = False) -> List[int]:
    """Indices of the objects that ``desc`` may refer to (see the module doc for ``strict``)."""
    found = []
    anchors = match(desc.anchor, scene, strict) if desc.relation else []
    for i, obj in enumerate(scene.objects):
        if obj.shape != desc.shape or desc.colour not in (None, obj.colour) or desc.size not in (None, obj.size):
            continue
        if desc.position and not in_position(obj, desc.position, scene.width, scene.height, strict):
            continue
        if desc.relation and not any(related(scene, i, a, desc.relation, strict) for a in anchors):
            continue
        found.append(i)
    return found


def attribute_words_suffice(desc: Description, scene: Scene, target: int) -> bool:
    """The expression's size, colour and shape words alone name ``target`` and nothing else (its position
    and relation words ignored): what a reader of region tokens that carry appearance but no layout can
    still resolve."""
    return match(replace(desc, position=None, relation=None, anchor=None), scene) == [target]


def is_unique(desc: Description, scene: Scene, target: int) -> bool:
    """``desc`` names ``target`` and nothing else, with no borderline judgement."""
    return match(desc, scene) == [target] and target in match(desc, scene, strict=True)


def _simple_candidates(scene: Scene, t: int) -> List[Description]:
    """Descriptions without relation, shortest first: attributes, + size, + position."""
    obj = scene.objects[t]
    base = Description(shape=obj.shape, colour=obj.colour)
    sized = replace(base, size=obj.size)
    positions = [p for p in POSITIONS if in_position(obj, p, scene.width, scene.height, strict=True)]
    return ([base, sized] + [replace(base, position=p) for p in positions]
            + [replace(sized, position=p) for p in positions])


def shortest_unique(scene: Scene, t: int, relations: bool = True) -> Optional[Description]:
    """The first unique description of object ``t`` in the order attribute → +size → +position → relation."""
    for desc in _candidates(scene, t, relations):
        if is_unique(desc, scene, t):
            return desc
    return None


def _candidates(scene: Scene, t: int, relations: bool = True):
    yield from _simple_candidates(scene, t)
    if not relations:
        return
    obj = scene.objects[t]
    base = Description(shape=obj.shape, colour=obj.colour)
    for a in range(len(scene.objects)):
        if a == t:
            continue
        anchor = shortest_unique(scene, a, relations=False)
        if anchor is None:
            continue
        for relation in RELATIONS:
            if related(scene, t, a, relation, strict=True):
                yield replace(base, relation=relation, anchor=anchor)
                yield replace(base, size=obj.size, relation=relation, anchor=anchor)


def referring_expressions(scene: Scene, rng: Optional[np.random.Generator] = None,
                          max_sentences: int = 3) -> Dict[int, List[str]]:
    """Unique referring expressions per object; objects that cannot be told apart get none.

    The first expression of an object is its shortest unique one; up to ``max_sentences - 1`` others are
    drawn (with ``rng``, else in order) from its other unique descriptions, as RefCOCO has several
    expressions per object.
    """
    out = {}
    for t in range(len(scene.objects)):
        unique = []
        for desc in _candidates(scene, t):
            if desc.text not in unique and is_unique(desc, scene, t):
                unique.append(desc.text)
        if not unique:
            continue
        rest = unique[1:]
        if rng is not None and len(rest) > max_sentences - 1:
            rest = [rest[i] for i in sorted(rng.choice(len(rest), max_sentences - 1, replace=False))]
        out[t] = [unique[0]] + rest[:max_sentences - 1]
    return out


def zone_words(obj: Shape, width: int, height: int) -> str:
    """Where a shape is, in words, by the third its centre falls in: 'at the top left', 'in the middle'."""
    cx, cy = obj.centre
    horizontal, vertical = third(cx, width), {'left': 'top', 'centre': 'middle', 'right': 'bottom'}[third(cy, height)]
    if horizontal == 'centre' and vertical == 'middle':
        return POSITIONS['middle'][2]
    if horizontal == 'centre':
        return POSITIONS[vertical][2]
    if vertical == 'middle':
        return POSITIONS[horizontal][2]
    return POSITIONS[f'{vertical} {horizontal}'][2]


def describe_all(scene: Scene, indices: Sequence[int]) -> List[str]:
    """Shortest unique description of each index, else 'the {size} {colour} {shape}' (may be ambiguous)."""
    out = []
    for i in indices:
        desc = shortest_unique(scene, i)
        obj = scene.objects[i]
        out.append(desc.text if desc else f'the {obj.size} {obj.colour} {obj.shape}')
    return out
