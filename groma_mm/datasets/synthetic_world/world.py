"""Write a whole synthetic grounding world to disk, in the public formats of the real datasets.

Layout under ``out_dir`` (``{split}`` is ``train`` and ``val``)::

    images/{image_id}.jpg                      every image of every split (the one image folder)
    annotations/instances_{split}.json         COCO detection (categories = shapes)
    refcoco/instances.json                     COCO format, all images (as lichengunc/refer ships it)
    refcoco/refs(unc).p                        refer pickle: refs with split 'train' / 'val'
    vg/region_descriptions.json                Visual Genome: [{'id', 'regions': [...]}], all images
    vg/image_data.json                         Visual Genome: [{'image_id', 'width', 'height', 'url', ...}]
    vg/densecap_splits.json                    {'train': [image ids], 'val': [...], 'test': []}
    vg/region_descriptions_{split}.json        the same regions, one split per file
    flickr30k/Sentences/{image_id}.txt         Flickr30k Entities sentences
    flickr30k/Annotations/{image_id}.xml       Flickr30k Entities boxes (PASCAL VOC style, 1-based)
    flickr30k/{split}.txt                      image ids of the split
    sharegpt4v/share-captioner_{split}.json    ShareGPT-4V-PT style detailed captions
    llava/llava_instruct_{split}.json          LLaVA-Instruct style chats
    groma_instruct/groma_instruct_{split}.json Groma-Instruct style chats with boxes and box_inds
    scenes.json                                ground truth: every shape's attributes, box, occlusion
    world.json                                 seed, sizes, counts, layout
    README.md                                  this layout, for people

An image maps to its file the same way in every format: ``images/{image_id}.jpg`` (COCO/RefCOCO
``file_name``, VG ``{image_id}.jpg`` = basename of ``url``, Flickr30k ``{image_id}.jpg``, chat ``image`` /
``file_name``). Image ids are unique over the world: train first, then val.
"""
import glob
import json
import os
import os.path as osp
import pickle
import re
from typing import Dict, List

import cv2
import numpy as np

from . import writers
from .captions import (CAPTION_QUESTIONS, grounded_captions, groma_conversation, llava_conversation, long_caption,
                       region_caption)
from .expressions import referring_expressions
from .scene import SPLIT_CODES, sample_scene

SPLITS = ('train', 'val')
# Full-resolution chroma (4:4:4): with the default 4:2:0 the 1-px tips of small stars lose their colour.
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]


def _dump_json(obj, path: str) -> str:
    with open(path, 'w') as f:
        json.dump(obj, f)
    return path


def layout(out_dir: str) -> Dict[str, object]:
    """Paths ``generate_world`` writes (see the module doc)."""
    j = lambda *p: osp.join(out_dir, *p)  # noqa: E731
    per_split = lambda fmt: {s: j(*fmt.format(split=s).split('/')) for s in SPLITS}  # noqa: E731
    return dict(
        root=out_dir,
        images=j('images'),
        coco=per_split('annotations/instances_{split}.json'),
        refcoco=dict(instances=j('refcoco', 'instances.json'), refs=j('refcoco', 'refs(unc).p')),
        vg=dict(region_descriptions=j('vg', 'region_descriptions.json'), image_data=j('vg', 'image_data.json'),
                splits=j('vg', 'densecap_splits.json'), **per_split('vg/region_descriptions_{split}.json')),
        flickr30k=dict(root=j('flickr30k'), **per_split('flickr30k/{split}.txt')),
        sharegpt4v=per_split('sharegpt4v/share-captioner_{split}.json'),
        llava=per_split('llava/llava_instruct_{split}.json'),
        groma_instruct=per_split('groma_instruct/groma_instruct_{split}.json'),
        scenes=j('scenes.json'),
        world=j('world.json'),
        readme=j('README.md'),
    )


