"""tools/dataset_converters/build_lvis_ground.py on a generated LVIS-v1-like json."""
import importlib.util
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from groma_mm.evaluation import LVISGroundMetric

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'dataset_converters' / 'build_lvis_ground.py'
_spec = importlib.util.spec_from_file_location('build_lvis_ground', SCRIPT)
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)

# category id -> number of images it appears in (category 4 has annotations only with broken boxes).
IMAGES_PER_CATEGORY = {1: 12, 2: 3, 3: 5, 4: 1}


def make_lvis(seed=0):
    """LVIS v1 val layout: images with coco_url only, mask `area`, xywh boxes, frequency per category."""
    rng = np.random.default_rng(seed)
    images = [dict(id=100 + i, height=480, width=640, neg_category_ids=[], not_exhaustive_category_ids=[],
                   coco_url=f'http://images.cocodataset.org/{"val" if i % 2 else "train"}2017/{100 + i:012d}.jpg')
              for i in range(20)]
    categories = [dict(id=c, name=n, synonyms=[n], frequency='f', image_count=k, instance_count=k)
                  for (c, k), n in zip(IMAGES_PER_CATEGORY.items(), ['baseball_bat', 'bow_(weapon)', 'dog', 'kite'])]
    annotations = []
    for category_id, count in IMAGES_PER_CATEGORY.items():
        for image in rng.choice(images, size=count, replace=False):
            for _ in range(int(rng.integers(1, 4))):
                x, y = rng.uniform(0, 400, size=2).round(1)
                w, h = (0.0, 5.0) if category_id == 4 else rng.uniform(2, 200, size=2).round(1)
                annotations.append(dict(id=len(annotations) + 1, image_id=int(image['id']), category_id=category_id,
                                        bbox=[x, y, w, h], area=round(w * h * 0.7, 2), segmentation=[]))
    annotations.append(dict(id=len(annotations) + 1, image_id=999, category_id=1, bbox=[0, 0, 5, 5], area=25))
    return dict(images=images, categories=categories, annotations=annotations)


def test_one_query_per_image_and_category_capped_and_complete():
    lvis = make_lvis()
    out = conv.build_lvis_ground(lvis, max_images_per_category=5, seed=0)
    queries = out['queries']

    per_category = defaultdict(list)
    for q in queries:
        per_category[q['category_id']].append(q['image_id'])
    assert {c: len(v) for c, v in per_category.items()} == {1: 5, 2: 3, 3: 5}  # category 4: no usable box
    assert all(len(set(v)) == len(v) for v in per_category.values())  # one query per (image, category)
    assert [(q['category_id'], q['image_id']) for q in queries] == sorted((q['category_id'], q['image_id'])
                                                                        for q in queries)
    assert [q['query_id'] for q in queries] == list(range(len(queries)))

    anns = defaultdict(list)
    for a in lvis['annotations']:
        anns[a['category_id'], a['image_id']].append(a)
    for q in queries:
        expected = sorted(anns[q['category_id'], q['image_id']], key=lambda a: a['id'])
        assert q['gt_bboxes'] == [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3]]
                                  for a in expected]  # every instance, as xyxy
        assert q['gt_areas'] == [a['area'] for a in expected]  # LVIS's mask area, not the box area
        split = 'val' if (q['image_id'] - 100) % 2 else 'train'
        assert q['file_name'] == f'{split}2017/{q["image_id"]:012d}.jpg'
        assert (q['height'], q['width']) == (480, 640)
    assert {q['phrase'] for q in queries} == {'baseball bat', 'bow (weapon)', 'dog'}

    info = out['info']
    assert info['num_queries'] == len(queries) == 13
    assert info['num_categories'] == 3 and [c['id'] for c in out['categories']] == [1, 2, 3]
    assert info['num_images'] == len({q['image_id'] for q in queries})
    assert info['skipped_annotations'] == {'unknown image': 1,
                                           'non-positive box size': sum(a['category_id'] == 4
                                                                        for a in lvis['annotations'])}


def test_seeded():
    lvis = make_lvis()
    pick = lambda seed: [(q['category_id'], q['image_id'])  # noqa: E731
                         for q in conv.build_lvis_ground(lvis, seed=seed)['queries']]
    assert pick(0) == pick(0)
    assert pick(0) != pick(1)  # category 1 has 12 images to choose 5 from


def test_cli_output_feeds_the_metric(tmp_path):
    src, dst = tmp_path / 'lvis_v1_val.json', tmp_path / 'lvis_ground.json'
    src.write_text(json.dumps(make_lvis()))
    result = subprocess.run([sys.executable, str(SCRIPT), str(src), str(dst), '--max-images-per-category', '2'],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'LVIS-Ground: 6 queries' in result.stdout
    ground = json.loads(dst.read_text())
    assert ground['info']['source'] == str(src) and ground['info']['max_images_per_category'] == 2

    # Answering only the first box of each query hits one box per query, whatever its IoU threshold; recall
    # is then (queries / boxes) per category, averaged over the categories.
    metric = LVISGroundMetric()
    samples = [dict(sample_idx=q['query_id'], img_id=q['image_id'], category_id=q['category_id'],
                    gt_bboxes=q['gt_bboxes'], gt_areas=q['gt_areas'], pred_bboxes=q['gt_bboxes'][:1])
               for q in ground['queries']]
    metric.process(None, samples)
    queries, boxes = defaultdict(int), defaultdict(int)
    for q in ground['queries']:
        queries[q['category_id']] += 1
        boxes[q['category_id']] += len(q['gt_bboxes'])
    assert sum(boxes.values()) > len(samples)
    expected = np.mean([queries[c] / boxes[c] for c in queries]) * 100
    assert metric.evaluate(len(samples))['lvis_ground/AR'] == pytest.approx(expected)
