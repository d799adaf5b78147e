"""RegionCaptionCocoDataset on hand-written files in the official COCO-caption layout (vg_test.json,
refcocog_cap_val.json): one region per image entry, every caption of the entry a reference."""
import json

import numpy as np
import pytest

from groma_mm.datasets.instruction_templates import INSTRUCTION_TEMPLATES
from groma_mm.datasets.readers import RegionCaptionCocoDataset

VG_TEST = {
    'images': [
        {'id': 1, 'file_name': 'VG_100K/2345.jpg', 'height': 100, 'width': 200},
        {'id': 2, 'file_name': 'VG_100K/2345.jpg', 'height': 100, 'width': 200},   # same image, another region
        {'id': 3, 'file_name': 'VG_100K_2/17.jpg', 'height': 50, 'width': 50},
        {'id': 4, 'file_name': 'VG_100K_2/17.jpg', 'height': 50, 'width': 50},     # two different boxes: bad
        {'id': 5, 'file_name': 'VG_100K_2/17.jpg', 'height': 50, 'width': 50},     # no annotation: bad
        {'id': 6, 'file_name': 'VG_100K_2/18.jpg', 'height': 50, 'width': 50},     # image file missing: bad
    ],
    'annotations': [
        {'id': 10, 'image_id': 1, 'bbox': [10, 20, 30, 40], 'area': 1200, 'category_id': 1, 'caption': 'man in red '},
        {'id': 11, 'image_id': 2, 'bbox': [100, 10, 50, 50], 'area': 2500, 'category_id': 1, 'caption': 'a white dog'},
        {'id': 12, 'image_id': 2, 'bbox': [100, 10, 50, 50], 'area': 2500, 'category_id': 1, 'caption': 'dog'},
        {'id': 13, 'image_id': 3, 'bbox': [1, 1, 10, 10], 'area': 100, 'category_id': 1, 'caption': 'a cup'},
        {'id': 14, 'image_id': 3, 'bbox': [5, 5, 0, 10], 'area': 0, 'category_id': 1, 'caption': 'flat'},  # bad box
        {'id': 15, 'image_id': 4, 'bbox': [1, 1, 10, 10], 'area': 100, 'category_id': 1, 'caption': 'one'},
        {'id': 16, 'image_id': 4, 'bbox': [20, 20, 10, 10], 'area': 100, 'category_id': 1, 'caption': 'other'},
        {'id': 17, 'image_id': 6, 'bbox': [1, 1, 10, 10], 'area': 100, 'category_id': 1, 'caption': 'gone'},
        {'id': 18, 'image_id': 3, 'bbox': [1, 1, 10, 10], 'area': 100, 'category_id': 1, 'caption': '  '},  # empty
        {'id': 19, 'image_id': 42, 'bbox': [1, 1, 10, 10], 'area': 100, 'category_id': 1, 'caption': 'lost'},
    ],
    'categories': [{'id': 1, 'name': 'object'}],
}
REFCOCOG_CAP_VAL = {
    'images': [{'id': 501, 'file_name': '000000000139.jpg', 'height': 426, 'width': 640},
               {'id': 502, 'file_name': '000000000139.jpg', 'height': 426, 'width': 640}],
    'annotations': [
        {'id': 1, 'image_id': 501, 'bbox': [5.5, 6.0, 100.0, 200.0], 'area': 2e4, 'category_id': 1,
         'caption': 'a woman in a black dress standing next to the television on the left'},
        {'id': 2, 'image_id': 502, 'bbox': [300.0, 200.0, 50.0, 60.0], 'area': 3000, 'category_id': 1,
         'caption': 'a wooden chair with a green cushion in front of the window'},
    ],
    'categories': [{'id': 1, 'name': 'object'}],
}


@pytest.fixture
def root(tmp_path, touch_images):
    (tmp_path / 'vg_test.json').write_text(json.dumps(VG_TEST))
    (tmp_path / 'refcocog_cap_val.json').write_text(json.dumps(REFCOCOG_CAP_VAL))
    touch_images(tmp_path / 'vg', 'VG_100K/2345.jpg', 'VG_100K_2/17.jpg')
    touch_images(tmp_path / 'coco', '000000000139.jpg')
    return tmp_path


def test_vg_test_one_region_per_entry_all_its_captions_as_references(root, check_contract):
    ds = RegionCaptionCocoDataset(ann_file='vg_test.json', data_root=str(root), data_prefix=dict(img='vg/'),
                                  test_mode=True)
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [1, 2, 3]
    s = ds.get_data_info(1)
    assert s['img_path'].endswith('vg/VG_100K/2345.jpg')
    assert s['gt']['gt_captions'] == ['a white dog', 'dog'] and s['gt']['split'] == 'vg_test'
    np.testing.assert_array_equal(s['gt']['gt_bboxes'], [[100, 10, 150, 60]])
    np.testing.assert_array_equal(s['bboxes'], s['gt']['gt_bboxes'])
    user, reply = (m['content'] for m in s['conversation'])
    assert user in [t.format(region='<box0>') for t in INSTRUCTION_TEMPLATES['region_caption']]
    assert reply == 'A white dog' and s['task'] == 'region_caption' and s['grounding'] is False
    assert ds.get_data_info(0)['gt']['gt_captions'] == ['man in red']  # whitespace cleaned
    assert ds.get_data_info(2)['gt']['gt_captions'] == ['a cup']  # its flat box and empty caption were dropped
    reasons = {(e['index'], e['reason']) for e in ds.bad_entries}
    assert reasons == {(4, 'degenerate box'), (8, 'empty caption'), (9, 'annotation of an unknown image entry'),
                       (3, 'a region-caption entry needs one box, it has 2 different ones'),
                       (4, 'entry without a usable annotation'), (5, 'missing image file')}
    check_contract(ds)


def test_refcocog_captions_are_asked_for_a_detailed_description(root, check_contract):
    ds = RegionCaptionCocoDataset(ann_file='refcocog_cap_val.json', data_root=str(root),
                                  data_prefix=dict(img='coco/'), instruction_task='detailed_region_caption',
                                  test_mode=True)
    assert len(ds) == 2
    detailed = [t.format(region='<box0>') for t in INSTRUCTION_TEMPLATES['detailed_region_caption']]
    asked = [ds.get_data_info(i)['conversation'][0]['content'] for i in range(len(ds))]
    assert all(q in detailed for q in asked)
    assert 'Please describe <box0> in details.' in detailed  # the paper's own wording (§5.3)
    assert ds.get_data_info(0)['gt']['gt_captions'] == [REFCOCOG_CAP_VAL['annotations'][0]['caption']]
    assert ds.get_data_info(0)['gt']['split'] == 'refcocog_cap_val'
    check_contract(ds)
