import json
import os.path as osp

import numpy as np
import pytest

from groma_mm.datasets.instruction_templates import sample_instruction
from groma_mm.datasets.readers import GromaInstructDataset, ImageCaptionDataset, LLaVAChatDataset
from groma_mm.datasets.readers.chat import normalize_grounding_tags, strip_image_token

# ShareGPT-4V-PT (LLaVA format): one question, one long caption.
SHAREGPT4V_PT = [
    dict(id='sa_1', image='sam/images/sa_1.jpg', conversations=[
        dict(**{'from': 'human', 'value': '<image>\nWhat do you see happening in this image?'}),
        dict(**{'from': 'gpt', 'value': 'A red kite flies over a sandy beach.\n\nTwo people watch it.'})]),
    dict(id='plain', image='coco/train2017/000000000009.jpg', caption='A plate of food. '),
    dict(id='text-only', conversations=[dict(**{'from': 'human', 'value': 'hi'}),
                                        dict(**{'from': 'gpt', 'value': 'hello'})]),
    dict(id='no-caption', image='coco/train2017/000000000009.jpg', caption='   '),
]

# LLaVA-Instruct-150K: multi-turn, <image> on the first question (before or after the text).
LLAVA = [
    dict(id='000000033471', image='coco/train2017/000000033471.jpg', conversations=[
        dict(**{'from': 'human', 'value': 'What are the colors of the bus in the image?\n<image>'}),
        dict(**{'from': 'gpt', 'value': 'The bus in the image is white and red.'}),
        dict(**{'from': 'human', 'value': 'What feature can be seen on the back of the bus?'}),
        dict(**{'from': 'gpt', 'value': 'The back of the bus features an advertisement.'}),
        dict(**{'from': 'human', 'value': 'Is it moving?'})]),  # unanswered: dropped
    dict(id='2', image='coco/train2017/000000000002.jpg', conversations=[
        dict(**{'from': 'gpt', 'value': 'I start.'}), dict(**{'from': 'human', 'value': 'Wrong order.'})]),
    dict(id='3', image='coco/train2017/000000000003.jpg', conversations=[
        dict(**{'from': 'human', 'value': '<image>'}), dict(**{'from': 'gpt', 'value': 'empty question'})]),
    dict(id='4', image='coco/train2017/000000000004.jpg', conversations=[
        dict(**{'from': 'robot', 'value': 'Hi'}), dict(**{'from': 'gpt', 'value': 'Hello'})]),
    dict(id='5', conversations=[dict(**{'from': 'human', 'value': 'text only'}),
                                dict(**{'from': 'gpt', 'value': 'yes'})]),
    dict(id='6', image='coco/train2017/000000000006.jpg', conversations=[
        dict(**{'from': 'human', 'value': '<image>\nDescribe.'}), dict(**{'from': 'gpt', 'value': 'A cat.'})]),
]

# Groma Instruct: VG image, xywh boxes, <ground_box> per box_inds entry in the replies.
GROMA_INSTRUCT = [
    dict(file_name='2345.jpg', width=800, height=600, boxes=[[10, 20, 100, 200], [300, 40, 50, 60], [0, 0, 5, 5],
                                                            [700, 500, 200, 200]],
         conversation=[
             dict(**{'from': 'human', 'value': 'What is the man doing?'}),
             dict(**{'from': 'gpt', 'value': '<p> The man </p><roi><ground_box></roi> is flying <p>a kite</p> '
                     '<roi><ground_box> <ground_box></roi>.', 'box_inds': [1, 3, 1]}),
             dict(**{'from': 'human', 'value': 'And what is at <refer_box>?', 'box_inds': [0]}),
             dict(**{'from': 'gpt', 'value': 'It is <p>a tree</p> <roi><ground_box></roi>.', 'box_inds': [0]})]),
    dict(file_name='1.jpg', width=100, height=100, boxes=[[1, 1, 10, 10]], conversation=[
        dict(**{'from': 'human', 'value': 'Q'}),
        dict(**{'from': 'gpt', 'value': '<p>x</p> <roi><ground_box></roi> and <p>y</p> <roi><ground_box></roi>',
                'box_inds': [0]})]),
    dict(file_name='2.jpg', width=100, height=100, boxes=[[1, 1, 10, 10]], conversation=[
        dict(**{'from': 'human', 'value': 'Q'}),
        dict(**{'from': 'gpt', 'value': '<p>x</p> <roi><ground_box></roi>', 'box_inds': [3]})]),
    dict(file_name='3.jpg', width=100, height=100, boxes=[[1, 1, 0, 10]], conversation=[
        dict(**{'from': 'human', 'value': 'Q'}),
        dict(**{'from': 'gpt', 'value': '<p>x</p> <roi><ground_box></roi>', 'box_inds': [0]})]),
]


