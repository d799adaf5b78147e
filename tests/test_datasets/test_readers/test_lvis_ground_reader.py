"""LVISGroundDataset on hand-written files: the official release's lvis_test.json layout (LVIS v1) and the
output of tools/dataset_converters/build_lvis_ground.py, which must give the same queries."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

from groma_mm.datasets.readers import LVISGroundDataset
from groma_mm.evaluation import LVISGroundMetric
from groma_mm.testing.paths import REPO_ROOT

# LVIS v1 layout: no file_name, the image path is in coco_url (train2017 and val2017 images both occur);
# `area` is the mask area; category names have underscores and parentheses.
LVIS_TEST = {
    'info': {'description': 'LVIS-Ground'},
    'images': [
        {'id': 397133, 'height': 427, 'width': 640, 'license': 1, 'flickr_url': '',
         'coco_url': 'http://images.cocodataset.org/val2017/000000397133.jpg',
         'neg_category_ids': [12], 'not_exhaustive_category_ids': []},
        {'id': 9, 'height': 480, 'width': 640, 'license': 1, 'flickr_url': '',
         'coco_url': 'http://images.cocodataset.org/train2017/000000000009.jpg',
         'neg_category_ids': [], 'not_exhaustive_category_ids': [3]},
        {'id': 77, 'height': 100, 'width': 100, 'coco_url': 'http://images.cocodataset.org/val2017/000000000077.jpg',
         'neg_category_ids': [], 'not_exhaustive_category_ids': []},  # no annotation: no query
    ],
    'annotations': [
        {'id': 1, 'image_id': 397133, 'category_id': 3, 'bbox': [10.5, 20.0, 30.0, 40.0], 'area': 800.0,
         'segmentation': [[10.5, 20.0, 40.5, 20.0, 40.5, 60.0]]},
        {'id': 2, 'image_id': 397133, 'category_id': 3, 'bbox': [100.0, 50.0, 0.5, 0.8], 'area': 0.3,
         'segmentation': []},  # a sub-pixel LVIS box: kept, LVISEval counts it
        {'id': 3, 'image_id': 397133, 'category_id': 7, 'bbox': [200.0, 100.0, 60.0, 50.0], 'area': 2500.0,
         'segmentation': []},
        {'id': 4, 'image_id': 9, 'category_id': 7, 'bbox': [0.0, 0.0, 640.0, 480.0], 'area': 250000.0,
         'segmentation': []},
        {'id': 5, 'image_id': 9, 'category_id': 7, 'bbox': [5.0, 5.0, 0.0, 10.0], 'area': 0.0,
         'segmentation': []},  # no width: cannot be hit, reported
        {'id': 6, 'image_id': 9, 'category_id': 99, 'bbox': [1.0, 1.0, 5.0, 5.0], 'area': 25.0},  # unknown category
        {'id': 7, 'image_id': 5, 'category_id': 3, 'bbox': [1.0, 1.0, 5.0, 5.0], 'area': 25.0},  # unknown image
    ],
    'categories': [
        {'id': 3, 'name': 'baseball_bat', 'synset': 'baseball_bat.n.01', 'frequency': 'f',
         'synonyms': ['baseball_bat']},
        {'id': 7, 'name': 'bow_(weapon)', 'synset': 'bow.n.04', 'frequency': 'r', 'synonyms': ['bow_(weapon)']},
        {'id': 12, 'name': 'kite', 'synset': 'kite.n.03', 'frequency': 'c', 'synonyms': ['kite']},
    ],
}
IMAGE_FILES = ('val2017/000000397133.jpg', 'train2017/000000000009.jpg', 'val2017/000000000077.jpg')


@pytest.fixture
def lvis_root(tmp_path, touch_images):
    (tmp_path / 'lvis_test.json').write_text(json.dumps(LVIS_TEST))
    touch_images(tmp_path / 'coco', *IMAGE_FILES)
    return tmp_path


def _dataset(root, ann_file):
    return LVISGroundDataset(ann_file=ann_file, data_root=str(root), data_prefix=dict(img='coco/'), test_mode=True)


def test_official_lvis_test_json_one_query_per_image_and_category(lvis_root, check_contract):
    ds = _dataset(lvis_root, 'lvis_test.json')
    queries = [(ds.get_data_info(i)['img_id'], ds.get_data_info(i)['gt']['category_id']) for i in range(len(ds))]
    assert queries == [(397133, 3), (397133, 7), (9, 7)]
    s = ds.get_data_info(1)
    assert s['img_path'] == osp.join(str(lvis_root), 'coco', 'val2017/000000397133.jpg')
    assert s['conversation'] == [dict(role='user', content='Locate all <p>bow (weapon)</p> in this image.'),
                                 dict(role='assistant', content='<roi><box0></roi>')]
    assert (s['task'], s['grounding'], s['height'], s['width']) == ('multi_grounding', False, 427, 640)
    bat = ds.get_data_info(0)
    assert bat['conversation'][0]['content'] == 'Locate all <p>baseball bat</p> in this image.'
    assert bat['conversation'][1]['content'] == '<roi><box0><box1></roi>'
    # Unclipped xyxy, the sub-pixel box kept; areas are the annotation's, not the box's.
    np.testing.assert_allclose(bat['gt']['gt_bboxes'], [[10.5, 20.0, 40.5, 60.0], [100.0, 50.0, 100.5, 50.8]])
    np.testing.assert_allclose(bat['gt']['gt_areas'], [800.0, 0.3])
    assert bat['gt']['category'] == 'baseball bat'
    assert {(e['index'], e['reason']) for e in ds.bad_entries} == {
        (4, 'ground-truth box without positive size'), (5, 'unknown category id'), (6, 'unknown image id')}
    check_contract(ds)


def test_builder_output_reads_as_the_same_queries(lvis_root):
    spec = importlib.util.spec_from_file_location(
        'build_lvis_ground', osp.join(REPO_ROOT, 'tools/dataset_converters/build_lvis_ground.py'))
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    (lvis_root / 'lvis_ground.json').write_text(json.dumps(builder.build_lvis_ground(LVIS_TEST)))
    official, ours = _dataset(lvis_root, 'lvis_test.json'), _dataset(lvis_root, 'lvis_ground.json')

    def queries(ds):
        out = {}
        for i in range(len(ds)):
            s = ds.get_data_info(i)
            out[s['img_id'], s['gt']['category_id']] = (s['img_path'], s['conversation'], s['gt']['gt_bboxes'].tolist(),
                                                        s['gt']['gt_areas'].tolist())
        return out

    # The builder orders by category, the LVIS file by image; the queries themselves are the same.
    assert queries(ours) == queries(official)


def test_perfect_answers_score_full_recall(lvis_root):
    ds = _dataset(lvis_root, 'lvis_test.json')
    metric = LVISGroundMetric()
    metric.process(None, [dict(sample_idx=i, img_id=s['img_id'], pred_bboxes=s['gt']['gt_bboxes'], **s['gt'])
                          for i, s in ((i, ds.get_data_info(i)) for i in range(len(ds)))])
    metrics = metric.evaluate(len(ds))
    assert metrics['lvis_ground/AR'] == 100.0 and metrics['lvis_ground/missing'] == 0.0


def test_a_file_of_neither_layout_is_an_error(tmp_path):
    (tmp_path / 'x.json').write_text(json.dumps([{'id': 1}]))
    with pytest.raises(ValueError, match='neither an LVIS annotation file'):
        LVISGroundDataset(ann_file=str(tmp_path / 'x.json'), test_mode=True)
