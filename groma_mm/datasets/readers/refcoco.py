"""RefCOCO / RefCOCO+ / RefCOCOg: referring expression comprehension and RefCOCOg region captions.

Two public formats are read directly:

1. **refer** (github.com/lichengunc/refer): ``refs(unc).p`` / ``refs(umd).p`` / ``refs(google).p``, a pickled
   list of refs ``{ref_id, ann_id, image_id, split, category_id, sent_ids, sentences: [{sent_id, sent, raw,
   tokens}], file_name}``, next to ``instances.json`` (COCO: ``images`` with ``file_name`` / ``height`` /
   ``width``, ``annotations`` with ``bbox`` as ``[x, y, w, h]``). Every split lives in one pickle; pick it
   with ``split`` ('train', 'val', 'testA', 'testB', 'test'). The ref's own ``file_name`` carries an
   annotation suffix (``COCO_train2014_…_16.jpg``); the image file name comes from ``instances.json``.
   The pickle is read with an unpickler that accepts only plain data (dicts, lists, strings, numbers) and
   refuses any class, so a crafted file cannot run code.
2. **MDETR** (``final_refcoco_train.json``, ``finetune_refcocog_val.json``, Groma's ``refcoco_train.json``):
   COCO json whose every ``images`` entry is one (ref, sentence): ``file_name``, ``height``, ``width``,
   ``caption``, ``original_id`` (COCO image id; ``original_img_id`` in some files), optional
   ``sentence_id`` (``sent_id``), ``ann_id``, ``ref_id`` and ``tokens_positive_eval``; its ``annotations``
   (``bbox`` ``[x, y, w, h]``, ``original_id`` = COCO annotation id, ``tokens_positive``) are the referred
   object. The referred COCO annotation is the entry's ``ann_id``, else the annotations' ``original_id``,
   else their own ``id`` (which in converted files numbers the entries, not the objects). One file per split;
   the split is taken from ``split`` or the file name (``…_testA.json``). The official Groma REC files
   (``refcoco_val.json``, …) have this layout too.

The expression is the refer ``sent`` field (lower-case, tokenized; ``sentence_key='raw'`` for the raw text),
which is also what MDETR's ``caption`` holds.
"""
import io
import os.path as osp
import pickle
import re
from collections import Counter
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.fileio import get, load

from groma_mm.datasets.readers.base import (GromaBaseDataset, as_bboxes, caption_case, clean_text, image_size,
                                            roi_reply, xywh_box)
from groma_mm.registry import DATASETS

_SPLIT_IN_NAME = re.compile(r'[_\-.](train|val|testA|testB|test)\.json$')


