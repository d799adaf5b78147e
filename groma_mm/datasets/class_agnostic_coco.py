"""Class-agnostic detection data from one COCO-format annotation file (stage 1, paper §3.3).

Detection pretraining uses boxes only: COCO, Objects365, OpenImages, V3Det (converted to COCO json) and an
SA-1B subset whose annotations may carry only a mask. Every category becomes the single class ``'object'``.
Stage 1 reads millions of annotations from several sources, so bad input is skipped and reported here
instead of crashing a multi-day run.
"""
import math
import os.path as osp
from collections import Counter, defaultdict
from typing import Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
from mmdet.datasets.base_det_dataset import BaseDetDataset
from mmengine.fileio import list_dir_or_file, load
from mmengine.logging import MMLogger
from pycocotools import mask as mask_utils

from groma_mm.datasets.file_errors import reading_annotations
from groma_mm.registry import DATASETS

# How many offending entries the load-time warning spells out; the rest stay in ``dataset.bad_entries``.
NUM_LOGGED_BAD_ENTRIES = 10


def coco_xywh_to_xyxy(box: Sequence[float]) -> List[float]:
    """COCO ``[x, y, w, h]`` → ``[x1, y1, x2, y2]`` (pixels)."""
    x, y, w, h = box
    return [x, y, x + w, y + h]


