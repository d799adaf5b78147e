"""The REC test splits from the three public layouts (RECBenchmarkDataset), and MDETR-style files whose
entries carry sent_id / ann_id: references merged per ref for RefCOCOg captions."""
import json
import pickle

import numpy as np
import pytest

from groma_mm.datasets.readers import RECBenchmarkDataset, RefCOCOgRegionCaptionDataset
from groma_mm.datasets.readers.rec_benchmark import TABLE2_SPLITS, split_ann_file

IMG = 'COCO_train2014_000000000001.jpg'


def official_split(expressions):
    """The official release's per-split REC json: one image entry per expression, its box the annotation."""
    images, annotations = [], []
    for i, (caption, box) in enumerate(expressions):
        images.append({'file_name': IMG, 'height': 100, 'width': 200, 'id': i, 'original_id': 1, 'caption': caption,
                       'dataset_name': 'refcoco'})
        annotations.append({'area': box[2] * box[3], 'iscrowd': 0, 'image_id': i, 'category_id': 1, 'id': i,
                            'bbox': box})
    return {'images': images, 'annotations': annotations, 'categories': [{'id': 1, 'name': 'person'}]}


@pytest.fixture
def root(tmp_path, touch_images):
    (tmp_path / 'groma_eval').mkdir()
    (tmp_path / 'groma_eval' / 'refcoco_val.json').write_text(json.dumps(official_split(
        [('the man on the left', [10, 20, 30, 40]), ('left guy', [10, 20, 30, 40])])))
    (tmp_path / 'groma_eval' / 'refcoco+_testA.json').write_text(json.dumps(official_split(
        [('dog in red', [150, 50, 40, 40])])))
    (tmp_path / 'groma_eval' / 'final_refcocog_test.json').write_text(json.dumps(official_split(
        [('a man wearing a hat', [1, 1, 20, 20])])))
    (tmp_path / 'refcocog').mkdir()
    refs = [{'ref_id': 0, 'ann_id': 10, 'image_id': 1, 'split': 'val', 'category_id': 1, 'sent_ids': [0],
             'file_name': 'COCO_train2014_000000000001_10.jpg',
             'sentences': [{'sent_id': 0, 'sent': 'the tall man', 'raw': 'The tall man.', 'tokens': []}]},
            {'ref_id': 1, 'ann_id': 10, 'image_id': 1, 'split': 'train', 'category_id': 1, 'sent_ids': [1],
             'file_name': 'COCO_train2014_000000000001_10.jpg',
             'sentences': [{'sent_id': 1, 'sent': 'a training ref', 'raw': '', 'tokens': []}]}]
    with open(tmp_path / 'refcocog' / 'refs(umd).p', 'wb') as f:
        pickle.dump(refs, f, protocol=2)
    (tmp_path / 'refcocog' / 'instances.json').write_text(json.dumps({
        'images': [{'id': 1, 'file_name': IMG, 'height': 100, 'width': 200}],
        'annotations': [{'id': 10, 'image_id': 1, 'bbox': [10, 20, 30, 40], 'area': 1200, 'iscrowd': 0,
                         'category_id': 1}],
        'categories': [{'id': 1, 'name': 'person'}]}))
    touch_images(tmp_path / 'coco', IMG)
    return tmp_path


def test_official_per_split_files_are_labelled_by_split(root):
    ds = RECBenchmarkDataset(layout='official', ann_dir='groma_eval', splits=['refcoco_val', 'refcoco+_testA'],
                             data_root=str(root), data_prefix=dict(img='coco/'))
    assert len(ds) == 3
    samples = [ds.get_data_info(i) for i in range(3)]
    assert [s['gt']['split'] for s in samples] == ['refcoco_val', 'refcoco_val', 'refcoco+_testA']
    assert [s['sample_idx'] for s in samples] == [0, 1, 0]  # each split counts its own samples
    assert [s['gt']['expression'] for s in samples] == ['the man on the left', 'left guy', 'dog in red']
    assert samples[0]['img_id'] == 1 and samples[0]['img_path'].endswith('coco/' + IMG)
    assert samples[0]['conversation'][1]['content'] == '<roi><box0></roi>'
    assert '<p>left guy</p>' in samples[1]['conversation'][0]['content']
    np.testing.assert_array_equal(samples[2]['gt']['gt_bboxes'], [[150, 50, 190, 90]])