class _PlainDataUnpickler(pickle.Unpickler):
    """Loads only builtin containers and scalars: the refer pickles need no class, and refusing all of
    them keeps a crafted annotation file from executing code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f'refusing to load {module}.{name}: refer pickles hold plain data only')


def load_plain_pickle(data: bytes):
    """Unpickle plain data; Python 2 pickles with non-ASCII ``str`` fall back to latin-1 decoding."""
    try:
        return _PlainDataUnpickler(io.BytesIO(data)).load()
    except UnicodeDecodeError:
        return _PlainDataUnpickler(io.BytesIO(data), encoding='latin1').load()


def split_from_file_name(path: str) -> Optional[str]:
    """'final_refcoco_testA.json' → 'testA'; None when the name has no split."""
    match = _SPLIT_IN_NAME.search(osp.basename(path))
    return match.group(1) if match else None


def dataset_name_from_path(path: str, refer: bool) -> str:
    """'refcoco+/refs(unc).p' → 'refcoco+' (refer: the folder); 'final_refcocog_val.json' → 'refcocog'
    (MDETR: the file name without MDETR's prefixes and the split)."""
    if refer:
        return osp.basename(osp.dirname(osp.abspath(path)))
    name = _SPLIT_IN_NAME.sub('', osp.basename(path))
    name = name[:-len('.json')] if name.endswith('.json') else name
    for prefix in ('final_', 'finetune_'):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


class _ReferringDataset(GromaBaseDataset):
    """Reads refer or MDETR files into records: one referred object with its sentences.

    Args:
        split (str, optional): refer format: the split to keep (None keeps all); MDETR format: the split
            recorded in ``gt`` (default: from the file name).
        instances_file (str, optional): refer format: the COCO json with the images and boxes; relative
            paths are under ``data_root``. Defaults to ``instances.json`` beside ``ann_file``.
        sentence_key (str): refer format: the sentence field used, 'sent' (default) or 'raw'.
        ann_format (str): 'refer', 'mdetr' or 'auto' (a ``.p``/``.pkl`` file is refer, else MDETR).
        dataset_name (str, optional): prefix of the split recorded in ``gt['split']``
            (``'refcoco+_testA'``), so that metrics keep RefCOCO val and RefCOCO+ val apart. None: the refer
            folder name, or the MDETR file name without ``final_``/``finetune_`` and the split; '' for none.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    def __init__(self, *args, split: Optional[str] = None, instances_file: Optional[str] = None,
                 sentence_key: str = 'sent', ann_format: str = 'auto', dataset_name: Optional[str] = None,
                 **kwargs) -> None:
        if ann_format not in ('auto', 'refer', 'mdetr'):
            raise ValueError(f"ann_format must be 'auto', 'refer' or 'mdetr', got {ann_format!r}")
        self.dataset_name = dataset_name
        self.split = split
        self.instances_file = instances_file
        self.sentence_key = sentence_key
        self.ann_format = ann_format
        super().__init__(*args, **kwargs)

    def _sample(self, rec: dict, question: str, reply: str, gt: dict) -> dict:
        """One single-round sample about a ref: its image, boxes, the Q/A pair and the ref's ground truth."""
        return dict(
            img_path=osp.join(self.img_prefix, rec['file_name']),
            img_id=rec['img_id'],
            height=rec['height'],
            width=rec['width'],
            conversation=[dict(role='user', content=question), dict(role='assistant', content=reply)],
            bboxes=as_bboxes(rec['boxes']),
            task=self.TASK,
            grounding=False,
            gt=dict(gt_bboxes=as_bboxes(rec['boxes']), split=rec['split'], ref_id=rec['ref_id'],
                    ann_ids=rec['ann_ids'], **gt))

    def _is_refer(self) -> bool:
        if self.ann_format != 'auto':
            return self.ann_format == 'refer'
        return self.ann_file.endswith(('.p', '.pkl', '.pickle'))

    def records(self) -> Iterator[dict]:
        """Yield ``dict(where, file_name, height, width, img_id, boxes, ann_ids, sentences=[(sent_id, text)],
        ref_id, category_id, split)`` per referred object (refer) or per entry (MDETR); ``split`` is the
        labelled one (``dataset_name``)."""
        refer = self._is_refer()
        name = dataset_name_from_path(self.ann_file, refer) if self.dataset_name is None else self.dataset_name
        for rec in (self._refer_records() if refer else self._mdetr_records()):
            if name and rec['split'] is not None:
                rec['split'] = f'{name}_{rec["split"]}'
            yield rec

    def _refer_records(self) -> Iterator[dict]:
        refs = load_plain_pickle(get(self.ann_file, backend_args=self.backend_args))
        if not isinstance(refs, list):
            raise ValueError(f'{self.ann_file}: expected a pickled list of refs, got {type(refs).__name__}')
        instances_file = (self.join_root(self.instances_file) if self.instances_file else
                          osp.join(osp.dirname(self.ann_file), 'instances.json'))
        instances = load(instances_file, file_format='json', backend_args=self.backend_args)
        images = {img.get('id'): img for img in instances.get('images') or []}
        anns = {ann.get('id'): ann for ann in instances.get('annotations') or []}
        splits = Counter(ref.get('split') for ref in refs if isinstance(ref, dict))
        if self.split is not None and self.split not in splits:
            raise ValueError(f'{self.ann_file} has no split {self.split!r}; its splits: {dict(splits)}')

        for i, ref in enumerate(refs):
            if not isinstance(ref, dict):
                self.bad(dict(index=i), 'malformed ref')
                continue
            if self.split is not None and ref.get('split') != self.split:
                continue
            where = dict(index=i, ref_id=ref.get('ref_id'))
            img = images.get(ref.get('image_id'))
            if img is None:
                self.bad(where, f'unknown image id (not in {osp.basename(instances_file)})',
                         image_id=ref.get('image_id'))
                continue
            if not img.get('file_name'):
                self.bad(where, 'invalid image entry', image_id=ref.get('image_id'))
                continue
            ann = anns.get(ref.get('ann_id'))
            if ann is None:
                self.bad(where, f'unknown annotation id (not in {osp.basename(instances_file)})',
                         ann_id=ref.get('ann_id'))
                continue
            height, width = image_size(img)
            box, reason = xywh_box(ann.get('bbox'), height, width)
            if reason is not None:
                self.bad(where, reason, ann_id=ref.get('ann_id'))
                continue
            sentences = []
            for j, sent in enumerate(ref.get('sentences') or []):
                text = sent.get(self.sentence_key) if isinstance(sent, dict) else None
                text = clean_text(text) if isinstance(text, str) else ''
                if not text:
                    self.bad(where, 'empty sentence', sentence=j)
                    continue
                sentences.append((sent.get('sent_id'), text))
            if not ref.get('sentences'):
                self.bad(where, 'no sentences')
            if not sentences:
                continue
            yield dict(where=where, file_name=img['file_name'], height=height, width=width, img_id=img.get('id'),
                       boxes=[box], ann_ids=[ann.get('id')], sentences=sentences, ref_id=ref.get('ref_id'),
                       category_id=ref.get('category_id', ann.get('category_id')), split=ref.get('split'))

    def _mdetr_records(self) -> Iterator[dict]:
        coco = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        anns_by_image: Dict[object, List[dict]] = {}
        for ann in coco.get('annotations') or []:
            anns_by_image.setdefault(ann.get('image_id'), []).append(ann)
        split = split_from_file_name(self.ann_file)
        for i, img in enumerate(coco.get('images') or []):
            where = dict(index=i, image_id=img.get('id'))
            caption = img.get('caption')
            caption = clean_text(caption) if isinstance(caption, str) else ''
            if not img.get('file_name'):
                self.bad(where, 'invalid image entry')
                continue
            if not caption:
                self.bad(where, 'no caption')
                continue
            anns = anns_by_image.get(img.get('id'), [])
            if not anns:
                self.bad(where, 'no box')
                continue
            height, width = image_size(img)
            boxes, ok = [], True
            for ann in anns:
                box, reason = xywh_box(ann.get('bbox'), height, width)
                if reason is not None:
                    # The expression names this object: dropping its box would make the sample wrong.
                    self.bad(where, reason, ann_id=ann.get('id'))
                    ok = False
                boxes.append(box)
            if not ok:
                continue
            img_id = img.get('original_img_id', img.get('original_id', img.get('id')))
            ann_ids = img.get('ann_id', [a.get('original_id', a.get('id')) for a in anns])
            yield dict(where=where, file_name=img['file_name'], height=height, width=width, img_id=img_id,
                       boxes=boxes, ann_ids=list(ann_ids) if isinstance(ann_ids, (list, tuple)) else [ann_ids],
                       sentences=[(img.get('sentence_id', img.get('sent_id')), caption)], ref_id=img.get('ref_id'),
                       category_id=anns[0].get('category_id'), split=self.split or img.get('split', split))


@DATASETS.register_module()
class RefCOCODataset(_ReferringDataset):
    """Referring expression comprehension (RefCOCO / RefCOCO+ / RefCOCOg; paper Table 1 "REC").

    One sample per (ref, sentence)::

        user:      "Locate <p>{expression}</p> in the image."        (an Appendix A 'rec' template)
        assistant: "<roi><box0></roi>"                                 (the official reply: the box alone)
        bboxes:    the referred box, xyxy; task='rec', grounding=False
        gt:        gt_bboxes (1, 4) xyxy, split ('refcoco_testA', see ``dataset_name``), expression, ref_id,
                   ann_ids, sent_id, category_id

    Bad entries (skipped, reported): refs of unknown images or annotations, image entries without a file
    name, missing/degenerate/outside boxes, empty sentences, missing image files. A ``split`` the refer
    file does not have raises ``ValueError`` (a configuration error, not a bad entry).

    Args: see :class:`_ReferringDataset` and :class:`GromaBaseDataset`.
    """

    TASK = 'rec'

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        index = 0
        for rec in self.records():
            for sent_id, text in rec['sentences']:
                sample = self._sample(
                    rec, self.instruction(index, expression=text), roi_reply(range(len(rec['boxes']))),
                    dict(expression=text, sent_id=sent_id, category_id=rec['category_id']))
                yield dict(rec['where'], sent_id=sent_id), sample
                index += 1


@DATASETS.register_module()
class RefCOCOgRegionCaptionDataset(_ReferringDataset):
    """Region captions from referring expressions (RefCOCOg in the paper, Table 1 "Region caption").

    One sample per (ref, sentence), or per ref with all its sentences as ``gt_captions`` when
    ``group_sentences`` (the default in ``test_mode``, where captioning metrics want every reference)::

        user:      "Please describe <box0> in details."               (a 'detailed_region_caption' template)
        assistant: the sentence, first letter upper-cased ("Man in a red shirt holding a racket")
        bboxes:    the ref's box; task='region_caption', grounding=False
        gt:        gt_captions [str] (cleaned, original case), gt_bboxes (1, 4), split, ref_id, ann_ids, sent_ids

    The question asks for a detailed description (the 'detailed_region_caption' templates, as the official
    RefCOCOg caption data): RefCOCOg expressions are long, and only such a prompt makes the model write a
    long caption.

    MDETR files hold one entry per sentence; grouping merges the entries of one ref (its ``ref_id``, else the
    same image and annotation). Entries that refer to several boxes cannot be region-captioned and are
    reported.

    Args:
        group_sentences (bool, optional): one sample per ref; None → ``test_mode``.
        **kwargs: see :class:`_ReferringDataset` and :class:`GromaBaseDataset`.
    """

    TASK = 'region_caption'
    INSTRUCTION_TASK = 'detailed_region_caption'

    def __init__(self, *args, group_sentences: Optional[bool] = None, **kwargs) -> None:
        self.group_sentences = group_sentences
        super().__init__(*args, **kwargs)

    def _grouped_records(self) -> Iterator[dict]:
        group = self.test_mode if self.group_sentences is None else self.group_sentences
        if not group or self._is_refer():  # refer refs already hold all their sentences
            yield from self.records()
            return
        merged: Dict[tuple, dict] = {}
        for rec in self.records():
            key = ('ref', rec['ref_id']) if rec['ref_id'] is not None else (rec['file_name'], rec['img_id'],
                                                                            tuple(rec['ann_ids']))
            if key in merged:
                merged[key]['sentences'] += rec['sentences']
            else:
                merged[key] = dict(rec, sentences=list(rec['sentences']))
        yield from merged.values()

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        group = self.test_mode if self.group_sentences is None else self.group_sentences
        index = 0
        for rec in self._grouped_records():
            if len(rec['boxes']) != 1:
                self.bad(rec['where'], f'a region caption needs exactly one box, got {len(rec["boxes"])}')
                continue
            units = [rec['sentences']] if group else [[s] for s in rec['sentences']]
            for sentences in units:
                sample = self._sample(
                    rec, self.instruction(index, task=self.INSTRUCTION_TASK, region='<box0>'),
                    caption_case(sentences[0][1]),
                    dict(gt_captions=[text for _, text in sentences], sent_ids=[sent_id for sent_id, _ in sentences]))
                yield dict(rec['where'], sent_ids=sample['gt']['sent_ids']), sample
                index += 1
