"""Multi-object grounding from a detection json (paper Appendix A: COCO "converted to multiple objects
grounding data in a similar format as REC data"; LVIS for LVIS-Ground).

Public format: COCO / LVIS instances json, ``images`` (``id``, ``file_name`` (COCO) or ``coco_url``
(LVIS v1: ``http://images.cocodataset.org/val2017/000000397133.jpg``), ``height``, ``width``),
``annotations`` (``image_id``, ``category_id``, ``bbox`` ``[x, y, w, h]``, ``area``, optional ``iscrowd`` /
``ignore``), ``categories`` (``id``, ``name``; LVIS names use underscores, ``baseball_bat``).
"""
import os.path as osp
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
from mmengine.fileio import load

from groma_mm.datasets.readers.base import GromaBaseDataset, as_bboxes, image_size, roi_reply, xywh_box
from groma_mm.registry import DATASETS

COCO_URL_PREFIX = 'http://images.cocodataset.org/'


def category_phrase(name: str) -> str:
    """'baseball_bat' → 'baseball bat' (LVIS names); COCO names pass unchanged."""
    return ' '.join(name.replace('_', ' ').split())


def image_file_name(img: dict) -> str:
    """``file_name``, else LVIS's ``coco_url`` below the COCO host ('val2017/000000397133.jpg', as mmdet's
    LVIS dataset does)."""
    if img.get('file_name'):
        return img['file_name']
    url = img.get('coco_url') or ''
    return url.replace(COCO_URL_PREFIX, '') if url else ''


@DATASETS.register_module()
class DetectionGroundingDataset(GromaBaseDataset):
    """One sample per (image, category present in it)::

        user:      "Locate all <p>{category}</p> in this image."   (an Appendix A 'multi_grounding' template)
        assistant: "<roi><box0><box1>…</roi>"                       (every instance, in annotation-file order:
                                                                     the official COCO reply, boxes alone)
        bboxes:    those boxes, xyxy clipped to the image; task='multi_grounding', grounding=False
        gt:        gt_bboxes (n, 4), gt_areas (n,) (annotation ``area``, else box area), category_id,
                   category (the phrase)

    Crowd (``iscrowd``) and ``ignore`` annotations are not instances to list and are left out; a category
    present only through them gives no sample. Samples are ordered by image (file order), then category id.
    Many-instance samples can exceed the LLM's proxy tokens: drop them in training with
    ``filter_cfg=dict(max_boxes=N)``.

    Bad entries (skipped, reported; ``index`` = position in ``annotations``, or in ``images`` for image
    problems): annotations of unknown images or categories, malformed, degenerate or outside boxes, image
    entries without a file name, missing image files.

    Args:
        categories_per_image (int, optional): keep that many of an image's categories, drawn with the
            reader's seed (1 is the official stage-2/3 COCO data, which asks one category per image);
            None keeps all.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'multi_grounding'

    def __init__(self, *args, categories_per_image: Optional[int] = None, **kwargs) -> None:
        if categories_per_image is not None and categories_per_image < 1:
            raise ValueError(f'categories_per_image must be >= 1 or None, got {categories_per_image}')
        self.categories_per_image = categories_per_image
        super().__init__(*args, **kwargs)

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        coco = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        images = coco.get('images') or []
        categories = {c.get('id'): category_phrase(str(c.get('name', ''))) for c in coco.get('categories') or []}
        image_ids = {img.get('id') for img in images}
        # image id -> category id -> [(ann index, box, area)]
        instances: Dict[object, Dict[object, List[tuple]]] = defaultdict(lambda: defaultdict(list))
        sizes = {img.get('id'): image_size(img) for img in images}
        for i, ann in enumerate(coco.get('annotations') or []):
            where = dict(index=i, ann_id=ann.get('id'), image_id=ann.get('image_id'))
            if ann.get('image_id') not in image_ids:
                self.bad(where, 'unknown image id')
                continue
            if ann.get('iscrowd') or ann.get('ignore'):
                continue
            if not categories.get(ann.get('category_id')):
                self.bad(where, 'unknown category id', category_id=ann.get('category_id'))
                continue
            box, reason = xywh_box(ann.get('bbox'), *sizes[ann.get('image_id')])
            if reason is not None:
                self.bad(where, reason)
                continue
            area = ann.get('area')
            if not isinstance(area, (int, float)) or area <= 0:
                area = (box[2] - box[0]) * (box[3] - box[1])
            instances[ann['image_id']][ann['category_id']].append((i, box, float(area)))

        index = 0
        for j, img in enumerate(images):
            file_name = image_file_name(img)
            if not file_name:
                self.bad(dict(index=j, image_id=img.get('id')), 'invalid image entry (no file_name or coco_url)')
                continue
            height, width = sizes[img.get('id')]
            by_category = instances.get(img.get('id'), {})
            kept = sorted(by_category, key=_sort_key)
            if self.categories_per_image is not None and len(kept) > self.categories_per_image:
                rng = np.random.default_rng([self.seed, j])
                kept = [kept[k] for k in sorted(rng.choice(len(kept), self.categories_per_image, replace=False))]
            for category_id in kept:
                found = by_category[category_id]
                boxes = [box for _, box, _ in found]
                name = categories[category_id]
                sample = dict(
                    img_path=osp.join(self.img_prefix, file_name),
                    img_id=img.get('id'),
                    height=height,
                    width=width,
                    conversation=[dict(role='user', content=self.instruction(index, category=name)),
                                  dict(role='assistant', content=roi_reply(range(len(boxes))))],
                    bboxes=as_bboxes(boxes),
                    task=self.TASK,
                    grounding=False,
                    gt=dict(gt_bboxes=as_bboxes(boxes), gt_areas=np.asarray([a for _, _, a in found], np.float32),
                            category_id=category_id, category=name))
                yield dict(index=j, image_id=img.get('id'), category_id=category_id), sample
                index += 1


def _sort_key(value):
    return (0, value, '') if isinstance(value, (int, float)) else (1, 0, str(value))
