import json

import numpy as np
import pytest

from groma_mm.datasets.instruction_templates import sample_instruction
from groma_mm.datasets.readers import GRITDataset

CAPTION = 'two dogs on a red couch'
RECORDS = [
    # img2dataset naming (key), two boxes for the span "two dogs", one for "a red couch"; 7th value: score
    dict(key='000000001', caption=CAPTION, width=200, height=100,
         ref_exps=[[0, 8, 0.1, 0.2, 0.3, 0.6, 0.8], [0, 8, 0.5, 0.2, 0.7, 0.6, 0.7], [12, 23, 0.0, 0.5, 1.0, 1.0, 0.9]]),
    # the official filtered file's naming and 6-value entries
    dict(filename='sub/2.jpg', caption='a cat', width=50, height=50, ref_exps=[[0, 5, 0.2, 0.2, 0.8, 0.8]]),
    dict(key='3', caption='a bird', width=50, height=50, ref_exps=[[0, 6, 0.2, 0.2, 1.4, 0.8]]),  # not normalized
    dict(key='4', caption='a fish', ref_exps=[[0, 6, 0.1, 0.1, 0.5, 0.5]]),                        # no size
    dict(key='5', caption='a cow', width=50, height=50, ref_exps=[[2, 40, 0.1, 0.1, 0.5, 0.5]]),   # span outside
    dict(key='6', caption='a hen', width=50, height=50, ref_exps=[]),                              # nothing to ask
    dict(key='7', caption='a pig', width=50, height=50, ref_exps=[[0, 5, 0.1, 0.1, 0.5, 0.5]]),    # no image file
]


@pytest.fixture
def grit_root(tmp_path, touch_images):
    with open(tmp_path / 'grit.jsonl', 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in RECORDS)
    touch_images(tmp_path / 'images', '000000001.jpg', 'sub/2.jpg', '3.jpg', '4.jpg', '5.jpg', '6.jpg')
    return tmp_path


def _grit(root, **kwargs):
    return GRITDataset(ann_file='grit.jsonl', data_root=str(root), data_prefix=dict(img='images'), **kwargs)


def test_one_rec_sample_per_record_with_every_box_of_the_span(grit_root, check_contract):
    ds = _grit(grit_root)
    assert len(ds) == 2
    spans = set()
    for seed in range(6):
        s = _grit(grit_root, seed=seed).get_data_info(0)
        spans.add(s['gt']['expression'])
        assert s['task'] == 'rec' and not s['grounding'] and (s['height'], s['width']) == (100, 200)
        assert s['conversation'][0]['content'] == sample_instruction('rec', 0, seed=seed,
                                                                     expression=s['gt']['expression'])
        if s['gt']['expression'] == 'two dogs':
            np.testing.assert_allclose(s['bboxes'], [[20, 20, 60, 60], [100, 20, 140, 60]])  # normalized → pixels
            assert s['conversation'][1]['content'] == '<roi><box0><box1></roi>'
        else:
            np.testing.assert_allclose(s['bboxes'], [[0, 50, 200, 100]])
            assert s['conversation'][1]['content'] == '<roi><box0></roi>'
    assert spans == {'two dogs', 'a red couch'}  # the seed picks among the record's expressions
    cat = ds.get_data_info(1)
    assert cat['img_path'].endswith('images/sub/2.jpg') and cat['gt']['span'] == [0, 5]
    check_contract(ds)


def test_bad_records_are_skipped_and_named(grit_root):
    reasons = {e['key']: e['reason'] for e in _grit(grit_root).bad_entries}
    assert reasons == {'3': 'box not normalized to [0, 1]',
                       '4': 'no image size in width/height (needed to turn normalized boxes into pixels)',
                       '5': 'span [2, 40] outside the caption', '6': 'no ref_exps', '7': 'missing image file'}
