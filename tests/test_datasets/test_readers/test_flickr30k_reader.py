import json
import os.path as osp

import numpy as np
import pytest

from groma_mm.datasets.instruction_templates import sample_instruction
from groma_mm.datasets.readers import Flickr30kEntitiesDataset
from groma_mm.datasets.readers.flickr30k import ground_caption, parse_entities_sentence

# Sentences/1000092795.txt in the Flickr30k Entities markup: entity id, type(s), phrase.
SENTENCES = (
    '[/EN#1/people Two young guys] with [/EN#2/bodyparts shaggy hair] look at [/EN#3/bodyparts their hands] '
    'while hanging out in [/EN#6/scene the yard] .\n'
    '[/EN#1/people Two men] talk to [/EN#7/people/other a friend] about [/EN#0/notvisual something] .\n'
    '[/EN#4/people A man] in [/EN#5/clothing a blue shirt .\n'  # unclosed phrase
    '[/EN#4/people A man] and [/EN#7/people/other his friend] stand .\n')
# Annotations/1000092795.xml (PASCAL VOC style): one <object> per box, with the entity ids it serves.
XML = """<annotation>
  <filename>1000092795.jpg</filename>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <object><name>1</name><bndbox><xmin>24</xmin><ymin>10</ymin><xmax>120</xmax><ymax>300</ymax></bndbox></object>
  <object><name>1</name><bndbox><xmin>200</xmin><ymin>20</ymin><xmax>320</xmax><ymax>360</ymax></bndbox></object>
  <object><name>2</name><bndbox><xmin>30</xmin><ymin>12</ymin><xmax>80</xmax><ymax>40</ymax></bndbox></object>
  <object><name>4</name><name>7</name><bndbox><xmin>400</xmin><ymin>50</ymin><xmax>600</xmax><ymax>370</ymax></bndbox>
  </object>
  <object><name>3</name><bndbox><xmin>90</xmin><ymin>90</ymin><xmax>89</xmax><ymax>120</ymax></bndbox></object>
  <object><name>6</name><nobndbox>1</nobndbox></object>
  <object><name>0</name><scene>1</scene></object>
</annotation>
"""


@pytest.fixture
def flickr_root(tmp_path, touch_images):
    (tmp_path / 'Sentences').mkdir()
    (tmp_path / 'Annotations').mkdir()
    (tmp_path / 'Sentences' / '1000092795.txt').write_text(SENTENCES)
    (tmp_path / 'Annotations' / '1000092795.xml').write_text(XML)
    (tmp_path / 'train.txt').write_text('1000092795\n4242\n')  # 4242 has no annotation files
    touch_images(tmp_path / 'flickr30k-images', '1000092795.jpg')
    return tmp_path


def test_parse_entities_sentence():
    sentence, phrases = parse_entities_sentence(
        '[/EN#18/people A man] with [/EN#19/clothing/other pierced ears] is [/EN#0/notvisual here] .')
    assert sentence == 'A man with pierced ears is here .'
    assert [(p['phrase'], p['span'], p['entity_id'], p['types']) for p in phrases] == [
        ('A man', (0, 5), 18, ['people']), ('pierced ears', (11, 23), 19, ['clothing', 'other']),
        ('here', (27, 31), 0, ['notvisual'])]
    with pytest.raises(ValueError, match='unclosed'):
        parse_entities_sentence('[/EN#1/people A man')


def test_ground_caption_wraps_spans():
    text, phrases = ground_caption('a dog and a cat', [((0, 5), [0]), ((10, 15), [1, 2]), ((2, 5), [3]),
                                                       ((6, 9), [])])
    assert text == '<p>a dog</p> <roi><box0></roi> and <p>a cat</p> <roi><box1><box2></roi>'
    assert [p['box_inds'] for p in phrases] == [[0], [1, 2]]


