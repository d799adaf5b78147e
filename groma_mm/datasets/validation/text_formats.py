"""Validators for text-with-boxes formats: Flickr30k Entities and LLaVA / ShareGPT-4V / Groma-Instruct chats."""
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List, Optional, Tuple

from .common import (_BOX_K, _ENTITY, _ROLES, BOX_PLACEHOLDERS, ImageChecker, _bad_file, _get, _load_json,
                     _scalar, _xywh_issue, check_box, issue)


# ----------------------------------------------------------------------------------- Flickr30k Entities
def parse_flickr_sentence(line: str) -> List[Tuple[str, List[str], str]]:
    """``[(entity id, types, phrase)]`` of one Sentences line, as the official utils tokenize it.

    Raises:
        ValueError: an unclosed bracket or a malformed ``[/EN#id/type`` header.
    """
    phrases, current = [], None
    for token in line.split():
        if current is None:
            if token.startswith('['):
                m = _ENTITY.match(token)
                if m is None:
                    raise ValueError(f'malformed entity header {token!r}')
                current = (m.group(1), m.group(2).strip('/').split('/'), [])
            elif ']' in token:
                raise ValueError(f'"]" without an open entity at {token!r}')
        else:
            if token.startswith('['):
                raise ValueError(f'entity opened inside another at {token!r}')
            if token.endswith(']'):
                current[2].append(token[:-1])
                phrases.append((current[0], current[1], ' '.join(current[2])))
                current = None
            else:
                current[2].append(token)
    if current is not None:
        raise ValueError(f'entity EN#{current[0]} is never closed')
    return phrases


def validate_flickr30k(root: str, img_dir: Optional[str], image_check: str = 'header',
                       box_tolerance: float = 1.0) -> List[dict]:
    """Issues of a Flickr30k Entities folder: every ``Sentences/*.txt`` with its ``Annotations/*.xml`` and
    the image ids listed by the split files (``train.txt``, ``val.txt``, ``test.txt``) that exist. ``root``
    may also be one split file: then that split's images are checked."""
    checker = ImageChecker(image_check if img_dir else 'none')
    split_files = [osp.join(root, f'{split}.txt') for split in ('train', 'val', 'test')]
    if osp.isfile(root):
        split_files, root = [root], osp.dirname(osp.abspath(root))
    sent_dir, ann_dir = osp.join(root, 'Sentences'), osp.join(root, 'Annotations')
    if not osp.isdir(sent_dir) or not osp.isdir(ann_dir):
        return [issue(root, None, None, 'bad_format', 'a Flickr30k Entities folder has Sentences/ and Annotations/')]
    out: List[dict] = []
    ids = sorted((n[:-4] for n in os.listdir(sent_dir) if n.endswith('.txt')), key=lambda s: (len(s), s))
    known, listed = set(ids), []
    for split_file in split_files:
        if not osp.isfile(split_file):
            continue
        lines, bad = _read_lines(split_file)
        out += bad
        for k, line in enumerate(lines):
            image_id = line.strip()
            if image_id and image_id not in known:
                out.append(issue(split_file, k, image_id, 'dangling_reference',
                                 f'image {image_id} has no Sentences/{image_id}.txt'))
            elif image_id:
                listed.append(image_id)
    for image_id in (listed if len(split_files) == 1 else ids):
        out += _validate_flickr_image(root, image_id, img_dir, checker, box_tolerance)
    return out


def _read_lines(path: str) -> Tuple[List[str], List[dict]]:
    """The lines of a text file, or none and a ``bad_format`` issue when it is not UTF-8 text."""
    try:
        with open(path, encoding='utf-8') as f:
            return f.read().split('\n'), []
    except (OSError, UnicodeDecodeError) as err:
        return [], _bad_file(path, err)


