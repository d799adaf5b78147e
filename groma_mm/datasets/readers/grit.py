"""GRIT-20m (Kosmos-2's grounded image-text pairs) → referring expression comprehension (paper Table 1 "REC").

Public format (huggingface.co/datasets/zzliang/GRIT; the images are fetched with img2dataset), one record
per image–caption pair, as a json list, ``.jsonl``, or the per-sample ``.json`` files of an img2dataset
folder merged into one list::

    {"key": "000000001", "caption": "a dog sitting on a red couch", "width": 640, "height": 480,
     "ref_exps": [[0, 5, 0.12, 0.30, 0.55, 0.91, 0.74], ...],          # also "noun_chunks", same layout
     "url": ..., "clip_similarity_vitb32": ...}

Each ``ref_exps`` entry is ``[start, end, x1, y1, x2, y2]`` (an optional 7th value is the grounding score):
characters ``caption[start:end]`` name the object in the box, whose corners are normalized to [0, 1]. The
official Groma reader (``groma/data/datasets/grit.py``, over a filtered 10M-record file with ``filename``)
asks for one expression of the record and answers with every box that has the same span; so does this
reader, one sample per record::

    user:      "Locate <p>{expression}</p> in the image."        (an Appendix A 'rec' template)
    assistant: "<roi><box0><box1></roi>"                          (the boxes of that span)
    bboxes:    xyxy pixels of the stored image; task='rec', grounding=False
    gt:        gt_bboxes, expression, span

The expression is chosen per record with the reader's seed (the official code draws one per access).
Boxes become pixels through the record's ``width`` / ``height``, which must be those of the *stored* image
(img2dataset resizes: use its output json's sizes). Bad entries (skipped, reported): no image name, no
caption, no usable size, no ``ref_exps``, spans outside the caption or empty, boxes that are not four
numbers in [0, 1] with positive area, missing image files.
"""
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from groma_mm.datasets.readers.base import GromaBaseDataset, as_bboxes, clean_text, roi_reply, xyxy_box
from groma_mm.datasets.readers.chat import load_json_records
from groma_mm.registry import DATASETS

# Names the image file is found under: the official filtered file's, COCO-style, img2dataset's key.
IMAGE_KEYS = ('filename', 'file_name', 'image')
SLACK = 1e-3  # normalized corners a hair outside [0, 1] are rounding, not errors


def normalized_box(values: Sequence, width: int, height: int) -> Tuple[Optional[List[float]], Optional[str]]:
    """``[x1, y1, x2, y2]`` in [0, 1] → clipped pixels, or ``(None, reason)``."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None, 'malformed box'
    x1, y1, x2, y2 = (float(v) for v in values)
    if min(x1, y1, x2, y2) < -SLACK or max(x1, y1, x2, y2) > 1 + SLACK:
        return None, 'box not normalized to [0, 1]'
    return xyxy_box([x1 * width, y1 * height, x2 * width, y2 * height], height, width)


@DATASETS.register_module()
class GRITDataset(GromaBaseDataset):
    """REC samples from GRIT-20m records (module docstring).

    Args:
        image_suffix (str): appended to ``key`` when a record has no file name (img2dataset). Defaults to
            ``'.jpg'``.
        size_keys (tuple[str, str]): the record fields holding the stored image's width and height.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'rec'

    def __init__(self, *args, image_suffix: str = '.jpg', size_keys: Sequence[str] = ('width', 'height'),
                 **kwargs) -> None:
        self.image_suffix = image_suffix
        self.size_keys = tuple(size_keys)
        super().__init__(*args, **kwargs)

    def _file_name(self, record: dict) -> Optional[str]:
        name = next((record[k] for k in IMAGE_KEYS if isinstance(record.get(k), str) and record[k]), None)
        if name is None and record.get('key') not in (None, ''):
            name = f'{record["key"]}{self.image_suffix}'
        return name

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        index = 0
        for i, record in enumerate(load_json_records(self.ann_file, self.backend_args)):
            where = dict(index=i, key=record.get('key') if isinstance(record, dict) else None)
            if not isinstance(record, dict):
                self.bad(where, 'malformed entry (not a dict)')
                continue
            sample, reason = self._sample(record, index)
            if reason is not None:
                self.bad(where, reason)
                continue
            yield where, sample
            index += 1

    def _sample(self, record: dict, index: int) -> Tuple[Optional[dict], Optional[str]]:
        file_name = self._file_name(record)
        if file_name is None:
            return None, 'no image file name'
        caption = record.get('caption')
        if not isinstance(caption, str) or not caption.strip():
            return None, 'no caption'
        width, height = (record.get(k) for k in self.size_keys)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1 for v in (width, height)):
            return None, f'no image size in {"/".join(self.size_keys)} (needed to turn normalized boxes into pixels)'
        width, height = int(width), int(height)
        spans = {}  # (start, end) -> boxes, in ref_exps order
        for ref in record.get('ref_exps') or []:
            if not isinstance(ref, (list, tuple)) or len(ref) < 6:
                return None, 'malformed ref_exps entry (expected [start, end, x1, y1, x2, y2, ...])'
            start, end = ref[0], ref[1]
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(caption)):
                return None, f'span {ref[:2]} outside the caption'
            box, reason = normalized_box(ref[2:6], width, height)
            if reason is not None:
                return None, reason
            spans.setdefault((start, end), []).append(box)
        if not spans:
            return None, 'no ref_exps'
        spans = {span: boxes for span, boxes in spans.items() if clean_text(caption[span[0]:span[1]])}
        if not spans:
            return None, 'every expression is blank'
        order = sorted(spans)
        span = order[int(np.random.default_rng([self.seed, index]).integers(len(order)))]
        expression = clean_text(caption[span[0]:span[1]])
        boxes = spans[span]
        sample = dict(
            img_path=osp.join(self.img_prefix, file_name), img_id=record.get('key', file_name), height=height,
            width=width,
            conversation=[dict(role='user', content=self.instruction(index, expression=expression)),
                          dict(role='assistant', content=roi_reply(range(len(boxes))))],
            bboxes=as_bboxes(boxes), task=self.TASK, grounding=False,
            gt=dict(gt_bboxes=as_bboxes(boxes), expression=expression, span=list(span)))
        return sample, None
