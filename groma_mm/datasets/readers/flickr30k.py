"""Flickr30k Entities → grounded captions (paper Table 1 "Grounded caption").

Two public formats are read directly:

1. **Flickr30k Entities** (github.com/BryanPlummer/flickr30k_entities): ``ann_file`` is a split list
   (``train.txt`` / ``val.txt`` / ``test.txt``, one image id per line); under ``data_root``,
   ``Sentences/{id}.txt`` has five captions, one per line, with entity markup
   ``[/EN#18/people A man] with [/EN#19/clothing pierced ears] is wearing …`` (entity id, then one or more
   types; ``EN#0`` / ``notvisual`` phrases have no box), and ``Annotations/{id}.xml`` (PASCAL VOC style)
   has ``<filename>``, ``<size><width><height>`` and per box an ``<object>`` with one or more ``<name>``
   (entity ids) and ``<bndbox><xmin><ymin><xmax><ymax>`` (1-based inclusive pixel indices, converted
   by :func:`voc_box_to_xyxy`), or ``<nobndbox>``/``<scene>`` instead. An entity may have several boxes
   ("two men"), and one box may serve several entities.
2. **MDETR** (``final_flickr_separateGT_train.json``, Groma's ``flickr_entities_train.json``): COCO json
   whose ``images`` entries are one (image, caption) each (``caption``, ``file_name``, ``height``,
   ``width``, ``original_img_id``, ``sentence_id``) and whose ``annotations`` carry ``bbox``
   (``[x, y, w, h]``) and ``tokens_positive`` (character spans of the caption naming the box). MDETR wrote
   ``[xmin, ymin, xmax - xmin, ymax - ymin]`` from the xml as is; these boxes are read as COCO boxes, so
   they sit 1 px right/down of the raw format's on their left/top edges.

The caption text is the annotation's own (Flickr's tokenized words joined by single spaces, e.g. "… hat .").
"""
import os.path as osp
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.fileio import get_text, load

from groma_mm.datasets.readers.base import (GromaBaseDataset, as_bboxes, grounded_phrase, image_size, xywh_box,
                                            xyxy_box)
from groma_mm.registry import DATASETS

Span = Tuple[int, int]


def parse_entities_sentence(line: str) -> Tuple[str, List[dict]]:
    """Parse one Flickr30k Entities sentence.

    Returns:
        ``(sentence, phrases)``: the plain sentence (words joined by one space) and per marked phrase
        ``dict(phrase, span=(start, end) chars in sentence, entity_id=int, types=[str])``.

    Raises:
        ValueError: an unclosed ``[`` phrase or a malformed entity tag.
    """
    words: List[str] = []
    phrases: List[dict] = []
    current: Optional[dict] = None
    for token in line.split():
        if current is not None:
            closes = token.endswith(']')
            word = token[:-1] if closes else token
            if word:
                current['words'].append(word)
                words.append(word)
            if closes:
                if not current['words']:
                    raise ValueError('empty phrase')
                phrases.append(current)
                current = None
        elif token.startswith('[/EN#'):
            parts = token[1:].split('/')  # ['', 'EN#18', 'people', ...]
            try:
                entity_id = int(parts[1][3:])
            except (IndexError, ValueError):
                raise ValueError(f'malformed entity tag {token!r}') from None
            current = dict(first=len(words), words=[], entity_id=entity_id, types=parts[2:])
        else:
            words.append(token)
    if current is not None:
        raise ValueError('unclosed phrase (missing "]")')
    sentence = ' '.join(words)
    out = []
    for p in phrases:
        start = sum(len(w) + 1 for w in words[:p['first']])
        text = ' '.join(p['words'])
        out.append(dict(phrase=text, span=(start, start + len(text)), entity_id=p['entity_id'], types=p['types']))
    return sentence, out


def voc_box_to_xyxy(box: Sequence[float]) -> List[float]:
    """PASCAL VOC / Flickr30k Entities ``[xmin, ymin, xmax, ymax]`` (1-based, inclusive pixel indices) →
    ``[x1, y1, x2, y2]`` in continuous pixel coordinates (COCO's): the box covering 0-based pixels
    ``x … x+w-1`` is ``xmin = x+1, xmax = x+w`` in the file and ``[x, …, x+w, …]`` here. (The official
    ``flickr30k_entities_utils`` subtracts 1 from all four, giving inclusive 0-based indices.)"""
    xmin, ymin, xmax, ymax = box
    return [xmin - 1, ymin - 1, xmax, ymax]


