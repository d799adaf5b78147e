"""Findings of the reliability review: file errors name the file; a Flickr30k split list is validated as one;
unreadable text and images are reported, never raised."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from groma_mm.datasets import readers
from groma_mm.datasets.file_errors import DatasetFileError
from groma_mm.datasets.synthetic_world import generate_world
from groma_mm.datasets.transforms import RobustLoadImageFromFile
from groma_mm.datasets.validation import validate
from groma_mm.testing.paths import REPO_ROOT


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('world'))
    generate_world(root, 2, 1, seed=0, img_size=64)
    return root


def _truncate(path, tmp_path):
    with open(path, 'rb') as f:
        data = f.read()
    out = tmp_path / osp.basename(path)
    out.write_bytes(data[:len(data) // 2])
    return out


def test_a_truncated_json_is_refused_with_the_files_name(world, tmp_path):
    bad = _truncate(f'{world}/llava/llava_instruct_train.json', tmp_path)
    with pytest.raises(DatasetFileError, match='llava_instruct_train.json.*JSONDecodeError.*validate_dataset'):
        readers.LLaVAChatDataset(ann_file=str(bad), data_prefix=dict(img=f'{world}/images'))
    # The file that broke is named even when it is not the dataset's ann_file (refer: instances.json).
    refer = tmp_path / 'refer'
    refer.mkdir()
    (refer / 'refs(unc).p').write_bytes(open(f'{world}/refcoco/refs(unc).p', 'rb').read())
    _truncate(f'{world}/refcoco/instances.json', refer)
    with pytest.raises(DatasetFileError, match=r'instances.json \(for .*refs\(unc\).p\): RefCOCODataset'):
        readers.RefCOCODataset(ann_file=str(refer / 'refs(unc).p'), data_prefix=dict(img=f'{world}/images'))


def test_the_validator_reports_a_truncated_json_with_its_name(world, tmp_path):
    bad = _truncate(f'{world}/annotations/instances_train.json', tmp_path)
    report = validate(str(bad), img_dir=f'{world}/images')
    assert [i['kind'] for i in report['issues']] == ['bad_format']
    assert 'instances_train.json' in report['issues'][0]['reason']


def _validate_cli(*args):
    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/validate_dataset.py'), *args],
                          capture_output=True, text=True)


def test_a_flickr30k_split_list_is_validated_as_that_split(world, tmp_path):
    out = _validate_cli(f'{world}/flickr30k/train.txt', '--json', '-')
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout[out.stdout.index('{'):])['reports'][0]  # a library may log a line first
    assert report['format'] == 'flickr30k' and report['issues'] == []
    with open(f'{world}/flickr30k/train.txt', 'a') as f:
        f.write('424242\n')
    try:
        report = validate(f'{world}/flickr30k/train.txt')
    finally:
        with open(f'{world}/flickr30k/train.txt') as f:
            lines = [line for line in f if line.strip() != '424242']
        with open(f'{world}/flickr30k/train.txt', 'w') as f:
            f.writelines(lines)
    assert [(i['kind'], i['id']) for i in report['issues']] == [('dangling_reference', '424242')]


def test_a_file_of_no_known_format_is_a_usage_error_not_a_traceback(tmp_path):
    (tmp_path / 'notes.txt').write_text('hello')
    out = _validate_cli(str(tmp_path / 'notes.txt'))
    assert out.returncode == 2 and 'notes.txt' in out.stderr and 'Traceback' not in out.stderr


def test_non_utf8_sentences_are_reported(world, tmp_path):
    import shutil
    root = tmp_path / 'flickr30k'
    shutil.copytree(f'{world}/flickr30k', root)
    sentences = root / 'Sentences' / '1.txt'
    sentences.write_bytes(b'\xff\xfe' + sentences.read_bytes())
    report = validate(str(root), img_dir=f'{world}/images')
    assert [(i['kind'], osp.basename(i['file'])) for i in report['issues']] == [('bad_format', '1.txt')]


@pytest.mark.parametrize('content', ['empty', 'truncated', 'one_pixel', 'not_an_image'])
def test_an_unreadable_image_at_run_time_is_skipped_not_raised(world, tmp_path, content):
    data = open(f'{world}/images/1.jpg', 'rb').read()
    new = {'empty': b'', 'truncated': data[:len(data) // 3], 'not_an_image': b'text, not pixels\n' * 10,
           'one_pixel': cv2.imencode('.jpg', np.zeros((1, 1, 3), np.uint8))[1].tobytes()}[content]
    path = tmp_path / 'x.jpg'
    path.write_bytes(new)
    loaded = RobustLoadImageFromFile()(dict(img_path=str(path)))
    assert loaded is None or loaded['img'].ndim == 3
    if content in ('empty', 'not_an_image'):
        assert loaded is None
