"""Checkpoints that an interruption cannot corrupt, carrying what an exact resume needs."""
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import BaseLoop

from groma_mm.registry import HOOKS


def _replace_text(path: str, text: str) -> None:
    partial = path + '.tmp'
    with open(partial, 'w') as f:
        f.write(text)
    os.replace(partial, path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) made safe against a kill at any moment.

    - A checkpoint is written to ``<name>.tmp`` and renamed when complete (a rename is atomic on one
      file system), and so is ``last_checkpoint``: ``--resume`` never meets a half-written file.
    - Outdated checkpoints (``max_keep_ckpts``) are removed only after the new one is in place; mmengine
      removes first, so a kill during the save could leave nothing to resume from.
    - Each checkpoint carries the train loop's resume state (random-number states and the sampler seed,
      see :class:`~groma_mm.engine.ResumableEpochBasedTrainLoop`) in ``meta['resume_state']``, and a
      resumed run hands it back to the loop.

    Non-local storage (``backend_args`` for S3 and the like) is written as mmengine writes it.
    """

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        super().before_save_checkpoint(runner, checkpoint)
        loop = runner._train_loop  # the property would build a train loop while testing
        if isinstance(loop, BaseLoop) and hasattr(loop, 'state_dict'):
            checkpoint.setdefault('meta', {})['resume_state'] = loop.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        super().after_load_checkpoint(runner, checkpoint)
        loop = runner._train_loop
        state = (checkpoint.get('meta') or {}).get('resume_state')
        if state is not None and isinstance(loop, BaseLoop) and hasattr(loop, 'load_state_dict'):
            loop.load_state_dict(state)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated = self._book_keeping(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, filename + '.tmp', self.file_client_args,
                               save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                               meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        os.replace(self.last_ckpt + '.tmp', self.last_ckpt)
        _replace_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if outdated is not None and self.file_backend.isfile(outdated):
            self.file_backend.remove(outdated)

    def _book_keeping(self, runner, step):
        """Record ``step`` among the kept checkpoints (before saving, so the checkpoint knows it) and return
        the path of the one it pushes out, to be removed once the new one is in place."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return None
        outdated = None
        if len(self.keep_ckpt_ids) >= self.max_keep_ckpts:  # a deque with maxlen: make room explicitly
            outdated = self.file_backend.join_path(self.out_dir,
                                                   self.filename_tmpl.format(self.keep_ckpt_ids.popleft()))
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return outdated