def ground_caption(caption: str, spans: Sequence[Tuple[Span, List[int]]]) -> Tuple[str, List[dict]]:
    """Wrap character spans of ``caption`` as ``<p>…</p> <roi><boxK>…</roi>``.

    Args:
        caption: plain text.
        spans: ``((start, end), box_ids)``; spans without boxes are left plain; a span overlapping an earlier
            one is left plain too (the markup cannot nest).

    Returns:
        ``(grounded text, [dict(phrase, span, box_inds)])`` of the phrases that were wrapped, in text order.
    """
    merged: Dict[Span, List[int]] = {}
    for span, box_ids in spans:
        if box_ids:
            ids = merged.setdefault(tuple(span), [])
            ids.extend(k for k in box_ids if k not in ids)
    out, phrases, cursor = [], [], 0
    for (start, end), box_ids in sorted(merged.items()):
        if start < cursor or not 0 <= start < end <= len(caption):
            continue
        phrase = caption[start:end].strip()
        if not phrase:
            continue
        out.append(caption[cursor:start])
        out.append(grounded_phrase(phrase, box_ids))
        phrases.append(dict(phrase=phrase, span=(start, end), box_inds=list(box_ids)))
        cursor = end
    out.append(caption[cursor:])
    return ''.join(out), phrases


