"""Package-wide helpers."""
import datetime
import os.path as osp
import warnings

import torch
from mmengine import DefaultScope
from mmengine.runner.checkpoint import CheckpointLoader


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint written by mmengine.

    torch >= 2.6 loads with ``weights_only=True`` by default, which rejects the message-hub objects that
    mmengine stores in every training checkpoint, so resume and test would fail on our own files.
    Checkpoints are trusted local files here, as mmengine assumes.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    return torch.load(filename, map_location=map_location, weights_only=False)


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every groma_mm module that registers something, plus mmdet's and mmpretrain's.

    Args:
        init_default_scope: also make ``groma_mm`` the current default scope, as configs
            with ``default_scope='groma_mm'`` do.
    """
    import mmdet.utils
    mmdet.utils.register_all_modules(init_default_scope=False)
    import mmpretrain.models  # noqa: F401  (registers VisionTransformer & co. under 'mmpretrain')

    import groma_mm.datasets  # noqa: F401
    import groma_mm.evaluation  # noqa: F401
    import groma_mm.models  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('groma_mm', scope_name='groma_mm')
    elif current.scope_name != 'groma_mm':
        warnings.warn(f'The current default scope "{current.scope_name}" is not "groma_mm"; '
                      '`register_all_modules` opens a new "groma_mm" scope.')
        name = f'groma_mm-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='groma_mm')


def apply_cli_overrides(cfg, args) -> None:
    """What tools/train.py and tools/test.py share: launcher, ``--cfg-options``, and ``--work-dir``
    (default ``./work_dirs/<config name>``)."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
