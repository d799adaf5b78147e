"""Check a dataset file against its public format and list every bad entry (``tools/validate_dataset.py``).

Each ``validate_*`` function is pure: it reads files and returns a list of issues, one dict per bad entry::

    file (str): the file holding the entry      index (int | None): its position there (list index,
    id: the entry's own id (image id, ann id,    sentence line, xml object); None for the whole file
        ref id, region id, sample id) or None    reason (str): what is wrong, for people
    kind (str): one of ISSUE_KINDS, for code     sub_index (int, optional): the box/region/message inside

Formats (``detect_format`` tells them apart; images are looked up under ``img_dir``):

- ``coco``: detection json (``images``/``annotations``/``categories``; also MDETR-style files, whose
  ``tokens_positive`` spans are checked against the image ``caption``);
- ``lvis``: LVIS v1 annotation json (``lvis_v1_val.json``, LVIS-Ground's ``lvis_test.json``): images named by
  ``coco_url``, sub-pixel boxes allowed, negative / not-exhaustive category lists, category frequencies;
- ``refer``: lichengunc/refer ``refs(*).p`` with the ``instances.json`` beside it (RefCOCO/+/g);
- ``vg``: Visual Genome ``region_descriptions.json`` (+ ``image_data.json`` beside it for sizes/urls);
- ``flickr30k``: a Flickr30k Entities folder (``Sentences/``, ``Annotations/``, split ``*.txt``);
- ``chat``: LLaVA-Instruct / ShareGPT-4V / Groma-Instruct json (``conversations`` or ``conversation``,
  optional ``boxes`` (xywh) with per-message ``box_inds``).

Checks: missing or unreadable image (and a file whose size disagrees with the annotation); degenerate box
(under 1 px wide or high, or not 4 finite numbers) or box outside the image (beyond ``box_tolerance`` px);
placeholder/box mismatch (``<region>``/``<ground_box>``/``<refer_box>`` count ≠ ``len(box_inds)``,
``<image>`` count); references to things that do not exist (annotation of an unknown image or category,
refer ``ann_id`` not in instances, Flickr30k entity with no object in the xml, ``box_inds``/``<boxK>``
beyond the boxes); duplicate ids; malformed entries. Flickr30k entities marked ``nobndbox``/``scene``
are the public format's way to say "not boxed" and are not reported.
"""
import json
import os
import os.path as osp
from collections import Counter
from typing import Iterable, List, Optional

from .boxes_formats import validate_coco, validate_refer, validate_vg
from .common import FORMAT_ALIASES, FORMATS, IMAGE_CHECKS, ISSUE_KINDS, _bad_file, _load_json, issue
from .lvis_format import is_lvis, validate_lvis
from .text_formats import parse_flickr_sentence, validate_chat, validate_flickr30k

__all__ = [
    'FORMATS', 'FORMAT_ALIASES', 'IMAGE_CHECKS', 'ISSUE_KINDS', 'issue', 'detect_format', 'guess_img_dir',
    'validate', 'format_issue', 'parse_flickr_sentence', 'validate_chat', 'validate_coco', 'validate_flickr30k',
    'validate_lvis', 'validate_refer', 'validate_vg'
]


# --------------------------------------------------------------------------------------- detect, dispatch
def detect_format(path: str, data=None) -> str:
    """The format of ``path`` (a file or a Flickr30k/refer folder); ``data`` is its parsed json if known.

    Raises:
        ValueError: the format cannot be told.
    """
    if osp.isdir(path):
        if _is_flickr_root(path):
            return 'flickr30k'
        if _refs_in(path):
            return 'refer'
        raise ValueError(f'{path}: a folder must be Flickr30k Entities (Sentences/, Annotations/) or hold refs(*).p')
    if path.endswith(('.p', '.pkl', '.pickle')):
        return 'refer'
    if path.endswith('.txt') and _is_flickr_root(osp.dirname(osp.abspath(path))):
        return 'flickr30k'  # a split list (train.txt, ...) of a Flickr30k Entities folder
    if not path.endswith(('.json', '.jsonl')):
        raise ValueError(f'{path}: not a json file, a refs pickle or a Flickr30k split list; pass --format')
    if data is None:
        data = _load_json(path)
    if isinstance(data, dict) and 'images' in data and 'annotations' in data:
        return 'lvis' if is_lvis(data) else 'coco'
    if isinstance(data, list):
        first = next((d for d in data if isinstance(d, dict)), None)
        if first is None or 'conversations' in first or 'conversation' in first:
            return 'chat'
        if 'regions' in first:
            return 'vg'
    raise ValueError(f'{path}: not a known dataset format {FORMATS}; pass --format')