def test_entities_format(flickr_root, check_contract):
    ds = Flickr30kEntitiesDataset(ann_file='train.txt', data_root=str(flickr_root),
                                  data_prefix=dict(img='flickr30k-images'))
    assert len(ds) == 3
    s = ds.get_data_info(0)
    assert s['img_path'] == osp.join(str(flickr_root), 'flickr30k-images', '1000092795.jpg')
    assert (s['img_id'], s['height'], s['width'], s['task'], s['grounding']) == (1000092795, 375, 500,
                                                                                  'grounded_caption', True)
    assert s['conversation'][0] == dict(role='user', content=sample_instruction('grounded_caption', 0, seed=0))
    # Entity 1 has two boxes; entity 3's box is degenerate and entity 6 has none: both stay plain text.
    assert s['conversation'][1] == dict(
        role='assistant',
        content='<p>Two young guys</p> <roi><box0><box1></roi> with <p>shaggy hair</p> <roi><box2></roi> look at '
        'their hands while hanging out in the yard .')
    # 1-based inclusive xml boxes → continuous xyxy: xmin - 1, ymin - 1.
    np.testing.assert_array_equal(s['bboxes'], [[23, 9, 120, 300], [199, 19, 320, 360], [29, 11, 80, 40]])
    assert s['gt']['gt_captions'] == [
        'Two young guys with shaggy hair look at their hands while hanging out in the yard .']
    assert s['gt']['phrases'][0] == dict(phrase='Two young guys', span=(0, 14), box_inds=[0, 1])
    assert s['gt']['sentence_id'] == 0

    s = ds.get_data_info(1)  # notvisual phrase stays plain; entity 7's box is clipped to the 500-px width
    assert s['conversation'][1]['content'] == ('<p>Two men</p> <roi><box0><box1></roi> talk to <p>a friend</p> '
                                               '<roi><box2></roi> about something .')
    np.testing.assert_array_equal(s['bboxes'][2], [399, 49, 500, 370])
    s = ds.get_data_info(2)  # one box serving two entities is one box
    assert s['conversation'][1]['content'] == ('<p>A man</p> <roi><box0></roi> and <p>his friend</p> '
                                               '<roi><box0></roi> stand .')
    assert len(s['bboxes']) == 1
    check_contract(ds)
    # Without data_root, Sentences/ and Annotations/ are found beside the split list.
    beside = Flickr30kEntitiesDataset(ann_file=str(flickr_root / 'train.txt'),
                                      data_prefix=dict(img=str(flickr_root / 'flickr30k-images')))
    assert [beside.get_data_info(i)['conversation'] for i in range(3)] == [
        ds.get_data_info(i)['conversation'] for i in range(3)]


def test_entities_bad_entries(flickr_root):
    ds = Flickr30kEntitiesDataset(ann_file='train.txt', data_root=str(flickr_root),
                                  data_prefix=dict(img='flickr30k-images'))
    got = sorted((osp.basename(e['file']), e['index'], e['reason'].split(':')[0]) for e in ds.bad_entries)
    assert got == [('1000092795.txt', 2, 'malformed sentence'), ('1000092795.xml', 4, 'degenerate box'),
                   ('train.txt', 1, 'unreadable annotation')]


def _mdetr_flickr():
    caption = 'Two young guys with shaggy hair look at their hands .'
    images = [dict(file_name='1000092795.jpg', height='375', width='500', id=0, caption=caption,
                   dataset_name='flickr', tokens_negative=[[0, len(caption)]], sentence_id=0,
                   original_img_id=1000092795, tokens_positive_eval=[[[0, 14]], [[20, 31]]])]
    annotations = [
        dict(area=1, iscrowd=0, image_id=0, category_id=1, id=0, bbox=[30, 12, 50, 28], tokens_positive=[[20, 31]]),
        dict(area=1, iscrowd=0, image_id=0, category_id=1, id=1, bbox=[24, 10, 96, 290], tokens_positive=[[0, 14]]),
        dict(area=1, iscrowd=0, image_id=0, category_id=1, id=2, bbox=[200, 20, 120, 340],
             tokens_positive=[[0, 14]]),
        dict(area=1, iscrowd=0, image_id=0, category_id=1, id=3, bbox=[1, 1, 0, 0], tokens_positive=[[40, 51]]),
    ]
    return dict(images=images, annotations=annotations, categories=[dict(id=1, name='object')])


def test_mdetr_format(flickr_root, check_contract):
    (flickr_root / 'final_flickr_separateGT_train.json').write_text(json.dumps(_mdetr_flickr()))
    ds = Flickr30kEntitiesDataset(ann_file='final_flickr_separateGT_train.json', data_root=str(flickr_root),
                                  data_prefix=dict(img='flickr30k-images'))
    assert len(ds) == 1
    s = ds.get_data_info(0)
    assert s['img_id'] == 1000092795 and (s['height'], s['width']) == (375, 500)
    # Boxes renumbered in order of first mention; the degenerate box (bad entry) leaves its phrase plain.
    assert s['conversation'][1]['content'] == ('<p>Two young guys</p> <roi><box0><box1></roi> with '
                                               '<p>shaggy hair</p> <roi><box2></roi> look at their hands .')
    np.testing.assert_array_equal(s['bboxes'], [[24, 10, 120, 300], [200, 20, 320, 360], [30, 12, 80, 40]])
    assert [(e['index'], e['ann_id'], e['reason']) for e in ds.bad_entries] == [(0, 3, 'degenerate box')]
    check_contract(ds)
