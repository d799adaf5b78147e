import json
import os.path as osp
import pickle
import runpy

import numpy as np
import pytest

from groma_mm.datasets.instruction_templates import INSTRUCTION_TEMPLATES, sample_instruction
from groma_mm.datasets.readers import RefCOCODataset, RefCOCOgRegionCaptionDataset
from groma_mm.datasets.readers.refcoco import load_plain_pickle
from groma_mm.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
IMG1, IMG2 = 'COCO_train2014_000000000001.jpg', 'COCO_train2014_000000000002.jpg'

INSTANCES = dict(
    images=[dict(id=1, file_name=IMG1, height=100, width=200),
            dict(id=2, file_name=IMG2, height=50, width=50),
            dict(id=3, file_name='COCO_train2014_000000000003.jpg', height=50, width=50)],
    annotations=[dict(id=10, image_id=1, bbox=[10, 20, 30, 40], area=1200, iscrowd=0, category_id=1),
                 dict(id=11, image_id=1, bbox=[150, 50, 100, 100], area=1e4, iscrowd=0, category_id=18),
                 dict(id=12, image_id=2, bbox=[5, 5, 0, 5], area=0, iscrowd=0, category_id=1),
                 dict(id=13, image_id=3, bbox=[1, 1, 10, 10], area=100, iscrowd=0, category_id=1)],
    categories=[dict(id=1, name='person'), dict(id=18, name='dog')])


def _sent(sent_id, sent):
    return dict(sent_id=sent_id, sent=sent, raw=sent.capitalize() + '.', tokens=sent.split())


# refer's refs: the ref file_name carries the annotation id; the image name comes from instances.json.
REFS = [
    dict(ref_id=0, ann_id=10, image_id=1, split='train', category_id=1, sent_ids=[0, 1],
         file_name='COCO_train2014_000000000001_10.jpg',
         sentences=[_sent(0, 'the  man on the left '), _sent(1, 'left guy')]),
    dict(ref_id=1, ann_id=11, image_id=1, split='val', category_id=18, sent_ids=[2],
         file_name='COCO_train2014_000000000001_11.jpg', sentences=[_sent(2, 'dog on the right')]),
    dict(ref_id=2, ann_id=12, image_id=2, split='train', category_id=1, sent_ids=[3],
         file_name='COCO_train2014_000000000002_12.jpg', sentences=[_sent(3, 'flat box')]),
    dict(ref_id=3, ann_id=99, image_id=1, split='train', category_id=1, sent_ids=[4],
         file_name='COCO_train2014_000000000001_99.jpg', sentences=[_sent(4, 'no such annotation')]),
    dict(ref_id=4, ann_id=10, image_id=1, split='train', category_id=1, sent_ids=[5, 6],
         file_name='COCO_train2014_000000000001_10.jpg',
         sentences=[dict(sent_id=5, sent='   ', raw='', tokens=[]), _sent(6, 'the man again')]),
    dict(ref_id=5, ann_id=10, image_id=777, split='testA', category_id=1, sent_ids=[7],
         file_name='COCO_train2014_000000000777_10.jpg', sentences=[_sent(7, 'unknown image')]),
    dict(ref_id=6, ann_id=13, image_id=3, split='train', category_id=1, sent_ids=[8],
         file_name='COCO_train2014_000000000003_13.jpg', sentences=[_sent(8, 'image file is missing')]),
]


@pytest.fixture
def refer_root(tmp_path, touch_images):
    (tmp_path / 'refcoco').mkdir()
    with open(tmp_path / 'refcoco' / 'refs(unc).p', 'wb') as f:
        pickle.dump(REFS, f, protocol=2)  # refer's pickles are Python 2 protocol-2 files
    (tmp_path / 'refcoco' / 'instances.json').write_text(json.dumps(INSTANCES))
    touch_images(tmp_path / 'train2014', IMG1, IMG2)
    return tmp_path


def _refcoco(root, split='train', **kwargs):
    return RefCOCODataset(ann_file='refcoco/refs(unc).p', data_root=str(root), data_prefix=dict(img='train2014'),
                          split=split, **kwargs)


def test_refer_format_one_sample_per_sentence(refer_root, check_contract):
    ds = _refcoco(refer_root)
    assert len(ds) == 3  # ref 0 (two sentences) + ref 4 (one usable sentence)
    s = ds.get_data_info(0)
    assert s['img_path'] == osp.join(str(refer_root), 'train2014', IMG1)
    assert (s['img_id'], s['height'], s['width'], s['task'], s['grounding']) == (1, 100, 200, 'rec', False)
    user = sample_instruction('rec', 0, seed=0, expression='the man on the left')
    assert user in [t.format(expression='the man on the left') for t in INSTRUCTION_TEMPLATES['rec']]
    assert s['conversation'] == [
        dict(role='user', content=user),
        dict(role='assistant', content='<roi><box0></roi>'),
    ]
    # instances.json boxes are [x, y, w, h]; samples hold xyxy.
    np.testing.assert_array_equal(s['bboxes'], np.array([[10, 20, 40, 60]], np.float32))
    assert s['bboxes'].dtype == np.float32
    np.testing.assert_array_equal(s['gt']['gt_bboxes'], [[10, 20, 40, 60]])
    assert s['gt']['split'] == 'refcoco_train' and s['gt']['expression'] == 'the man on the left'
    assert (s['gt']['ref_id'], s['gt']['ann_ids'], s['gt']['sent_id'], s['gt']['category_id']) == (0, [10], 0, 1)
    assert [ds.get_data_info(i)['gt']['expression'] for i in range(3)] == ['the man on the left', 'left guy',
                                                                         'the man again']
    check_contract(ds)


