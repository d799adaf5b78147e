"""LVIS-Ground (paper §5.2, App. B): one query per (image, category present), "Locate all <p>{class}</p> in
this image.", answered by every instance of the category.

Two files are read, told apart by their content:

1. **The official release's** ``lvis_test.json``: an LVIS v1 annotation file (``images`` with ``id``,
   ``coco_url`` (or ``file_name``), ``height``, ``width``; ``annotations`` with ``image_id``, ``category_id``,
   ``bbox`` ``[x, y, w, h]``, ``area``; ``categories`` with ``id``, ``name``) holding only the sampled
   images. Every (image, category) that has annotations becomes a query. ``tools/test.py`` scores it with
   :class:`~groma_mm.evaluation.LVISGroundMetric`, which averages as lvis-api's ``LVISEval`` does on this file.
2. **Our builder's output** (``tools/dataset_converters/build_lvis_ground.py`` on ``lvis_v1_val.json``): a
   json with ``queries``, each ``{query_id, image_id, file_name, height, width, category_id, phrase,
   gt_bboxes (xyxy), gt_areas}``.

Image paths are ``file_name`` (or the ``coco_url`` path below the COCO host, ``val2017/000000397133.jpg``)
under the image prefix, i.e. the COCO image root. The ground truth is kept as the annotation file has it,
unclipped, because ``LVISEval`` counts it so; only boxes without positive width and height are skipped and
reported (no prediction can hit them). ``area`` is the LVIS mask area the small/medium/large split uses.

Each sample::

    user:      "Locate all <p>{phrase}</p> in this image."   (Table 9; phrase = LVIS name with spaces, lower case)
    assistant: "<roi><box0><box1>…</roi>"                    (the official multi-object grounding reply)
    bboxes:    the instances, xyxy; task='multi_grounding', grounding=False
    gt:        gt_bboxes (n, 4), gt_areas (n,), category_id, category (the phrase)

Queries keep the file's order; ``GroupedInferenceSampler`` puts those of one image in one batch.
"""
import math
import os.path as osp
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import load

from groma_mm.datasets.class_agnostic_coco import coco_xywh_to_xyxy
from groma_mm.datasets.readers.base import GromaBaseDataset, as_bboxes, image_size, roi_reply
from groma_mm.datasets.readers.detection_grounding import category_phrase, image_file_name
from groma_mm.registry import DATASETS

# Table 9's first multi-object grounding instruction: every query is asked the same way.
LVIS_GROUND_PROMPT = 'Locate all <p>{category}</p> in this image.'


def lvis_phrase(name: str) -> str:
    """'Baseball_bat' → 'baseball bat', as the official evaluation words a class name."""
    return category_phrase(name).lower()


def _four_numbers(box) -> bool:
    return isinstance(box, (list, tuple)) and len(box) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)


def xywh_gt_box(box) -> Optional[List[float]]:
    """An annotation's ``[x, y, w, h]`` as xyxy, or None when no prediction can hit it (not 4 finite numbers,
    or no positive width and height)."""
    if not _four_numbers(box) or box[2] <= 0 or box[3] <= 0:
        return None
    return coco_xywh_to_xyxy([float(v) for v in box])


def xyxy_gt_box(box) -> Optional[List[float]]:
    """The same check for an ``[x1, y1, x2, y2]`` box."""
    if not _four_numbers(box) or box[2] <= box[0] or box[3] <= box[1]:
        return None
    return [float(v) for v in box]


