"""Tiny benchmark files in the official layouts, for the tiny benchmark configs and their tests (no downloads).

``write_benchmark_files(root)`` writes, under ``root``, what the paper-scale benchmark configs read under
``data/`` (same relative paths, a few samples each, on drawn images)::

    coco/train2017/000000000001.jpg …          images of REC, RefCOCOg captions and LVIS (train2017 / val2017)
    coco/val2017/000000000005.jpg …
    vg/VG_100K/101.jpg …                       Visual Genome images
    groma_eval/refcoco_val.json …              REC, one COCO json per split (8), expression in `caption`
    groma_eval/lvis_test.json                  LVIS-Ground, an LVIS v1 annotation file of the sampled images
    groma_eval/lvis_v1_val.json                a small LVIS v1 val file, input of build_lvis_ground.py
    groma_eval/vg_test.json                    VG region captions, COCO-caption layout, one region per entry
    groma_eval/refcocog_cap_val.json           RefCOCOg region captions, same layout

Boxes are drawn rectangles, so a box lies on a visible object; the text is made of words the tiny
tokenizer knows. Everything depends only on ``seed``.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from groma_mm.datasets.readers.rec_benchmark import TABLE2_SPLITS

_COLOURS = {'red': (40, 40, 220), 'blue': (200, 80, 30), 'green': (60, 170, 60), 'yellow': (30, 220, 230),
            'white': (245, 245, 245), 'black': (20, 20, 20)}  # BGR
_THINGS = ['dog', 'cat', 'car', 'man', 'kite', 'ball', 'cup', 'horse']
_PLACES = ['on the left', 'on the right', 'at the top', 'at the bottom', 'in the middle']
IMAGE_SIZE = (120, 160)  # (height, width)


def _draw_image(path: str, rng: np.random.Generator, num_objects: int) -> List[Tuple[List[float], str, str]]:
    """Draw ``num_objects`` filled rectangles; returns their ``([x, y, w, h], colour, thing)``."""
    height, width = IMAGE_SIZE
    img = np.full((height, width, 3), 128, np.uint8)
    objects = []
    for _ in range(num_objects):
        w, h = rng.integers(14, 60), rng.integers(14, 50)
        x, y = rng.integers(0, width - w), rng.integers(0, height - h)
        colour = str(rng.choice(list(_COLOURS)))
        cv2.rectangle(img, (int(x), int(y)), (int(x + w - 1), int(y + h - 1)), _COLOURS[colour], thickness=-1)
        objects.append(([float(x), float(y), float(w), float(h)], colour, str(rng.choice(_THINGS))))
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, img)
    return objects


def _dump(path: str, data) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)


def _coco_images(root: str, rng: np.random.Generator, num_images: int) -> Dict[int, dict]:
    """COCO-style images (ids 1…N; odd in train2017, even in val2017) with their drawn objects."""
    images = {}
    for image_id in range(1, num_images + 1):
        folder = 'train2017' if image_id % 2 else 'val2017'
        file_name = f'{image_id:012d}.jpg'
        objects = _draw_image(osp.join(root, 'coco', folder, file_name), rng, int(rng.integers(3, 6)))
        images[image_id] = dict(folder=folder, file_name=file_name, objects=objects)
    return images


def _rec_files(root: str, images: Dict[int, dict], rng: np.random.Generator) -> None:
    train_ids = [i for i, img in images.items() if img['folder'] == 'train2017']
    for label in TABLE2_SPLITS:
        entries, anns = [], []
        # Two images with two expressions on the first (queries share images), one more on the third image in
        # every split but the last: 23 expressions, an odd number, so two ranks need a padding repeat.
        per_image = {train_ids[0]: 2, train_ids[1]: 1, train_ids[2]: int(label != TABLE2_SPLITS[-1])}
        for image_id, count in per_image.items():
            for box, colour, thing in images[image_id]['objects'][:count]:
                entry_id = len(entries)
                entries.append(dict(id=entry_id, file_name=images[image_id]['file_name'], height=IMAGE_SIZE[0],
                                    width=IMAGE_SIZE[1], caption=f'the {colour} {thing} {rng.choice(_PLACES)}',
                                    original_id=image_id, dataset_name=label.rsplit('_', 1)[0]))
                anns.append(dict(id=entry_id, image_id=entry_id, bbox=box, area=box[2] * box[3], iscrowd=0,
                                 category_id=1))
        _dump(osp.join(root, 'groma_eval', f'{label}.json'),
              dict(images=entries, annotations=anns, categories=[dict(id=1, name='object')]))


# LVIS categories with different instance counts per image: 1, 2, 3 and 1 (a rare class), so that per-category
# and pooled recall differ.
_LVIS_CATEGORIES = [(1, 'baseball_bat', 'c', 1), (3, 'dog', 'f', 2), (7, 'bow_(weapon)', 'c', 3), (9, 'kite', 'r', 1)]


def _lvis_files(root: str, images: Dict[int, dict], rng: np.random.Generator) -> None:
    height, width = IMAGE_SIZE
    lvis_images, anns = [], []
    for image_id, img in images.items():
        # Each category is absent from a third of the images, where it is verified absent (negative).
        absent = [c for k, (c, _, _, _) in enumerate(_LVIS_CATEGORIES) if (image_id + k) % 3 == 0]
        lvis_images.append(dict(id=image_id, height=height, width=width, neg_category_ids=absent,
                                not_exhaustive_category_ids=[], license=1, flickr_url='',
                                coco_url=f'http://images.cocodataset.org/{img["folder"]}/{img["file_name"]}'))
        for category_id, _, _, count in _LVIS_CATEGORIES:
            if category_id in absent:
                continue
            for box, _, _ in img['objects'][:count]:
                # LVIS's `area` is the mask area, smaller than the box.
                anns.append(dict(id=len(anns) + 1, image_id=image_id, category_id=category_id, bbox=box,
                                 area=round(box[2] * box[3] * float(rng.uniform(0.5, 0.9)), 2),
                                 segmentation=[[box[0], box[1], box[0] + box[2], box[1], box[0], box[1] + box[3]]]))
    categories = [{'id': c, 'name': n, 'synset': f'{n}.n.01', 'synonyms': [n], 'def': '', 'frequency': f,
                   'image_count': 1, 'instance_count': 1} for c, n, f, _ in _LVIS_CATEGORIES]
    lvis = dict(info=dict(description='LVIS-like'), licenses=[dict(id=1, name='', url='')], images=lvis_images,
                annotations=anns, categories=categories)
    _dump(osp.join(root, 'groma_eval', 'lvis_v1_val.json'), lvis)
    # The released lvis_test.json is such a file restricted to the sampled images: here, the first four.
    kept = {img['id'] for img in lvis_images[:4]}
    _dump(osp.join(root, 'groma_eval', 'lvis_test.json'),
          dict(lvis, images=[i for i in lvis_images if i['id'] in kept],
               annotations=[a for a in anns if a['image_id'] in kept]))


def _caption_file(path: str, regions: List[Tuple[int, str, List[float], List[str]]]) -> None:
    """A COCO-caption file: one image entry per region, one annotation per reference caption."""
    entries, anns = [], []
    for entry_id, (image_key, file_name, box, captions) in enumerate(regions, start=1):
        entries.append(dict(id=entry_id, file_name=file_name, height=IMAGE_SIZE[0], width=IMAGE_SIZE[1],
                            original_id=image_key))
        for caption in captions:
            anns.append(dict(id=len(anns) + 1, image_id=entry_id, bbox=box, area=box[2] * box[3], category_id=1,
                             iscrowd=0, caption=caption))
    _dump(path, dict(images=entries, annotations=anns, categories=[dict(id=1, name='object')]))


def _caption_files(root: str, images: Dict[int, dict], rng: np.random.Generator) -> None:
    vg_regions = []
    for vg_id in (101, 102, 103):  # 5 regions (odd), the first with two references
        objects = _draw_image(osp.join(root, 'vg', 'VG_100K', f'{vg_id}.jpg'), rng, 3)
        for box, colour, thing in objects[:1 if vg_id == 103 else 2]:
            captions = [f'a {colour} {thing}'] + ([f'{thing} {rng.choice(_PLACES)}'] if vg_id == 101 else [])
            vg_regions.append((vg_id, f'VG_100K/{vg_id}.jpg', box, captions))
    _caption_file(osp.join(root, 'groma_eval', 'vg_test.json'), vg_regions)

    refcocog_regions = []
    for k, (image_id, img) in enumerate([(i, img) for i, img in images.items() if img['folder'] == 'train2017'][:2]):
        for box, colour, thing in img['objects'][:2 - k]:  # 3 regions
            refcocog_regions.append((image_id, img['file_name'], box,
                                     [f'a {colour} {thing} {rng.choice(_PLACES)} of the picture']))
    _caption_file(osp.join(root, 'groma_eval', 'refcocog_cap_val.json'), refcocog_regions)


def write_benchmark_files(root: str, seed: int = 0) -> str:
    """Write the tiny benchmark files (module docstring) under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    images = _coco_images(root, rng, num_images=6)
    _rec_files(root, images, rng)
    _lvis_files(root, images, rng)
    _caption_files(root, images, rng)
    return root
