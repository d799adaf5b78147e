"""Stage-1 data: class-agnostic COCO-format loading, bad-input reporting, source mixing, evaluation."""
import itertools
import json
import logging
import math
import os.path as osp
import uuid

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from pycocotools import mask as mask_utils

import groma_mm.datasets  # noqa: F401  (registers the dataset and transforms)
from groma_mm.registry import DATA_SAMPLERS, DATASETS, METRICS
from groma_mm.testing import make_coco_dataset

IMG_SIZE = (96, 128)  # (h, w)
PACK_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances')


@pytest.fixture(autouse=True)
def groma_scope():
    # pipelines are built through mmengine's root registry, which resolves names in the default scope
    init_default_scope('groma_mm')


@pytest.fixture
def log_text():
    """Everything logged through the current MMLogger during the test, as one string (call it)."""
    logger = MMLogger.get_instance(f'test-{uuid.uuid4()}')
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    yield lambda: '\n'.join(r.getMessage() for r in records)
    logger.removeHandler(handler)


def build_dataset(root, **kwargs):
    cfg = dict(type='ClassAgnosticCocoDataset', data_root=str(root), ann_file='annotations.json',
               data_prefix=dict(img='images/'))
    return DATASETS.build({**cfg, **kwargs})


def json_boxes_xyxy(ann_file):
    """{image_id: sorted [x1, y1, x2, y2] of the drawn shapes} from a normal (bbox-carrying) file."""
    with open(ann_file) as f:
        coco = json.load(f)
    boxes = {img['id']: [] for img in coco['images']}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        boxes[ann['image_id']].append([x, y, x + w, y + h])
    return {k: sorted(v) for k, v in boxes.items()}


def dataset_boxes(dataset):
    return {info['img_id']: sorted(inst['bbox'] for inst in info['instances'])
            for info in (dataset.get_data_info(i) for i in range(len(dataset)))}


def test_generator_boxes_are_the_drawn_pixels(tmp_path):
    ann_file = make_coco_dataset(tmp_path / 'a', num_images=4, img_size=IMG_SIZE, seed=3)
    again = make_coco_dataset(tmp_path / 'b', num_images=4, img_size=IMG_SIZE, seed=3)
    assert open(ann_file).read() == open(again).read()
    coco = json.load(open(ann_file))
    assert {a['category_id'] for a in coco['annotations']} == {1, 2}
    for img in coco['images']:
        if not img['file_name'].endswith('.png'):  # JPEG blurs colours; PNG is exact
            continue
        pixels = cv2.imread(str(tmp_path / 'a' / 'images' / img['file_name']))
        foreground = ~((pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2]))  # not grey
        drawn = np.zeros_like(foreground)
        for ann in (a for a in coco['annotations'] if a['image_id'] == img['id']):
            seg = ann['segmentation']
            rle = seg if isinstance(seg, dict) else mask_utils.merge(mask_utils.frPyObjects(seg, *IMG_SIZE))
            mask = mask_utils.decode(rle).astype(bool)
            ys, xs = np.nonzero(mask)
            assert ann['bbox'] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
            assert len(np.unique(pixels[mask], axis=0)) == 1  # one flat colour per shape
            drawn |= mask
        assert np.array_equal(drawn, foreground)


@pytest.mark.parametrize('serialize_data', [True, False])
def test_loads_every_category_as_object(tmp_path, serialize_data):
    ann_file = make_coco_dataset(tmp_path, num_images=6, img_size=IMG_SIZE, seed=0)
    dataset = build_dataset(tmp_path, serialize_data=serialize_data)
    assert dataset.metainfo['classes'] == ('object', )
    assert len(dataset) == 6 and dataset.bad_entries == []
    info = dataset.get_data_info(0)
    assert osp.isfile(info['img_path']) and (info['height'], info['width']) == IMG_SIZE
    labels = [inst['bbox_label'] for i in range(len(dataset)) for inst in dataset.get_data_info(i)['instances']]
    assert labels and set(labels) == {0}
    assert dataset_boxes(dataset) == json_boxes_xyxy(ann_file)


def test_mask_only_sa1b_style_file_gives_the_drawn_boxes(tmp_path):
    ann_file = make_coco_dataset(tmp_path / 'boxes', num_images=6, img_size=IMG_SIZE, seed=1)
    mask_file = make_coco_dataset(tmp_path / 'masks', num_images=6, img_size=IMG_SIZE, seed=1, mask_only=True)
    anns = json.load(open(mask_file))['annotations']
    assert all('bbox' not in a and 'category_id' not in a for a in anns)
    assert {type(a['segmentation']) for a in anns} == {dict, list}  # RLE and polygons both exercised
    dataset = build_dataset(tmp_path / 'masks')
    assert dataset.bad_entries == []
    assert dataset_boxes(dataset) == json_boxes_xyxy(ann_file)


