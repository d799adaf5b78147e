"""FSDP over 2 CPU processes trains the tiny Groma exactly as one process does on the same global batch, and a
run resumed from its checkpoint in a new process continues with the same losses.

The runs go through tools/dist_train.sh and tools/train.py as a user starts them. The one-process reference
is the plain ``Runner`` with gradient accumulation over the two ranks' halves of each global batch (micro
batches of one sample, in the ranks' order: what FSDP averages), fp32 and a constant learning rate so that
nothing but the sharding differs.
"""
import shutil

import pytest
import torch
from mmengine.config import Config

from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT

from .conftest import TEN_SAMPLES, logged_losses, run_tool

FSDP_CONFIG = f'{REPO_ROOT}/configs/groma/groma_tiny_2xb2-stage3-instruct-fsdp_synthetic.py'
ITERS = 5  # global batches of 2 samples


def _options(init: str) -> list:
    return [
        '--cfg-options', f'load_from={init}', 'model.proposer_checkpoint=None', 'randomness.seed=0',
        'train_dataloader.batch_size=1', 'train_dataloader.sampler.batch_size=1',
        'train_dataloader.sampler.group_by_length=False', 'train_dataloader.sampler.seed=0',
        f'train_dataloader.sampler.ratios={TEN_SAMPLES}', 'train_cfg.max_epochs=1', 'param_scheduler=None',
        'optim_wrapper.dtype=None', 'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=3'
    ]


@pytest.fixture(scope='module')
def runs(world_root):
    # One initial state for every run: random init order must not differ between the runners.
    cfg = Config.fromfile(FSDP_CONFIG)
    cfg.model.proposer_checkpoint = None
    cfg.model.tokenizer.pretrained = str(world_root / cfg.model.tokenizer.pretrained)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    init = str(world_root / 'init.pth')
    torch.save(dict(state_dict=model.full_state_dict()), init)

    single, sharded = world_root / 'single', world_root / 'fsdp'
    run_tool(world_root, ['train.py', FSDP_CONFIG, '--work-dir', str(single)] + _options(init) +
             ['runner_type=Runner', 'optim_wrapper.accumulative_counts=2'])
    run_tool(world_root, [FSDP_CONFIG, '--work-dir', str(sharded)] + _options(init), nproc=2)
    norms = logged_losses(single, 'grad_norm'), logged_losses(sharded, 'grad_norm')
    return world_root, init, logged_losses(single), logged_losses(sharded), norms


def test_two_process_fsdp_gives_the_single_process_losses(runs):
    _, _, single, sharded, (single_norm, sharded_norm) = runs
    assert sorted(single) == list(range(1, 2 * ITERS + 1)) and sorted(sharded) == list(range(1, ITERS + 1))
    # Rank 0 logs its half of global batch k: the reference's micro batch 2k-1.
    for k in range(1, ITERS + 1):
        assert sharded[k] == pytest.approx(single[2 * k - 1], abs=1e-4), (k, sharded, single)
        # The gradient norm (and so the clipping at 1.0) is over all shards, as over the whole model.
        assert sharded_norm[k] == pytest.approx(single_norm[2 * k], rel=1e-4), (k, sharded_norm, single_norm)
    assert min(sharded_norm.values()) > 1.0  # clipping was active
    assert len({round(v, 4) for v in sharded.values()}) == ITERS  # the weights moved between the steps


def test_fsdp_run_resumed_in_a_new_process_continues_with_the_same_losses(runs):
    root, init, _, sharded, _ = runs
    resumed = root / 'fsdp_resumed'
    resumed.mkdir()
    shutil.copy(root / 'fsdp' / 'iter_3.pth', resumed / 'iter_3.pth')  # the process that wrote it is gone
    run_tool(root, [FSDP_CONFIG, '--work-dir', str(resumed), '--resume', str(resumed / 'iter_3.pth')] + _options(init),
             nproc=2)
    after = logged_losses(resumed)
    assert sorted(after) == [4, 5]
    for k in (4, 5):
        assert after[k] == pytest.approx(sharded[k], abs=1e-6), (after, sharded)


def test_fsdp_checkpoint_converts_to_one_inference_file(runs):
    from groma_mm.apis import GromaInferencer
    root = runs[0]
    checkpoint = root / 'fsdp' / 'iter_5.pth'
    saved = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    assert not [k for k in saved if '_fsdp' in k or '_checkpoint_wrapped' in k]  # the model's own names
    out = root / 'fsdp_full.pth'
    run_tool(root, ['model_converters/groma_sharded_to_full.py', FSDP_CONFIG, str(checkpoint), str(out),
                    '--cfg-options', 'model.proposer_checkpoint=None'])
    cfg = Config.fromfile(FSDP_CONFIG)
    cfg.model.proposer_checkpoint = None
    cfg.model.tokenizer.pretrained = str(root / cfg.model.tokenizer.pretrained)
    loaded = GromaInferencer(cfg, str(out)).model.full_state_dict()  # strict: every weight from the file
    assert set(loaded) == set(saved)
    for name, tensor in saved.items():
        torch.testing.assert_close(loaded[name], tensor, msg=name)