@DATASETS.register_module()
class LVISGroundDataset(GromaBaseDataset):
    """LVIS-Ground queries from the official ``lvis_test.json`` or our builder's json (module docstring).

    Bad entries (skipped, reported; ``index`` = position in ``annotations`` or ``queries``, or in ``images``
    for image problems): annotations of unknown images or categories, ground-truth boxes without positive size
    (the query keeps its other boxes), queries left without boxes, image entries without a file name, missing
    image files.

    Args:
        templates: the instruction (default: Table 9's ``"Locate all <p>{category}</p> in this image."``).
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'multi_grounding'

    def __init__(self, *args, templates: Sequence[str] = (LVIS_GROUND_PROMPT, ), **kwargs) -> None:
        super().__init__(*args, templates=templates, **kwargs)

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        data = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        if isinstance(data, dict) and isinstance(data.get('queries'), list):
            queries = self._builder_queries(data['queries'])
        elif isinstance(data, dict) and isinstance(data.get('images'), list):
            queries = self._lvis_queries(data)
        else:
            raise ValueError(f'{self.ann_file}: neither an LVIS annotation file (images/annotations/categories) '
                             'nor the output of build_lvis_ground.py (queries)')
        for index, (where, query) in enumerate(queries):
            yield where, self._sample(index, **query)

    def _sample(self, index: int, file_name: str, img_id, height, width, category_id, phrase: str,
                boxes: List[List[float]], areas: List[float]) -> dict:
        return dict(
            img_path=osp.join(self.img_prefix, file_name),
            img_id=img_id,
            height=height,
            width=width,
            conversation=[dict(role='user', content=self.instruction(index, category=phrase)),
                          dict(role='assistant', content=roi_reply(range(len(boxes))))],
            bboxes=as_bboxes(boxes),
            task=self.TASK,
            grounding=False,
            gt=dict(gt_bboxes=as_bboxes(boxes), gt_areas=np.asarray(areas, np.float32), category_id=category_id,
                    category=phrase))

    def _lvis_queries(self, lvis: dict) -> Iterator[Tuple[dict, dict]]:
        images = {img.get('id'): img for img in lvis['images'] if isinstance(img, dict)}
        names = {c.get('id'): c.get('name') for c in lvis.get('categories') or [] if isinstance(c, dict)}
        # image id -> category id -> [(box, area)], in annotation-file order
        instances: Dict[object, Dict[object, list]] = defaultdict(lambda: defaultdict(list))
        for i, ann in enumerate(lvis.get('annotations') or []):
            where = dict(index=i, ann_id=ann.get('id'), image_id=ann.get('image_id'))
            if ann.get('image_id') not in images:
                self.bad(where, 'unknown image id')
                continue
            if not isinstance(names.get(ann.get('category_id')), str):
                self.bad(where, 'unknown category id', category_id=ann.get('category_id'))
                continue
            if ann.get('iscrowd'):
                continue  # a crowd region is not an instance to list (LVIS has none; COCO-style files may)
            box = xywh_gt_box(ann.get('bbox'))
            if box is None:
                self.bad(where, 'ground-truth box without positive size', bbox=ann.get('bbox'))
                continue
            area = ann.get('area')
            if not isinstance(area, (int, float)) or area <= 0:
                area = (box[2] - box[0]) * (box[3] - box[1])
            instances[ann['image_id']][ann['category_id']].append((box, float(area)))

        for j, img in enumerate(lvis['images']):
            if not isinstance(img, dict) or img.get('id') not in instances:
                continue
            file_name = image_file_name(img)
            if not file_name:
                self.bad(dict(index=j, image_id=img.get('id')), 'invalid image entry (no file_name or coco_url)')
                continue
            height, width = image_size(img)
            for category_id, found in instances[img['id']].items():
                yield dict(index=j, image_id=img['id'], category_id=category_id), dict(
                    file_name=file_name, img_id=img['id'], height=height, width=width, category_id=category_id,
                    phrase=lvis_phrase(names[category_id]), boxes=[b for b, _ in found], areas=[a for _, a in found])

    def _builder_queries(self, queries: list) -> Iterator[Tuple[dict, dict]]:
        for i, query in enumerate(queries):
            where = dict(index=i, query_id=query.get('query_id') if isinstance(query, dict) else None)
            if not isinstance(query, dict) or not query.get('file_name') or not query.get('phrase'):
                self.bad(where, 'malformed query (needs file_name, phrase, gt_bboxes)')
                continue
            boxes, areas = [], []
            gt_boxes = query.get('gt_bboxes') or []
            gt_areas = list(query.get('gt_areas') or [])[:len(gt_boxes)]
            for box, area in zip(gt_boxes, gt_areas + [None] * (len(gt_boxes) - len(gt_areas))):
                xyxy = xyxy_gt_box(box)
                if xyxy is None:
                    self.bad(where, 'ground-truth box without positive size', bbox=box)
                    continue
                boxes.append(xyxy)
                areas.append(float(area) if isinstance(area, (int, float)) and area > 0 else
                             (xyxy[2] - xyxy[0]) * (xyxy[3] - xyxy[1]))
            if not boxes:
                self.bad(where, 'query without ground-truth boxes')
                continue
            height, width = image_size(query)
            yield where, dict(file_name=query['file_name'], img_id=query.get('image_id'), height=height, width=width,
                              category_id=query.get('category_id'), phrase=lvis_phrase(query['phrase']),
                              boxes=boxes, areas=areas)
