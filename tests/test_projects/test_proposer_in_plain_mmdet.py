"""A plain mmdet config uses GromaProposer through custom_imports and trains with mmdet's own train.py."""
import glob
import json
import os.path as osp
import subprocess
import sys

import mmdet

from groma_mm.testing.coco_world import make_coco_dataset
from groma_mm.testing.paths import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'projects/groma_proposer_resnet/configs/groma-proposer_r18_1xb2-1e_tiny-coco.py')
MMDET_TRAIN = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')


def test_mmdet_train_entry_point_trains_groma_proposer(tmp_path):
    make_coco_dataset(str(tmp_path / 'data' / 'train'), num_images=6, img_size=(96, 128), seed=3)
    work_dir = tmp_path / 'work'
    # Run from outside the repo so only the installed groma_mm package (custom_imports) is used.
    subprocess.run([sys.executable, MMDET_TRAIN, CONFIG, '--work-dir', str(work_dir), '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path}/data/'],
                   check=True, cwd=str(tmp_path))
    (scalars, ) = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    with open(scalars) as f:
        losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    assert len(losses) == 3 and all(l == l for l in losses)
    assert osp.isfile(work_dir / 'epoch_1.pth')
