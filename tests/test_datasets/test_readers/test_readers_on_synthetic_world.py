"""Every reader on every file of a tiny synthetic world: the world is written in the public formats, so the
readers must take all of it without a bad entry, and boxes of one object must agree across formats."""
import json

import numpy as np
import pytest

from groma_mm.datasets import readers


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    synthetic_world = pytest.importorskip('groma_mm.datasets.synthetic_world')
    out = str(tmp_path_factory.mktemp('world'))
    synthetic_world.generate_world(out, num_train=3, num_val=2, seed=0)
    return out


def _datasets(w):
    img = dict(img=f'{w}/images')
    return {
        'refcoco': readers.RefCOCODataset(ann_file=f'{w}/refcoco/refs(unc).p', data_prefix=img, split='train'),
        'refcoco_val_captions': readers.RefCOCOgRegionCaptionDataset(
            ann_file=f'{w}/refcoco/refs(unc).p', data_prefix=img, split='val', test_mode=True),
        'vg': readers.VGRegionCaptionDataset(ann_file=f'{w}/vg/region_descriptions_train.json',
                                             image_data_file=f'{w}/vg/image_data.json', data_prefix=dict(img=w)),
        'flickr': readers.Flickr30kEntitiesDataset(ann_file=f'{w}/flickr30k/train.txt', data_root=f'{w}/flickr30k',
                                                   data_prefix=img),
        'detection': readers.DetectionGroundingDataset(ann_file=f'{w}/annotations/instances_train.json',
                                                       data_prefix=img),
        'caption': readers.ImageCaptionDataset(ann_file=f'{w}/sharegpt4v/share-captioner_train.json',
                                               data_prefix=img),
        'llava': readers.LLaVAChatDataset(ann_file=f'{w}/llava/llava_instruct_train.json', data_prefix=img),
        'groma_instruct': readers.GromaInstructDataset(
            ann_file=f'{w}/groma_instruct/groma_instruct_train.json', data_prefix=img),
    }


def test_every_reader_reads_the_world(world, check_contract):
    with open(f'{world}/annotations/instances_train.json') as f:
        coco = json.load(f)
    coco_boxes = {}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        coco_boxes.setdefault(ann['image_id'], []).append([x, y, x + w, y + h])
    for name, ds in _datasets(world).items():
        assert ds.bad_entries == [], name
        check_contract(ds)
        if name in ('caption', 'llava', 'refcoco_val_captions'):
            continue
        for i in range(len(ds)):
            s = ds.get_data_info(i)
            known = np.asarray(coco_boxes[int(s['img_id'])], np.float32)
            for box in s['bboxes']:  # every box is one of the image's COCO boxes, to the pixel
                assert np.abs(known - box).max(axis=1).min() < 1e-3, (name, i, box)