def test_mdetr_and_refer_layouts(root):
    mdetr = RECBenchmarkDataset(layout='mdetr', ann_dir='groma_eval', splits=['refcocog_test'], data_root=str(root),
                                data_prefix=dict(img='coco/'))
    assert [mdetr.get_data_info(0)['gt'][k] for k in ('split', 'expression')] == ['refcocog_test',
                                                                                 'a man wearing a hat']
    refer = RECBenchmarkDataset(layout='refer', splits=['refcocog_val'], data_root=str(root),
                                data_prefix=dict(img='coco/'))
    assert len(refer) == 1  # the pickle's other split is left out
    s = refer.get_data_info(0)
    assert (s['gt']['split'], s['gt']['expression'], s['gt']['ref_id']) == ('refcocog_val', 'the tall man', 0)


def test_file_names_of_every_layout_and_bad_names():
    assert [split_ann_file('official', s) for s in TABLE2_SPLITS[3:5]] == ['refcoco+_val.json', 'refcoco+_testA.json']
    assert split_ann_file('mdetr', 'refcocog_val') == 'final_refcocog_val.json'
    assert split_ann_file('refer', 'refcoco+_testB') == 'refcoco+/refs(unc).p'
    assert split_ann_file('refer', 'refcocog_test') == 'refcocog/refs(umd).p'
    with pytest.raises(ValueError, match='unknown REC layout'):
        split_ann_file('coco', 'refcoco_val')
    with pytest.raises(ValueError, match='unknown REC split'):
        split_ann_file('official', 'refclef_val')


def mdetr_refcocog_with_ids(with_ref_id):
    """17 refs, the first 5 with two sentences: 22 entries. The entries name their sentence and annotation
    (``sent_id``, ``ann_id``); the annotations' own ids number the entries, as converted files do."""
    images, annotations = [], []
    for ref in range(17):
        for sent in range(2 if ref < 5 else 1):
            entry = len(images)
            images.append(dict({'file_name': f'COCO_train2014_{ref // 3:012d}.jpg', 'height': 480, 'width': 640,
                                'id': entry, 'original_id': ref // 3, 'caption': f'object {ref} sentence {sent}',
                                'sent_id': 100 * ref + sent, 'ann_id': 5000 + ref},
                               **({'ref_id': ref} if with_ref_id else {})))
            annotations.append({'id': entry, 'image_id': entry, 'bbox': [ref, ref, 50, 60], 'area': 3000,
                                'iscrowd': 0, 'category_id': 1})
    return {'images': images, 'annotations': annotations, 'categories': [{'id': 1, 'name': 'object'}]}


@pytest.mark.parametrize('with_ref_id', [True, False])
def test_refcocog_caption_references_are_merged_per_ref(tmp_path, touch_images, with_ref_id):
    data = mdetr_refcocog_with_ids(with_ref_id)
    assert len(data['images']) == 22
    (tmp_path / 'refcocog_val.json').write_text(json.dumps(data))
    touch_images(tmp_path, *{img['file_name'] for img in data['images']})
    ds = RefCOCOgRegionCaptionDataset(ann_file='refcocog_val.json', data_root=str(tmp_path), test_mode=True)
    assert len(ds) == 17
    first = ds.get_data_info(0)['gt']
    assert first['gt_captions'] == ['object 0 sentence 0', 'object 0 sentence 1']
    assert (first['sent_ids'], first['ann_ids']) == ([0, 1], [5000])
    assert ds.get_data_info(16)['gt']['gt_captions'] == ['object 16 sentence 0']
    # In training, one sample per sentence keeps its own ids.
    train = RefCOCOgRegionCaptionDataset(ann_file='refcocog_val.json', data_root=str(tmp_path))
    assert len(train) == 22 and train.get_data_info(1)['gt']['sent_ids'] == [1]