def _validate_flickr_image(root, image_id, img_dir, checker, tolerance) -> List[dict]:
    sent_file = osp.join(root, 'Sentences', f'{image_id}.txt')
    xml_file = osp.join(root, 'Annotations', f'{image_id}.xml')
    out: List[dict] = []
    names, boxed = set(), 0
    if not osp.isfile(xml_file):
        out.append(issue(sent_file, None, image_id, 'dangling_reference', f'no Annotations/{image_id}.xml'))
        xml_root = None
    else:
        try:
            xml_root = ET.parse(xml_file).getroot()
        except ET.ParseError as err:
            out += _bad_file(xml_file, err)
            xml_root = None
    if xml_root is not None:
        width = _xml_int(xml_root, 'size/width')
        height = _xml_int(xml_root, 'size/height')
        if width is None or height is None:
            out.append(issue(xml_file, None, image_id, 'bad_entry', '<size> lacks an integer width/height'))
        if img_dir:
            filename = xml_root.findtext('filename') or f'{image_id}.jpg'
            found, (width, height) = checker.check(osp.join(img_dir, filename.strip()), xml_file, None, image_id,
                                                   width, height)
            out += found
        for k, obj in enumerate(xml_root.findall('object')):
            obj_names = [n.text.strip() for n in obj.findall('name') if n.text and n.text.strip()]
            if not obj_names:
                out.append(issue(xml_file, k, image_id, 'bad_entry', f'object {k} has no <name>'))
                continue
            names.update(obj_names)
            box = obj.find('bndbox')
            if box is None:
                if obj.find('nobndbox') is None and obj.find('scene') is None:
                    out.append(issue(xml_file, k, obj_names[0], 'bad_entry',
                                     f'object {k} has neither <bndbox> nor <nobndbox>/<scene>'))
                continue
            coords = [_xml_int(box, tag) for tag in ('xmin', 'ymin', 'xmax', 'ymax')]
            if None in coords:
                out.append(issue(xml_file, k, obj_names[0], 'degenerate_box', f'object {k}: <bndbox> lacks integers'))
                continue
            xmin, ymin, xmax, ymax = coords
            # 1-based inclusive pixel indices (PASCAL VOC): pixels xmin-1 … xmax-1, i.e. xyxy [xmin-1, xmax)
            bad = check_box(xmin - 1, ymin - 1, xmax, ymax, width, height, tolerance)
            if bad:
                out.append(issue(xml_file, k, obj_names[0], bad[0],
                                 f'object {k} (entity {obj_names[0]}, VOC box {coords}): {bad[1]}'))
            boxed += 1
    if not osp.isfile(sent_file):
        return out
    lines, bad = _read_lines(sent_file)
    out += bad
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            phrases = parse_flickr_sentence(line)
        except ValueError as err:
            out.append(issue(sent_file, k, image_id, 'bad_entry', f'sentence {k}: {err}'))
            continue
        if xml_root is None:
            continue
        for entity, types, phrase in phrases:
            if entity != '0' and entity not in names:
                out.append(issue(sent_file, k, image_id, 'dangling_reference',
                                 f'sentence {k}: entity EN#{entity} ("{phrase}") has no object in '
                                 f'Annotations/{image_id}.xml'))
    return out


def _xml_int(node, path) -> Optional[int]:
    text = node.findtext(path)
    try:
        return int(float(text))
    except (TypeError, ValueError, OverflowError):  # absent, not a number, NaN, infinite
        return None


# ------------------------------------------------------------------------------------------------- chat
def validate_chat(json_file: str, img_dir: Optional[str], image_check: str = 'header', box_tolerance: float = 1.0,
                  data: Optional[list] = None) -> List[dict]:
    """Issues of a LLaVA / ShareGPT-4V / Groma-Instruct style json (a list of samples)."""
    checker = ImageChecker(image_check if img_dir else 'none')
    if data is None:
        try:
            data = _load_json(json_file)
        except Exception as err:  # noqa: BLE001
            return _bad_file(json_file, err)
    if not isinstance(data, list):
        return [issue(json_file, None, None, 'bad_format', 'a chat json is a list of samples')]
    out: List[dict] = []
    for i, sample in enumerate(data):
        out += _validate_chat_sample(json_file, i, sample, img_dir, checker, box_tolerance)
    return out


