"""Every mmdet registry has a groma_mm child, so building anything under default_scope='groma_mm' finds it
without mmengine's "Failed to search registry" fallback."""
import logging

import torch
from mmdet import registry as mmdet_registry
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope, Registry

from groma_mm import registry


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_each_mmdet_registry_has_a_groma_mm_child():
    roots = {name for name, value in vars(mmdet_registry).items()
             if isinstance(value, Registry) and value.scope == 'mmdet'}
    ours = {name for name, value in vars(registry).items() if isinstance(value, Registry)}
    assert roots <= ours, roots - ours
    for name in roots:
        assert getattr(registry, name).parent is getattr(mmdet_registry, name), name
        assert getattr(registry, name).scope == 'groma_mm'


def test_optimizers_and_schedulers_build_under_groma_mm_without_fallback_warnings():
    handler = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        with DefaultScope.overwrite_default_scope('groma_mm'):
            model = torch.nn.Linear(2, 2)
            wrapper = build_optim_wrapper(model, dict(type='SkipNonFiniteOptimWrapper',
                                                      optimizer=dict(type='AdamW', lr=1e-3)))
            registry.PARAM_SCHEDULERS.build(dict(type='CosineAnnealingLR', T_max=3, optimizer=wrapper))
            registry.LOG_PROCESSORS.build(dict(type='LogProcessor'))
            registry.VISBACKENDS.build(dict(type='LocalVisBackend', save_dir='/tmp/groma_vis_unused'))
    finally:
        logger.removeHandler(handler)
    assert not [m for m in handler.messages if 'Failed to search registry' in m], handler.messages
