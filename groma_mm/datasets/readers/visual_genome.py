"""Visual Genome region descriptions → region captions (paper Table 1 "Region caption").

Public format (visualgenome.org, v1.2):

- ``region_descriptions.json``: a list with one entry per image, ``{"id": image_id, "regions": [{"region_id",
  "image_id", "phrase", "x", "y", "width", "height"}, ...]}`` (boxes are ``x, y, width, height`` pixels);
- ``image_data.json``: a list of ``{"image_id" (or "id" in v1.0), "width", "height", "url", "coco_id",
  "flickr_id"}``. It gives the image sizes and, through ``url``
  (``…/VG_100K_2/1.jpg``), the sub-folder of each image in the official ``VG_100K`` / ``VG_100K_2`` layout.
"""
import os.path as osp
from typing import Dict, Iterator, List, Optional, Set, Tuple

import numpy as np
from mmengine.fileio import get_text, load

from groma_mm.datasets.readers.base import (GromaBaseDataset, as_bboxes, caption_case, clean_text, image_size,
                                            xywh_box)
from groma_mm.registry import DATASETS


def box_iou(box: List[float], boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with (K, 4) xyxy boxes."""
    if len(boxes) == 0:
        return np.zeros(0)
    lt = np.maximum(boxes[:, :2], box[:2])
    rb = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-6)


@DATASETS.register_module()
class VGRegionCaptionDataset(GromaBaseDataset):
    """Region captions from Visual Genome ``region_descriptions.json`` (``ann_file``).

    With ``regions_per_sample=1`` (default) one sample per region::

        user:      "What is <box0>?"                    (an Appendix A 'region_caption' template)
        assistant: the phrase, whitespace cleaned, first letter upper-cased ("Man wearing a red hat")
        bboxes:    the region, xyxy clipped to the image; task='region_caption', grounding=False
        gt:        gt_captions [phrase], gt_bboxes (1, 4), region_ids

    With ``regions_per_sample=N > 1`` the regions of an image are asked in turn, N rounds per sample (the
    official multi-round VG data): round k asks about ``<box{k}>`` and ``gt`` lists every region's caption.
    ``dedup_iou`` then drops a region whose box overlaps an earlier kept one of the same image by at least that
    IoU (VG has many near-duplicate boxes with different phrases; Groma applies NMS at 0.6), in file order.
    ``samples_per_image`` keeps only an image's first samples: the official stage-3 data (``MultiRoundsVG``)
    asks at most 10 regions of each image once per epoch, i.e. ``regions_per_sample=10, dedup_iou=0.6,
    samples_per_image=1``.

    Bad entries (skipped, reported, ``index`` = position in ``region_descriptions.json``, plus
    ``region_id``): malformed, degenerate or outside boxes, empty phrases, missing image files. Images absent
    from ``image_data.json`` keep ``height``/``width`` None and their boxes unclipped.

    Args:
        image_data_file (str, optional): ``image_data.json``, relative to ``data_root``. Without it sizes are
            None and file names are ``{image_id}.jpg``.
        path_from_url (bool): take the image's sub-folder from ``url`` (``VG_100K_2/1.jpg``); False gives
            ``{image_id}.jpg`` directly under the image folder (a merged folder). Defaults to True.
        image_ids_file (str, optional): keep only these images: a json list, a text file with one id per
            line, or DenseCap's ``densecap_splits.json`` (``{"train": [...], "val": [...], "test": [...]}``)
            with ``image_ids_key`` naming the split.
        image_ids_key (str, optional): the split of a DenseCap splits file.
        regions_per_sample (int): rounds per sample. Defaults to 1.
        dedup_iou (float, optional): see above; only used when ``regions_per_sample > 1``.
        samples_per_image (int, optional): at most this many samples per image; None → all of them.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'region_caption'

    def __init__(self, *args, image_data_file: Optional[str] = None, path_from_url: bool = True,
                 image_ids_file: Optional[str] = None, image_ids_key: Optional[str] = None,
                 regions_per_sample: int = 1, dedup_iou: Optional[float] = None,
                 samples_per_image: Optional[int] = None, **kwargs) -> None:
        if regions_per_sample < 1:
            raise ValueError(f'regions_per_sample must be >= 1, got {regions_per_sample}')
        if samples_per_image is not None and samples_per_image < 1:
            raise ValueError(f'samples_per_image must be >= 1 or None, got {samples_per_image}')
        self.samples_per_image = samples_per_image
        self.image_data_file = image_data_file
        self.path_from_url = path_from_url
        self.image_ids_file = image_ids_file
        self.image_ids_key = image_ids_key
        self.regions_per_sample = regions_per_sample
        self.dedup_iou = dedup_iou
        super().__init__(*args, **kwargs)

    def _image_infos(self) -> Dict[int, dict]:
        if not self.image_data_file:
            return {}
        infos = {}
        for info in load(self.join_root(self.image_data_file), file_format='json', backend_args=self.backend_args):
            image_id = info.get('image_id', info.get('id'))
            if image_id is not None:
                infos[image_id] = info
        return infos

    def _kept_ids(self) -> Optional[Set]:
        if not self.image_ids_file:
            return None
        path = self.join_root(self.image_ids_file)
        if path.endswith('.json'):
            ids = load(path, file_format='json', backend_args=self.backend_args)
            if isinstance(ids, dict):
                if self.image_ids_key not in ids:
                    raise KeyError(f'{path} holds splits {sorted(ids)}: set image_ids_key to one of them')
                ids = ids[self.image_ids_key]
        else:
            ids = [line.strip() for line in get_text(path, backend_args=self.backend_args).splitlines()]
        return {int(i) for i in ids if str(i).strip()}

    def _file_name(self, image_id, info: Optional[dict]) -> str:
        url = (info or {}).get('url')
        if self.path_from_url and isinstance(url, str) and url.count('/') >= 1:
            return '/'.join(url.rstrip('/').split('/')[-2:])
        return f'{image_id}.jpg'

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        entries = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        infos = self._image_infos()
        kept_ids = self._kept_ids()
        index = 0
        for i, entry in enumerate(entries):
            image_id = entry.get('id', entry.get('image_id')) if isinstance(entry, dict) else None
            if image_id is None:
                self.bad(dict(index=i), 'malformed entry (no image id)')
                continue
            if kept_ids is not None and int(image_id) not in kept_ids:
                continue
            info = infos.get(image_id)
            height, width = image_size(info) if info else (None, None)
            regions = []  # (region_id, box, phrase)
            for region in entry.get('regions') or []:
                where = dict(index=i, image_id=image_id, region_id=region.get('region_id'))
                phrase = region.get('phrase')
                phrase = clean_text(phrase) if isinstance(phrase, str) else ''
                if not phrase:
                    self.bad(where, 'empty phrase')
                    continue
                box, reason = xywh_box([region.get(k) for k in ('x', 'y', 'width', 'height')], height, width)
                if reason is not None:
                    self.bad(where, reason)
                    continue
                regions.append((region.get('region_id'), box, phrase))
            if self.regions_per_sample > 1 and self.dedup_iou is not None:
                regions = self._dedup(regions)

            img_path = osp.join(self.img_prefix, self._file_name(image_id, info))
            if self.samples_per_image is not None:
                regions = regions[:self.samples_per_image * self.regions_per_sample]
            for start in range(0, len(regions), self.regions_per_sample):
                chunk = regions[start:start + self.regions_per_sample]
                conversation = []
                for turn, (_, _, phrase) in enumerate(chunk):
                    conversation.append(dict(role='user', content=self.instruction(index, turn, region=f'<box{turn}>')))
                    conversation.append(dict(role='assistant', content=caption_case(phrase)))
                boxes = [box for _, box, _ in chunk]
                sample = dict(
                    img_path=img_path, img_id=image_id, height=height, width=width,
                    conversation=conversation, bboxes=as_bboxes(boxes), task=self.TASK, grounding=False,
                    gt=dict(gt_captions=[phrase for _, _, phrase in chunk], gt_bboxes=as_bboxes(boxes),
                            region_ids=[rid for rid, _, _ in chunk]))
                yield dict(index=i, image_id=image_id, region_ids=sample['gt']['region_ids']), sample
                index += 1

    def _dedup(self, regions: list) -> list:
        kept, kept_boxes = [], np.zeros((0, 4))
        for region in regions:
            if (box_iou(region[1], kept_boxes) < self.dedup_iou).all():
                kept.append(region)
                kept_boxes = np.vstack([kept_boxes, region[1]])
        return kept
