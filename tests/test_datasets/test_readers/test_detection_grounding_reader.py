import json
import os.path as osp

import numpy as np
import pytest

from groma_mm.datasets.instruction_templates import sample_instruction
from groma_mm.datasets.readers import DetectionGroundingDataset

COCO = dict(
    images=[dict(id=397133, file_name='000000397133.jpg', height=427, width=640),
            dict(id=37777, file_name='000000037777.jpg', height=230, width=352),
            dict(id=5, file_name='', height=10, width=10)],
    annotations=[
        dict(id=1, image_id=397133, category_id=1, bbox=[388.66, 69.92, 109.41, 277.62], area=17376.9, iscrowd=0),
        dict(id=2, image_id=397133, category_id=44, bbox=[217.62, 240.54, 38.99, 57.75], area=1350.5, iscrowd=0),
        dict(id=3, image_id=397133, category_id=1, bbox=[0, 262.81, 62.16, 36.77], iscrowd=0),  # no area
        dict(id=4, image_id=397133, category_id=1, bbox=[100, 100, 50, 50], area=2500, iscrowd=1),  # crowd
        dict(id=5, image_id=37777, category_id=44, bbox=[400, 10, 20, 20], area=400, iscrowd=0),  # outside
        dict(id=6, image_id=37777, category_id=62, bbox=[10, 10, 20, 20], area=400, iscrowd=1),  # only crowd
        dict(id=7, image_id=12345, category_id=1, bbox=[1, 1, 5, 5], area=25, iscrowd=0),  # unknown image
        dict(id=8, image_id=37777, category_id=999, bbox=[1, 1, 5, 5], area=25, iscrowd=0),  # unknown category
    ],
    categories=[dict(id=1, name='person', supercategory='person'), dict(id=44, name='bottle'),
                dict(id=62, name='chair')])


@pytest.fixture
def coco_root(tmp_path, touch_images):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'instances_val2017.json').write_text(json.dumps(COCO))
    touch_images(tmp_path / 'val2017', '000000397133.jpg', '000000037777.jpg')
    return tmp_path


def test_one_sample_per_image_and_category(coco_root, check_contract):
    ds = DetectionGroundingDataset(ann_file='annotations/instances_val2017.json', data_root=str(coco_root),
                                   data_prefix=dict(img='val2017'))
    assert len(ds) == 2
    person, bottle = ds.get_data_info(0), ds.get_data_info(1)
    assert person['img_path'] == osp.join(str(coco_root), 'val2017', '000000397133.jpg')
    assert (person['img_id'], person['height'], person['width']) == (397133, 427, 640)
    assert (person['task'], person['grounding']) == ('multi_grounding', False)
    assert person['conversation'] == [
        dict(role='user', content=sample_instruction('multi_grounding', 0, seed=0, category='person')),
        dict(role='assistant', content='<roi><box0><box1></roi>'),
    ]
    assert '<p>person</p>' in person['conversation'][0]['content']
    np.testing.assert_allclose(person['bboxes'], [[388.66, 69.92, 498.07, 347.54], [0, 262.81, 62.16, 299.58]],
                               rtol=1e-6)
    np.testing.assert_allclose(person['gt']['gt_areas'], [17376.9, 62.16 * 36.77], rtol=1e-5)
    assert person['gt']['category_id'] == 1 and person['gt']['category'] == 'person'
    np.testing.assert_array_equal(person['gt']['gt_bboxes'], person['bboxes'])
    assert bottle['conversation'][1]['content'] == '<roi><box0></roi>'
    got = sorted((e['index'], e['reason']) for e in ds.bad_entries)
    assert got == [(2, 'invalid image entry (no file_name or coco_url)'), (4, 'box outside image'),
                   (6, 'unknown image id'), (7, 'unknown category id')]
    check_contract(ds)


def test_lvis_style_names_and_urls(tmp_path, touch_images, check_contract):
    lvis = dict(
        images=[dict(id=397133, coco_url='http://images.cocodataset.org/val2017/000000397133.jpg', height=427,
                     width=640, neg_category_ids=[], not_exhaustive_category_ids=[])],
        annotations=[dict(id=1, image_id=397133, category_id=3, bbox=[10, 10, 30, 5], area=150),
                     dict(id=2, image_id=397133, category_id=3, bbox=[50, 10, 30, 5], area=150),
                     dict(id=3, image_id=397133, category_id=3, bbox=[90, 10, 30, 5], area=150)],
        categories=[dict(id=3, name='baseball_bat', synonyms=['baseball_bat'], frequency='f')])
    (tmp_path / 'lvis_v1_val.json').write_text(json.dumps(lvis))
    touch_images(tmp_path, 'val2017/000000397133.jpg')
    ds = DetectionGroundingDataset(ann_file=str(tmp_path / 'lvis_v1_val.json'), data_prefix=dict(img=str(tmp_path)),
                                   test_mode=True)
    s = ds.get_data_info(0)
    assert s['img_path'] == osp.join(str(tmp_path), 'val2017', '000000397133.jpg')
    assert s['conversation'][1]['content'] == '<roi><box0><box1><box2></roi>'
    assert '<p>baseball bat</p>' in s['conversation'][0]['content']
    check_contract(ds)
    # In training, samples with more boxes than the LLM has proxy tokens can be dropped.
    train = DetectionGroundingDataset(ann_file=str(tmp_path / 'lvis_v1_val.json'),
                                      data_prefix=dict(img=str(tmp_path)), filter_cfg=dict(max_boxes=2))
    assert len(train) == 0
    assert len(DetectionGroundingDataset(ann_file=str(tmp_path / 'lvis_v1_val.json'),
                                         data_prefix=dict(img=str(tmp_path)), filter_cfg=dict(max_boxes=2),
                                         test_mode=True)) == 1


def test_one_category_per_image_as_the_official_stage_data(coco_root, check_contract):
    def kept(seed):
        ds = DetectionGroundingDataset(ann_file='annotations/instances_val2017.json', data_root=str(coco_root),
                                       data_prefix=dict(img='val2017'), categories_per_image=1, seed=seed)
        return [ds.get_data_info(i)['gt']['category'] for i in range(len(ds))], ds

    picks = {tuple(kept(seed)[0]) for seed in range(8)}
    assert picks == {('person', ), ('bottle', )}  # one of the image's two categories, drawn with the seed
    assert kept(3)[0] == kept(3)[0]
    check_contract(kept(0)[1])
    with pytest.raises(ValueError, match='categories_per_image'):
        DetectionGroundingDataset(ann_file='annotations/instances_val2017.json', data_root=str(coco_root),
                                  categories_per_image=0)
