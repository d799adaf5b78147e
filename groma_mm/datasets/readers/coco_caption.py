"""COCO Captions → image captions (paper Table 1 "Image caption" task; Appendix A 'caption' templates).

Public format (cocodataset.org, ``annotations/captions_train2017.json`` / ``captions_val2017.json``;
Karpathy-split files in the same layout work too): ``images`` (``id``, ``file_name``, ``height``,
``width``) and ``annotations`` (``image_id``, ``id``, ``caption``), about five captions per image.

In training, one sample per caption::

    user:      "Describe the following image."   (an Appendix A 'caption' template)
    assistant: the caption, whitespace cleaned, first letter upper-cased
    bboxes:    (0, 4); task='caption', grounding=False; gt: gt_captions [every caption of the image]

In ``test_mode`` (or with ``group_captions=True``) one sample per image, answered with its first caption,
every caption a reference in ``gt_captions`` (what captioning metrics score against).

Bad entries (skipped, reported; ``index`` = position in ``annotations``, or in ``images`` for image
problems): captions of unknown images, empty captions, image entries without a file name, images without
any caption, missing image files.
"""
import os.path as osp
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.fileio import load

from groma_mm.datasets.readers.base import GromaBaseDataset, as_bboxes, caption_case, clean_text, image_size
from groma_mm.registry import DATASETS


@DATASETS.register_module()
class COCOCaptionDataset(GromaBaseDataset):
    """Image captions from a COCO captions json (module docstring).

    Args:
        group_captions (bool, optional): one sample per image instead of per caption; None → ``test_mode``.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'caption'

    def __init__(self, *args, group_captions: Optional[bool] = None, **kwargs) -> None:
        self.group_captions = group_captions
        super().__init__(*args, **kwargs)

    def _captions(self, coco: dict) -> Dict[object, List[str]]:
        image_ids = {img.get('id') for img in coco.get('images') or [] if isinstance(img, dict)}
        captions: Dict[object, List[str]] = defaultdict(list)
        for i, ann in enumerate(coco.get('annotations') or []):
            where = dict(index=i, ann_id=ann.get('id'), image_id=ann.get('image_id'))
            if ann.get('image_id') not in image_ids:
                self.bad(where, 'unknown image id')
                continue
            text = ann.get('caption')
            text = clean_text(text) if isinstance(text, str) else ''
            if not text:
                self.bad(where, 'empty caption')
                continue
            captions[ann['image_id']].append(caption_case(text))
        return captions

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        coco = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        captions = self._captions(coco)
        grouped = self.test_mode if self.group_captions is None else self.group_captions
        index = 0
        for j, img in enumerate(coco.get('images') or []):
            where = dict(index=j, file=self.ann_file, image_id=img.get('id'))
            if not img.get('file_name'):
                self.bad(where, 'invalid image entry (no file_name)')
                continue
            texts = captions.get(img.get('id'))
            if not texts:
                self.bad(where, 'image without captions')
                continue
            height, width = image_size(img)
            for text in texts[:1] if grouped else texts:
                conversation = [dict(role='user', content=self.instruction(index)),
                                dict(role='assistant', content=text)]
                sample = dict(img_path=osp.join(self.img_prefix, img['file_name']), img_id=img.get('id'),
                              height=height, width=width, conversation=conversation, bboxes=as_bboxes([]),
                              task=self.TASK, grounding=False, gt=dict(gt_captions=list(texts)))
                yield where, sample
                index += 1
