import json

import pytest

from groma_mm.datasets.instruction_templates import sample_instruction
from groma_mm.datasets.readers import COCOCaptionDataset

CAPTIONS = dict(
    images=[dict(id=9, file_name='000000000009.jpg', height=480, width=640),
            dict(id=25, file_name='000000000025.jpg', height=426, width=640),
            dict(id=30, file_name='000000000030.jpg', height=428, width=640)],  # no caption
    annotations=[dict(id=1, image_id=9, caption='A plate of  food.'), dict(id=2, image_id=9, caption='some food '),
                 dict(id=3, image_id=25, caption='A giraffe eating.'), dict(id=4, image_id=25, caption='  '),
                 dict(id=5, image_id=77, caption='unknown image')])


@pytest.fixture
def coco_root(tmp_path, touch_images):
    (tmp_path / 'captions_train2017.json').write_text(json.dumps(CAPTIONS))
    touch_images(tmp_path / 'train2017', '000000000009.jpg', '000000000025.jpg', '000000000030.jpg')
    return tmp_path


def _coco(root, **kwargs):
    return COCOCaptionDataset(ann_file='captions_train2017.json', data_root=str(root),
                              data_prefix=dict(img='train2017'), **kwargs)


def test_one_training_sample_per_caption(coco_root, check_contract):
    ds = _coco(coco_root)
    assert len(ds) == 3
    s = ds.get_data_info(1)
    assert s['conversation'] == [dict(role='user', content=sample_instruction('caption', 1, seed=0)),
                                 dict(role='assistant', content='Some food')]
    assert s['gt']['gt_captions'] == ['A plate of food.', 'Some food'] and s['task'] == 'caption'
    assert (s['height'], s['width'], len(s['bboxes'])) == (480, 640, 0)
    check_contract(ds)
    got = sorted((e['index'], e['reason']) for e in ds.bad_entries)
    assert got == [(2, 'image without captions'), (3, 'empty caption'), (4, 'unknown image id')]


def test_test_mode_gives_one_sample_per_image_with_every_reference(coco_root):
    ds = _coco(coco_root, test_mode=True)
    assert len(ds) == 2
    assert ds.get_data_info(0)['gt']['gt_captions'] == ['A plate of food.', 'Some food']
    assert ds.get_data_info(0)['conversation'][1]['content'] == 'A plate of food.'
