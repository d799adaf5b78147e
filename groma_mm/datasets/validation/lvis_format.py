"""Validator of LVIS v1 annotation files (``lvis_v1_val.json``, and the official LVIS-Ground ``lvis_test.json``).

LVIS is COCO-like but not COCO: an image has no ``file_name``, only ``coco_url``, whose path below the host
(``val2017/000000397133.jpg``; LVIS v1 val also holds train2017 images) is the file under the COCO image
root; boxes smaller than one pixel are real annotations (LVIS labels tiny objects, and ``LVISEval`` counts
them); ``neg_category_ids`` / ``not_exhaustive_category_ids`` say which categories were verified absent or
not exhaustively labelled; a category's ``frequency`` ('r', 'c', 'f') is what ``LVISEval`` groups by. Read
as COCO, a clean file would be flagged on every image and on its tiny boxes, so LVIS has its own checks:

- the file: a dict with lists ``images``, ``annotations``, ``categories``;
- categories: unique ``id``, a ``name``, ``frequency`` in r/c/f;
- images: unique ``id``, ``coco_url`` or ``file_name``, positive ``height``/``width``, the image file (under
  ``img_dir``, the COCO root), negative / not-exhaustive lists of known categories;
- annotations: unique ``id``, known ``image_id`` and ``category_id``, a box of 4 finite numbers with positive
  width and height inside the image (``box_tolerance``), a positive ``area`` (the size ranges use it), and no
  category that its image lists as verified absent.
"""
import os.path as osp
from typing import Dict, List, Optional

from .common import ImageChecker, _bad_file, _get, _is_number, _load_json, issue

LVIS_FREQUENCIES = ('r', 'c', 'f')
COCO_URL_PREFIX = 'http://images.cocodataset.org/'


def is_lvis(data) -> bool:
    """Whether parsed json looks like LVIS rather than COCO: images with ``coco_url`` and no ``file_name``, or
    the LVIS-only fields (``neg_category_ids``, a category ``frequency``)."""
    if not isinstance(data, dict) or not isinstance(data.get('images'), list):
        return False
    image = next((i for i in data['images'] if isinstance(i, dict)), {})
    category = next((c for c in data.get('categories') or [] if isinstance(c, dict)), {})
    return ('coco_url' in image and 'file_name' not in image) or 'neg_category_ids' in image \
        or 'frequency' in category


def lvis_image_file(image: dict) -> Optional[str]:
    """The image's path below the COCO root: ``file_name``, else the ``coco_url`` path."""
    if isinstance(image.get('file_name'), str) and image['file_name']:
        return image['file_name']
    url = image.get('coco_url')
    if isinstance(url, str) and url:
        return url[len(COCO_URL_PREFIX):] if url.startswith(COCO_URL_PREFIX) else url.split('/', 3)[-1]
    return None


def validate_lvis(ann_file: str, img_dir: Optional[str], image_check: str = 'header', box_tolerance: float = 1.0,
                  data: Optional[dict] = None) -> List[dict]:
    """Issues of an LVIS v1 annotation file (module docstring)."""
    if data is None:
        try:
            data = _load_json(ann_file)
        except Exception as err:  # noqa: BLE001
            return _bad_file(ann_file, err)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list)
                                             for k in ('images', 'annotations', 'categories')):
        return [issue(ann_file, None, None, 'bad_format',
                      'an LVIS file is a dict with lists "images", "annotations" and "categories"')]
    out = _category_issues(ann_file, data['categories'])
    categories = {c.get('id') for c in data['categories'] if isinstance(c, dict)}
    images, image_issues = _image_issues(ann_file, data['images'], categories, img_dir, image_check)
    out += image_issues
    ann_ids = set()
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            out.append(issue(ann_file, i, None, 'bad_entry', 'annotation is not a dict'))
            continue
        ann_id = ann.get('id')
        if ann_id in ann_ids:
            out.append(issue(ann_file, i, ann_id, 'duplicate_id', f'annotation id {ann_id} appears twice'))
        ann_ids.add(ann_id)
        image = images.get(ann.get('image_id'))
        if image is None:
            out.append(issue(ann_file, i, ann_id, 'dangling_reference',
                             f'annotation of image {ann.get("image_id")!r}, which is not in "images"'))
            continue
        if ann.get('category_id') not in categories:
            out.append(issue(ann_file, i, ann_id, 'dangling_reference',
                             f'category_id {ann.get("category_id")!r} is not in "categories"'))
        elif ann['category_id'] in image['negative']:
            out.append(issue(ann_file, i, ann_id, 'bad_entry',
                             f'category {ann["category_id"]} is annotated in image {ann["image_id"]}, which lists it '
                             'in neg_category_ids (verified absent)'))
        bad = _box_issue(ann.get('bbox'), image['width'], image['height'], box_tolerance)
        if bad:
            out.append(issue(ann_file, i, ann_id, *bad))
        if not (_is_number(ann.get('area')) and ann['area'] > 0):
            out.append(issue(ann_file, i, ann_id, 'bad_entry', f'area {ann.get("area")!r} is not a positive number '
                             '(the small/medium/large ranges use it)'))
    return out


