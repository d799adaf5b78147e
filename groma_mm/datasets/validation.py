"""Check a dataset file against its public format and list every bad entry (``tools/validate_dataset.py``).

Each ``validate_*`` function is pure: it reads files and returns a list of issues, one dict per bad entry::

    file (str): the file holding the entry      index (int | None): its position there (list index,
    id: the entry's own id (image id, ann id,    sentence line, xml object); None for the whole file
        ref id, region id, sample id) or None    reason (str): what is wrong, for people
    kind (str): one of ISSUE_KINDS, for code     sub_index (int, optional): the box/region/message inside

Formats (``detect_format`` tells them apart; images are looked up under ``img_dir``):

- ``coco``: detection json (``images``/``annotations``/``categories``; also MDETR-style files, whose
  ``tokens_positive`` spans are checked against the image ``caption``);
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
import math
import os
import os.path as osp
import pickle
import re
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Dict, Iterable, List, Optional, Tuple

FORMATS = ('coco', 'refer', 'vg', 'flickr30k', 'chat')
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
    if width is not None and height is not None and (x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance
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


# ------------------------------------------------------------------------------------------------- COCO
def validate_coco(ann_file: str, img_dir: Optional[str], image_check: str = 'header', box_tolerance: float = 1.0,
                  data: Optional[dict] = None, images: Optional[ImageChecker] = None) -> List[dict]:
    """Issues of a COCO detection json (or an MDETR-style one: ``caption`` + ``tokens_positive``)."""
    checker = images or ImageChecker(image_check if img_dir else 'none')
    if data is None:
        try:
            data = _load_json(ann_file)
        except Exception as err:  # noqa: BLE001
            return _bad_file(ann_file, err)
    if not isinstance(data, dict) or not isinstance(data.get('images'), list) \
            or not isinstance(data.get('annotations'), list):
        return [issue(ann_file, None, None, 'bad_format',
                      'a COCO file is a dict with lists "images" and "annotations"')]
    out: List[dict] = []
    sizes: Dict[object, tuple] = {}
    captions: Dict[object, str] = {}
    for i, img in enumerate(data['images']):
        if not isinstance(img, dict) or 'id' not in img or not isinstance(img.get('file_name'), str):
            out.append(issue(ann_file, i, _get(img, 'id'), 'bad_entry', 'image entry needs "id" and "file_name"'))
            continue
        if img['id'] in sizes:
            out.append(issue(ann_file, i, img['id'], 'duplicate_id', f'image id {img["id"]} appears twice'))
            continue
        width, height = img.get('width'), img.get('height')
        if not (_is_number(width) and width >= 1 and _is_number(height) and height >= 1):
            out.append(issue(ann_file, i, img['id'], 'bad_entry', f'image size {width}x{height} is not positive'))
            width = height = None
        if img_dir:
            found, (width, height) = checker.check(osp.join(img_dir, img['file_name']), ann_file, i, img['id'], width,
                                                   height)
            out += found
        sizes[img['id']] = (width, height)
        if isinstance(img.get('caption'), str):
            captions[img['id']] = img['caption']
    categories = {c.get('id') for c in data.get('categories') or [] if isinstance(c, dict)}
    ann_ids = set()
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            out.append(issue(ann_file, i, None, 'bad_entry', 'annotation is not a dict'))
            continue
        ann_id = ann.get('id')
        if ann_id in ann_ids:
            out.append(issue(ann_file, i, ann_id, 'duplicate_id', f'annotation id {ann_id} appears twice'))
        ann_ids.add(ann_id)
        if ann.get('image_id') not in sizes:
            out.append(issue(ann_file, i, ann_id, 'dangling_reference',
                             f'annotation of image {ann.get("image_id")!r}, which is not in "images"'))
            continue
        if categories and ann.get('category_id') not in categories:
            out.append(issue(ann_file, i, ann_id, 'dangling_reference',
                             f'category_id {ann.get("category_id")!r} is not in "categories"'))
        if 'bbox' in ann:
            bad = _xywh_issue(ann['bbox'], *sizes[ann['image_id']], box_tolerance)
            if bad:
                out.append(issue(ann_file, i, ann_id, *bad))
        elif not ann.get('segmentation'):
            out.append(issue(ann_file, i, ann_id, 'bad_entry', 'annotation has neither "bbox" nor "segmentation"'))
        caption = captions.get(ann['image_id'])
        if caption is not None and 'tokens_positive' in ann:
            spans = ann['tokens_positive']
            if not isinstance(spans, list) or not all(
                    isinstance(s, (list, tuple)) and len(s) == 2 and all(isinstance(v, int) for v in s)
                    and 0 <= s[0] < s[1] <= len(caption) for s in spans):
                out.append(issue(ann_file, i, ann_id, 'placeholder_mismatch',
                                 f'tokens_positive {spans!r} do not lie in the {len(caption)}-character caption'))
    return out


def _get(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


# ------------------------------------------------------------------------------------------------ refer
def validate_refer(refs_file: str, img_dir: Optional[str], instances_file: Optional[str] = None,
                   image_check: str = 'header', box_tolerance: float = 1.0) -> List[dict]:
    """Issues of a refer ``refs(*).p`` and of the ``instances.json`` it points into."""
    instances_file = instances_file or osp.join(osp.dirname(refs_file), 'instances.json')
    try:
        instances = _load_json(instances_file)
    except Exception as err:  # noqa: BLE001
        return _bad_file(instances_file, err)
    out = validate_coco(instances_file, img_dir, image_check, box_tolerance, data=instances)
    try:
        with open(refs_file, 'rb') as f:
            refs = pickle.load(f)
    except Exception as err:  # noqa: BLE001
        return out + _bad_file(refs_file, err)
    if not isinstance(refs, list):
        return out + [issue(refs_file, None, None, 'bad_format', 'a refs pickle holds a list of ref dicts')]
    anns = {a.get('id'): a for a in instances.get('annotations') or [] if isinstance(a, dict)}
    image_ids = {i.get('id') for i in instances.get('images') or [] if isinstance(i, dict)}
    ref_ids, sent_ids = set(), set()
    for i, ref in enumerate(refs):
        missing = [k for k in ('ref_id', 'ann_id', 'image_id', 'split', 'sentences') if not isinstance(ref, dict)
                   or k not in ref]
        if missing:
            out.append(issue(refs_file, i, _get(ref, 'ref_id'), 'bad_entry', f'ref lacks {missing}'))
            continue
        ref_id = ref['ref_id']
        if ref_id in ref_ids:
            out.append(issue(refs_file, i, ref_id, 'duplicate_id', f'ref_id {ref_id} appears twice'))
        ref_ids.add(ref_id)
        ann = anns.get(ref['ann_id'])
        if ann is None:
            out.append(issue(refs_file, i, ref_id, 'dangling_reference',
                             f'ann_id {ref["ann_id"]} is not in {osp.basename(instances_file)}'))
        elif ann.get('image_id') != ref['image_id']:
            out.append(issue(refs_file, i, ref_id, 'dangling_reference',
                             f'ann_id {ref["ann_id"]} belongs to image {ann.get("image_id")}, the ref says '
                             f'{ref["image_id"]}'))
        elif 'category_id' in ref and ann.get('category_id') != ref['category_id']:
            out.append(issue(refs_file, i, ref_id, 'bad_entry', f'category_id {ref["category_id"]} differs from '
                             f'the annotation\'s {ann.get("category_id")}'))
        if ref['image_id'] not in image_ids:
            out.append(issue(refs_file, i, ref_id, 'dangling_reference',
                             f'image_id {ref["image_id"]} is not in {osp.basename(instances_file)}'))
        sentences = ref['sentences']
        if not isinstance(sentences, list) or not sentences or not all(
                isinstance(s, dict) and isinstance(s.get('sent'), str) and s['sent'].strip() for s in sentences):
            out.append(issue(refs_file, i, ref_id, 'bad_entry', 'sentences must be a non-empty list of {"sent": text}'))
            continue
        ids = [s.get('sent_id') for s in sentences]
        if 'sent_ids' in ref and list(ref['sent_ids']) != ids:
            out.append(issue(refs_file, i, ref_id, 'dangling_reference',
                             f'sent_ids {ref["sent_ids"]} differ from the sentences\' sent_id {ids}'))
        dup = [k for k in ids if k in sent_ids]
        if dup:
            out.append(issue(refs_file, i, ref_id, 'duplicate_id', f'sent_id {dup} already used by another ref'))
        sent_ids.update(ids)
    return out


# ---------------------------------------------------------------------------------------- Visual Genome
def _vg_image_path(img_dir: str, image_id, url: Optional[str]) -> str:
    name = osp.basename(url) if isinstance(url, str) and url else f'{image_id}.jpg'
    # VG ships its images in two folders; users often merge them.
    for sub in ('', 'VG_100K', 'VG_100K_2'):
        path = osp.join(img_dir, sub, name)
        if osp.isfile(path):
            return path
    return osp.join(img_dir, name)


def validate_vg(regions_file: str, img_dir: Optional[str], image_data_file: Optional[str] = None,
                image_check: str = 'header', box_tolerance: float = 1.0, data: Optional[list] = None) -> List[dict]:
    """Issues of a Visual Genome ``region_descriptions.json``; sizes and urls come from ``image_data.json``
    (beside it unless given), else from the image files."""
    checker = ImageChecker(image_check if img_dir else 'none')
    if data is None:
        try:
            data = _load_json(regions_file)
        except Exception as err:  # noqa: BLE001
            return _bad_file(regions_file, err)
    if not isinstance(data, list):
        return [issue(regions_file, None, None, 'bad_format', 'region_descriptions is a list of {id, regions}')]
    out: List[dict] = []
    image_data_file = image_data_file or osp.join(osp.dirname(regions_file), 'image_data.json')
    meta = {}
    if osp.isfile(image_data_file):
        try:
            meta = {m.get('image_id', m.get('id')): m for m in _load_json(image_data_file) if isinstance(m, dict)}
        except Exception as err:  # noqa: BLE001
            out += _bad_file(image_data_file, err)
    region_ids = set()
    for i, entry in enumerate(data):
        image_id = _get(entry, 'id') if _get(entry, 'id') is not None else _get(entry, 'image_id')
        if image_id is None or not isinstance(entry.get('regions'), list):
            out.append(issue(regions_file, i, image_id, 'bad_entry', 'entry needs "id" and a "regions" list'))
            continue
        info = meta.get(image_id, {})
        width, height = info.get('width'), info.get('height')
        if img_dir:
            found, (width, height) = checker.check(_vg_image_path(img_dir, image_id, info.get('url')), regions_file,
                                                   i, image_id, width, height)
            out += found
        for j, region in enumerate(entry['regions']):
            rid = _get(region, 'region_id')
            if not isinstance(region, dict) or not all(k in region for k in ('x', 'y', 'width', 'height')):
                out.append(issue(regions_file, i, rid, 'bad_entry', f'regions[{j}] needs x, y, width, height', j))
                continue
            if rid is not None and rid in region_ids:
                out.append(issue(regions_file, i, rid, 'duplicate_id', f'region_id {rid} appears twice', j))
            region_ids.add(rid)
            if region.get('image_id', image_id) != image_id:
                out.append(issue(regions_file, i, rid, 'dangling_reference',
                                 f'regions[{j}] says image {region.get("image_id")}, its entry is image {image_id}', j))
            if not isinstance(region.get('phrase'), str) or not region['phrase'].strip():
                out.append(issue(regions_file, i, rid, 'bad_entry', f'regions[{j}] has no phrase', j))
            bad = _xywh_issue([region['x'], region['y'], region['width'], region['height']], width, height,
                              box_tolerance)
            if bad:
                out.append(issue(regions_file, i, rid, bad[0], f'regions[{j}]: {bad[1]}', j))
    return out


# ----------------------------------------------------------------------------------- Flickr30k Entities
def parse_flickr_sentence(line: str) -> List[Tuple[str, List[str], str]]:
    """``[(entity id, types, phrase)]`` of one Sentences line, as the official utils tokenize it.

    Raises:
        ValueError: an unclosed bracket or a malformed ``[/EN#id/type`` header.
    """
    phrases, current = [], None
    for token in line.split():
        if current is None:
            if token.startswith('['):
                m = _ENTITY.match(token)
                if m is None:
                    raise ValueError(f'malformed entity header {token!r}')
                current = (m.group(1), m.group(2).strip('/').split('/'), [])
            elif ']' in token:
                raise ValueError(f'"]" without an open entity at {token!r}')
        else:
            if token.startswith('['):
                raise ValueError(f'entity opened inside another at {token!r}')
            if token.endswith(']'):
                current[2].append(token[:-1])
                phrases.append((current[0], current[1], ' '.join(current[2])))
                current = None
            else:
                current[2].append(token)
    if current is not None:
        raise ValueError(f'entity EN#{current[0]} is never closed')
    return phrases


def validate_flickr30k(root: str, img_dir: Optional[str], image_check: str = 'header',
                       box_tolerance: float = 1.0) -> List[dict]:
    """Issues of a Flickr30k Entities folder: every ``Sentences/*.txt`` with its ``Annotations/*.xml`` and
    the image ids listed by the split files (``train.txt``, ``val.txt``, ``test.txt``) that exist."""
    checker = ImageChecker(image_check if img_dir else 'none')
    sent_dir, ann_dir = osp.join(root, 'Sentences'), osp.join(root, 'Annotations')
    if not osp.isdir(sent_dir) or not osp.isdir(ann_dir):
        return [issue(root, None, None, 'bad_format', 'a Flickr30k Entities folder has Sentences/ and Annotations/')]
    out: List[dict] = []
    ids = sorted((n[:-4] for n in os.listdir(sent_dir) if n.endswith('.txt')), key=lambda s: (len(s), s))
    known = set(ids)
    for split in ('train', 'val', 'test'):
        split_file = osp.join(root, f'{split}.txt')
        if not osp.isfile(split_file):
            continue
        with open(split_file) as f:
            for k, line in enumerate(f):
                image_id = line.strip()
                if image_id and image_id not in known:
                    out.append(issue(split_file, k, image_id, 'dangling_reference',
                                     f'image {image_id} has no Sentences/{image_id}.txt'))
    for image_id in ids:
        out += _validate_flickr_image(root, image_id, img_dir, checker, box_tolerance)
    return out


def _validate_flickr_image(root, image_id, img_dir, checker, tolerance) -> List[dict]:
    sent_file = osp.join(root, 'Sentences', f'{image_id}.txt')
    xml_file = osp.join(root, 'Annotations', f'{image_id}.xml')
    out: List[dict] = []
    names, boxed = set(), 0
    if not osp.isfile(xml_file):
        out.append(issue(sent_file, None, image_id, 'dangling_reference', f'no Annotations/{image_id}.xml'))
        xml_root = None
    else:
        try:
            xml_root = ET.parse(xml_file).getroot()
        except ET.ParseError as err:
            out += _bad_file(xml_file, err)
            xml_root = None
    if xml_root is not None:
        width = _xml_int(xml_root, 'size/width')
        height = _xml_int(xml_root, 'size/height')
        if width is None or height is None:
            out.append(issue(xml_file, None, image_id, 'bad_entry', '<size> lacks an integer width/height'))
        if img_dir:
            filename = xml_root.findtext('filename') or f'{image_id}.jpg'
            found, (width, height) = checker.check(osp.join(img_dir, filename.strip()), xml_file, None, image_id,
                                                   width, height)
            out += found
        for k, obj in enumerate(xml_root.findall('object')):
            obj_names = [n.text.strip() for n in obj.findall('name') if n.text and n.text.strip()]
            if not obj_names:
                out.append(issue(xml_file, k, image_id, 'bad_entry', f'object {k} has no <name>'))
                continue
            names.update(obj_names)
            box = obj.find('bndbox')
            if box is None:
                if obj.find('nobndbox') is None and obj.find('scene') is None:
                    out.append(issue(xml_file, k, obj_names[0], 'bad_entry',
                                     f'object {k} has neither <bndbox> nor <nobndbox>/<scene>'))
                continue
            coords = [_xml_int(box, tag) for tag in ('xmin', 'ymin', 'xmax', 'ymax')]
            if None in coords:
                out.append(issue(xml_file, k, obj_names[0], 'degenerate_box', f'object {k}: <bndbox> lacks integers'))
                continue
            xmin, ymin, xmax, ymax = coords
            # 1-based inclusive pixel indices (PASCAL VOC): pixels xmin-1 … xmax-1, i.e. xyxy [xmin-1, xmax)
            bad = check_box(xmin - 1, ymin - 1, xmax, ymax, width, height, tolerance)
            if bad:
                out.append(issue(xml_file, k, obj_names[0], bad[0],
                                 f'object {k} (entity {obj_names[0]}, VOC box {coords}): {bad[1]}'))
            boxed += 1
    if not osp.isfile(sent_file):
        return out
    with open(sent_file) as f:
        lines = f.read().split('\n')
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            phrases = parse_flickr_sentence(line)
        except ValueError as err:
            out.append(issue(sent_file, k, image_id, 'bad_entry', f'sentence {k}: {err}'))
            continue
        if xml_root is None:
            continue
        for entity, types, phrase in phrases:
            if entity != '0' and entity not in names:
                out.append(issue(sent_file, k, image_id, 'dangling_reference',
                                 f'sentence {k}: entity EN#{entity} ("{phrase}") has no object in '
                                 f'Annotations/{image_id}.xml'))
    return out


def _xml_int(node, path) -> Optional[int]:
    text = node.findtext(path)
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------- chat
def validate_chat(json_file: str, img_dir: Optional[str], image_check: str = 'header', box_tolerance: float = 1.0,
                  data: Optional[list] = None) -> List[dict]:
    """Issues of a LLaVA / ShareGPT-4V / Groma-Instruct style json (a list of samples)."""
    checker = ImageChecker(image_check if img_dir else 'none')
    if data is None:
        try:
            data = _load_json(json_file)
        except Exception as err:  # noqa: BLE001
            return _bad_file(json_file, err)
    if not isinstance(data, list):
        return [issue(json_file, None, None, 'bad_format', 'a chat json is a list of samples')]
    out: List[dict] = []
    for i, sample in enumerate(data):
        out += _validate_chat_sample(json_file, i, sample, img_dir, checker, box_tolerance)
    return out


def _validate_chat_sample(file, i, sample, img_dir, checker, tolerance) -> List[dict]:
    sid = _get(sample, 'id')
    messages = _get(sample, 'conversations')
    if messages is None:
        messages = _get(sample, 'conversation')
    if not isinstance(messages, list) or not messages:
        return [issue(file, i, sid, 'bad_entry', 'sample needs a non-empty "conversations" (or "conversation") list')]
    out: List[dict] = []
    image = sample.get('image', sample.get('file_name'))
    width, height = sample.get('width'), sample.get('height')
    if image is not None and not isinstance(image, str):
        out.append(issue(file, i, sid, 'bad_entry', f'image {image!r} is not a path'))
        image = None
    if image and img_dir:
        found, (width, height) = checker.check(osp.join(img_dir, image), file, i, sid, width, height)
        out += found
    boxes = sample.get('boxes')
    has_boxes = boxes is not None
    if has_boxes and not isinstance(boxes, list):
        out.append(issue(file, i, sid, 'bad_entry', '"boxes" is not a list'))
        boxes = []
    for k, box in enumerate(boxes or []):
        bad = _xywh_issue(box, width, height, tolerance)
        if bad:
            out.append(issue(file, i, sid, bad[0], f'boxes[{k}]: {bad[1]}', k))
    num_boxes = len(boxes or [])
    roles, num_images = [], 0
    for m, message in enumerate(messages):
        role = _ROLES.get(_get(message, 'from') or _get(message, 'role'))
        value = _get(message, 'value') if _get(message, 'value') is not None else _get(message, 'content')
        if role is None or not isinstance(value, str):
            out.append(issue(file, i, sid, 'bad_entry', f'message {m} needs from/role in {sorted(_ROLES)} and a '
                             'string value', m))
            continue
        roles.append(role)
        num_images += value.count('<image>')
        box_inds = message.get('box_inds')
        box_inds = [] if box_inds is None else box_inds
        slots = sum(value.count(t) for t in BOX_PLACEHOLDERS)
        if not isinstance(box_inds, list):
            out.append(issue(file, i, sid, 'bad_entry', f'message {m}: box_inds {box_inds!r} is not a list', m))
            continue
        if slots != len(box_inds):
            out.append(issue(file, i, sid, 'placeholder_mismatch', f'message {m} has {slots} box placeholder(s) '
                             f'({"/".join(BOX_PLACEHOLDERS)}) but {len(box_inds)} box_inds', m))
        for b in box_inds:
            if not isinstance(b, int) or isinstance(b, bool) or not 0 <= b < num_boxes:
                out.append(issue(file, i, sid, 'dangling_reference',
                                 f'message {m}: box_inds entry {b!r} but the sample has {num_boxes} boxes', m))
        for k in _BOX_K.findall(value):
            if int(k) >= num_boxes:
                out.append(issue(file, i, sid, 'dangling_reference',
                                 f'message {m}: <box{k}> but the sample has {num_boxes} boxes', m))
    turns = [r for r in roles if r != 'system']
    if turns and turns != ['user', 'assistant'] * (len(turns) // 2) + ['user'] * (len(turns) % 2):
        out.append(issue(file, i, sid, 'bad_entry', f'messages must alternate human/gpt from human, got {turns}'))
    # LLaVA puts <image> in the text once; Groma-Instruct samples (with boxes) may leave it to the prompt.
    allowed = (0, 1) if has_boxes and image else ((1, ) if image else (0, ))
    if num_images not in allowed:
        out.append(issue(file, i, sid, 'placeholder_mismatch',
                         f'{num_images} <image> placeholder(s) for a sample {"with" if image else "without"} '
                         f'an image (expected {" or ".join(map(str, allowed))})'))
    return out


# --------------------------------------------------------------------------------------- detect, dispatch
def detect_format(path: str, data=None) -> str:
    """The format of ``path`` (a file or a Flickr30k/refer folder); ``data`` is its parsed json if known.

    Raises:
        ValueError: the format cannot be told.
    """
    if osp.isdir(path):
        if osp.isdir(osp.join(path, 'Sentences')) and osp.isdir(osp.join(path, 'Annotations')):
            return 'flickr30k'
        if _refs_in(path):
            return 'refer'
        raise ValueError(f'{path}: a folder must be Flickr30k Entities (Sentences/, Annotations/) or hold refs(*).p')
    if path.endswith(('.p', '.pkl', '.pickle')):
        return 'refer'
    if data is None:
        data = _load_json(path)
    if isinstance(data, dict) and 'images' in data and 'annotations' in data:
        return 'coco'
    if isinstance(data, list):
        first = next((d for d in data if isinstance(d, dict)), None)
        if first is None or 'conversations' in first or 'conversation' in first:
            return 'chat'
        if 'regions' in first:
            return 'vg'
    raise ValueError(f'{path}: not a known dataset format {FORMATS}; pass --format')


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
        fmt = detect_format(path, data)
    kw = dict(image_check=image_check, box_tolerance=box_tolerance)
    if fmt == 'coco':
        issues = validate_coco(path, img_dir, data=data, **kw)
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