def test_bad_entries_are_skipped_and_reported(tmp_path, log_text):
    ann_file = make_coco_dataset(tmp_path, num_images=3, img_size=IMG_SIZE, seed=0)
    drawn = json_boxes_xyxy(ann_file)
    coco = json.load(open(ann_file))
    h, w = IMG_SIZE
    coco['images'].append(dict(id=99, file_name='gone.jpg', height=h, width=w))
    extra = [  # annotation ids 1000.. on image 1
        [5, 5, 0.5, 10],  # degenerate
        [math.nan, 5, 10, 10],  # degenerate
        [w + 10, 10, 20, 20],  # outside
        [w - 8, h - 6, 20, 30],  # partly outside
        None,  # no box at all
    ]
    for k, bbox in enumerate(extra):
        ann = dict(id=1000 + k, image_id=1, category_id=1, iscrowd=0)
        if bbox is not None:
            ann['bbox'] = bbox
        coco['annotations'].append(ann)
    coco['annotations'].append(dict(id=2000, image_id=99, bbox=[1, 1, 10, 10], category_id=1))
    coco['annotations'].append(dict(id=2001, image_id=7, bbox=[1, 1, 10, 10], category_id=1))
    # image 3 keeps only a box entirely outside: it ends up empty
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] != 3]
    coco['annotations'].append(dict(id=3000, image_id=3, bbox=[-50, 10, 20, 20], category_id=2))
    json.dump(coco, open(ann_file, 'w'))

    dataset = build_dataset(tmp_path, filter_cfg=dict(filter_empty_gt=False))
    expected = [
        dict(file=ann_file, image_id=7, ann_id=2001, reason='unknown image id'),
        dict(file=ann_file, image_id=1, ann_id=1000, reason='degenerate box'),
        dict(file=ann_file, image_id=1, ann_id=1001, reason='degenerate box'),
        dict(file=ann_file, image_id=1, ann_id=1002, reason='box outside image'),
        dict(file=ann_file, image_id=1, ann_id=1004, reason='no box'),
        dict(file=ann_file, image_id=3, ann_id=3000, reason='box outside image'),
        dict(file=ann_file, image_id=99, ann_id=None, reason='missing image file'),
    ]
    assert dataset.bad_entries == expected
    assert sorted(dataset_boxes(dataset)) == [1, 2, 3]  # the missing image is gone, the empty one kept
    assert dataset_boxes(dataset)[1] == sorted(drawn[1] + [[w - 8, h - 6, w, h]])  # partly outside: clipped

    text = log_text()
    assert f'skipped 7 bad entries in {ann_file}' in text
    assert 'degenerate box: 2' in text and 'box outside image: 2' in text and 'missing image file: 1' in text
    assert f'{ann_file}: image_id=99 ann_id=None: missing image file' in text
    assert f'{ann_file}: image_id=1 ann_id=1002: box outside image' in text

    assert len(build_dataset(tmp_path, filter_cfg=dict(filter_empty_gt=True))) == 2
    assert len(build_dataset(tmp_path, filter_cfg=dict(filter_empty_gt=True), test_mode=True)) == 3


def test_invalid_segmentation_is_reported_not_fatal(tmp_path):
    ann_file = make_coco_dataset(tmp_path, num_images=2, img_size=IMG_SIZE, seed=0, mask_only=True)
    coco = json.load(open(ann_file))
    coco['annotations'][0]['segmentation'] = [[1, 2, 3]]  # not a polygon
    json.dump(coco, open(ann_file, 'w'))
    dataset = build_dataset(tmp_path)
    assert [e['reason'] for e in dataset.bad_entries] == ['invalid segmentation']
    assert dataset.bad_entries[0]['ann_id'] == coco['annotations'][0]['id']


def train_pipeline():
    return [
        dict(type='RobustLoadImageFromFile'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True),
        dict(type='mmdet.Resize', scale=(64, 48), keep_ratio=True),
        dict(type='mmdet.PackDetInputs'),
    ]