@pytest.fixture
def root(tmp_path, touch_images):
    for name, data in (('sharegpt4v_pt.json', SHAREGPT4V_PT), ('llava_instruct.json', LLAVA),
                       ('groma_instruct.json', GROMA_INSTRUCT)):
        (tmp_path / name).write_text(json.dumps(data))
    touch_images(tmp_path / 'images', 'sam/images/sa_1.jpg', 'coco/train2017/000000000009.jpg',
                 'coco/train2017/000000033471.jpg', 'coco/train2017/000000000002.jpg',
                 'coco/train2017/000000000003.jpg', 'coco/train2017/000000000004.jpg', '2345.jpg', '1.jpg', '2.jpg',
                 '3.jpg')
    return tmp_path


def _build(cls, root, ann_file, **kwargs):
    return cls(ann_file=ann_file, data_root=str(root), data_prefix=dict(img='images'), **kwargs)


def test_image_token_and_tag_normalization():
    assert strip_image_token('<image>\nWhat is it?') == 'What is it?'
    assert strip_image_token('What is it?\n<image>') == 'What is it?'
    assert strip_image_token('Line one.\nLine two <image> end') == 'Line one.\nLine two end'
    assert normalize_grounding_tags('<p> a man </p><roi> <box0> <box1> </roi>') == \
        '<p>a man</p> <roi><box0><box1></roi>'


def test_image_captions(root, check_contract):
    ds = _build(ImageCaptionDataset, root, 'sharegpt4v_pt.json')
    assert len(ds) == 2
    s = ds.get_data_info(0)
    assert s['img_path'] == osp.join(str(root), 'images', 'sam/images/sa_1.jpg')
    assert (s['img_id'], s['height'], s['width'], s['task'], s['grounding']) == ('sa_1', None, None, 'caption', False)
    assert s['conversation'] == [
        dict(role='user', content=sample_instruction('caption', 0, seed=0)),
        dict(role='assistant', content='A red kite flies over a sandy beach.\n\nTwo people watch it.'),
    ]
    assert s['bboxes'].shape == (0, 4) and s['bboxes'].dtype == np.float32
    assert s['gt'] == dict(gt_captions=['A red kite flies over a sandy beach.\n\nTwo people watch it.'])
    assert ds.get_data_info(1)['conversation'][1]['content'] == 'A plate of food.'
    assert sorted((e['index'], e['reason']) for e in ds.bad_entries) == [
        (2, 'no image (text-only samples are not used)'), (3, 'no caption')]
    check_contract(ds)
    own = _build(ImageCaptionDataset, root, 'sharegpt4v_pt.json', use_templates=False)
    assert own.get_data_info(0)['conversation'][0]['content'] == 'What do you see happening in this image?'


def test_llava_chat(root, check_contract):
    ds = _build(LLaVAChatDataset, root, 'llava_instruct.json')
    s = ds.get_data_info(0)
    assert (s['img_id'], s['task'], s['grounding']) == ('000000033471', 'chat', False)
    assert s['conversation'] == [
        dict(role='user', content='What are the colors of the bus in the image?'),
        dict(role='assistant', content='The bus in the image is white and red.'),
        dict(role='user', content='What feature can be seen on the back of the bus?'),
        dict(role='assistant', content='The back of the bus features an advertisement.'),
    ]
    assert s['gt'] == {} and s['bboxes'].shape == (0, 4)
    got = sorted((e['index'], e['reason']) for e in ds.bad_entries)
    assert [i for i, _ in got] == [1, 2, 3, 4, 5]
    assert 'expected a user turn' in got[0][1] and 'empty message' in got[1][1] and 'needs from' in got[2][1]
    assert got[3][1] == 'no image (text-only samples are not used)' and got[4][1] == 'missing image file'
    assert len(ds) == 1
    check_contract(ds)


def test_groma_instruct(root, check_contract):
    ds = _build(GromaInstructDataset, root, 'groma_instruct.json')
    assert len(ds) == 1
    s = ds.get_data_info(0)
    assert s['img_path'] == osp.join(str(root), 'images', '2345.jpg')
    assert (s['img_id'], s['height'], s['width'], s['task'], s['grounding']) == ('2345', 600, 800, 'chat', True)
    assert s['conversation'] == [
        dict(role='user', content='What is the man doing?'),
        dict(role='assistant', content='<p>The man</p> <roi><box0></roi> is flying <p>a kite</p> '
             '<roi><box1><box0></roi>.'),
        dict(role='user', content='And what is at <box2>?'),
        dict(role='assistant', content='It is <p>a tree</p> <roi><box2></roi>.'),
    ]
    # boxes[1], boxes[3] (clipped to 800×600), boxes[0], as xyxy; boxes[2] is never mentioned.
    np.testing.assert_array_equal(s['bboxes'], [[300, 40, 350, 100], [700, 500, 800, 600], [10, 20, 110, 220]])
    assert sorted((e['index'], e['reason']) for e in ds.bad_entries) == [
        (1, 'turn 1: 2 box placeholder(s) but 1 box_inds'), (2, 'turn 1: box index 3 out of range (1 boxes)'),
        (3, 'box 0: degenerate box')]
    check_contract(ds)