@DATASETS.register_module()
class Flickr30kEntitiesDataset(GromaBaseDataset):
    """Grounded captions from Flickr30k Entities; one sample per (image, caption)::

        user:      "Give me a short description of the image."   (an Appendix A 'grounded_caption' template)
        assistant: "<p>A man</p> <roi><box0></roi> with <p>pierced ears</p> <roi><box1></roi> is wearing …"
        bboxes:    the boxes of the caption's phrases, numbered in order of first mention
        task='grounded_caption', grounding=True (the prompt builder adds "[grounding]")
        gt:        gt_captions [plain caption], gt_bboxes (M, 4), phrases [dict(phrase, span, box_inds)],
                   sentence_id

    A phrase whose entity has several boxes gets all of them (``<roi><box0><box1></roi>``); a box shared by
    several entities is one box. Phrases without boxes stay plain text.

    Bad entries (skipped, reported with their file and line/object index): unreadable or malformed
    sentence lines, unreadable xml, degenerate or outside boxes (that box is dropped), missing image files.

    Args:
        ann_file (str): a split list (``train.txt``) or an MDETR-style json (chosen by the ``.json`` suffix).
        sentences_dir (str): raw format: folder of ``{id}.txt``, under ``data_root`` (without one: beside
            ``ann_file``). Defaults to 'Sentences'.
        annotations_dir (str): raw format: folder of ``{id}.xml``. Defaults to 'Annotations'.
        **kwargs: see :class:`GromaBaseDataset`.
    """

    TASK = 'grounded_caption'

    def __init__(self, *args, sentences_dir: str = 'Sentences', annotations_dir: str = 'Annotations',
                 **kwargs) -> None:
        self.sentences_dir = sentences_dir
        self.annotations_dir = annotations_dir
        super().__init__(*args, **kwargs)

    def parse(self) -> Iterator[Tuple[dict, dict]]:
        units = self._mdetr_units() if self.ann_file.endswith('.json') else self._entities_units()
        for index, (where, unit) in enumerate(units):
            reply, phrases = ground_caption(unit['caption'], unit['spans'])
            sample = dict(
                img_path=osp.join(self.img_prefix, unit['file_name']),
                img_id=unit['img_id'],
                height=unit['height'],
                width=unit['width'],
                conversation=[dict(role='user', content=self.instruction(index)),
                              dict(role='assistant', content=reply)],
                bboxes=as_bboxes(unit['boxes']),
                task=self.TASK,
                grounding=True,
                gt=dict(gt_captions=[unit['caption']], gt_bboxes=as_bboxes(unit['boxes']), phrases=phrases,
                        sentence_id=unit['sentence_id']))
            yield where, sample

    # ----------------------------------------------------------------------------------- raw format
    def _entities_units(self) -> Iterator[Tuple[dict, dict]]:
        lines = get_text(self.ann_file, backend_args=self.backend_args).splitlines()
        for i, line in enumerate(lines):
            image_id = line.strip()
            if not image_id:
                continue
            xml_path = osp.join(self._folder(self.annotations_dir), f'{image_id}.xml')
            txt_path = osp.join(self._folder(self.sentences_dir), f'{image_id}.txt')
            try:
                image = self._read_xml(xml_path)
                sentences = get_text(txt_path, backend_args=self.backend_args).splitlines()
            except (OSError, ET.ParseError, ValueError) as e:
                self.bad(dict(index=i, image_id=image_id), f'unreadable annotation: {type(e).__name__}: {e}')
                continue
            file_name = image['file_name'] or f'{image_id}.jpg'
            for j, sentence_line in enumerate(sentences):
                if not sentence_line.strip():
                    continue
                where = dict(file=txt_path, index=j, image_id=image_id)
                try:
                    caption, phrases = parse_entities_sentence(sentence_line)
                except ValueError as e:
                    self.bad(where, f'malformed sentence: {e}')
                    continue
                object_to_box: Dict[int, int] = {}
                spans = []
                for phrase in phrases:
                    ids = []
                    for obj in image['entity_objects'].get(phrase['entity_id'], ()):
                        ids.append(object_to_box.setdefault(obj, len(object_to_box)))
                    spans.append((phrase['span'], ids))
                boxes = [image['object_boxes'][obj] for obj in object_to_box]  # dicts keep first-use order
                yield where, dict(caption=caption, spans=spans, boxes=boxes, file_name=file_name,
                                  img_id=_int_or_str(image_id), height=image['height'], width=image['width'],
                                  sentence_id=j)

    def _folder(self, name: str) -> str:
        """``Sentences`` / ``Annotations`` under ``data_root``, else beside the split list."""
        if osp.isabs(name):
            return name
        return osp.join(self.data_root or osp.dirname(self.ann_file), name)

    def _read_xml(self, path: str) -> dict:
        root = ET.fromstring(get_text(path, backend_args=self.backend_args))
        size = root.find('size')
        height, width = (None, None)
        if size is not None:
            try:
                height, width = image_size(dict(height=float(size.findtext('height')),
                                                width=float(size.findtext('width'))))
            except (TypeError, ValueError):
                pass
        entity_objects: Dict[int, List[int]] = defaultdict(list)
        object_boxes: Dict[int, List[float]] = {}
        for k, obj in enumerate(root.findall('object')):
            bndbox = obj.find('bndbox')
            if bndbox is None or len(bndbox) == 0:  # <nobndbox> / <scene>: entity without a box
                continue
            try:
                raw = voc_box_to_xyxy([float(bndbox.findtext(t)) for t in ('xmin', 'ymin', 'xmax', 'ymax')])
            except (TypeError, ValueError):
                raw = None
            box, reason = xyxy_box(raw, height, width)
            if reason is not None:
                self.bad(dict(file=path, index=k), reason)
                continue
            object_boxes[k] = box
            for name in obj.findall('name'):
                try:
                    entity_id = int(name.text)
                except (TypeError, ValueError):
                    continue
                if entity_id > 0:  # EN#0 marks non-visual phrases
                    entity_objects[entity_id].append(k)
        return dict(file_name=(root.findtext('filename') or '').strip(), height=height, width=width,
                    entity_objects=entity_objects, object_boxes=object_boxes)

    # --------------------------------------------------------------------------------- MDETR format
    def _mdetr_units(self) -> Iterator[Tuple[dict, dict]]:
        coco = load(self.ann_file, file_format='json', backend_args=self.backend_args)
        anns_by_image: Dict[object, List[dict]] = defaultdict(list)
        for ann in coco.get('annotations') or []:
            anns_by_image[ann.get('image_id')].append(ann)
        for i, img in enumerate(coco.get('images') or []):
            where = dict(index=i, image_id=img.get('id'))
            caption = img.get('caption')
            if not img.get('file_name') or not isinstance(caption, str) or not caption.strip():
                self.bad(where, 'invalid image entry (needs file_name and caption)')
                continue
            # tokens_positive index the caption as stored: it is not cleaned.
            height, width = image_size(img)
            boxes, spans = [], []
            for ann in anns_by_image.get(img.get('id'), ()):
                box, reason = xywh_box(ann.get('bbox'), height, width)
                if reason is not None:
                    self.bad(where, reason, ann_id=ann.get('id'))
                    continue
                k = len(boxes)
                boxes.append(box)
                for span in ann.get('tokens_positive') or []:
                    if isinstance(span, (list, tuple)) and len(span) == 2:
                        spans.append(((int(span[0]), int(span[1])), [k]))
            boxes, spans = _drop_unused_boxes(boxes, spans)
            yield where, dict(caption=caption, spans=spans, boxes=boxes, file_name=img['file_name'],
                              img_id=img.get('original_img_id', img.get('id')), height=height, width=width,
                              sentence_id=img.get('sentence_id'))


def _drop_unused_boxes(boxes: list, spans: list) -> Tuple[list, list]:
    """Keep only boxes some span names, renumbered in order of first mention in the text (as the raw
    reader numbers them)."""
    order: Dict[int, int] = {}
    for (start, _), ids in sorted(spans, key=lambda s: s[0]):
        for k in ids:
            order.setdefault(k, len(order))
    return [boxes[k] for k in order], [(span, [order[k] for k in ids]) for span, ids in spans]


def _int_or_str(value: str):
    return int(value) if value.isdigit() else value
