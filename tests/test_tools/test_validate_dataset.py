"""tools/validate_dataset.py: a generated world is clean; each kind of corruption is reported with its file
and index, and the exit status says so."""
import importlib.util
import json
import os
import os.path as osp
import pickle
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from groma_mm.datasets.validation import (detect_format, parse_flickr_sentence, validate, validate_chat,
                                          validate_coco, validate_flickr30k, validate_refer, validate_vg)
from groma_mm.testing.paths import REPO_ROOT


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """A small world made by the generator CLI, as a user makes it."""
    root = str(tmp_path_factory.mktemp('world') / 'w')
    out = subprocess.run([sys.executable, 'tools/make_synthetic_world.py', root, '--train', '6', '--val', '3',
                          '--seed', '1', '--no-progress'], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'train' in out.stdout and 'refcoco/refs(unc).p' in out.stdout  # the summary table and layout
    return root


def _datasets(root):
    return [osp.join(root, p) for p in (
        'annotations/instances_train.json', 'annotations/instances_val.json', 'refcoco/refs(unc).p',
        'vg/region_descriptions.json', 'vg/region_descriptions_val.json', 'flickr30k',
        'sharegpt4v/share-captioner_train.json', 'llava/llava_instruct_train.json', 'llava/llava_instruct_val.json',
        'groma_instruct/groma_instruct_train.json', 'groma_instruct/groma_instruct_val.json')]


@pytest.fixture
def copy(world, tmp_path):
    root = str(tmp_path / 'w')
    shutil.copytree(world, root)
    return root


def _load(path):
    with open(path) as f:
        return json.load(f)


def _dump(obj, path):
    with open(path, 'w') as f:
        json.dump(obj, f)


def _run(*args):
    return subprocess.run([sys.executable, 'tools/validate_dataset.py', *args], cwd=REPO_ROOT, capture_output=True,
                          text=True)


def _only(issues, **fields):
    found = [i for i in issues if all(i.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, issues)
    return found[0]


def test_generated_world_is_clean(world):
    out = _run(*_datasets(world))
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'OK: 0 bad entries in 11 dataset(s)' in out.stdout
    assert [detect_format(p) for p in _datasets(world)] == ['coco', 'coco', 'refer', 'vg', 'vg', 'flickr30k'] + \
        ['chat'] * 5
    assert detect_format(osp.join(world, 'refcoco')) == 'refer'


def test_missing_and_unreadable_images_are_reported_in_every_format(copy):
    os.remove(osp.join(copy, 'images', '2.jpg'))
    with open(osp.join(copy, 'images', '3.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    img_dir = osp.join(copy, 'images')
    coco = osp.join(copy, 'annotations/instances_train.json')
    issues = validate_coco(coco, img_dir)
    assert _only(issues, kind='missing_image')['file'] == coco
    assert _only(issues, kind='missing_image')['index'] == 1 and _only(issues, kind='missing_image')['id'] == 2
    assert _only(issues, kind='unreadable_image')['index'] == 2
    assert len(issues) == 2

    refer = validate_refer(osp.join(copy, 'refcoco/refs(unc).p'), img_dir)
    assert _only(refer, kind='missing_image')['file'] == osp.join(copy, 'refcoco/instances.json')
    vg = validate_vg(osp.join(copy, 'vg/region_descriptions.json'), img_dir)
    assert _only(vg, kind='missing_image')['index'] == 1
    flickr = validate_flickr30k(osp.join(copy, 'flickr30k'), img_dir)
    assert _only(flickr, kind='missing_image')['file'] == osp.join(copy, 'flickr30k/Annotations/2.xml')
    for name in ('llava/llava_instruct_train.json', 'sharegpt4v/share-captioner_train.json',
                 'groma_instruct/groma_instruct_train.json'):
        chat = validate_chat(osp.join(copy, name), img_dir)
        assert _only(chat, kind='missing_image')['index'] == 1
        assert _only(chat, kind='unreadable_image')['index'] == 2
    # a val file does not use those images
    assert validate_chat(osp.join(copy, 'llava/llava_instruct_val.json'), img_dir) == []


def test_degenerate_and_outside_boxes(copy):
    coco = osp.join(copy, 'annotations/instances_train.json')
    data = _load(coco)
    data['annotations'][2]['bbox'][2] = 0  # zero width
    data['annotations'][4]['bbox'][0] = data['images'][0]['width'] + 5  # right of the image
    data['annotations'][5]['bbox'][1] = float('nan')
    _dump(data, coco)
    issues = validate(coco)['issues']
    assert _only(issues, index=2)['kind'] == 'degenerate_box'
    assert _only(issues, index=2)['id'] == data['annotations'][2]['id'] and _only(issues, index=2)['file'] == coco
    assert _only(issues, index=4)['kind'] == 'box_outside'
    assert _only(issues, index=5)['kind'] == 'degenerate_box'
    assert len(issues) == 3

    vg = osp.join(copy, 'vg/region_descriptions.json')
    regions = _load(vg)
    regions[3]['regions'][1]['height'] = -4
    _dump(regions, vg)
    found = _only(validate(vg)['issues'], kind='degenerate_box')
    assert (found['file'], found['index'], found['sub_index']) == (vg, 3, 1)
    assert found['id'] == regions[3]['regions'][1]['region_id']

    xml = osp.join(copy, 'flickr30k/Annotations/4.xml')
    tree = ET.parse(xml)
    tree.getroot().findall('object')[1].find('bndbox/xmax').text = '140'  # image is 112 wide
    tree.write(xml)
    found = _only(validate(osp.join(copy, 'flickr30k'))['issues'], kind='box_outside')
    assert (found['file'], found['index']) == (xml, 1)

    groma = osp.join(copy, 'groma_instruct/groma_instruct_val.json')
    samples = _load(groma)
    samples[1]['boxes'][0] = [100, 100, 30, 30]
    _dump(samples, groma)
    found = _only(validate(groma)['issues'], kind='box_outside')
    assert (found['file'], found['index'], found['sub_index']) == (groma, 1, 0)


def test_placeholder_and_box_index_mismatches(copy):
    groma = osp.join(copy, 'groma_instruct/groma_instruct_train.json')
    samples = _load(groma)
    samples[0]['conversation'][0]['value'] += ' And <region>?'  # one more <region> than box_inds
    samples[3]['conversation'][0]['box_inds'] = [99]
    samples[3]['conversation'][0]['value'] = 'What is <region>?'
    samples[4]['conversation'][1]['value'] += ' <p>it</p> <roi><box7></roi>'
    _dump(samples, groma)
    issues = validate(groma)['issues']
    assert _only(issues, index=0) == dict(file=groma, index=0, id=samples[0]['id'], kind='placeholder_mismatch',
                                          sub_index=0, reason=_only(issues, index=0)['reason'])
    assert _only(issues, index=3)['kind'] == 'dangling_reference' and '99' in _only(issues, index=3)['reason']
    assert _only(issues, index=4)['kind'] == 'dangling_reference' and '<box7>' in _only(issues, index=4)['reason']
    assert len(issues) == 3

    llava = osp.join(copy, 'llava/llava_instruct_train.json')
    samples = _load(llava)
    samples[1]['conversations'][0]['value'] = samples[1]['conversations'][0]['value'].replace('<image>\n', '')
    samples[2]['conversations'][2]['value'] += ' <image>'
    samples[5]['conversations'][1]['value'] += ' <roi><box0></roi>'  # LLaVA samples have no boxes
    _dump(samples, llava)
    issues = validate(llava, fmt='llava')['issues']
    assert [(i['index'], i['kind']) for i in issues] == [(1, 'placeholder_mismatch'), (2, 'placeholder_mismatch'),
                                                         (5, 'dangling_reference')]


def test_references_to_things_that_do_not_exist(copy):
    sentences = osp.join(copy, 'flickr30k/Sentences/5.txt')
    with open(sentences) as f:
        lines = f.read().split('\n')
    entity = parse_flickr_sentence(lines[1])[0][0]
    xml = osp.join(copy, 'flickr30k/Annotations/5.xml')
    tree = ET.parse(xml)
    for obj in tree.getroot().findall('object'):
        if obj.findtext('name') == entity:
            tree.getroot().remove(obj)
    tree.write(xml)
    found = _only(validate(osp.join(copy, 'flickr30k'))['issues'], kind='dangling_reference')
    assert (found['file'], found['index'], found['id']) == (sentences, 1, '5')
    assert f'EN#{entity}' in found['reason']

    refs_file = osp.join(copy, 'refcoco/refs(unc).p')
    with open(refs_file, 'rb') as f:
        refs = pickle.load(f)
    refs[3]['ann_id'] = 10**6
    with open(refs_file, 'wb') as f:
        pickle.dump(refs, f)
    found = _only(validate(refs_file)['issues'], kind='dangling_reference')
    assert (found['file'], found['index'], found['id']) == (refs_file, 3, refs[3]['ref_id'])

    coco = osp.join(copy, 'annotations/instances_val.json')
    data = _load(coco)
    data['annotations'][0]['image_id'] = 12345
    data['annotations'][1]['category_id'] = 99
    _dump(data, coco)
    issues = validate(coco)['issues']
    assert [(i['index'], i['kind']) for i in issues] == [(0, 'dangling_reference'), (1, 'dangling_reference')]


def test_cli_exit_status_and_json_report(copy, tmp_path):
    os.remove(osp.join(copy, 'images', '1.jpg'))
    report_file = str(tmp_path / 'report.json')
    paths = _datasets(copy)
    out = _run(*paths, '--json', report_file)
    assert out.returncode == 1, out.stdout + out.stderr
    coco = osp.join(copy, 'annotations/instances_train.json')
    assert f'{coco}:0 (id 1): [missing_image]' in out.stdout
    assert 'FAILED' in out.stdout
    report = _load(report_file)
    assert [r['path'] for r in report['reports']] == paths
    by_path = {r['path']: r for r in report['reports']}
    assert by_path[coco]['issues'][0]['index'] == 0 and by_path[coco]['counts'] == {'missing_image': 1}
    assert by_path[osp.join(copy, 'annotations/instances_val.json')]['issues'] == []
    # one per format that uses image 1: coco train, refcoco, vg, flickr30k, sharegpt4v, llava, groma train
    assert report['num_issues'] == sum(len(r['issues']) for r in report['reports']) == 7



def test_cli_usage_errors(world, capsys):
    spec = importlib.util.spec_from_file_location('validate_dataset', osp.join(REPO_ROOT, 'tools/validate_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([osp.join(world, 'world.json')]) == 2  # not a dataset: a usage error, not a verdict
    assert 'not a known dataset format' in capsys.readouterr().err
    assert tool.main([osp.join(world, 'nothing.json')]) == 2
    assert tool.main([osp.join(world, 'annotations/instances_val.json'), '--format', 'pascal']) == 2
    assert tool.main([osp.join(world, 'annotations/instances_val.json'), '--json', '-']) == 0
    assert json.loads(capsys.readouterr().out)['num_issues'] == 0
