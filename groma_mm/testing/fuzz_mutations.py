"""The fuzzer's mutations: seeded changes to one file of a format (see :mod:`groma_mm.testing.fuzzing`).

A :class:`Mutator` holds the pristine files of one format and returns, per call, new contents for some of
them and the :class:`Mutation` it applied: a truncated file, invalid UTF-8, a value of the wrong type, a
missing key, a bad box, an id that refers to nothing, broken Flickr30k markup, or a broken image file.
"""
import copy
import json
import pickle
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Tuple

import numpy as np

if TYPE_CHECKING:
    from groma_mm.testing.fuzzing import Format

BAD_NUMBERS = (float('nan'), float('inf'), -float('inf'), 1e308, -1e9, -5.0, 0.0, 1e9)
WRONG_VALUES = (None, True, 'x', '', -1, 0, 3.5, [], {}, [1, 2], {'a': 1}, float('nan'))
UNKNOWN_ID = 987654321


@dataclass
class Mutation:
    """What one fuzzing step changed."""
    kind: str
    file: str
    detail: str
    surely_bad: bool


def _paths(node, prefix=()):
    """Every (path, value) of a json-like tree."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k, ))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i, ))


def _set(tree, path, value):
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _bad_box(rng: random.Random, box: list, size: Tuple[int, int]) -> Tuple[list, str]:
    """A box that no reader may keep as it is: non-finite, of no size, or (almost) all outside the image."""
    width, height = size
    x, y, w, h = (float(v) if isinstance(v, (int, float)) else 1.0 for v in box)
    choice = rng.choice(['nan', 'inf', 'negative_size', 'zero_size', 'outside', 'huge', 'negative_origin'])
    if choice in ('nan', 'inf'):
        box = list(box)
        box[rng.randrange(4)] = float(choice)
    elif choice == 'negative_size':
        box = [x, y, -abs(w) - 1, h]
    elif choice == 'zero_size':
        box = [x, y, 0.0, h]
    elif choice == 'outside':
        box = [width + 50.0, height + 50.0, 10.0, 10.0]
    elif choice == 'huge':
        box = [x, y, 1e9, 1e9]
    else:
        box = [-1e6, -1e6, 5.0, 5.0]
    return box, choice


class Mutator:
    """Seeded mutations of one file of a format (module docstring)."""

    def __init__(self, fmt: 'Format', pristine: Dict[str, bytes], sizes: Dict[str, Tuple[int, int]],
                 images: List[str], seed: int):
        self.fmt = fmt
        self.pristine = pristine
        self.sizes = sizes
        self.images = images
        self.rng = random.Random(seed)
        self.trees = {}
        for path, kind in fmt.files.items():
            if kind == 'json':
                self.trees[path] = json.loads(pristine[path])
            elif kind == 'pickle':
                self.trees[path] = pickle.loads(pristine[path])

    def __call__(self) -> Tuple[Dict[str, bytes], Mutation]:
        """New contents for some files (the others stay pristine) and what was done."""
        if self.rng.random() < 0.08:
            return self._image()
        path = self.rng.choice(sorted(self.fmt.files))
        kind = self.fmt.files[path]
        raw = self.pristine[path]
        choices = ['truncate', 'non_utf8']
        choices += {'json': ['wrong_type'] * 3 + ['missing_key'] * 3 + ['bad_box'] * 3 + ['unknown_id'] * 2,
                    'pickle': ['wrong_type'] * 3 + ['missing_key'] * 3 + ['unknown_id'] * 2,
                    'xml': ['bad_box'] * 4 + ['drop_element'] * 2 + ['wrong_type'] * 2,
                    'text': ['broken_markup'] * 3 + ['unknown_id'] * 2 + ['empty']}[kind]
        op = self.rng.choice(choices)
        if op == 'truncate':
            cut = self.rng.randrange(1, max(2, len(raw) - 1))
            # A cut inside trailing whitespace, or a text file cut at a line end, may still be well formed.
            surely = kind != 'text' and bool(raw[cut:].strip())
            return {path: raw[:cut]}, Mutation(op, path, f'cut at byte {cut} of {len(raw)}', surely)
        if op == 'non_utf8':
            at = self.rng.randrange(len(raw) + 1)
            surely = kind != 'pickle'  # a pickle is bytes: the reader may refuse it or not notice
            return {path: raw[:at] + b'\xff\xfe\xc3' + raw[at:]}, Mutation(op, path, f'invalid bytes at {at}', surely)
        if kind in ('json', 'pickle'):
            return self._tree(path, kind, op)
        if kind == 'xml':
            return self._xml(path, op)
        return self._text(path, op)

    # ------------------------------------------------------------------------------------- json / pickle
    def _dump(self, path, kind, tree) -> bytes:
        if kind == 'json':
            return json.dumps(tree).encode()
        return pickle.dumps(tree, protocol=2)

    def _tree(self, path, kind, op):
        tree = copy.deepcopy(self.trees[path])
        nodes = [(p, v) for p, v in _paths(tree) if p]
        if op == 'wrong_type':
            where, old = self.rng.choice(nodes)
            value = self.rng.choice([v for v in WRONG_VALUES if type(v) is not type(old)])
            _set(tree, where, value)
            return {path: self._dump(path, kind, tree)}, Mutation(op, path, f'{list(where)} = {value!r}', False)
        if op == 'missing_key':
            dicts = [(p, v) for p, v in _paths(tree) if isinstance(v, dict) and v]
            where, node = self.rng.choice(dicts)
            key = self.rng.choice(sorted(node, key=str))
            del node[key]
            return {path: self._dump(path, kind, tree)}, Mutation(op, path, f'{list(where)} lost {key!r}', False)
        if op == 'bad_box':
            boxes = self._box_paths(tree)
            if not boxes:
                return self._tree(path, kind, 'wrong_type')
            where, box, size = self.rng.choice(boxes)
            new, how = _bad_box(self.rng, box, size)
            if self.fmt.box_keys == ('vg', ):
                for key, value in zip(('x', 'y', 'width', 'height'), new):
                    _set(tree, where + (key, ), value)
            else:
                _set(tree, where, new)
            return {path: self._dump(path, kind, tree)}, Mutation(op, path, f'{list(where)} {how} {new}', True)
        refs = [(p, v) for p, v in nodes if p and p[-1] in self.fmt.id_keys and isinstance(v, (int, str, list))]
        refs += [(p, v) for p, v in nodes if len(p) > 1 and p[-2] in self.fmt.id_keys and isinstance(p[-1], int)]
        if not refs:
            return self._tree(path, kind, 'wrong_type')
        where, old = self.rng.choice(refs)
        _set(tree, where, [UNKNOWN_ID] if isinstance(old, list) else UNKNOWN_ID)
        return {path: self._dump(path, kind, tree)}, Mutation('unknown_id', path, f'{list(where)} = {UNKNOWN_ID}', True)

    def _box_paths(self, tree):
        """``(path, box as xywh, image size)`` of every box the validator checks."""
        out = []
        default = next(iter(self.sizes.values()))
        for p, v in _paths(tree):
            if not isinstance(v, (dict, list)):
                continue
            if self.fmt.box_keys == ('vg', ) and isinstance(v, dict) and {'x', 'y', 'width', 'height'} <= set(v):
                out.append((p, [v['x'], v['y'], v['width'], v['height']], default))
            elif p and p[-1] == 'bbox' and 'bbox' in self.fmt.box_keys and isinstance(v, list) and len(v) == 4:
                out.append((p, v, default))
            elif len(p) > 1 and p[-2] == 'boxes' and 'boxes' in self.fmt.box_keys and isinstance(v, list):
                out.append((p, v, default))
        return out

    # ------------------------------------------------------------------------------------------ xml / text
    def _xml(self, path, op):
        root = ET.fromstring(self.pristine[path])
        if op == 'bad_box':
            boxes = root.findall('.//bndbox')
            box = self.rng.choice(boxes)
            tag = self.rng.choice(['xmin', 'ymin', 'xmax', 'ymax'])
            value = self.rng.choice(['nan', '-5', '100000', 'abc', '', '0'])
            if value == '0':  # a box of negative width (VOC boxes are inclusive: xmax = xmin is 1 px wide)
                box.find('xmax').text = str(int(float(box.find('xmin').text)) - 1)
            else:
                box.find(tag).text = value
            surely = value in ('nan', '-5', '100000', 'abc', '0') or tag in ('xmax', 'ymax')
            detail = 'xmax < xmin' if value == '0' else f'{tag} = {value!r}'
            return {path: ET.tostring(root)}, Mutation(op, path, f'bndbox {detail}', surely)
        parents = [(parent, child) for parent in root.iter() for child in list(parent)]
        parent, child = self.rng.choice(parents)
        if op == 'drop_element':
            parent.remove(child)
            detail = f'dropped <{child.tag}>'
        else:
            child.text = self.rng.choice(['', 'x', '-1', '1e999', 'nan'])
            detail = f'<{child.tag}> = {child.text!r}'
        return {path: ET.tostring(root)}, Mutation(op, path, detail, False)

    def _text(self, path, op):
        text = self.pristine[path].decode()
        lines = text.split('\n')
        k = self.rng.randrange(len(lines))
        if op == 'empty':
            return {path: b''}, Mutation(op, path, 'emptied', False)
        if op == 'unknown_id':
            if 'EN#' in text:
                new = re.sub(r'EN#\d+', f'EN#{UNKNOWN_ID}', lines[k], count=1)
                surely = new != lines[k]
            else:  # a split list: an image that does not exist
                new, surely = str(UNKNOWN_ID), True
            lines[k] = new
            return {path: '\n'.join(lines).encode()}, Mutation(op, path, f'line {k}: {new[:60]!r}', surely)
        line = lines[k]
        damage = self.rng.choice(['drop_close', 'drop_open', 'nest', 'bad_header'])
        new = {'drop_close': line.replace(']', '', 1), 'drop_open': line.replace('[/EN#', '', 1),
               'nest': line.replace('[/EN#', '[/EN#1/people [/EN#', 1), 'bad_header': line.replace('/EN#', '/XX#', 1)}[damage]
        lines[k] = new
        return {path: '\n'.join(lines).encode()}, Mutation('broken_markup', path, f'line {k} {damage}',
                                                           new != line and '[/EN#' in line)

    # ---------------------------------------------------------------------------------------------- images
    def _image(self):
        name = self.rng.choice(self.images)
        with open(name, 'rb') as f:
            data = f.read()
        how = self.rng.choice(['empty', 'truncated', 'one_pixel', 'not_an_image'])
        if how == 'empty':
            new = b''
        elif how == 'truncated':
            new = data[:max(16, len(data) // 3)]
        elif how == 'one_pixel':
            import cv2
            new = cv2.imencode('.jpg', np.full((1, 1, 3), 128, np.uint8))[1].tobytes()
        else:
            new = b'this is not a jpeg\n' * 20
        surely = how != 'one_pixel' or self.fmt.sized
        return {name: new}, Mutation('bad_image', name, how, surely)
