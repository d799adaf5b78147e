"""The reply each reader writes, one sample per task, against the official Groma reply formats.

The formats (official ``groma/data/datasets/*.py``, paper §3.2), written here independently of the readers:

- REC (``refcoco_rec.py``): ``<roi><ground_box></roi>``, the box alone; the expression is in the question;
- multi-object grounding (``coco.py``): ``<roi>`` + one box per instance + ``</roi>``; the class is in the question;
- grounded caption (``flickr.py``) and grounded chat (``groma.py``): ``<p>phrase</p> <roi>boxes</roi>`` in text;
- region caption (``visual_genome.py``, ``refcoco_cap.py``), image caption, chat: plain text, no tags.

Every reply is also put through the answer parser (``<boxK>`` read as region ``K``), so what a reader
teaches is what the parser reads back.
"""
import re

import pytest

from groma_mm.datasets import readers
from groma_mm.models.mllm.parser import parse_grounded_answer

_BOXES = r'(?:<box\d+>)+'
REC = re.compile(r'^<roi><box0></roi>$')
MULTI = re.compile(rf'^<roi>{_BOXES}</roi>$')
GROUNDED_PHRASE = re.compile(rf'<p>([^<>]+)</p> <roi>{_BOXES}</roi>')
TAG = re.compile(r'</?(?:p|roi)>|<box\d+>|<r\d+>|\[grounding\]|<region>|<image>')


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    from groma_mm.datasets.synthetic_world import generate_world
    out = str(tmp_path_factory.mktemp('world'))
    generate_world(out, num_train=3, num_val=1, seed=0)
    return out


def _first(dataset):
    return dataset.get_data_info(0)


def _reply(sample):
    return sample['conversation'][1]['content']


def _parse(reply, num_boxes):
    return parse_grounded_answer(re.sub(r'<box(\d+)>', r'<r\1>', reply), num_regions=num_boxes)


def test_rec_reply_is_the_box_alone(world):
    s = _first(readers.RefCOCODataset(ann_file=f'{world}/refcoco/refs(unc).p',
                                      data_prefix=dict(img=f'{world}/images'), split='train'))
    assert s['task'] == 'rec'
    assert REC.match(_reply(s)), _reply(s)
    assert f"<p>{s['gt']['expression']}</p>" in s['conversation'][0]['content']
    answer = _parse(_reply(s), len(s['bboxes']))
    assert [(sp.phrase, sp.region_ids) for sp in answer.spans] == [('', [0])] and not answer.flags


def test_multi_object_grounding_reply_lists_every_instance_and_nothing_else(world):
    ds = readers.DetectionGroundingDataset(ann_file=f'{world}/annotations/instances_train.json',
                                           data_prefix=dict(img=f'{world}/images'))
    s = next(ds.get_data_info(i) for i in range(len(ds)) if len(ds.get_data_info(i)['bboxes']) > 1)
    assert s['task'] == 'multi_grounding'
    reply = _reply(s)
    assert MULTI.match(reply), reply
    assert reply.count('<box') == len(s['bboxes']) == len(s['gt']['gt_bboxes'])
    assert f"<p>{s['gt']['category']}</p>" in s['conversation'][0]['content']
    answer = _parse(reply, len(s['bboxes']))
    assert [sp.region_ids for sp in answer.spans] == [list(range(len(s['bboxes'])))] and not answer.flags


def _check_grounded_text(reply, num_boxes):
    phrases = GROUNDED_PHRASE.findall(reply)
    assert phrases, reply
    # Nothing but phrase/roi pairs carries tags: no bare <roi>, no stray <p>.
    assert not TAG.search(GROUNDED_PHRASE.sub('', reply)), reply
    answer = _parse(reply, num_boxes)
    assert [sp.phrase for sp in answer.spans] == phrases and not answer.flags, (reply, answer.flags)


def test_grounded_caption_reply_wraps_each_phrase(world):
    s = _first(readers.Flickr30kEntitiesDataset(ann_file=f'{world}/flickr30k/train.txt', data_root=f'{world}/flickr30k',
                                                data_prefix=dict(img=f'{world}/images')))
    assert (s['task'], s['grounding']) == ('grounded_caption', True)
    _check_grounded_text(_reply(s), len(s['bboxes']))


def test_grounded_chat_reply_wraps_each_phrase(world):
    s = _first(readers.GromaInstructDataset(ann_file=f'{world}/groma_instruct/groma_instruct_train.json',
                                            data_prefix=dict(img=f'{world}/images')))
    assert (s['task'], s['grounding']) == ('chat', True)
    replies = [m['content'] for m in s['conversation'] if m['role'] == 'assistant']
    grounded = [r for r in replies if '<roi>' in r]
    assert grounded
    for reply in grounded:
        _check_grounded_text(reply, len(s['bboxes']))


@pytest.mark.parametrize('make', [
    lambda w: readers.VGRegionCaptionDataset(ann_file=f'{w}/vg/region_descriptions_train.json',
                                             image_data_file=f'{w}/vg/image_data.json', data_prefix=dict(img=w)),
    lambda w: readers.RefCOCOgRegionCaptionDataset(ann_file=f'{w}/refcoco/refs(unc).p',
                                                   data_prefix=dict(img=f'{w}/images'), split='train'),
    lambda w: readers.ImageCaptionDataset(ann_file=f'{w}/sharegpt4v/share-captioner_train.json',
                                          data_prefix=dict(img=f'{w}/images')),
    lambda w: readers.LLaVAChatDataset(ann_file=f'{w}/llava/llava_instruct_train.json',
                                       data_prefix=dict(img=f'{w}/images')),
], ids=['vg_region_caption', 'refcocog_region_caption', 'image_caption', 'llava_chat'])
def test_ungrounded_replies_are_plain_text(world, make):
    s = _first(make(world))
    assert not s['grounding']
    for message in s['conversation'][1::2]:
        assert not TAG.search(message['content']), message['content']
    if s['task'] == 'region_caption':
        reply = _reply(s)
        assert reply[0].isupper() and reply.lower() == s['gt']['gt_captions'][0].lower(), reply