def test_refer_bad_entries_are_skipped_and_reported(refer_root):
    ds = _refcoco(refer_root)
    reasons = {(e['index'], e['reason']) for e in ds.bad_entries}
    assert reasons == {(2, 'degenerate box'), (3, 'unknown annotation id (not in instances.json)'),
                       (4, 'empty sentence'), (6, 'missing image file')}
    for e in ds.bad_entries:
        assert e['file'] == osp.join(str(refer_root), 'refcoco/refs(unc).p')
    assert next(e for e in ds.bad_entries if e['index'] == 4)['sentence'] == 0


def test_refer_split_selection_and_clipping(refer_root):
    ds = _refcoco(refer_root, split='val')
    assert len(ds) == 1
    s = ds.get_data_info(0)
    # [150, 50, 100, 100] runs past the 200×100 image: clipped.
    np.testing.assert_array_equal(s['bboxes'], [[150, 50, 200, 100]])
    assert s['gt']['split'] == 'refcoco_val' and s['gt']['category_id'] == 18
    assert _refcoco(refer_root, split='val', dataset_name='').get_data_info(0)['gt']['split'] == 'val'
    with pytest.raises(ValueError, match="no split 'testB'"):
        _refcoco(refer_root, split='testB')
    everything = _refcoco(refer_root, split=None, check_files=False)
    assert len(everything) == 5  # ref 5 has an unknown image; ref 2 a degenerate box
    assert any(e['reason'].startswith('unknown image id') and e['index'] == 5 for e in everything.bad_entries)


def test_test_mode_serialization_and_registry(refer_root):
    ds = DATASETS.build(dict(type='RefCOCODataset', ann_file='refcoco/refs(unc).p', data_root=str(refer_root),
                             data_prefix=dict(img='train2014'), split='train', test_mode=True,
                             serialize_data=True))
    plain = _refcoco(refer_root, serialize_data=False)
    assert len(ds) == len(plain) == 3
    for i in range(3):
        a, b = ds.get_data_info(i), plain.get_data_info(i)
        assert a['conversation'] == b['conversation']
        np.testing.assert_array_equal(a['bboxes'], b['bboxes'])
        # bboxes and gt boxes are separate arrays (a transform resizing one must not move the other).
        assert a['bboxes'] is not a['gt']['gt_bboxes']
    assert ds.lengths.tolist() == [
        sum(len(m['content']) for m in ds.get_data_info(i)['conversation']) + 1 for i in range(3)]


def test_templates_follow_the_seed(refer_root):
    a, b = _refcoco(refer_root, seed=0), _refcoco(refer_root, seed=0)
    assert [a.get_data_info(i)['conversation'] for i in range(3)] == [b.get_data_info(i)['conversation']
                                                                     for i in range(3)]
    users = {
        _refcoco(refer_root, seed=seed, serialize_data=False).get_data_info(0)['conversation'][0]['content']
        for seed in range(6)}
    assert len(users) > 1  # the seed changes the choice


def test_plain_data_unpickler_refuses_classes():
    evil = pickle.dumps([dict(x=np.float32(1.0))])
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        load_plain_pickle(evil)
    assert load_plain_pickle(pickle.dumps(REFS, protocol=2)) == REFS


# ------------------------------------------------------------------------------------------------ MDETR
def _mdetr_json():
    images = [
        dict(file_name=IMG1, height=100, width=200, id=0, original_id=1, caption='the man on the left',
             dataset_name='refcoco', tokens_negative=[[0, 3]], sentence_id=0, tokens_positive_eval=[[[4, 7]]]),
        dict(file_name=IMG1, height=100, width=200, id=1, original_id=1, caption='left guy', dataset_name='refcoco',
             sentence_id=1),
        dict(file_name=IMG2, height=50, width=50, id=2, original_id=2, dataset_name='refcoco'),  # no caption
        dict(file_name=IMG2, height=50, width=50, id=3, original_id=2, caption='nothing', dataset_name='refcoco'),
        dict(file_name=IMG2, height=50, width=50, id=4, original_id=2, caption='outside', dataset_name='refcoco'),
    ]
    annotations = [
        dict(area=1200, iscrowd=0, image_id=0, category_id=1, id=0, bbox=[10, 20, 30, 40], original_id=10,
             tokens_positive=[[4, 7]]),
        dict(area=1200, iscrowd=0, image_id=1, category_id=1, id=1, bbox=[10, 20, 30, 40], original_id=10,
             tokens_positive=[[5, 8]]),
        dict(area=1, iscrowd=0, image_id=2, category_id=1, id=2, bbox=[1, 1, 5, 5], original_id=12),
        dict(area=1, iscrowd=0, image_id=4, category_id=1, id=3, bbox=[60, 60, 5, 5], original_id=13),
    ]
    return dict(images=images, annotations=annotations, categories=INSTANCES['categories'])


