"""Text about a synthetic scene other than referring expressions: region captions, grounded captions
(Flickr30k Entities style phrases ↔ boxes), long captions (ShareGPT-4V style) and chats (LLaVA-Instruct
style, and Groma-Instruct style that points at boxes)."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .expressions import describe_all, shortest_unique, zone_words
from .scene import SHAPES, Scene

NUMBERS = ('no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
CAPTION_QUESTIONS = (
    'Describe this image in detail.',
    'What do you see happening in this image?',
    'Give a detailed description of the picture.',
    'Explain the visual content of the image in great detail.',
    'What is in this photo? Describe it thoroughly.',
)


def article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


def a_(phrase: str) -> str:
    """'orange circle' -> 'an orange circle'."""
    return f'{article(phrase)} {phrase}'


def plural(shape: str) -> str:
    return shape + 's'


def count_words(n: int, shape: str) -> str:
    return f'{NUMBERS[n]} {shape if n == 1 else plural(shape)}'


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def join_words(items: Sequence[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]


def region_caption(scene: Scene, i: int) -> str:
    """'a small red circle at the top left' (Visual Genome style region description)."""
    obj = scene.objects[i]
    return f'{a_(f"{obj.size} {obj.colour} {obj.shape}")} {zone_words(obj, scene.width, scene.height)}'


def shape_groups(scene: Scene) -> 'OrderedDict[str, List[int]]':
    """Object indices per shape, shapes in order of first appearance."""
    groups: 'OrderedDict[str, List[int]]' = OrderedDict()
    for i, obj in enumerate(scene.objects):
        groups.setdefault(obj.shape, []).append(i)
    return groups


def group_phrase(scene: Scene, indices: Sequence[int]) -> str:
    """'a red circle', 'two red squares' (one colour) or 'three stars'."""
    objs = [scene.objects[i] for i in indices]
    colours = {o.colour for o in objs}
    colour = f'{objs[0].colour} ' if len(colours) == 1 else ''
    if len(objs) == 1:
        return a_(f'{colour}{objs[0].shape}')
    return f'{NUMBERS[len(objs)]} {colour}{plural(objs[0].shape)}'


# A grounded sentence is a list of pieces: plain text, or (entity key, entity type, phrase).
Piece = Union[str, Tuple[str, str, str]]


def grounded_captions(scene: Scene) -> Tuple[List[List[Piece]], Dict[str, Optional[List[int]]]]:
    """Two Flickr30k-Entities-style sentences and their entities.

    Sentence 1 groups shapes ("A red circle, two squares and a green triangle on a grey background ."),
    sentence 2 names each shape with its place. Entity keys map to object indices (one entity may have
    several boxes); the background is a scene entity (``None``: no box).

    Returns:
        (sentences, entities)
    """
    entities: Dict[str, Optional[List[int]]] = {}
    groups = shape_groups(scene)
    first: List[Piece] = []
    for n, (shape, indices) in enumerate(groups.items()):
        if n:
            first.append(' and ' if n == len(groups) - 1 else ' , ')
        entities[f'group_{shape}'] = list(indices)
        phrase = group_phrase(scene, indices)
        first.append((f'group_{shape}', 'other', capitalize(phrase) if n == 0 else phrase))
    entities['background'] = None
    first += [' on ', ('background', 'scene', 'a grey background'), ' .']

    second: List[Piece] = []
    for i, obj in enumerate(scene.objects):
        if i:
            second.append(' and ' if i == len(scene.objects) - 1 else ' , ')
        entities[f'object_{i}'] = [i]
        phrase = a_(f'{obj.size} {obj.colour} {obj.shape}')
        second.append((f'object_{i}', 'other', capitalize(phrase) if i == 0 else phrase))
        second.append(' ' + zone_words(obj, scene.width, scene.height))
    second.append(' .')
    return [first, second], entities


def plain_text(sentence: Sequence[Piece]) -> str:
    return ''.join(p if isinstance(p, str) else p[2] for p in sentence)


def long_caption(scene: Scene) -> str:
    """A detailed caption (ShareGPT-4V style): what is where, and which shape hides which."""
    n = len(scene.objects)
    groups = shape_groups(scene)
    parts = [f'The image shows {NUMBERS[n]} shapes on a plain grey background: '
             f'{join_words([group_phrase(scene, ix) for ix in groups.values()])}.']
    for i, obj in enumerate(scene.objects):
        where = zone_words(obj, scene.width, scene.height)
        parts.append(f'{capitalize(where)} there is {a_(f"{obj.size} {obj.colour} {obj.shape}")}.')
    names = describe_all(scene, range(n))
    for i, obj in enumerate(scene.objects):
        for j, hidden in obj.occluders:
            share = hidden / obj.full_area
            how = 'slightly' if share < 0.15 else 'partly'
            parts.append(f'{capitalize(names[j])} {how} covers {names[i]}.')
    return ' '.join(parts)


def _count_qa(scene: Scene, rng: np.random.Generator) -> Tuple[str, str]:
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    k = sum(o.shape == shape for o in scene.objects)
    if k == 0:
        answer = f'There are no {plural(shape)}.'
    elif k == 1:
        answer = f'There is one {shape}.'
    else:
        answer = f'There are {count_words(k, shape)}.'
    return f'How many {plural(shape)} are there in the image?', answer


def _total_qa(scene: Scene, rng: np.random.Generator) -> Tuple[str, str]:
    groups = shape_groups(scene)
    return ('How many shapes are there in the image?',
            f'There are {NUMBERS[len(scene.objects)]} shapes: '
            f'{join_words([group_phrase(scene, ix) for ix in groups.values()])}.')


def _exists_qa(scene: Scene, rng: np.random.Generator) -> Tuple[str, str]:
    from .scene import COLOURS
    colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    found = [i for i, o in enumerate(scene.objects) if o.colour == colour and o.shape == shape]
    question = f'Is there {a_(f"{colour} {shape}")} in the image?'
    if not found:
        return question, f'No, there is no {colour} {shape}.'
    if len(found) == 1:
        obj = scene.objects[found[0]]
        where = zone_words(obj, scene.width, scene.height)
        return question, f'Yes, there is {a_(f"{obj.size} {colour} {shape}")} {where}.'
    return question, f'Yes, there are {count_words(len(found), f"{colour} {shape}")}.'


def _colour_qa(scene: Scene, rng: np.random.Generator) -> Optional[Tuple[str, str]]:
    """Colour of an object named without its colour (needs a colour-free unique description)."""
    order = rng.permutation(len(scene.objects))
    for i in order:
        obj = scene.objects[int(i)]
        same_shape = [o for o in scene.objects if o.shape == obj.shape]
        if len(same_shape) == 1:
            return f'What colour is the {obj.shape}?', f'The {obj.shape} is {obj.colour}.'
        same_size = [o for o in same_shape if o.size == obj.size]
        if len(same_size) == 1:
            return (f'What colour is the {obj.size} {obj.shape}?', f'The {obj.size} {obj.shape} is {obj.colour}.')
    return None


def _occlusion_qa(scene: Scene, rng: np.random.Generator) -> Optional[Tuple[str, str]]:
    pairs = [(i, j) for i, o in enumerate(scene.objects) for j, _ in o.occluders]
    if not pairs:
        return None
    back, front = pairs[int(rng.integers(len(pairs)))]
    names = describe_all(scene, [back, front])
    if int(rng.integers(2)):
        return (f'Which shape is in front: {names[0]} or {names[1]}?',
                f'{capitalize(names[1])} is in front; it partly covers {names[0]}.')
    return (f'Is {names[0]} in front of {names[1]}?', f'No, {names[0]} is behind {names[1]}.')


def llava_conversation(scene: Scene, rng: np.random.Generator, turns: int = 2) -> List[Tuple[str, str]]:
    """``turns`` distinct question/answer pairs about counts, colours, presence and occlusion."""
    makers = [_count_qa, _total_qa, _exists_qa, _colour_qa, _occlusion_qa]
    pairs: List[Tuple[str, str]] = []
    for k in rng.permutation(len(makers)):
        qa = makers[int(k)](scene, rng)
        if qa is not None and qa[0] not in [q for q, _ in pairs]:
            pairs.append(qa)
        if len(pairs) == turns:
            break
    return pairs


def groma_conversation(scene: Scene, rng: np.random.Generator, turns: int = 2) -> List[dict]:
    """Groma-Instruct-style messages that point at boxes: ``<region>`` in a message stands for box
    ``box_inds[k]`` (the k-th ``<region>``); a grounded phrase is ``<p>…</p> <roi><region></roi>``.

    Returns:
        messages ``dict(from='human' | 'gpt', value=str, box_inds=list[int] | None)``; box indices are
        object indices of the scene.
    """
    n = len(scene.objects)
    messages: List[dict] = []
    kinds = ['colour', 'what', 'where', 'find']
    for kind in [kinds[int(k)] for k in rng.permutation(len(kinds))][:turns]:
        i = int(rng.integers(n))
        obj = scene.objects[i]
        where = zone_words(obj, scene.width, scene.height)
        if kind == 'colour':
            messages += [dict(value='What colour is <region>?', box_inds=[i]),
                         dict(value=f'It is {obj.colour}.', box_inds=[])]
        elif kind == 'what':
            messages += [dict(value='What is in <region>?', box_inds=[i]),
                         dict(value=f'{capitalize(a_(f"{obj.size} {obj.colour} {obj.shape}"))} {where}.',
                              box_inds=[])]
        elif kind == 'where':
            desc = shortest_unique(scene, i)
            if desc is None:
                continue
            messages += [dict(value=f'Where is {desc.text}?', box_inds=None),
                         dict(value=f'<p>{capitalize(desc.text)}</p> <roi><region></roi> is {where}.',
                              box_inds=[i])]
        else:
            shape = obj.shape
            found = [k for k, o in enumerate(scene.objects) if o.shape == shape]
            grounded = [f'<p>{a_(f"{scene.objects[k].colour} {shape}")}</p> <roi><region></roi>' for k in found]
            head = f'There is one {shape}' if len(found) == 1 else f'There are {count_words(len(found), shape)}'
            messages += [dict(value=f'Find all {plural(shape)} in the image.', box_inds=None),
                         dict(value=f'{head}: {join_words(grounded)}.', box_inds=found)]
    for k, message in enumerate(messages):
        message['from'] = 'human' if k % 2 == 0 else 'gpt'
    return [dict(sorted(m.items(), key=lambda kv: ('from', 'value', 'box_inds').index(kv[0]))) for m in messages]
