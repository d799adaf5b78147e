"""Region-captioning test sets in the official release's COCO-caption layout: ``vg_test.json`` (Visual
Genome) and ``refcocog_cap_val.json`` (RefCOCOg), paper Table 4.

Layout: a COCO json whose every ``images`` entry is one region to describe (``id``, ``file_name``,
``height``, ``width``), with its ``annotations`` (``image_id`` = the entry, ``bbox`` ``[x, y, w, h]``,
``caption``, optional ``area``, ``category_id``) giving the region and its reference captions. The official
scorer (pycocoevalcap's ``COCOEvalCap`` over this file) takes every annotation caption of an entry as a
reference and one prediction per entry, so one sample per entry is read here, with all of them as
``gt_captions``. Several annotations with the same box are one region; an entry with different boxes cannot
be asked about one region and is reported.

Each sample::

    user:      "What is <box0>?"       (VG: a 'region_caption' template; RefCOCOg: instruction_task=
                                        'detailed_region_caption', "Please describe <box0> in details.")
    assistant: the first reference, first letter upper-cased
    bboxes:    the region, xyxy clipped to the image; task='region_caption', grounding=False
    gt:        gt_captions [str], gt_bboxes (1, 4), split (default: the file name, 'vg_test')

``img_id`` is the entry's ``id``, the key the official results file uses.
"""
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.fileio import load

from groma_mm.datasets.readers.base import (GromaBaseDataset, as_bboxes, caption_case, clean_text, image_size,
                                            xywh_box)
from groma_mm.registry import DATASETS


@DATASETS.register_module()
class RegionCaptionCocoDataset(GromaBaseDataset):
    """One region-caption query per image entry of a COCO-caption json (module docstring).

    Bad entries (skipped, reported; ``index`` = position in ``images``, or in ``annotations`` for
    annotation problems): annotations of unknown entries, empty captions, malformed, degenerate or outside
    boxes, entries without any usable annotation or with different boxes, entries without a file name,
    missing image files.

    Args:
        instruction_task (str): the template pool of the question: 'region_caption' (short, VG) or
            'detailed_region_caption' (RefCOCOg). Defaults to 'region_caption'.
        split (str, optional): recorded in ``gt['split']``; default: the file name without ``.json``.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'region_caption'

    def __init__(self, *args, instruction_task: str = 'region_caption', split: Optional[str] = None,
                 **kwargs) -> None:
        self.instruction_task = instruction_task
        self.split = split
        super().__init__(*args, **kwargs)

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        coco = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        if not isinstance(coco, dict) or not isinstance(coco.get('images'), list):
            raise ValueError(f'{self.ann_file}: a COCO-caption file is a dict with "images" and "annotations"')
        split = self.split or osp.splitext(osp.basename(self.ann_file))[0]
        entries = {img.get('id'): img for img in coco['images'] if isinstance(img, dict)}
        regions = {entry_id: [] for entry_id in entries}  # entry id -> [(box, caption)]
        for i, ann in enumerate(coco.get('annotations') or []):
            where = dict(index=i, ann_id=ann.get('id'), image_id=ann.get('image_id'))
            entry = entries.get(ann.get('image_id'))
            if entry is None:
                self.bad(where, 'annotation of an unknown image entry')
                continue
            caption = ann.get('caption')
            caption = clean_text(caption) if isinstance(caption, str) else ''
            if not caption:
                self.bad(where, 'empty caption')
                continue
            box, reason = xywh_box(ann.get('bbox'), *image_size(entry))
            if reason is not None:
                self.bad(where, reason)
                continue
            regions[ann['image_id']].append((box, caption))

        index = 0
        for j, img in enumerate(coco['images']):
            where = dict(index=j, image_id=_get(img, 'id'))
            if not isinstance(img, dict) or not img.get('file_name'):
                self.bad(where, 'invalid image entry (no file_name)')
                continue
            found = regions.get(img.get('id')) or []
            boxes: List[list] = []
            for box, _ in found:
                if box not in boxes:
                    boxes.append(box)
            if len(boxes) != 1:
                self.bad(where, 'entry without a usable annotation' if not boxes else
                         f'a region-caption entry needs one box, it has {len(boxes)} different ones')
                continue
            captions = [caption for _, caption in found]
            height, width = image_size(img)
            sample = dict(
                img_path=osp.join(self.img_prefix, img['file_name']),
                img_id=img['id'],
                height=height,
                width=width,
                conversation=[
                    dict(role='user', content=self.instruction(index, task=self.instruction_task, region='<box0>')),
                    dict(role='assistant', content=caption_case(captions[0]))
                ],
                bboxes=as_bboxes(boxes),
                task=self.TASK,
                grounding=False,
                gt=dict(gt_captions=captions, gt_bboxes=as_bboxes(boxes), split=split))
            yield where, sample
            index += 1


def _get(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None