@pytest.fixture
def mdetr_root(tmp_path, touch_images):
    (tmp_path / 'mdetr').mkdir()
    (tmp_path / 'mdetr' / 'final_refcoco_testA.json').write_text(json.dumps(_mdetr_json()))
    touch_images(tmp_path / 'train2014', IMG1, IMG2)
    return tmp_path


def test_mdetr_format(mdetr_root, check_contract):
    ds = RefCOCODataset(ann_file='mdetr/final_refcoco_testA.json', data_root=str(mdetr_root),
                        data_prefix=dict(img='train2014'))
    assert len(ds) == 2
    s = ds.get_data_info(1)
    assert s['img_id'] == 1  # the COCO image id, not the per-sentence entry id
    assert s['conversation'][0]['content'] == sample_instruction('rec', 1, seed=0, expression='left guy')
    assert s['conversation'][1]['content'] == '<roi><box0></roi>'
    np.testing.assert_array_equal(s['bboxes'], [[10, 20, 40, 60]])
    assert s['gt']['split'] == 'refcoco_testA' and s['gt']['ann_ids'] == [10] and s['gt']['sent_id'] == 1
    assert {(e['index'], e['reason']) for e in ds.bad_entries} == {(2, 'no caption'), (3, 'no box'),
                                                                   (4, 'box outside image')}
    check_contract(ds)


def test_converter_json_reads_like_the_pickle(refer_root, tmp_path):
    out = tmp_path / 'converted'
    converter = runpy.run_path(osp.join(REPO, 'tools/dataset_converters/refer_to_mdetr_json.py'))
    assert converter['main']([str(refer_root / 'refcoco' / 'refs(unc).p'), str(out)]) == 0
    # The only testA ref names an unknown image: skipped, so no testA file.
    assert sorted(p.name for p in out.iterdir()) == ['refcoco_train.json', 'refcoco_val.json']
    from_json = RefCOCODataset(ann_file=str(out / 'refcoco_train.json'), data_prefix=dict(img=str(refer_root /
                                                                                                   'train2014')))
    from_pickle = _refcoco(refer_root)
    assert len(from_json) == len(from_pickle) == 3
    for i in range(3):
        a, b = from_json.get_data_info(i), from_pickle.get_data_info(i)
        assert a['conversation'] == b['conversation'] and a['img_path'] == b['img_path']
        np.testing.assert_array_equal(a['bboxes'], b['bboxes'])
        for key in ('split', 'expression', 'ref_id', 'ann_ids', 'sent_id', 'category_id'):
            assert a['gt'][key] == b['gt'][key], key


# ---------------------------------------------------------------------------------- region captions
def test_refcocog_region_captions_per_sentence_and_grouped(refer_root, check_contract):
    kwargs = dict(ann_file='refcoco/refs(unc).p', data_root=str(refer_root), data_prefix=dict(img='train2014'),
                  split='train')
    train = RefCOCOgRegionCaptionDataset(**kwargs)
    assert len(train) == 3
    s = train.get_data_info(0)
    assert s['task'] == 'region_caption' and s['grounding'] is False
    assert s['conversation'] == [
        dict(role='user', content=sample_instruction('detailed_region_caption', 0, seed=0, region='<box0>')),
        dict(role='assistant', content='The man on the left'),
    ]
    assert '<box0>' in s['conversation'][0]['content']
    np.testing.assert_array_equal(s['bboxes'], [[10, 20, 40, 60]])
    assert s['gt']['gt_captions'] == ['the man on the left']
    check_contract(train)

    test = RefCOCOgRegionCaptionDataset(test_mode=True, **kwargs)
    assert len(test) == 2  # one per ref: refs 0 and 4
    assert test.get_data_info(0)['gt']['gt_captions'] == ['the man on the left', 'left guy']
    assert test.get_data_info(0)['gt']['sent_ids'] == [0, 1]
    assert test.get_data_info(0)['conversation'][1]['content'] == 'The man on the left'


def test_refcocog_region_captions_from_mdetr_group_by_object(mdetr_root):
    ds = RefCOCOgRegionCaptionDataset(ann_file='mdetr/final_refcoco_testA.json', data_root=str(mdetr_root),
                                      data_prefix=dict(img='train2014'), test_mode=True)
    assert len(ds) == 1
    assert ds.get_data_info(0)['gt']['gt_captions'] == ['the man on the left', 'left guy']