def _category_issues(ann_file: str, categories: list) -> List[dict]:
    out, seen = [], set()
    for i, cat in enumerate(categories):
        cat_id = _get(cat, 'id')
        if not isinstance(cat, dict) or cat_id is None or not isinstance(cat.get('name'), str):
            out.append(issue(ann_file, i, cat_id, 'bad_entry', 'category needs "id" and "name"'))
            continue
        if cat_id in seen:
            out.append(issue(ann_file, i, cat_id, 'duplicate_id', f'category id {cat_id} appears twice'))
        seen.add(cat_id)
        if cat.get('frequency') not in LVIS_FREQUENCIES:
            out.append(issue(ann_file, i, cat_id, 'bad_entry', f'category frequency {cat.get("frequency")!r} is not '
                             f'one of {LVIS_FREQUENCIES} (LVISEval groups categories by it)'))
    return out


def _image_issues(ann_file: str, images: list, categories: set, img_dir: Optional[str],
                  image_check: str) -> tuple:
    """``({image id: dict(width, height, negative)}, issues)``."""
    checker = ImageChecker(image_check if img_dir else 'none')
    out: List[dict] = []
    known: Dict[object, dict] = {}
    for i, img in enumerate(images):
        file_name = lvis_image_file(img) if isinstance(img, dict) else None
        if not isinstance(img, dict) or 'id' not in img or file_name is None:
            out.append(issue(ann_file, i, _get(img, 'id'), 'bad_entry', 'image entry needs "id" and "coco_url" '
                             '(or "file_name")'))
            continue
        if img['id'] in known:
            out.append(issue(ann_file, i, img['id'], 'duplicate_id', f'image id {img["id"]} appears twice'))
            continue
        width, height = img.get('width'), img.get('height')
        if not (_is_number(width) and width >= 1 and _is_number(height) and height >= 1):
            out.append(issue(ann_file, i, img['id'], 'bad_entry', f'image size {width}x{height} is not positive'))
            width = height = None
        if img_dir:
            found, (width, height) = checker.check(osp.join(img_dir, file_name), ann_file, i, img['id'], width,
                                                   height)
            out += found
        for key in ('neg_category_ids', 'not_exhaustive_category_ids'):
            ids = img.get(key, [])
            if not isinstance(ids, list):
                out.append(issue(ann_file, i, img['id'], 'bad_entry', f'{key} is not a list'))
                continue
            unknown = [c for c in ids if c not in categories]
            if unknown:
                out.append(issue(ann_file, i, img['id'], 'dangling_reference',
                                 f'{key} names categories {unknown} that are not in "categories"'))
        negative = img.get('neg_category_ids')
        known[img['id']] = dict(width=width, height=height, negative=set(negative) if isinstance(negative, list)
                                else set())
    return known, out


def _box_issue(box, width, height, tolerance: float):
    """``(kind, reason)`` of a bad LVIS ``[x, y, w, h]``: sub-pixel boxes are fine, empty ones are not."""
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(_is_number(v) for v in box):
        return 'degenerate_box', f'box {box!r} is not 4 finite numbers [x, y, w, h]'
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return 'degenerate_box', f'box {list(box)} has no positive width and height'
    if width is not None and height is not None and (x < -tolerance or y < -tolerance or x + w > width + tolerance
                                                      or y + h > height + tolerance):
        return 'box_outside', f'box xywh {list(box)} outside the {width}x{height} image'
    return None
