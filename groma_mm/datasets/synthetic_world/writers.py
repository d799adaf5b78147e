"""Records of the public dataset formats, built from synthetic scenes.

Every format names images the way its public original does, and every image lives in the world's one
``images/`` folder as ``{image_id}.jpg``: COCO/RefCOCO ``file_name``, Visual Genome ``{image_id}.jpg``
(the basename of ``url``), Flickr30k ``{image_id}.jpg`` (``Sentences/{image_id}.txt``), and the
``image`` / ``file_name`` of the chat jsons are all relative to that folder.
"""
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

from .captions import Piece
from .scene import SHAPES, Scene, shape_segmentation

CATEGORIES = [dict(id=k + 1, name=shape, supercategory='shape') for k, shape in enumerate(SHAPES)]
CATEGORY_IDS = {c['name']: c['id'] for c in CATEGORIES}


# ------------------------------------------------------------------------------------------------ COCO
def coco_image(scene: Scene) -> dict:
    return dict(id=scene.image_id, file_name=scene.file_name, width=scene.width, height=scene.height)


def coco_annotations(scene: Scene, ann_ids: Sequence[int]) -> List[dict]:
    """One COCO annotation per shape: full-extent ``bbox`` (xywh), visible ``area``, polygon of the shape."""
    return [
        dict(id=ann_id, image_id=scene.image_id, category_id=CATEGORY_IDS[obj.shape], bbox=list(obj.bbox),
             area=obj.area, iscrowd=0, segmentation=shape_segmentation(obj.shape, obj.block))
        for obj, ann_id in zip(scene.objects, ann_ids)
    ]


def coco_dataset(images: List[dict], annotations: List[dict], description: str) -> dict:
    return dict(info=dict(description=description, version='1.0', year=2024), licenses=[], images=images,
                annotations=annotations, categories=CATEGORIES)


# --------------------------------------------------------------------------------------------- RefCOCO
def refer_ref(scene: Scene, obj_index: int, ann_id: int, ref_id: int, first_sent_id: int,
              sentences: Sequence[str]) -> dict:
    """A ref of lichengunc/refer's ``refs(unc).p``; ``split`` is the scene's split ('train' | 'val')."""
    sent_ids = list(range(first_sent_id, first_sent_id + len(sentences)))
    stem = scene.file_name.rsplit('.', 1)[0]
    return dict(
        sent_ids=sent_ids,
        file_name=f'{stem}_{ann_id}.jpg',  # as in refer: image stem + suffix; readers use instances.json
        ann_id=ann_id,
        ref_id=ref_id,
        image_id=scene.image_id,
        split=scene.split,
        sentences=[dict(tokens=s.split(), raw=s, sent_id=k, sent=s) for k, s in zip(sent_ids, sentences)],
        category_id=CATEGORY_IDS[scene.objects[obj_index].shape])


# -------------------------------------------------------------------------------------- Visual Genome
def vg_image_data(scene: Scene) -> dict:
    """An ``image_data.json`` entry; ``url`` is relative to the world root, its basename is the file."""
    return dict(width=scene.width, url=f'images/{scene.file_name}', height=scene.height, image_id=scene.image_id,
                coco_id=None, flickr_id=None)


def vg_regions(scene: Scene, captions: Sequence[str], first_region_id: int) -> dict:
    """A ``region_descriptions.json`` entry: ``{'regions': [...], 'id': image_id}``."""
    regions = []
    for k, (obj, phrase) in enumerate(zip(scene.objects, captions)):
        x, y, w, h = obj.bbox
        regions.append(dict(region_id=first_region_id + k, width=w, height=h, image_id=scene.image_id,
                            phrase=phrase, y=y, x=x))
    return dict(regions=regions, id=scene.image_id)


# ------------------------------------------------------------------------------- Flickr30k Entities
def flickr_files(scene: Scene, sentences: Sequence[Sequence[Piece]], entities: Dict[str, Optional[List[int]]],
                 first_entity_id: int) -> Tuple[str, str, int]:
    """The ``Sentences/{id}.txt`` text and ``Annotations/{id}.xml`` text of one image.

    Entity (chain) ids are numbered from ``first_entity_id``. Boxes are written as PASCAL VOC does, in
    1-based inclusive pixel coordinates (the official ``flickr30k_entities_utils.get_annotations``
    subtracts 1): a shape covering 0-based pixel columns ``x … x+w-1`` has ``xmin = x+1``, ``xmax = x+w``.
    Each ``<object>`` has one ``<name>`` (that util reads only the first), so a box of two chains is
    written twice; the background is a scene object (``<nobndbox>0</nobndbox><scene>1</scene>``).

    Returns:
        (sentences text, xml text, next free entity id)
    """
    ids = {key: first_entity_id + k for k, key in enumerate(entities)}
    lines = []
    for sentence in sentences:
        lines.append(''.join(p if isinstance(p, str) else f'[/EN#{ids[p[0]]}/{p[1]} {p[2]}]' for p in sentence))

    root = ET.Element('annotation')
    ET.SubElement(root, 'filename').text = scene.file_name
    size = ET.SubElement(root, 'size')
    for tag, value in (('width', scene.width), ('height', scene.height), ('depth', 3)):
        ET.SubElement(size, tag).text = str(value)
    for key, indices in entities.items():
        if indices is None:
            obj = ET.SubElement(root, 'object')
            ET.SubElement(obj, 'name').text = str(ids[key])
            ET.SubElement(obj, 'nobndbox').text = '0'
            ET.SubElement(obj, 'scene').text = '1'
            continue
        for i in indices:
            x, y, w, h = scene.objects[i].bbox
            obj = ET.SubElement(root, 'object')
            ET.SubElement(obj, 'name').text = str(ids[key])
            box = ET.SubElement(obj, 'bndbox')
            for tag, value in (('xmin', x + 1), ('ymin', y + 1), ('xmax', x + w), ('ymax', y + h)):
                ET.SubElement(box, tag).text = str(value)
    ET.indent(root)
    xml = ET.tostring(root, encoding='unicode') + '\n'
    return '\n'.join(lines) + '\n', xml, first_entity_id + len(entities)


# ------------------------------------------------------------------------------------------ chat jsons
def sharegpt4v_entry(scene: Scene, question: str, caption: str) -> dict:
    """A ShareGPT-4V-PT caption sample (LLaVA conversation format)."""
    return dict(id=str(scene.image_id), image=scene.file_name,
                conversations=[{'from': 'human', 'value': f'<image>\n{question}'},
                               {'from': 'gpt', 'value': caption}])


def llava_entry(scene: Scene, pairs: Sequence[Tuple[str, str]]) -> dict:
    """A LLaVA-Instruct sample; ``<image>`` opens the first human turn."""
    conversations = []
    for k, (question, answer) in enumerate(pairs):
        conversations.append({'from': 'human', 'value': f'<image>\n{question}' if k == 0 else question})
        conversations.append({'from': 'gpt', 'value': answer})
    return dict(id=str(scene.image_id), image=scene.file_name, conversations=conversations)


def groma_instruct_entry(scene: Scene, messages: List[dict]) -> dict:
    """A Groma-Instruct sample: ``boxes`` (xywh) of every shape and messages whose ``box_inds`` index them."""
    return dict(id=str(scene.image_id), file_name=scene.file_name, height=scene.height, width=scene.width,
                boxes=[list(o.bbox) for o in scene.objects], conversation=messages)
