"""Integration: the released-proposer config through tools/test.py and tools/train.py, as a user runs them.

The real DINOv2-L model cannot run here, so the config is used as released except for the model, which
is the same class at the size of golden 03 ``levels1``, loaded from that golden's official state dict via
the converter (what groma_official_to_mm.py writes), and the data, a tiny two-source COCO world.
"""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from groma_mm.converters import SourceKeys
from groma_mm.converters.official_proposer import convert_official_proposer, official_proposer_cfg
from groma_mm.testing import make_coco_dataset
from groma_mm.testing.golden import load_golden
from groma_mm.testing.paths import REPO_ROOT

RELEASED_CONFIG = osp.join(REPO_ROOT, 'configs/groma_proposer/groma-proposer_official-det-pretrain.py')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('official_proposer')
    for name, seed, mask_only in (('coco', 0, False), ('sa1b', 1, True), ('val', 2, False)):
        make_coco_dataset(str(root / name), num_images=4, img_size=(112, 112), seed=seed, mask_only=mask_only)
    case = load_golden(osp.join(REPO_ROOT, 'tests/data/parity/03_proposer_seed0.pt'))['cases']['levels1']
    src = SourceKeys(case['state_dict'], source='golden 03')
    state = convert_official_proposer(src, case['config'])
    src.check_all_used()
    ckpt = str(root / 'official_tiny_mm.pth')
    torch.save({'meta': {}, 'state_dict': state}, ckpt)

    def data(name, **kwargs):
        return dict(data_root=str(root / name) + '/', ann_file='annotations.json', data_prefix=dict(img='images/'),
                    **kwargs)

    def source(name):
        # the released config's own training pipeline (it packs `source`), on a tiny dataset
        return f"dict(type='ClassAgnosticCocoDataset', source={name!r}, pipeline={{{{_base_.train_pipeline}}}}, " \
               f"**{data(name)!r})"

    loader = dict(batch_size=2, num_workers=0, persistent_workers=False)
    config = str(root / 'official_tiny.py')
    with open(config, 'w') as f:
        f.write(f"""_base_ = [{RELEASED_CONFIG!r}]
model = dict(_delete_=True, **{official_proposer_cfg(case['config'])!r})
load_from = {ckpt!r}
train_dataloader = dict(
    {loader!r},
    sampler=dict(type='mmdet.MultiSourceSampler', batch_size=2, source_ratio=[1, 1]),
    dataset=dict(datasets=[{source('coco')}, {source('sa1b')}]))
test_dataloader = dict({loader!r}, dataset={data('val')!r})
val_dataloader = test_dataloader
train_cfg = dict(max_iters=3, val_interval=1000)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=3))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
""")
    return dict(root=root, config=config, ckpt=ckpt)


def test_test_tool_evaluates_the_released_proposer_config(setup):
    out = subprocess.run([sys.executable, 'tools/test.py', setup['config'], setup['ckpt'], '--work-dir',
                          str(setup['root'] / 'test')], check=True, cwd=REPO_ROOT, capture_output=True, text=True)
    assert "'coco/AR@100'" in out.stdout and "'coco/bbox_mAP'" in out.stdout


def test_train_tool_trains_the_released_proposer_config_on_two_sources(setup):
    work_dir = str(setup['root'] / 'train')
    subprocess.run([sys.executable, 'tools/train.py', setup['config'], '--work-dir', work_dir], check=True,
                   cwd=REPO_ROOT, capture_output=True, text=True)
    (scalars, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        losses = [row['loss'] for row in map(json.loads, f) if 'loss' in row]
    assert len(losses) == 3 and all(0 < loss < 1e4 for loss in losses)
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))
