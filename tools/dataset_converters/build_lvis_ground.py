"""Build the LVIS-Ground benchmark (paper App. B) from an LVIS v1 val annotation file.

One query per (image, category present in it): "Locate all <p>{category}</p> in this image.", answered by
every box of that category in the image. To keep classes balanced and the one-by-one evaluation affordable, at
most ``--max-images-per-category`` (5) images are drawn per category, at random with ``--seed``. On the
real ``lvis_v1_val.json`` the paper reports 4299 images and 1203 categories.

    python tools/dataset_converters/build_lvis_ground.py data/lvis/lvis_v1_val.json \\
        data/lvis/lvis_ground.json [--max-images-per-category 5] [--seed 0]

Output json::

    {"info": {"source": ..., "seed": 0, "max_images_per_category": 5, "num_queries": ..., "num_images": ...,
              "num_categories": ..., "num_boxes": ..., "skipped_annotations": {reason: count}},
     "categories": [{"id": 1, "name": "aerosol_can", "phrase": "aerosol can"}, ...],
     "queries": [{"query_id": 0, "image_id": 397133, "file_name": "val2017/000000397133.jpg",
                  "height": 427, "width": 640, "category_id": 1, "category_name": "aerosol_can",
                  "phrase": "aerosol can", "gt_bboxes": [[x1, y1, x2, y2], ...], "gt_areas": [...]}, ...]}

Boxes are xyxy pixels; ``gt_areas`` are LVIS's ``area`` (mask area), which the metric's small/medium/large
split uses. ``file_name`` is relative to the COCO image root (LVIS v1 has only ``coco_url``, whose path
after the host is ``train2017/…`` or ``val2017/…``). Queries are sorted by (category id, image id).
Annotations that cannot be used (unknown image or category, non-positive box size) are skipped and counted.

``LVISGroundDataset`` reads this file (as it reads the official release's ``lvis_test.json``), and
``configs/groma/benchmarks/*_lvis-ground.py`` evaluates a model on it: set its ``ann_file`` to this output.
"""
import argparse
import json
import random
from collections import Counter, defaultdict
from typing import Dict, List, Tuple
from urllib.parse import urlparse

from groma_mm.datasets.class_agnostic_coco import coco_xywh_to_xyxy
from groma_mm.datasets.readers.lvis_ground import lvis_phrase


def image_file_name(image: dict) -> str:
    """The image path relative to the COCO image root: ``file_name`` if present, else from ``coco_url``."""
    if image.get('file_name'):
        return image['file_name']
    if image.get('coco_url'):
        return urlparse(image['coco_url']).path.lstrip('/')
    raise KeyError(f'image {image.get("id")} has neither file_name nor coco_url')


def build_lvis_ground(lvis: dict, max_images_per_category: int = 5, seed: int = 0) -> dict:
    """Build the benchmark from a loaded LVIS json (see the module docstring for the output)."""
    images = {img['id']: img for img in lvis['images']}
    categories = {cat['id']: cat for cat in lvis['categories']}
    boxes: Dict[Tuple[int, int], List[dict]] = defaultdict(list)  # (category_id, image_id) -> annotations
    skipped = Counter()
    for ann in lvis['annotations']:
        if ann.get('image_id') not in images:
            skipped['unknown image'] += 1
        elif ann.get('category_id') not in categories:
            skipped['unknown category'] += 1
        elif len(ann.get('bbox', ())) != 4 or ann['bbox'][2] <= 0 or ann['bbox'][3] <= 0:
            skipped['non-positive box size'] += 1
        else:
            boxes[ann['category_id'], ann['image_id']].append(ann)

    images_per_category: Dict[int, List[int]] = defaultdict(list)
    for category_id, image_id in sorted(boxes):
        images_per_category[category_id].append(image_id)
    # One generator drawn in category-id order: the same file and seed always give the same benchmark.
    rng = random.Random(seed)
    queries = []
    for category_id in sorted(images_per_category):
        candidates = images_per_category[category_id]
        chosen = sorted(rng.sample(candidates, min(max_images_per_category, len(candidates))))
        name = categories[category_id]['name']
        for image_id in chosen:
            image, anns = images[image_id], sorted(boxes[category_id, image_id], key=lambda a: a['id'])
            queries.append(dict(
                query_id=len(queries), image_id=image_id, file_name=image_file_name(image),
                height=image['height'], width=image['width'], category_id=category_id, category_name=name,
                phrase=lvis_phrase(name), gt_bboxes=[coco_xywh_to_xyxy(a['bbox']) for a in anns],
                gt_areas=[float(a.get('area', a['bbox'][2] * a['bbox'][3])) for a in anns]))

    used_categories = sorted({q['category_id'] for q in queries})
    info = dict(max_images_per_category=max_images_per_category, seed=seed, num_queries=len(queries),
                num_images=len({q['image_id'] for q in queries}), num_categories=len(used_categories),
                num_boxes=sum(len(q['gt_bboxes']) for q in queries), skipped_annotations=dict(skipped))
    cats = [dict(id=c, name=categories[c]['name'], phrase=lvis_phrase(categories[c]['name']))
            for c in used_categories]
    return dict(info=info, categories=cats, queries=queries)


def parse_args():
    parser = argparse.ArgumentParser(description='Build LVIS-Ground from an LVIS v1 val json')
    parser.add_argument('lvis_json', help='LVIS v1 annotation file, e.g. lvis_v1_val.json')
    parser.add_argument('out_json', help='where to write the LVIS-Ground json')
    parser.add_argument('--max-images-per-category', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    with open(args.lvis_json) as f:
        lvis = json.load(f)
    ground = build_lvis_ground(lvis, args.max_images_per_category, args.seed)
    ground['info']['source'] = args.lvis_json
    with open(args.out_json, 'w') as f:
        json.dump(ground, f)
    info = ground['info']
    print(f'LVIS-Ground: {info["num_queries"]} queries, {info["num_images"]} images, '
          f'{info["num_categories"]} categories, {info["num_boxes"]} boxes '
          f'({info["num_boxes"] / max(info["num_queries"], 1):.2f} per query); '
          f'skipped annotations: {info["skipped_annotations"] or "none"} -> {args.out_json}')


if __name__ == '__main__':
    main()
