"""A kill while a checkpoint is written leaves the previous checkpoint and ``last_checkpoint`` usable."""
import os
import os.path as osp

import pytest
from mmengine.fileio import LocalBackend

from groma_mm.engine.checkpoint_loading import load_local_checkpoint

from .test_resumable_loop import SAMPLERS, _runner


class Killed(BaseException):
    """Stands for SIGKILL in the middle of writing a file: nothing after it runs."""


@pytest.mark.parametrize('max_keep_ckpts', [-1, 1])
def test_a_kill_during_a_save_leaves_the_last_complete_checkpoint(tmp_path, monkeypatch, max_keep_ckpts):
    runner = _runner(tmp_path, SAMPLERS['DefaultSampler'])
    next(h for h in runner.hooks if type(h).__name__ == 'AtomicCheckpointHook').max_keep_ckpts = max_keep_ckpts
    real_put = LocalBackend.put
    puts = []

    def dying_put(self, obj, filepath):
        puts.append(filepath)
        if len(puts) == 3:  # the third checkpoint dies half-written
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise Killed()
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', dying_put)
    with pytest.raises(Killed):
        runner.train()
    files = sorted(os.listdir(tmp_path))
    assert 'iter_2.pth' in files and 'iter_3.pth' not in files, files  # only a .tmp holds the half file
    with open(tmp_path / 'last_checkpoint') as f:
        last = f.read().strip()
    assert osp.basename(last) == 'iter_2.pth' and load_local_checkpoint(last)['meta']['iter'] == 2
    # Resuming from it finishes the run, and with max_keep_ckpts=1 only the last checkpoint stays.
    monkeypatch.setattr(LocalBackend, 'put', real_put)
    resumed = _runner(tmp_path, SAMPLERS['DefaultSampler'], last)
    next(h for h in resumed.hooks if type(h).__name__ == 'AtomicCheckpointHook').max_keep_ckpts = max_keep_ckpts
    resumed.train()
    assert resumed.iter == 10 and osp.isfile(tmp_path / 'iter_10.pth')
    if max_keep_ckpts == 1:
        assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == ['iter_10.pth']
