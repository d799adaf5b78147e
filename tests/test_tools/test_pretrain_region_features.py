"""pretrain_region_features.py: the region feature encoder learns the world's attributes, and Groma loads it."""
import json
import subprocess
import sys

import torch

from groma_mm.datasets.synthetic_world import generate_world
from groma_mm.models.encoders import FrozenConvEncoder
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT
from groma_mm.utils import load_config, register_all_modules

STAGE2 = f'{REPO_ROOT}/configs/groma/groma_tiny_1xb8-stage2-align_synthetic.py'


def test_the_heads_learn_the_attributes_and_groma_loads_the_trained_weights(tmp_path):
    world = tmp_path / 'world'
    generate_world(str(world), 16, 4, seed=0, img_size=112)
    out = tmp_path / 'features.pth'
    run = subprocess.run([sys.executable, 'tools/pretrain_region_features.py', STAGE2, '--world', str(world),
                          '--out', str(out), '--steps', '60', '--images-per-step', '8'],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    # Six colours, four shapes: chance is far below these.
    assert report['train']['colour'] >= 0.9 and report['train']['shape'] >= 0.6, report

    register_all_modules()
    cfg = load_config(STAGE2, {'model.region_feature_encoder.checkpoint': str(out)})
    loaded = MODELS.build(cfg.model.region_feature_encoder).state_dict()
    trained, seeded = torch.load(out), FrozenConvEncoder(seed=0).state_dict()
    assert set(loaded) == set(trained) == set(seeded)
    assert all(torch.equal(loaded[k], trained[k]) for k in trained)
    assert not torch.equal(trained['layers.0.weight'], seeded['layers.0.weight'])