def test_two_sources_mixed_by_multi_source_sampler(tmp_path):
    sources = [dict(root=tmp_path / 'coco', n=6, seed=0, mask_only=False),
               dict(root=tmp_path / 'sa1b', n=4, seed=1, mask_only=True)]
    for s in sources:
        make_coco_dataset(s['root'], num_images=s['n'], img_size=IMG_SIZE, seed=s['seed'], mask_only=s['mask_only'])
    concat = DATASETS.build(
        dict(type='ConcatDataset',
             datasets=[
                 dict(type='ClassAgnosticCocoDataset', data_root=str(s['root']), ann_file='annotations.json',
                      data_prefix=dict(img='images/'), filter_cfg=dict(filter_empty_gt=True),
                      pipeline=train_pipeline()) for s in sources
             ]))
    assert concat.cumulative_sizes == [6, 10]
    sampler = DATA_SAMPLERS.build(
        dict(type='MultiSourceSampler', batch_size=4, source_ratio=[3, 1], seed=0), default_args=dict(dataset=concat))
    draws = np.array(list(itertools.islice(iter(sampler), 400)))
    from_second = draws >= 6
    assert abs(from_second.mean() - 0.25) < 0.03
    assert set(draws[~from_second]) == set(range(6)) and set(draws[from_second]) == set(range(6, 10))

    loader = torch.utils.data.DataLoader(concat, batch_size=4, sampler=sampler, collate_fn=pseudo_collate)
    batch = next(iter(loader))
    assert len(batch['inputs']) == 4 and batch['inputs'][0].shape[0] == 3
    labels = torch.cat([s.gt_instances.labels for s in batch['data_samples']])
    assert len(labels) > 0 and set(labels.tolist()) == {0}


def test_a_named_source_reaches_the_data_samples(tmp_path):
    make_coco_dataset(tmp_path, num_images=2, img_size=IMG_SIZE, seed=3, mask_only=True)
    pipeline = train_pipeline()[:-1] + [dict(type='mmdet.PackDetInputs', meta_keys=PACK_META_KEYS + ('source', ))]
    named = build_dataset(tmp_path, source='sa1b', pipeline=pipeline)
    assert named.get_data_info(0)['source'] == 'sa1b'
    assert named[0]['data_samples'].source == 'sa1b'
    assert 'source' not in build_dataset(tmp_path, pipeline=pipeline)[0]['data_samples']


def test_test_pipeline_feeds_coco_metric_without_ann_file(tmp_path):
    ann_file = make_coco_dataset(tmp_path, num_images=5, img_size=IMG_SIZE, seed=2)
    dataset = build_dataset(tmp_path, test_mode=True, pipeline=[
        dict(type='RobustLoadImageFromFile'),
        dict(type='mmdet.Resize', scale=(64, 48), keep_ratio=True),
        dict(type='mmdet.LoadAnnotations', with_bbox=True),
        dict(type='mmdet.PackDetInputs', meta_keys=PACK_META_KEYS),
    ])
    # default proposal_nums: mmdet names AR keys as if they were (100, 300, 1000)
    metric = METRICS.build(dict(type='mmdet.CocoMetric', ann_file=None, metric=['bbox', 'proposal']))
    metric.dataset_meta = dataset.metainfo
    drawn = json_boxes_xyxy(ann_file)
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        assert sorted(inst['bbox'] for inst in sample.instances) == drawn[sample.img_id]  # original pixels
        assert sample.img_shape != sample.ori_shape  # resized, yet instances stay in original pixels
        boxes = torch.tensor(drawn[sample.img_id], dtype=torch.float32)
        sample.pred_instances = InstanceData(
            bboxes=boxes, scores=torch.ones(len(boxes)), labels=torch.zeros(len(boxes), dtype=torch.long))
        metric.process({}, [sample.to_dict()])
    results = metric.evaluate(len(dataset))
    assert results['coco/bbox_mAP'] == pytest.approx(1.0)
    assert results['coco/AR@100'] == pytest.approx(1.0)


def test_unreadable_image_at_run_time_is_logged_counted_and_replaced(tmp_path, log_text):
    make_coco_dataset(tmp_path, num_images=4, img_size=IMG_SIZE, seed=0)
    dataset = build_dataset(tmp_path, pipeline=[dict(type='RobustLoadImageFromFile')])
    deleted, corrupt = dataset.get_data_info(0)['img_path'], dataset.get_data_info(1)['img_path']
    (tmp_path / 'images' / osp.basename(deleted)).unlink()
    (tmp_path / 'images' / osp.basename(corrupt)).write_bytes(b'not an image at all')

    loader = dataset.pipeline.transforms[0]
    for idx, broken in ((0, deleted), (1, corrupt)):
        data = dataset[idx]  # mmengine refetches a random other index after None
        assert data['img_path'] not in (deleted, corrupt) and data['img'].shape == (*IMG_SIZE, 3)
        assert broken in log_text()
    assert loader.num_failures >= 2
    assert 'unreadable so far' in log_text()
