"""Package-wide helpers."""
import datetime
import os.path as osp
import warnings
from typing import Optional

from mmengine import DefaultScope
from mmengine.config import Config
from mmengine.logging import MMLogger

# Importing these registers the safe checkpoint loader with mmengine and the training parts with our
# registries, for ``custom_imports=['groma_mm']`` users too.
from groma_mm.engine import checkpoint_hook, checkpoint_loading, nonfinite_skip, resumable_loop  # noqa: F401


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
    import groma_mm.engine  # noqa: F401
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


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``path`` with ``--cfg-options`` merged in: what every tool that takes a CONFIG does first."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def apply_cli_overrides(cfg, args) -> None:
    """What tools/train.py and tools/test.py share: launcher, ``--cfg-options`` (param schedulers follow a
    changed training length, see :func:`follow_train_length`), and ``--work-dir`` (default
    ``./work_dirs/<config name>``)."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        before = dict(cfg.get('train_cfg') or {})
        cfg.merge_from_dict(args.cfg_options)
        if not any(k == 'param_scheduler' or k.startswith('param_scheduler.') for k in args.cfg_options):
            follow_train_length(cfg, before)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])


def follow_train_length(cfg, before: dict) -> None:
    """Move the param schedulers that ended with the training to a new ``train_cfg.max_epochs`` / ``max_iters``.

    Configs write ``end=max_epochs`` with a Python variable, so overriding ``train_cfg.max_epochs`` alone
    leaves a cosine schedule ending early (the LR then climbs back up) or late. A scheduler counted in the
    changed unit (``by_epoch`` for epochs, iterations otherwise) whose ``end`` was the old length gets the
    new one, its ``T_max`` moves with it, and its ``milestones`` scale in proportion. Each change is logged.

    Args:
        cfg: the config after the overrides.
        before: ``train_cfg`` as it was before them.
    """
    schedulers = cfg.get('param_scheduler')
    if not schedulers:
        return
    schedulers = [schedulers] if isinstance(schedulers, dict) else schedulers
    logger = MMLogger.get_current_instance()
    for key, by_epoch in (('max_epochs', True), ('max_iters', False)):
        old, new = before.get(key), (cfg.get('train_cfg') or {}).get(key)
        if old is None or new is None or old == new:
            continue
        for i, sched in enumerate(schedulers):
            if bool(sched.get('by_epoch', True)) != by_epoch or sched.get('end') != old:
                continue
            sched['end'] = new
            begin = sched.get('begin', 0)
            if sched.get('T_max') == old - begin:
                sched['T_max'] = new - begin
            if sched.get('milestones'):
                sched['milestones'] = [max(begin + 1, round(m * new / old)) for m in sched['milestones']]
            logger.info(f'param_scheduler[{i}] ({sched.get("type")}) now ends at {new} to follow train_cfg.{key} '
                        f'{old} -> {new}' + (f', milestones {sched["milestones"]}' if sched.get('milestones') else ''))