def _is_flickr_root(folder: str) -> bool:
    return osp.isdir(osp.join(folder, 'Sentences')) and osp.isdir(osp.join(folder, 'Annotations'))


def _refs_in(folder: str) -> List[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith('refs(') and n.endswith(').p'))


def guess_img_dir(path: str) -> Optional[str]:
    """Where the images of ``path`` probably are: an ``images/`` folder beside the file (or its folder), one
    level up, else the file's folder (pass ``img_dir`` explicitly for other layouts)."""
    folder = path if osp.isdir(path) else osp.dirname(osp.abspath(path))
    for candidate in (osp.join(folder, 'images'), osp.join(folder, 'flickr30k-images'),
                      osp.join(osp.dirname(folder), 'images'), folder):
        if osp.isdir(candidate):
            return candidate
    return None


def validate(path: str, fmt: str = 'auto', img_dir: Optional[str] = None, image_check: str = 'header',
             box_tolerance: float = 1.0, instances: Optional[str] = None,
             image_data: Optional[str] = None) -> dict:
    """Validate one dataset file or folder.

    Returns:
        dict(path, format, img_dir, issues (list of issue dicts), counts (kind -> number))
    """
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in FORMATS + ('auto', ):
        raise ValueError(f'unknown format {fmt!r}; known: {FORMATS} (aliases {sorted(FORMAT_ALIASES)})')
    if not osp.exists(path):
        raise FileNotFoundError(f'{path} does not exist')
    img_dir = img_dir or guess_img_dir(path)
    data = None
    if not osp.isdir(path) and path.endswith('.json'):
        try:
            data = _load_json(path)
        except Exception as err:  # noqa: BLE001
            return _report(path, fmt, img_dir, _bad_file(path, err))
    if fmt == 'auto':
        try:
            fmt = detect_format(path, data)
        except UnicodeDecodeError as err:  # not text at all
            return _report(path, fmt, img_dir, _bad_file(path, err))
    kw = dict(image_check=image_check, box_tolerance=box_tolerance)
    if fmt == 'coco':
        issues = validate_coco(path, img_dir, data=data, **kw)
    elif fmt == 'lvis':
        issues = validate_lvis(path, img_dir, data=data, **kw)
    elif fmt == 'refer':
        if osp.isdir(path):
            refs = _refs_in(path)
            issues = []
            for name in refs:  # one instances.json, several splitBy pickles
                issues += validate_refer(osp.join(path, name), img_dir, instances, **kw)
            issues = _dedup(issues)
        else:
            issues = validate_refer(path, img_dir, instances, **kw)
    elif fmt == 'vg':
        issues = validate_vg(path, img_dir, image_data, data=data, **kw)
    elif fmt == 'flickr30k':
        issues = validate_flickr30k(path, img_dir, **kw)
    else:
        issues = validate_chat(path, img_dir, data=data, **kw)
    return _report(path, fmt, img_dir, issues)


def _dedup(issues: Iterable[dict]) -> List[dict]:
    seen, out = set(), []
    for item in issues:
        key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _report(path, fmt, img_dir, issues) -> dict:
    return dict(path=path, format=fmt, img_dir=img_dir, issues=issues,
                counts=dict(Counter(i['kind'] for i in issues)))


def format_issue(item: dict) -> str:
    where = item['file'] if item['index'] is None else f'{item["file"]}:{item["index"]}'
    ident = '' if item['id'] is None else f' (id {item["id"]})'
    return f'{where}{ident}: [{item["kind"]}] {item["reason"]}'