def generate_world(out_dir: str, num_train: int = 64, num_val: int = 16, seed: int = 0, img_size: int = 112,
                   min_objects: int = 2, max_objects: int = 5, progress: bool = False) -> Dict[str, object]:
    """Generate the world (see the module doc for the layout); deterministic given the arguments.

    Scene ``k`` of a split depends only on ``(seed, split, k)``: asking for more training images keeps the
    validation images as they were (their ids shift by the change in ``num_train``).

    Args:
        out_dir: output folder (created; existing files of the layout are overwritten).
        num_train, num_val: images per split.
        seed: world seed.
        img_size: image side in pixels (square images).
        min_objects, max_objects: shapes per image.
        progress: show a progress bar.

    Returns:
        dict of written paths, nested per format as in :func:`layout`; ``world.json`` has the counts.
    """
    if num_train < 0 or num_val < 0:
        raise ValueError(f'image counts must be >= 0, got train={num_train}, val={num_val}')
    paths = layout(out_dir)
    for folder in ('images', 'annotations', 'refcoco', 'vg', 'flickr30k/Sentences', 'flickr30k/Annotations',
                   'sharegpt4v', 'llava', 'groma_instruct'):
        os.makedirs(osp.join(out_dir, folder), exist_ok=True)
    counts = {'train': num_train, 'val': num_val}
    bar = _progress_bar(num_train + num_val, progress)

    image_id, ann_id, ref_id, sent_id, region_id, entity_id = 1, 1, 0, 0, 1, 1
    all_images, all_anns, refs, vg_entries, vg_images, scenes_out = [], [], [], [], [], []
    stats = {}
    for split in SPLITS:
        images, anns, sharegpt, llava, groma = [], [], [], [], []
        vg_split, ids = [], []
        st = dict(images=0, objects=0, occluded=0, refs=0, sentences=0, regions=0, grounded_sentences=0,
                  chats=0)
        for index in range(counts[split]):
            scene, img = sample_scene(seed, split, index, image_id, img_size, min_objects, max_objects)
            cv2.imwrite(osp.join(paths['images'], scene.file_name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                        JPEG_PARAMS)
            text_rng = np.random.default_rng([seed, SPLIT_CODES[split], index, 1])
            ann_ids = list(range(ann_id, ann_id + len(scene.objects)))
            ann_id += len(scene.objects)
            for obj, k in zip(scene.objects, ann_ids):
                obj.ann_id = k

            images.append(writers.coco_image(scene))
            anns += writers.coco_annotations(scene, ann_ids)

            for i, sentences in referring_expressions(scene, text_rng).items():
                refs.append(writers.refer_ref(scene, i, ann_ids[i], ref_id, sent_id, sentences))
                ref_id += 1
                sent_id += len(sentences)
                st['refs'] += 1
                st['sentences'] += len(sentences)

            captions = [region_caption(scene, i) for i in range(len(scene.objects))]
            entry = writers.vg_regions(scene, captions, region_id)
            region_id += len(captions)
            vg_split.append(entry)
            vg_images.append(writers.vg_image_data(scene))

            sentences, entities = grounded_captions(scene)
            text, xml, entity_id = writers.flickr_files(scene, sentences, entities, entity_id)
            stem = str(scene.image_id)
            with open(osp.join(paths['flickr30k']['root'], 'Sentences', f'{stem}.txt'), 'w') as f:
                f.write(text)
            with open(osp.join(paths['flickr30k']['root'], 'Annotations', f'{stem}.xml'), 'w') as f:
                f.write(xml)

            question = CAPTION_QUESTIONS[int(text_rng.integers(len(CAPTION_QUESTIONS)))]
            sharegpt.append(writers.sharegpt4v_entry(scene, question, long_caption(scene)))
            llava.append(writers.llava_entry(scene, llava_conversation(scene, text_rng)))
            groma.append(writers.groma_instruct_entry(scene, groma_conversation(scene, text_rng)))

            scenes_out.append(scene.to_dict())
            ids.append(scene.image_id)
            st['images'] += 1
            st['objects'] += len(scene.objects)
            st['occluded'] += sum(o.area < o.full_area for o in scene.objects)
            st['regions'] += len(captions)
            st['grounded_sentences'] += len(sentences)
            st['chats'] += 1
            image_id += 1
            bar.update(1)

        _dump_json(writers.coco_dataset(images, anns, f'synthetic grounding world, {split}, seed {seed}'),
                   paths['coco'][split])
        _dump_json(vg_split, paths['vg'][split])
        with open(paths['flickr30k'][split], 'w') as f:
            f.write(''.join(f'{i}\n' for i in ids))
        _dump_json(sharegpt, paths['sharegpt4v'][split])
        _dump_json(llava, paths['llava'][split])
        _dump_json(groma, paths['groma_instruct'][split])
        all_images += images
        all_anns += anns
        vg_entries += vg_split
        stats[split] = dict(st, image_ids=[ids[0], ids[-1]] if ids else [])
    bar.close()

    _dump_json(writers.coco_dataset(all_images, all_anns, f'synthetic grounding world, refcoco, seed {seed}'),
               paths['refcoco']['instances'])
    with open(paths['refcoco']['refs'], 'wb') as f:
        pickle.dump(refs, f, protocol=2)
    _dump_json(vg_entries, paths['vg']['region_descriptions'])
    _dump_json(vg_images, paths['vg']['image_data'])
    _dump_json(dict(train=[e['id'] for e in vg_entries if _split_of(scenes_out, e['id']) == 'train'],
                    val=[e['id'] for e in vg_entries if _split_of(scenes_out, e['id']) == 'val'], test=[]),
               paths['vg']['splits'])
    _dump_json(scenes_out, paths['scenes'])
    _dump_json(dict(seed=seed, img_size=img_size, min_objects=min_objects, max_objects=max_objects, splits=stats,
                    layout=_relative(paths, out_dir)), paths['world'])
    with open(paths['readme'], 'w') as f:
        f.write('# Synthetic grounding world\n\nGenerated by groma_mm (`tools/make_synthetic_world.py`), '
                f'seed {seed}, {img_size}x{img_size} images.\n\n```\n{_LAYOUT_DOC}\n```\n\n{_IMAGES_DOC}\n')
    return paths


def world_vocabulary(out_dir: str) -> List[str]:
    """Every word in a written world's annotation text (json, txt, pickle), lower-cased and sorted: the
    vocabulary a word-level toy tokenizer needs for it."""
    words = set()
    for path in glob.glob(osp.join(out_dir, '**', '*'), recursive=True):
        if osp.isfile(path) and path.endswith(('.json', '.txt', '.p')):
            with open(path, 'rb') as f:
                words.update(re.findall(r'[A-Za-z]+', f.read().decode('latin-1')))
    return sorted({w.lower() for w in words})


ATTRIBUTES = ('colour', 'shape', 'size')


def world_objects(out_dir: str) -> Dict[str, List[dict]]:
    """``split`` → every object of a written world's scenes.json: ``dict(img_path, box (x1, y1, x2, y2),
    colour, shape, size)``, in scene order."""
    with open(layout(out_dir)['scenes']) as f:
        scenes = json.load(f)
    objects: Dict[str, List[dict]] = {}
    for scene in scenes:
        path = osp.join(out_dir, 'images', scene['file_name'])
        for obj in scene['objects']:
            x, y, w, h = obj['bbox']
            objects.setdefault(scene['split'], []).append(
                dict(img_path=path, box=[x, y, x + w, y + h], **{a: obj[a] for a in ATTRIBUTES}))
    return objects


def _split_of(scenes: List[dict], image_id: int) -> str:
    # scenes are stored in image-id order starting at 1
    return scenes[image_id - 1]['split']


def _relative(paths, root):
    if isinstance(paths, dict):
        return {k: _relative(v, root) for k, v in paths.items()}
    return osp.relpath(paths, root)


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc='synthetic world', unit='img', disable=not enabled, dynamic_ncols=True)


_LAYOUT_DOC = __doc__.split('::\n\n', 1)[1].split('\n\nAn image maps', 1)[0]
_IMAGES_DOC = 'An image maps' + __doc__.split('\n\nAn image maps', 1)[1].rstrip()
