"""tools/validate_dataset.py on LVIS v1 files: a clean file (coco_url names, sub-pixel boxes, negative and
not-exhaustive lists) has no issue; each LVIS-specific problem is reported at its entry."""
import copy
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from groma_mm.datasets.validation import detect_format, validate
from groma_mm.testing.paths import REPO_ROOT

CLEAN = {
    'info': {'year': 2020, 'version': '1.0'},
    'licenses': [{'id': 1, 'name': 'CC BY', 'url': ''}],
    'images': [
        {'id': 397133, 'height': 40, 'width': 60, 'license': 1, 'flickr_url': '', 'date_captured': '2013-11-14',
         'coco_url': 'http://images.cocodataset.org/val2017/000000397133.jpg',
         'neg_category_ids': [12], 'not_exhaustive_category_ids': [7]},
        {'id': 9, 'height': 30, 'width': 50, 'license': 1, 'flickr_url': '', 'date_captured': '2013-11-14',
         'coco_url': 'http://images.cocodataset.org/train2017/000000000009.jpg',
         'neg_category_ids': [], 'not_exhaustive_category_ids': []},
    ],
    'annotations': [
        {'id': 1, 'image_id': 397133, 'category_id': 3, 'bbox': [1.5, 2.0, 30.0, 20.0], 'area': 410.5,
         'segmentation': [[1.5, 2.0, 31.5, 2.0, 31.5, 22.0]]},
        {'id': 2, 'image_id': 397133, 'category_id': 7, 'bbox': [50.0, 30.0, 0.6, 0.9], 'area': 0.4,
         'segmentation': [[50.0, 30.0, 50.6, 30.0, 50.6, 30.9]]},  # a sub-pixel object: real LVIS data
        {'id': 3, 'image_id': 9, 'category_id': 12, 'bbox': [0.0, 0.0, 50.0, 30.0], 'area': 1200.0,
         'segmentation': [[0.0, 0.0, 50.0, 0.0, 50.0, 30.0]]},
    ],
    'categories': [
        {'id': 3, 'name': 'baseball_bat', 'synset': 'baseball_bat.n.01', 'frequency': 'f', 'image_count': 1,
         'instance_count': 1, 'synonyms': ['baseball_bat'], 'def': ''},
        {'id': 7, 'name': 'bow_(weapon)', 'synset': 'bow.n.04', 'frequency': 'r', 'image_count': 1,
         'instance_count': 1, 'synonyms': ['bow_(weapon)'], 'def': ''},
        {'id': 12, 'name': 'kite', 'synset': 'kite.n.03', 'frequency': 'c', 'image_count': 1, 'instance_count': 1,
         'synonyms': ['kite'], 'def': ''},
    ],
}


@pytest.fixture
def coco_root(tmp_path):
    for image in CLEAN['images']:
        path = tmp_path / 'coco' / image['coco_url'].split('cocodataset.org/')[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((image['height'], image['width'], 3), np.uint8))
    return tmp_path / 'coco'


def test_clean_lvis_v1_file_has_no_issue(tmp_path, coco_root):
    path = tmp_path / 'lvis_v1_val.json'
    path.write_text(json.dumps(CLEAN))
    assert detect_format(str(path)) == 'lvis'
    out = subprocess.run([sys.executable, 'tools/validate_dataset.py', str(path), '--img-dir', str(coco_root)],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'format lvis' in out.stdout and '0 bad entries' in out.stdout
    # Read as plain COCO, the same file looks broken on every image (no file_name) and annotation (of those
    # images): hence the format.
    assert validate(str(path), 'coco', str(coco_root))['counts'] == {'bad_entry': 2, 'dangling_reference': 3}


def _set(path, value):
    def mutate(data):
        *keys, last = path
        target = data
        for key in keys:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return mutate


@pytest.mark.parametrize('mutate, index, kind, reason', [
    (_set(('categories', 2, 'frequency'), 'x'), 2, 'bad_entry', "frequency 'x'"),
    (_set(('images', 1, 'neg_category_ids'), [99]), 1, 'dangling_reference', 'neg_category_ids names categories [99]'),
    (_set(('images', 0, 'coco_url'), None), 0, 'bad_entry', 'needs "id" and "coco_url"'),
    (_set(('annotations', 2, 'category_id'), 99), 2, 'dangling_reference', 'category_id 99'),
    (_set(('annotations', 2, 'image_id'), 5), 2, 'dangling_reference', 'image 5'),
    (_set(('annotations', 0, 'category_id'), 12), 0, 'bad_entry', 'verified absent'),
    (_set(('annotations', 1, 'bbox'), [50.0, 30.0, 0.0, 0.9]), 1, 'degenerate_box', 'no positive width'),
    (_set(('annotations', 0, 'bbox'), [40.0, 30.0, 30.0, 20.0]), 0, 'box_outside', 'outside the 60x40 image'),
    (_set(('annotations', 2, 'area'), 0), 2, 'bad_entry', 'area 0 is not a positive number'),
    (_set(('annotations', 1, 'id'), 1), 1, 'duplicate_id', 'annotation id 1 appears twice'),
])
def test_each_lvis_problem_is_reported_at_its_entry(tmp_path, coco_root, mutate, index, kind, reason):
    data = copy.deepcopy(CLEAN)
    mutate(data)
    path = tmp_path / 'lvis_broken.json'
    path.write_text(json.dumps(data))
    issues = validate(str(path), 'lvis', str(coco_root))['issues']
    # An image entry without a file leaves its annotations dangling too; every other problem is one issue.
    first = issues[0]
    assert (first['index'], first['kind']) == (index, kind) and reason in first['reason'], issues
    assert len(issues) == (3 if kind == 'bad_entry' and 'coco_url' in reason else 1), issues
