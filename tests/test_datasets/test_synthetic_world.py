"""The synthetic grounding world: deterministic, every public format parses the way its official tools read
it, boxes are the drawn shapes, referring expressions are unique, splits are disjoint."""
import json
import os
import os.path as osp
import pickle
import re
import xml.etree.ElementTree as ET
from collections import Counter

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from groma_mm.datasets.synthetic_world import (COLOURS, SHAPES, Description, Scene, Shape, generate_world, match,
                                               parse_expression, referring_expressions, sample_scene,
                                               shape_mask, shortest_unique)
from groma_mm.datasets.synthetic_world.captions import NUMBERS
from groma_mm.datasets.synthetic_world.expressions import attribute_words_suffice
from groma_mm.datasets.synthetic_world.rec_levels import rec_reference_levels
from groma_mm.datasets.synthetic_world.scene import MIN_VISIBLE

NUM_TRAIN, NUM_VAL, SEED = 12, 6, 7


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    return generate_world(str(tmp_path_factory.mktemp('world')), NUM_TRAIN, NUM_VAL, seed=SEED)


def _load(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def scenes(world):
    return {s['image_id']: s for s in _load(world['scenes'])}


def _files(root):
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


# -------------------------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_other_world(world, tmp_path):
    again = generate_world(str(tmp_path / 'again'), NUM_TRAIN, NUM_VAL, seed=SEED)
    first, second = _files(world['root']), _files(again['root'])
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []

    other = _files(generate_world(str(tmp_path / 'other'), NUM_TRAIN, NUM_VAL, seed=SEED + 1)['root'])
    images = [k for k in first if k.startswith('images')]
    assert sum(first[k] != other.get(k) for k in images) > len(images) // 2
    assert first['refcoco/refs(unc).p'] != other['refcoco/refs(unc).p']


def test_val_scenes_do_not_depend_on_the_train_size(world, tmp_path):
    smaller = generate_world(str(tmp_path / 'small'), 3, NUM_VAL, seed=SEED)

    def val_objects(path):
        # ids shift with the train size; the scenes themselves must not change
        return [[{k: v for k, v in o.items() if k != 'ann_id'} for o in s['objects']] for s in _load(path)
                if s['split'] == 'val']

    assert val_objects(smaller['scenes']) == val_objects(world['scenes'])


# ---------------------------------------------------------------------------------------------- COCO
def test_coco_parses_and_boxes_lie_inside_the_images(world):
    for split, num in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        coco = COCO(world['coco'][split])
        assert len(coco.getImgIds()) == num
        assert [coco.cats[k]['name'] for k in sorted(coco.cats)] == list(SHAPES)
        for ann in coco.dataset['annotations']:
            img = coco.imgs[ann['image_id']]
            x, y, w, h = ann['bbox']
            assert w >= 1 and h >= 1 and x >= 0 and y >= 0 and x + w <= img['width'] and y + h <= img['height']
            assert 0 < ann['area'] <= w * h and ann['iscrowd'] == 0
            assert coco.annToMask(ann).sum() > 0.5 * ann['area']  # the polygon covers the shape
        for img in coco.dataset['images']:
            pixels = cv2.imread(osp.join(world['images'], img['file_name']))
            assert pixels.shape == (img['height'], img['width'], 3)


def test_boxes_are_the_drawn_shapes(world, scenes):
    """Tight box of the shape's colour around each unoccluded shape == its annotated box (±1 px for JPEG)."""
    checked = 0
    for scene in scenes.values():
        img = cv2.cvtColor(cv2.imread(osp.join(world['images'], scene['file_name'])), cv2.COLOR_BGR2RGB)
        for k, obj in enumerate(scene['objects']):
            x, y, w, h = obj['bbox']
            x0, y0, x1, y1 = max(x - 3, 0), max(y - 3, 0), min(x + w + 3, img.shape[1]), min(y + h + 3, img.shape[0])
            neighbours = [o for j, o in enumerate(scene['objects']) if j != k and o['colour'] == obj['colour']]
            if obj['area'] < obj['full_area'] or any(
                    o['bbox'][0] < x1 and o['bbox'][0] + o['bbox'][2] > x0 and o['bbox'][1] < y1
                    and o['bbox'][1] + o['bbox'][3] > y0 for o in neighbours):
                continue
            close = np.abs(img[y0:y1, x0:x1].astype(int) - COLOURS[obj['colour']]).max(axis=2) < 60
            ys, xs = np.nonzero(close)
            found = [x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1]
            assert np.abs(np.array(found) - [x, y, x + w, y + h]).max() <= 1, (scene['image_id'], obj, found)
            checked += 1
    assert checked >= 20


def test_occlusion_is_recorded_and_bounded(scenes):
    occluded = 0
    for s in scenes.values():
        scene = Scene.from_dict({k: v for k, v in s.items()})
        labels = np.full((scene.height, scene.width), -1)
        for k, obj in enumerate(scene.objects):
            labels[shape_mask(obj.shape, obj.block, scene.height, scene.width)] = k
        for k, obj in enumerate(scene.objects):
            assert (labels == k).sum() == obj.area
            assert obj.visible >= MIN_VISIBLE
            assert all(j > k for j, _ in obj.occluders)  # only later shapes cover earlier ones
            occluded += obj.area < obj.full_area
    assert occluded >= 2


# ------------------------------------------------------------------------------------------- RefCOCO
def test_refer_pickle_indexes_like_lichengunc_refer(world, scenes):
    instances = _load(world['refcoco']['instances'])
    with open(world['refcoco']['refs'], 'rb') as f:
        refs = pickle.load(f)
    anns = {a['id']: a for a in instances['annotations']}
    imgs = {i['id']: i for i in instances['images']}
    assert len(imgs) == NUM_TRAIN + NUM_VAL
    assert len({r['ref_id'] for r in refs}) == len(refs)
    sent_ids = [s['sent_id'] for r in refs for s in r['sentences']]
    assert len(set(sent_ids)) == len(sent_ids)
    for ref in refs:  # what REFER.createIndex and getRefBox do
        ann = anns[ref['ann_id']]
        assert ann['image_id'] == ref['image_id'] and ref['image_id'] in imgs
        assert ann['category_id'] == ref['category_id']
        assert ref['split'] == scenes[ref['image_id']]['split']
        assert ref['sent_ids'] == [s['sent_id'] for s in ref['sentences']]
        for s in ref['sentences']:
            assert s['tokens'] == s['sent'].split() and s['raw'] == s['sent']
    assert {r['split'] for r in refs} == {'train', 'val'}


def test_written_expressions_are_unique_by_the_matcher(world, scenes):
    with open(world['refcoco']['refs'], 'rb') as f:
        refs = pickle.load(f)
    for ref in refs:
        scene = Scene.from_dict(scenes[ref['image_id']])
        target = [o['ann_id'] for o in scenes[ref['image_id']]['objects']].index(ref['ann_id'])
        for sent in ref['sentences']:
            assert match(parse_expression(sent['sent']), scene) == [target], sent['sent']


def test_expressions_of_many_scenes_are_unique_and_use_every_level():
    used, objects, described = Counter(), 0, 0
    for index in range(250):
        scene, _ = sample_scene(3, 'train', index, index + 1)
        expressions = referring_expressions(scene, np.random.default_rng(index))
        objects += len(scene.objects)
        described += len(expressions)
        for t, texts in expressions.items():
            for k, text in enumerate(texts):
                desc = parse_expression(text)
                assert desc.text == text
                assert match(desc, scene) == [t], (index, text)
                used['size' if desc.size else 'no size'] += 1
                used[desc.relation or ('position' if desc.position else 'attributes')] += 1
            first = parse_expression(texts[0])
            assert first == shortest_unique(scene, t)
    assert described >= 0.95 * objects
    for level in ('attributes', 'size', 'position', 'left of', 'right of', 'above', 'below', 'behind', 'in front of'):
        assert used[level] > 0, used


def _shape(shape, colour, size, x, y, side, occluders=()):
    area = side * side
    return Shape(shape=shape, colour=colour, size=size, block=[x, y, x + side, y + side], bbox=[x, y, side, side],
                 full_area=area, area=area - sum(n for _, n in occluders), occluders=[list(o) for o in occluders])


def test_matcher_sees_ambiguity_and_the_generator_resolves_it():
    scene = Scene(image_id=1, split='train', file_name='1.jpg', width=112, height=112, background=128, objects=[
        _shape('circle', 'red', 'small', 5, 50, 16),
        _shape('circle', 'red', 'small', 90, 50, 16),
        _shape('circle', 'red', 'large', 40, 75, 34),
        _shape('square', 'blue', 'small', 45, 5, 16),
    ])
    assert match(parse_expression('the red circle'), scene) == [0, 1, 2]
    assert match(parse_expression('the small red circle'), scene) == [0, 1]
    assert match(parse_expression('the small red circle on the left'), scene) == [0]
    assert match(parse_expression('the red circle right of the blue square'), scene) == [1]
    assert match(parse_expression('the red circle at the bottom'), scene) == [2]
    assert shortest_unique(scene, 2).text == 'the large red circle'
    assert shortest_unique(scene, 0).text == 'the red circle on the left'
    assert shortest_unique(scene, 3).text == 'the blue square'
    assert match(Description('square', 'blue', position='top'), scene) == [3]

    hidden = Scene(image_id=2, split='train', file_name='2.jpg', width=112, height=112, background=128, objects=[
        _shape('star', 'green', 'large', 30, 30, 40, occluders=[(2, 300)]),
        _shape('star', 'green', 'large', 30, 72, 38),
        _shape('triangle', 'purple', 'small', 50, 50, 16),
    ])
    assert match(parse_expression('the green star behind the purple triangle'), hidden) == [0]
    assert match(parse_expression('the purple triangle in front of the green star'), hidden) == [2]
    with pytest.raises(ValueError):
        parse_expression('the red circle near the blue square')


def _two_red_circles_and_a_square():
    return Scene(image_id=1, split='val', file_name='1.jpg', width=112, height=112, background=128, objects=[
        _shape('circle', 'red', 'small', 5, 50, 16),
        _shape('circle', 'red', 'small', 90, 50, 16),
        _shape('square', 'blue', 'small', 45, 5, 16),
    ])


def test_attribute_words_suffice_only_when_layout_words_are_not_needed():
    scene = _two_red_circles_and_a_square()
    assert attribute_words_suffice(parse_expression('the blue square'), scene, 2)
    assert attribute_words_suffice(parse_expression('the blue square at the top'), scene, 2)
    assert not attribute_words_suffice(parse_expression('the red circle on the left'), scene, 0)
    assert not attribute_words_suffice(parse_expression('the red circle right of the blue square'), scene, 1)
    # Words that name another object do not count for the target.
    assert not attribute_words_suffice(parse_expression('the blue square'), scene, 0)


def _write_world_files(root, scene, refs):
    (root / 'refcoco').mkdir(parents=True)
    (root / 'scenes.json').write_text(json.dumps([scene.to_dict()]))
    (root / 'refcoco' / 'refs(unc).p').write_bytes(pickle.dumps(refs))


def test_rec_reference_levels_count_the_expressions_words_alone_resolve(tmp_path):
    scene = _two_red_circles_and_a_square()
    for obj, ann_id in zip(scene.objects, (11, 12, 13)):
        obj.ann_id = ann_id
    sentences = lambda *texts: [dict(sent=t) for t in texts]  # noqa: E731
    refs = [dict(ref_id=0, image_id=1, ann_id=11, split='val', sentences=sentences('the red circle on the left')),
            dict(ref_id=1, image_id=1, ann_id=13, split='val',
                 sentences=sentences('the blue square', 'the blue square above the red circle')),
            dict(ref_id=2, image_id=1, ann_id=12, split='train', sentences=sentences('the red circle on the right'))]
    _write_world_files(tmp_path / 'ok', scene, refs)
    assert rec_reference_levels(str(tmp_path / 'ok'), 'val') == dict(expressions=3,
                                                                      attribute_words_suffice=pytest.approx(200 / 3))
    assert rec_reference_levels(str(tmp_path / 'ok'), 'train') == dict(expressions=1, attribute_words_suffice=0.0)
    with pytest.raises(ValueError, match='no REC expressions'):
        rec_reference_levels(str(tmp_path / 'ok'), 'test')
    _write_world_files(tmp_path / 'bad', scene, [dict(refs[0], ann_id=99)])
    with pytest.raises(ValueError, match=r'ref 0 names image 1 / annotation 99'):
        rec_reference_levels(str(tmp_path / 'bad'), 'val')
    _write_world_files(tmp_path / 'odd', scene, [dict(refs[0], sentences=sentences('the red circle near a star'))])
    with pytest.raises(ValueError, match=r"refs\(unc\).p: ref 0: not a synthetic-world expression"):
        rec_reference_levels(str(tmp_path / 'odd'), 'val')


def test_rec_reference_levels_of_a_generated_world(world):
    root = osp.dirname(world['scenes'])
    with open(osp.join(root, 'refcoco', 'refs(unc).p'), 'rb') as f:
        refs = pickle.load(f)
    levels = rec_reference_levels(root, 'val')
    assert levels['expressions'] == sum(len(r['sentences']) for r in refs if r['split'] == 'val')
    # Generated scenes repeat colour-shape pairs now and then: some expressions need their layout words.
    assert 0 < levels['attribute_words_suffice'] < 100


# ---------------------------------------------------------------------------------------- Visual Genome
def test_visual_genome_regions(world, scenes):
    regions = _load(world['vg']['region_descriptions'])
    image_data = {d['image_id']: d for d in _load(world['vg']['image_data'])}
    assert [e['id'] for e in regions] == sorted(scenes)
    phrase = re.compile(r'^an? (small|large) ({}) ({}) (at|on|in) the [a-z ]+$'.format('|'.join(COLOURS),
                                                                                  '|'.join(SHAPES)))
    for entry in regions:
        meta = image_data[entry['id']]
        assert osp.basename(meta['url']) == f'{entry["id"]}.jpg'
        assert osp.isfile(osp.join(world['images'], osp.basename(meta['url'])))
        objs = scenes[entry['id']]['objects']
        assert len(entry['regions']) == len(objs)
        for region, obj in zip(entry['regions'], objs):
            assert region['image_id'] == entry['id']
            assert [region['x'], region['y'], region['width'], region['height']] == obj['bbox']
            assert region['x'] + region['width'] <= meta['width'] and region['y'] + region['height'] <= meta['height']
            m = phrase.match(region['phrase'])
            assert m and m.groups()[:3] == (obj['size'], obj['colour'], obj['shape']), region['phrase']
    splits = _load(world['vg']['splits'])
    assert not set(splits['train']) & set(splits['val'])
    for split in ('train', 'val'):
        assert [e['id'] for e in _load(world['vg'][split])] == splits[split]


# ---------------------------------------------------------------------------------- Flickr30k Entities
def _official_sentence_phrases(line):
    """flickr30k_entities_utils.get_sentence_data for one line: [(phrase_id, types, phrase)]."""
    out, current, words, add = [], [], [], False
    for token in line.split():
        if add:
            if token[-1] == ']':
                add = False
                current.append(token[:-1])
                out[-1] = out[-1] + (' '.join(current), )
                current = []
            else:
                current.append(token)
        elif token[0] == '[':
            add = True
            parts = token.split('/')
            out.append((parts[1][3:], parts[2:]))
        else:
            words.append(token)
    return out


def _official_annotations(path):
    """flickr30k_entities_utils.get_annotations."""
    root = ET.parse(path).getroot()
    info = {'boxes': {}, 'scene': [], 'nobox': []}
    for el in root.findall('size')[0]:
        info[el.tag] = int(el.text)
    for obj in root.findall('object'):
        box_id = obj.findall('name')[0].text
        box = obj.findall('bndbox')
        if box:
            info['boxes'].setdefault(box_id, []).append(
                [int(box[0].findall(t)[0].text) - 1 for t in ('xmin', 'ymin', 'xmax', 'ymax')])
        else:
            if int(obj.findall('nobndbox')[0].text) > 0:
                info['nobox'].append(box_id)
            if int(obj.findall('scene')[0].text) > 0:
                info['scene'].append(box_id)
    return info


def test_flickr30k_entities_read_by_the_official_utils(world, scenes):
    root = world['flickr30k']['root']
    ids = {}
    for split in ('train', 'val'):
        with open(world['flickr30k'][split]) as f:
            ids[split] = [int(line) for line in f if line.strip()]
        assert all(scenes[i]['split'] == split for i in ids[split])
    assert not set(ids['train']) & set(ids['val']) and len(ids['train']) + len(ids['val']) == len(scenes)
    for image_id, scene in scenes.items():
        info = _official_annotations(osp.join(root, 'Annotations', f'{image_id}.xml'))
        assert (info['width'], info['height'], info['depth']) == (scene['width'], scene['height'], 3)
        # 0-based inclusive pixel boxes, i.e. COCO's [x, y, x + w - 1, y + h - 1]
        expected = {(o['bbox'][0], o['bbox'][1], o['bbox'][0] + o['bbox'][2] - 1, o['bbox'][1] + o['bbox'][3] - 1)
                    for o in scene['objects']}
        assert {tuple(b) for boxes in info['boxes'].values() for b in boxes} == expected
        with open(osp.join(root, 'Sentences', f'{image_id}.txt')) as f:
            lines = [line for line in f.read().split('\n') if line]
        assert len(lines) == 2
        objects_in_phrases = 0
        for line in lines:
            for phrase_id, types, phrase in _official_sentence_phrases(line):
                if types == ['scene']:
                    assert phrase_id in info['scene'] and phrase == 'a grey background'
                    continue
                assert types == ['other'] and phrase_id in info['boxes'], (line, phrase_id)
                objects_in_phrases += len(info['boxes'][phrase_id])
                words = phrase.lower().split()
                shapes = {b for b in words if b.rstrip('s') in SHAPES}
                assert len(shapes) == 1
                if len(info['boxes'][phrase_id]) > 1:
                    assert words[0] == NUMBERS[len(info['boxes'][phrase_id])]
        assert objects_in_phrases == 2 * len(scene['objects'])  # each sentence covers every shape once


# --------------------------------------------------------------------------------------------- chats
def test_caption_and_chat_jsons(world, scenes):
    for split in ('train', 'val'):
        for key in ('sharegpt4v', 'llava'):
            samples = _load(world[key][split])
            assert {int(s['id']) for s in samples} == {i for i, s in scenes.items() if s['split'] == split}
            for sample in samples:
                conv = sample['conversations']
                assert [c['from'] for c in conv] == ['human', 'gpt'] * (len(conv) // 2)
                assert conv[0]['value'].startswith('<image>\n')
                assert sum(c['value'].count('<image>') for c in conv) == 1
                assert osp.isfile(osp.join(world['images'], sample['image']))
        counted = 0
        for sample in _load(world['llava'][split]):
            objs = scenes[int(sample['id'])]['objects']
            conv = sample['conversations']
            for question, answer in zip(conv[0::2], conv[1::2]):
                m = re.search(r'How many (\w+)s are there in the image\?', question['value'])
                if m and m.group(1) in SHAPES:
                    n = sum(o['shape'] == m.group(1) for o in objs)
                    assert answer['value'].split()[2] == NUMBERS[n], (answer, n)
                    counted += 1
        for sample in _load(world['groma_instruct'][split]):
            scene = scenes[int(sample['id'])]
            assert sample['boxes'] == [o['bbox'] for o in scene['objects']]
            assert (sample['width'], sample['height']) == (scene['width'], scene['height'])
            for k, message in enumerate(sample['conversation']):
                assert message['from'] == ('human', 'gpt')[k % 2]
                inds = message['box_inds'] or []
                assert message['value'].count('<region>') == len(inds)
                assert all(0 <= i < len(sample['boxes']) for i in inds)
                if re.fullmatch(r'What colour is <region>\?', message['value']):
                    reply = sample['conversation'][k + 1]['value']
                    assert reply == f'It is {scene["objects"][inds[0]]["colour"]}.'
    long = _load(world['sharegpt4v']['train'])[0]['conversations'][1]['value']
    assert long.startswith('The image shows') and 'grey background' in long


def test_splits_are_disjoint_everywhere(world, scenes):
    train, val = (_load(world['coco'][s]) for s in ('train', 'val'))
    assert not {i['id'] for i in train['images']} & {i['id'] for i in val['images']}
    assert not {i['file_name'] for i in train['images']} & {i['file_name'] for i in val['images']}
    assert not {a['id'] for a in train['annotations']} & {a['id'] for a in val['annotations']}
    for key in ('sharegpt4v', 'llava', 'groma_instruct'):
        ids = [{s['id'] for s in _load(world[key][split])} for split in ('train', 'val')]
        assert not ids[0] & ids[1]
    assert len(os.listdir(world['images'])) == NUM_TRAIN + NUM_VAL


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match='img_size'):
        generate_world(str(tmp_path), 1, 1, img_size=16)
    with pytest.raises(ValueError, match='objects'):
        generate_world(str(tmp_path), 1, 1, min_objects=4, max_objects=3)