def box_from_segmentation(segmentation) -> List[float]:
    """Tight ``[x1, y1, x2, y2]`` box of a COCO segmentation.

    Args:
        segmentation: an RLE dict ``{'size': [h, w], 'counts': str | bytes | list[int]}`` (compressed or
            not), or polygons ``[[x1, y1, x2, y2, ...], ...]`` in pixel coordinates.

    Polygons use the extent of their vertices: that is the exact box, while rasterizing first would move
    edges by up to a pixel. An empty mask gives a zero-size box (rejected later as degenerate).

    Raises:
        ValueError, TypeError, KeyError: on a malformed segmentation.
    """
    if isinstance(segmentation, dict):
        rle = segmentation
        if isinstance(rle['counts'], list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(rle, *rle['size'])
        return coco_xywh_to_xyxy(mask_utils.toBbox(rle).tolist())
    polygons = [np.asarray(p, dtype=np.float64) for p in segmentation]
    if not polygons or any(p.ndim != 1 or p.size < 6 or p.size % 2 for p in polygons):
        raise ValueError('polygons must be non-empty lists of at least 3 (x, y) points')
    points = np.concatenate(polygons).reshape(-1, 2)
    return [*points.min(axis=0).tolist(), *points.max(axis=0).tolist()]


def clip_box(box: Sequence[float], height: int, width: int) -> Tuple[Optional[List[float]], Optional[str]]:
    """Clip an ``[x1, y1, x2, y2]`` box to the image.

    Returns:
        ``(clipped_box, None)``, or ``(None, reason)`` for a non-finite box, a box with no overlap with
        the image, or one narrower or lower than 1 px after clipping.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None, 'degenerate box'
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return None, 'box outside image'
    x1, y1, x2, y2 = max(x1, 0.), max(y1, 0.), min(x2, float(width)), min(y2, float(height))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None, 'degenerate box'
    return [x1, y1, x2, y2], None


def annotation_box(ann: dict, height: int, width: int) -> Tuple[Optional[List[float]], Optional[str]]:
    """The clipped ``[x1, y1, x2, y2]`` box of one COCO annotation, or ``(None, reason)``.

    A well-formed ``bbox`` with positive size wins (it is cheap and is what the file's author meant);
    otherwise the box comes from ``segmentation``, which is all that SA-1B-style files may carry.
    """
    bbox = ann.get('bbox')
    segmentation = ann.get('segmentation')
    has_bbox = (isinstance(bbox, (list, tuple)) and len(bbox) == 4
                and all(isinstance(v, (int, float)) for v in bbox))
    if has_bbox and (not segmentation or (bbox[2] > 0 and bbox[3] > 0)):
        box = coco_xywh_to_xyxy(bbox)
    elif segmentation:
        try:
            box = box_from_segmentation(segmentation)
        except Exception:  # noqa: BLE001 — any undecodable mask is one bad annotation, not a crash
            return None, 'invalid segmentation'
    else:
        return None, 'no box'
    return clip_box(box, height, width)


def existing_files(paths: Iterable[str], backend_args: Optional[dict] = None) -> Set[str]:
    """The subset of ``paths`` that exist, listing each folder once (one stat per file is too slow on
    network storage for millions of images)."""
    by_folder = defaultdict(list)
    for path in paths:
        by_folder[osp.dirname(path)].append(path)
    existing = set()
    for folder, folder_paths in by_folder.items():
        try:
            names = set(list_dir_or_file(folder, list_dir=False, backend_args=backend_args))
        except (FileNotFoundError, NotADirectoryError):
            continue
        existing.update(p for p in folder_paths if osp.basename(p) in names)
    return existing


@DATASETS.register_module()
class ClassAgnosticCocoDataset(BaseDetDataset):
    """Boxes of every category of one COCO-format file, as the single class ``'object'`` (label 0).

    Each item of ``data_list`` (mmdet format)::

        img_path (str), img_id (int), height (int), width (int), seg_map_path (None),
        instances (list[dict]): bbox ([x1, y1, x2, y2] in original image pixels, clipped to the image),
            bbox_label (0), ignore_flag (1 for ``iscrowd`` annotations, else 0),
        source (str, only when the ``source`` argument is given)

    Masks are not kept (stage 1 is boxes-only and SA-1B masks would dominate memory); annotations with
    ``ignore: true`` are dropped as in mmdet. Test pipelines can pack ``instances`` as a meta key, so that
    mmdet's ``CocoMetric(ann_file=None)`` evaluates against them.

    Skipped and reported (never fatal): image entries without ``file_name``/``width``/``height``, images
    whose file is missing (when ``check_files``), annotations of unknown images, annotations without a
    box or with an undecodable mask, non-finite boxes, boxes entirely outside the image, boxes under 1 px
    wide or high after clipping. Boxes partly outside the image are clipped. After loading, one warning
    through the current ``MMLogger`` gives the counts per reason and the first offending entries;
    ``bad_entries`` holds all of them as dicts ``{file, image_id, ann_id, reason}``.

    Images left without boxes are dropped from training only with ``filter_cfg=dict(filter_empty_gt=True)``
    (``min_size`` is honoured too); in ``test_mode`` nothing is filtered, as in mmdet.

    Args:
        check_files (bool): list the image folders once at load time and skip images whose file is
            absent. Turn off for storage backends that cannot list folders. Defaults to True.
        source (str, optional): name of the annotation source (e.g. ``'sa1b'``), stored in every item as
            ``source``; pack it as a meta key for models that treat sources differently (the official
            Groma proposer scores SA-1B boxes with their own objectness head). Defaults to None (absent).
        *args, **kwargs: as for mmdet ``BaseDetDataset`` / mmengine ``BaseDataset`` (``ann_file``,
            ``data_root``, ``data_prefix=dict(img=...)``, ``filter_cfg``, ``pipeline``, ``test_mode``,
            ``serialize_data``, ``lazy_init``, ``backend_args``, ...).
    """

    METAINFO = dict(classes=('object', ), palette=[(220, 20, 60)])

    def __init__(self, *args, check_files: bool = True, source: Optional[str] = None, **kwargs) -> None:
        self.check_files = check_files
        self.source = source
        self.bad_entries: List[dict] = []
        super().__init__(*args, **kwargs)

    def full_init(self) -> None:
        with reading_annotations(type(self).__name__, self.ann_file):
            super().full_init()

    def load_data_list(self) -> List[dict]:
        """Parse ``ann_file``; skip, record and report bad entries.

        Returns:
            list[dict]: one dict per usable image, fields as in the class docstring.
        """
        self.bad_entries = []
        coco = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        all_images, all_anns = coco.get('images') or [], coco.get('annotations') or []
        anns_by_image = defaultdict(list)
        for ann in all_anns:
            anns_by_image[ann.get('image_id')].append(ann)
        known_ids = {img.get('id') for img in all_images}
        for ann in all_anns:
            if ann.get('image_id') not in known_ids:
                self._bad(ann.get('image_id'), ann.get('id'), 'unknown image id')

        images = []
        for img in all_images:
            if img.get('file_name') and _is_size(img.get('width')) and _is_size(img.get('height')):
                images.append(img)
            else:
                self._bad(img.get('id'), None, 'invalid image entry')
        # mmdet configs give data_prefix=dict(img=...); without it file names are relative to data_root
        img_prefix = self.data_prefix.get('img', self.data_root or '')
        paths = [osp.join(img_prefix, img['file_name']) for img in images]
        existing = existing_files(paths, self.backend_args) if self.check_files else None
        data_list = []
        for img, img_path in zip(images, paths):
            if existing is not None and img_path not in existing:
                self._bad(img['id'], None, 'missing image file')
                continue
            height, width = int(img['height']), int(img['width'])
            instances = []
            for ann in anns_by_image.get(img['id'], ()):
                if ann.get('ignore', False):
                    continue
                box, reason = annotation_box(ann, height, width)
                if reason is not None:
                    self._bad(img['id'], ann.get('id'), reason)
                    continue
                instances.append(dict(bbox=box, bbox_label=0, ignore_flag=int(bool(ann.get('iscrowd', 0)))))
            info = dict(img_path=img_path, img_id=img['id'], seg_map_path=None, height=height, width=width,
                        instances=instances)
            if self.source is not None:
                info['source'] = self.source
            data_list.append(info)
        self._report(num_images=len(all_images), num_anns=len(all_anns))
        return data_list

    def filter_data(self) -> List[dict]:
        """Apply ``filter_cfg`` (``filter_empty_gt``, ``min_size``) outside ``test_mode``, as mmdet does."""
        if self.test_mode or self.filter_cfg is None:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        return [
            info for info in self.data_list
            if (info['instances'] or not filter_empty_gt) and min(info['width'], info['height']) >= min_size
        ]

    def _bad(self, image_id, ann_id, reason: str) -> None:
        self.bad_entries.append(dict(file=self.ann_file, image_id=image_id, ann_id=ann_id, reason=reason))

    def _report(self, num_images: int, num_anns: int) -> None:
        if not self.bad_entries:
            return
        counts = Counter(e['reason'] for e in self.bad_entries)
        summary = ', '.join(f'{reason}: {n}' for reason, n in counts.items())
        shown = [
            f'  {e["file"]}: image_id={e["image_id"]} ann_id={e["ann_id"]}: {e["reason"]}'
            for e in self.bad_entries[:NUM_LOGGED_BAD_ENTRIES]
        ]
        MMLogger.get_current_instance().warning(
            f'{type(self).__name__}: skipped {len(self.bad_entries)} bad entries in {self.ann_file} '
            f'({num_images} images, {num_anns} annotations) — {summary}. First {len(shown)}:\n'
            + '\n'.join(shown) + '\nAll of them are in `dataset.bad_entries`.')


def _is_size(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 1
