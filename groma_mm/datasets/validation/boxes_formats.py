"""Validators for box-annotation formats: COCO (and MDETR), refer (RefCOCO/+/g), Visual Genome."""
import os.path as osp
import pickle
from typing import Dict, List, Optional

from .common import ImageChecker, _bad_file, _get, _is_number, _load_json, _scalar, _xywh_issue, issue


def _list(value) -> list:
    return value if isinstance(value, list) else []


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
        if not isinstance(img, dict) or _scalar(img.get('id')) is None or not isinstance(img.get('file_name'), str):
            out.append(issue(ann_file, i, _scalar(_get(img, 'id')), 'bad_entry',
                             'image entry needs an "id" (number or string) and a "file_name"'))
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
    categories = {_scalar(c.get('id')) for c in _list(data.get('categories')) if isinstance(c, dict)}
    ann_ids = set()
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            out.append(issue(ann_file, i, None, 'bad_entry', 'annotation is not a dict'))
            continue
        ann_id = _scalar(ann.get('id'))
        if ann.get('id') is not None and ann_id is None:
            out.append(issue(ann_file, i, None, 'bad_entry', f'annotation id {ann.get("id")!r} is not a number or string'))
        elif ann_id in ann_ids:
            out.append(issue(ann_file, i, ann_id, 'duplicate_id', f'annotation id {ann_id} appears twice'))
        ann_ids.add(ann_id)
        if _scalar(ann.get('image_id')) not in sizes:
            out.append(issue(ann_file, i, ann_id, 'dangling_reference',
                             f'annotation of image {ann.get("image_id")!r}, which is not in "images"'))
            continue
        if categories and _scalar(ann.get('category_id')) not in categories:
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
    anns = {_scalar(a.get('id')): a for a in _list(_get(instances, 'annotations')) if isinstance(a, dict)}
    image_ids = {_scalar(i.get('id')) for i in _list(_get(instances, 'images')) if isinstance(i, dict)}
    ref_ids, sent_ids = set(), set()
    for i, ref in enumerate(refs):
        missing = [k for k in ('ref_id', 'ann_id', 'image_id', 'split', 'sentences') if not isinstance(ref, dict)
                   or (k not in ref if k == 'sentences' else _scalar(ref.get(k)) is None)]
        if missing:
            out.append(issue(refs_file, i, _get(ref, 'ref_id'), 'bad_entry', f'ref lacks {missing}'))
            continue
        ref_id = ref['ref_id']  # the three ids are scalars (checked above)
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
        ids = [_scalar(s.get('sent_id')) for s in sentences]
        if 'sent_ids' in ref and (not isinstance(ref['sent_ids'], list) or ref['sent_ids'] != ids):
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
            meta = {_scalar(m.get('image_id', m.get('id'))): m for m in _list(_load_json(image_data_file))
                    if isinstance(m, dict)}
        except Exception as err:  # noqa: BLE001
            out += _bad_file(image_data_file, err)
    region_ids = set()
    for i, entry in enumerate(data):
        image_id = _scalar(_get(entry, 'id') if _get(entry, 'id') is not None else _get(entry, 'image_id'))
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
            rid = _scalar(_get(region, 'region_id'))
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