def _validate_chat_sample(file, i, sample, img_dir, checker, tolerance) -> List[dict]:
    sid = _get(sample, 'id')
    messages = _get(sample, 'conversations')
    if messages is None:
        messages = _get(sample, 'conversation')
    if not isinstance(messages, list) or not messages:
        return [issue(file, i, sid, 'bad_entry', 'sample needs a non-empty "conversations" (or "conversation") list')]
    out: List[dict] = []
    image = sample.get('image', sample.get('file_name'))
    width, height = sample.get('width'), sample.get('height')
    if image is not None and not isinstance(image, str):
        out.append(issue(file, i, sid, 'bad_entry', f'image {image!r} is not a path'))
        image = None
    if image and img_dir:
        found, (width, height) = checker.check(osp.join(img_dir, image), file, i, sid, width, height)
        out += found
    boxes = sample.get('boxes')
    has_boxes = boxes is not None
    if has_boxes and not isinstance(boxes, list):
        out.append(issue(file, i, sid, 'bad_entry', '"boxes" is not a list'))
        boxes = []
    for k, box in enumerate(boxes or []):
        bad = _xywh_issue(box, width, height, tolerance)
        if bad:
            out.append(issue(file, i, sid, bad[0], f'boxes[{k}]: {bad[1]}', k))
    num_boxes = len(boxes or [])
    roles, num_images = [], 0
    for m, message in enumerate(messages):
        role = _ROLES.get(_scalar(_get(message, 'from') or _get(message, 'role')))
        value = _get(message, 'value') if _get(message, 'value') is not None else _get(message, 'content')
        if role is None or not isinstance(value, str):
            out.append(issue(file, i, sid, 'bad_entry', f'message {m} needs from/role in {sorted(_ROLES)} and a '
                             'string value', m))
            continue
        roles.append(role)
        num_images += value.count('<image>')
        box_inds = message.get('box_inds')
        box_inds = [] if box_inds is None else box_inds
        slots = sum(value.count(t) for t in BOX_PLACEHOLDERS)
        if not isinstance(box_inds, list):
            out.append(issue(file, i, sid, 'bad_entry', f'message {m}: box_inds {box_inds!r} is not a list', m))
            continue
        if slots != len(box_inds):
            out.append(issue(file, i, sid, 'placeholder_mismatch', f'message {m} has {slots} box placeholder(s) '
                             f'({"/".join(BOX_PLACEHOLDERS)}) but {len(box_inds)} box_inds', m))
        for b in box_inds:
            if not isinstance(b, int) or isinstance(b, bool) or not 0 <= b < num_boxes:
                out.append(issue(file, i, sid, 'dangling_reference',
                                 f'message {m}: box_inds entry {b!r} but the sample has {num_boxes} boxes', m))
        for k in _BOX_K.findall(value):
            if int(k) >= num_boxes:
                out.append(issue(file, i, sid, 'dangling_reference',
                                 f'message {m}: <box{k}> but the sample has {num_boxes} boxes', m))
    turns = [r for r in roles if r != 'system']
    if turns and turns != ['user', 'assistant'] * (len(turns) // 2) + ['user'] * (len(turns) % 2):
        out.append(issue(file, i, sid, 'bad_entry', f'messages must alternate human/gpt from human, got {turns}'))
    # LLaVA puts <image> in the text once; Groma-Instruct samples (with boxes) may leave it to the prompt.
    allowed = (0, 1) if has_boxes and image else ((1, ) if image else (0, ))
    if num_images not in allowed:
        out.append(issue(file, i, sid, 'placeholder_mismatch',
                         f'{num_images} <image> placeholder(s) for a sample {"with" if image else "without"} '
                         f'an image (expected {" or ".join(map(str, allowed))})'))
    return out
