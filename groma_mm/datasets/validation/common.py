"""Issue records, box and image checks shared by the format validators."""
import json
import math
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

FORMATS = ('coco', 'lvis', 'refer', 'vg', 'flickr30k', 'chat')
FORMAT_ALIASES = dict(llava='chat', sharegpt4v='chat', groma_instruct='chat', refcoco='refer', mdetr='coco')
ISSUE_KINDS = ('bad_format', 'bad_entry', 'duplicate_id', 'missing_image', 'unreadable_image', 'size_mismatch',
               'degenerate_box', 'box_outside', 'placeholder_mismatch', 'dangling_reference')
IMAGE_CHECKS = ('none', 'exists', 'header', 'decode')
BOX_PLACEHOLDERS = ('<region>', '<ground_box>', '<refer_box>')
_BOX_K = re.compile(r'<box(\d+)>')
_ENTITY = re.compile(r'^\[/EN#(\d+)((?:/[^/\s]+)+)$')
_ROLES = dict(human='user', user='user', gpt='assistant', assistant='assistant', system='system')


def issue(file: str, index: Optional[int], id_, kind: str, reason: str, sub_index: Optional[int] = None) -> dict:
    assert kind in ISSUE_KINDS, kind
    out = dict(file=file, index=index, id=id_, kind=kind, reason=reason)
    if sub_index is not None:
        out['sub_index'] = sub_index
    return out


# ---------------------------------------------------------------------------------------------- helpers
def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_box(x1, y1, x2, y2, width: Optional[float], height: Optional[float],
              tolerance: float = 1.0) -> Optional[Tuple[str, str]]:
    """``(kind, reason)`` for a bad ``xyxy`` pixel box, else None; the image size may be unknown (None)."""
    if not all(_is_number(v) for v in (x1, y1, x2, y2)):
        return 'degenerate_box', f'box {[x1, y1, x2, y2]} is not 4 finite numbers'
    if x2 - x1 < 1 or y2 - y1 < 1:
        return 'degenerate_box', f'degenerate box xyxy {[x1, y1, x2, y2]} (under 1 px wide or high)'
    if _is_number(width) and _is_number(height) and (x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance
                                                      or y2 > height + tolerance):
        return 'box_outside', f'box xyxy {[x1, y1, x2, y2]} outside the {width}x{height} image'
    return None


def _xywh_issue(box, width, height, tolerance) -> Optional[Tuple[str, str]]:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return 'degenerate_box', f'box {box!r} is not [x, y, w, h]'
    if not all(_is_number(v) for v in box):
        return 'degenerate_box', f'box {list(box)} is not 4 finite numbers'
    x, y, w, h = box
    return check_box(x, y, x + w, y + h, width, height, tolerance)


class ImageChecker:
    """Checks image files once each (many entries share an image).

    Args:
        mode: ``'none'`` (skip), ``'exists'``, ``'header'`` (open it and read its size: catches non-images,
            cheap) or ``'decode'`` (decode every pixel: catches truncated files, slow on big datasets).
    """

    def __init__(self, mode: str = 'header'):
        if mode not in IMAGE_CHECKS:
            raise ValueError(f'image check must be one of {IMAGE_CHECKS}, got {mode!r}')
        self.mode = mode
        self._cache: Dict[str, Tuple[Optional[str], Optional[str], Optional[Tuple[int, int]]]] = {}

    def __call__(self, path: str) -> Tuple[Optional[str], Optional[str], Optional[Tuple[int, int]]]:
        """``(kind, reason, (width, height))``; kind/reason are None for a good file, size None if unread."""
        if self.mode == 'none':
            return None, None, None
        if path not in self._cache:
            self._cache[path] = self._check(path)
        return self._cache[path]

    def _check(self, path: str):
        if not osp.isfile(path):
            return 'missing_image', f'image file not found: {path}', None
        if self.mode == 'exists':
            return None, None, None
        from PIL import Image
        try:
            with Image.open(path) as im:
                size = im.size
                if self.mode == 'decode':
                    im.load()
        except Exception as err:  # noqa: BLE001 — any failure to read is the finding
            return 'unreadable_image', f'cannot read image {path}: {type(err).__name__}: {err}', None
        return None, None, size

    def check(self, path: str, file: str, index, id_, width=None, height=None) -> Tuple[List[dict], tuple]:
        """Issues of one image (reported at ``file``/``index``) and its best-known ``(width, height)``."""
        kind, reason, size = self(path)
        if kind:
            return [issue(file, index, id_, kind, reason)], (width, height)
        if size is not None and _is_number(width) and _is_number(height) and tuple(size) != (width, height):
            return [issue(file, index, id_, 'size_mismatch',
                          f'{path} is {size[0]}x{size[1]} but the annotation says {width}x{height}')], size
        if not (_is_number(width) and _is_number(height)):
            width, height = size if size else (None, None)
        return [], (width, height)


def _load_json(path: str):
    with open(path) as f:
        return json.load(f)


def _bad_file(path: str, err: Exception) -> List[dict]:
    return [issue(path, None, None, 'bad_format', f'cannot parse {path}: {type(err).__name__}: {err}')]

def _get(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


def _scalar(value):
    """``value`` if it can be an id or a name (a string or a number), else None: a list or a dict where an
    id belongs is a malformed entry, and unhashable besides."""
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
