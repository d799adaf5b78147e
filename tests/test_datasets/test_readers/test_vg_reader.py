import json
import os.path as osp

import numpy as np
import pytest

from groma_mm.datasets.instruction_templates import sample_instruction
from groma_mm.datasets.readers import VGRegionCaptionDataset


def _region(region_id, image_id, phrase, x, y, w, h):
    return dict(region_id=region_id, image_id=image_id, phrase=phrase, x=x, y=y, width=w, height=h)


# Visual Genome v1.2 region_descriptions.json: one entry per image, boxes as x, y, width, height.
REGIONS = [
    dict(id=1, regions=[
        _region(101, 1, 'man wearing a  red hat ', 10, 20, 30, 40),
        _region(102, 1, 'a white cloud', 300, 10, 100, 50),   # partly outside the 320×240 image: clipped
        _region(103, 1, '', 5, 5, 10, 10),                     # empty phrase
        _region(104, 1, 'zero width', 5, 5, 0, 10),           # degenerate
        _region(105, 1, 'red hat of the man', 11, 21, 30, 40), # IoU ≈ 0.9 with region 101
    ]),
    dict(id=2, regions=[_region(201, 2, 'green grass', 0, 100, 50, 20)]),
    dict(id=3, regions=[_region(301, 3, 'no file for this image', 0, 0, 5, 5)]),
    dict(regions=[]),                                         # no image id
]
# image_data.json: sizes, and the image's sub-folder in the URL.
IMAGE_DATA = [
    dict(image_id=1, width=320, height=240, coco_id=None, flickr_id=None,
         url='https://cs.stanford.edu/people/rak248/VG_100K/1.jpg'),
    dict(image_id=2, width=800, height=600, coco_id=None, flickr_id=None,
         url='https://cs.stanford.edu/people/rak248/VG_100K_2/2.jpg'),
    dict(image_id=3, width=800, height=600, url='https://cs.stanford.edu/people/rak248/VG_100K_2/3.jpg'),
]


@pytest.fixture
def vg_root(tmp_path, touch_images):
    (tmp_path / 'region_descriptions.json').write_text(json.dumps(REGIONS))
    (tmp_path / 'image_data.json').write_text(json.dumps(IMAGE_DATA))
    touch_images(tmp_path / 'images', 'VG_100K/1.jpg', 'VG_100K_2/2.jpg')
    return tmp_path


def _vg(root, **kwargs):
    return VGRegionCaptionDataset(ann_file='region_descriptions.json', data_root=str(root),
                                  data_prefix=dict(img='images'), image_data_file='image_data.json', **kwargs)


def test_one_sample_per_region(vg_root, check_contract):
    ds = _vg(vg_root)
    assert len(ds) == 4
    s = ds.get_data_info(0)
    assert s['img_path'] == osp.join(str(vg_root), 'images', 'VG_100K', '1.jpg')
    assert (s['img_id'], s['height'], s['width'], s['task'], s['grounding']) == (1, 240, 320, 'region_caption', False)
    assert s['conversation'] == [
        dict(role='user', content=sample_instruction('region_caption', 0, seed=0, region='<box0>')),
        dict(role='assistant', content='Man wearing a red hat'),
    ]
    np.testing.assert_array_equal(s['bboxes'], [[10, 20, 40, 60]])  # xywh → xyxy
    assert s['gt'] == dict(gt_captions=['man wearing a red hat'], gt_bboxes=s['gt']['gt_bboxes'], region_ids=[101])
    np.testing.assert_array_equal(ds.get_data_info(1)['bboxes'], [[300, 10, 320, 60]])
    assert ds.get_data_info(3)['img_path'].endswith(osp.join('images', 'VG_100K_2', '2.jpg'))
    check_contract(ds)


def test_bad_entries(vg_root):
    ds = _vg(vg_root)
    got = sorted((e['index'], e.get('region_id'), e['reason']) for e in ds.bad_entries)
    assert got == [(0, 103, 'empty phrase'), (0, 104, 'degenerate box'), (2, None, 'missing image file'),
                   (3, None, 'malformed entry (no image id)')]
    missing = next(e for e in ds.bad_entries if e['reason'] == 'missing image file')
    assert missing['file'].endswith('region_descriptions.json') and missing['region_ids'] == [301]


def test_multi_round_with_dedup(vg_root, check_contract):
    ds = _vg(vg_root, regions_per_sample=10, dedup_iou=0.6)
    assert len(ds) == 2
    s = ds.get_data_info(0)
    assert [m['content'] for m in s['conversation'][1::2]] == ['Man wearing a red hat', 'A white cloud']
    assert s['conversation'][0]['content'] == sample_instruction('region_caption', 0, seed=0, turn=0, region='<box0>')
    assert s['conversation'][2]['content'] == sample_instruction('region_caption', 0, seed=0, turn=1, region='<box1>')
    assert s['gt']['region_ids'] == [101, 102]  # 105 overlaps 101
    check_contract(ds)
    no_dedup = _vg(vg_root, regions_per_sample=2)
    assert [len(no_dedup.get_data_info(i)['bboxes']) for i in range(len(no_dedup))] == [2, 1, 1]


def test_without_image_data_and_with_an_id_list(vg_root):
    (vg_root / 'test_ids.txt').write_text('2\n')
    ds = VGRegionCaptionDataset(ann_file='region_descriptions.json', data_root=str(vg_root),
                                data_prefix=dict(img='images/VG_100K_2'), image_ids_file='test_ids.txt',
                                test_mode=True)
    assert len(ds) == 1
    s = ds.get_data_info(0)
    assert s['img_path'].endswith(osp.join('VG_100K_2', '2.jpg'))
    assert s['height'] is None and s['width'] is None
    np.testing.assert_array_equal(s['bboxes'], [[0, 100, 50, 120]])


def test_densecap_split_file(vg_root):
    (vg_root / 'densecap_splits.json').write_text(json.dumps(dict(train=[1], val=[], test=[2])))
    kwargs = dict(image_ids_file='densecap_splits.json', check_files=False)
    test = _vg(vg_root, image_ids_key='test', **kwargs)
    assert [test.get_data_info(i)['img_id'] for i in range(len(test))] == [2]
    assert len(_vg(vg_root, image_ids_key='train', serialize_data=False, **kwargs)) == 3
    with pytest.raises(KeyError, match='image_ids_key'):
        _vg(vg_root, **kwargs)


def test_samples_per_image_keeps_the_first_rounds_of_each_image(vg_root, check_contract):
    # The official stage-3 multi-round VG: at most N rounds of each image, once (regions_per_sample=N).
    ds = _vg(vg_root, regions_per_sample=1, samples_per_image=1)
    assert [ds.get_data_info(i)['gt']['region_ids'] for i in range(len(ds))] == [[101], [201]]
    two = _vg(vg_root, regions_per_sample=1, dedup_iou=None, samples_per_image=2)
    assert [two.get_data_info(i)['gt']['region_ids'] for i in range(len(two))] == [[101], [102], [201]]
    check_contract(ds)
    with pytest.raises(ValueError, match='samples_per_image'):
        _vg(vg_root, samples_per_image=0)
