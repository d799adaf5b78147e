"""Checkpoints load without running code; a wrong checkpoint stops the run with the keys named; a stage
checkpoint on top of its sources says in one line what came from where."""
import argparse
import copy
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import load_checkpoint
from safetensors.torch import save_file

from groma_mm.apis import GromaInferencer
from groma_mm.engine.checkpoint_loading import (CheckpointMismatchError, UnsafeCheckpointError, load_local_checkpoint,
                                                load_weights, trusted_checkpoints)
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT, TINY_GROMA_MODEL_CONFIG


class WritesAFile:
    """Unpickling this runs ``touch PATH``: what a crafted checkpoint does to whoever loads it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f'touch {self.path}', )


class ReachesAPrivateAttribute:

    def __reduce__(self):
        return getattr, (HistoryBuffer, '_statistics_methods')


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    """A stage-1 proposer checkpoint, a Groma stage checkpoint trained on top of it, and the full model."""
    root = tmp_path_factory.mktemp('ckpts')
    cfg = Config.fromfile(TINY_GROMA_MODEL_CONFIG)
    torch.manual_seed(0)
    proposer = MODELS.build(copy.deepcopy(cfg.model.proposer))  # mmdet's DETRs edit their config
    proposer.init_weights()
    torch.save(dict(state_dict=proposer.state_dict()), root / 'stage1.pth')
    cfg.model.proposer_checkpoint = str(root / 'stage1.pth')  # a stage-3 model: everything but the proposer trains
    groma = MODELS.build(cfg.model)
    groma.init_weights()
    torch.save(dict(state_dict=groma.state_dict(), meta=dict(epoch=1)), root / 'stage2.pth')
    torch.save(dict(state_dict=groma.full_state_dict()), root / 'full.pth')
    return dict(root=root, cfg=cfg, groma=groma)


def _infer(*args, cwd):
    return subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/infer.py'), TINY_GROMA_MODEL_CONFIG, *args],
                          cwd=cwd, capture_output=True, text=True)


def test_an_mmengine_training_checkpoint_loads_without_trust(tmp_path):
    hub = MessageHub.get_instance('checkpoint-loading-test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_info('eta', np.float64(3.0))
    torch.save(dict(state_dict={'w': torch.ones(2)}, message_hub=hub.state_dict(),
                    meta=dict(rng=np.random.get_state())), tmp_path / 'train.pth')
    loaded = load_local_checkpoint(str(tmp_path / 'train.pth'))
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 1.5
    assert loaded['message_hub']['runtime_info']['eta'] == 3.0


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(sources, tmp_path):
    witness = tmp_path / 'PWNED'
    evil = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=sources['groma'].full_state_dict(), meta=WritesAFile(witness)), evil)
    with pytest.raises(UnsafeCheckpointError, match='posix.system|os.system'):
        load_checkpoint(torch.nn.Linear(1, 1), str(evil))  # mmengine's own API goes through the safe loader
    with pytest.raises(UnsafeCheckpointError, match='--trust-checkpoint'):
        GromaInferencer(TINY_GROMA_MODEL_CONFIG, str(evil))
    out = _infer(str(evil), '--image', 'x.jpg', '--prompt', 'Hi', cwd=tmp_path)
    assert out.returncode != 0 and 'refusing to load' in out.stderr and 'system' in out.stderr, out.stderr[-2000:]
    assert not witness.exists()


def test_getattr_is_allowed_only_for_history_buffer_statistics(tmp_path):
    torch.save(dict(x=ReachesAPrivateAttribute()), tmp_path / 'reach.pth')
    with pytest.raises(UnsafeCheckpointError):
        load_local_checkpoint(str(tmp_path / 'reach.pth'))


def test_trusting_a_checkpoint_allows_other_types(sources, tmp_path):
    path = tmp_path / 'old.pth'
    torch.save(dict(state_dict=sources['groma'].full_state_dict(), meta=argparse.Namespace(note='old')), path)
    with pytest.raises(UnsafeCheckpointError, match='argparse.Namespace'):
        load_local_checkpoint(str(path))
    with trusted_checkpoints():
        assert load_local_checkpoint(str(path))['meta'].note == 'old'
    groma = GromaInferencer(TINY_GROMA_MODEL_CONFIG, str(path), trust_checkpoint=True)
    with pytest.raises(UnsafeCheckpointError):  # the opt-in was for that call only
        load_local_checkpoint(str(path))
    torch.testing.assert_close(groma.model.full_state_dict(), sources['groma'].full_state_dict())


def test_safetensors_are_accepted_wherever_a_pth_is(sources, tmp_path):
    full = {k: v.contiguous() for k, v in sources['groma'].full_state_dict().items()}
    save_file(full, str(tmp_path / 'full.safetensors'))
    groma = GromaInferencer(TINY_GROMA_MODEL_CONFIG, str(tmp_path / 'full.safetensors'))
    torch.testing.assert_close(groma.model.full_state_dict(), sources['groma'].full_state_dict())
    # ... as a proposer_checkpoint too, and through mmengine's load_checkpoint.
    proposer = {k[len('proposer.'):]: v for k, v in full.items() if k.startswith('proposer.')}
    save_file(proposer, str(tmp_path / 'stage1.safetensors'))
    cfg = sources['cfg'].copy()
    cfg.model.proposer_checkpoint = str(tmp_path / 'stage1.safetensors')
    torch.testing.assert_close(MODELS.build(copy.deepcopy(cfg.model)).proposer.state_dict(),
                               sources['groma'].proposer.state_dict())
    linear = torch.nn.Linear(2, 2)
    save_file(dict(weight=torch.ones(2, 2), bias=torch.zeros(2)), str(tmp_path / 'linear.safetensors'))
    load_checkpoint(linear, str(tmp_path / 'linear.safetensors'), strict=True)
    assert linear.weight.sum().item() == 4


def test_a_wrong_checkpoint_stops_with_the_keys_named(sources):
    # The stage-1 proposer checkpoint given as the Groma checkpoint: nothing matches.
    with pytest.raises(CheckpointMismatchError) as err:
        GromaInferencer(TINY_GROMA_MODEL_CONFIG, str(sources['root'] / 'stage1.pth'))
    message = str(err.value)
    assert 'missing' in message and 'unexpected' in message and 'and ' in message and 'more' in message
    assert 'proposer.backbone.' in message and ', backbone.' in message  # missing ones, then unexpected ones
    # A stage checkpoint without the proposer_checkpoint its weights sit on leaves the proposer unset.
    with pytest.raises(CheckpointMismatchError, match=r'missing .*proposer\.'):
        GromaInferencer(TINY_GROMA_MODEL_CONFIG, str(sources['root'] / 'stage2.pth'))


def test_a_shape_mismatch_is_refused_even_when_not_strict(sources, tmp_path):
    full = sources['groma'].full_state_dict()
    key = next(k for k in full if k.startswith('region_encoder.'))
    torch.save(dict(state_dict={key: torch.zeros(3)}), tmp_path / 'bad.pth')
    with pytest.raises(CheckpointMismatchError, match='shape mismatch'):
        load_weights(MODELS.build(copy.deepcopy(sources['cfg'].model)), str(tmp_path / 'bad.pth'), strict=False)


def test_a_stage_checkpoint_on_its_proposer_logs_one_line_of_sources(sources, tmp_path):
    import cv2
    cv2.imwrite(str(tmp_path / 'scene.png'), np.full((64, 80, 3), 120, np.uint8))
    out = _infer(str(sources['root'] / 'stage2.pth'), '--image', 'scene.png', '--prompt', 'Describe the image.',
                 '--max-new-tokens', '3', '--out-dir', 'out', '--cfg-options',
                 f'model.proposer_checkpoint={sources["root"] / "stage1.pth"}', cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    account = [line for line in log.splitlines() if 'loaded ' in line and 'stage2.pth' in line]
    assert len(account) == 1 and 'from proposer_checkpoint' in account[0], log[-3000:]
    assert 'missing keys' not in log and 'unexpected key' not in log
    assert 'after calling `init_weights`' not in log


def test_tools_test_stops_on_a_checkpoint_that_does_not_fit(sources, tmp_path):
    # The Groma stage checkpoint given to the stage-1 proposer config: refused before any data is read.
    from groma_mm.testing.paths import TINY_PROPOSER_CONFIG
    out = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/test.py'), TINY_PROPOSER_CONFIG,
                          str(sources['root'] / 'stage2.pth'), '--work-dir', str(tmp_path / 'w')],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0 and 'does not fit' in out.stderr and 'missing' in out.stderr, out.stderr[-2000:]
    assert 'Traceback' not in out.stderr
