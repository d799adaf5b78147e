"""groma_mm registries.

Every registry is a child of mmdet's (and so of mmengine's), so configs under ``default_scope='groma_mm'``
build our parts by bare name and reach other libraries with a scope prefix (``mmdet.DINOHead``,
``mmpretrain.VisionTransformer``). There is one child for each of mmdet's registries: a registry tree without
a ``groma_mm`` node makes mmengine fall back to its root with a "Failed to search registry" warning.
"""
from mmdet import registry as mmdet_registry
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import Registry


def _child(name: str, parent: Registry, locations=('groma_mm.engine', )) -> Registry:
    return Registry(name, parent=parent, locations=list(locations))


MODELS = _child('model', mmdet_registry.MODELS, ['groma_mm.models'])
TASK_UTILS = _child('task util', mmdet_registry.TASK_UTILS, ['groma_mm.models'])
DATASETS = _child('dataset', mmdet_registry.DATASETS, ['groma_mm.datasets'])
DATA_SAMPLERS = _child('data sampler', mmdet_registry.DATA_SAMPLERS, ['groma_mm.datasets'])
TRANSFORMS = _child('transform', mmdet_registry.TRANSFORMS, ['groma_mm.datasets'])
METRICS = _child('metric', mmdet_registry.METRICS, ['groma_mm.evaluation'])
EVALUATOR = _child('evaluator', mmdet_registry.EVALUATOR, ['groma_mm.evaluation'])
HOOKS = _child('hook', mmdet_registry.HOOKS)
LOOPS = _child('loop', mmdet_registry.LOOPS)
OPTIMIZERS = _child('optimizer', mmdet_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', mmdet_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor', mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child('parameter scheduler', mmdet_registry.PARAM_SCHEDULERS)
RUNNERS = _child('runner', mmdet_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child('runner constructor', mmdet_registry.RUNNER_CONSTRUCTORS)
MODEL_WRAPPERS = _child('model_wrapper', mmdet_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child('weight initializer', mmdet_registry.WEIGHT_INITIALIZERS)
VISUALIZERS = _child('visualizer', mmdet_registry.VISUALIZERS)
VISBACKENDS = _child('vis_backend', mmdet_registry.VISBACKENDS)
LOG_PROCESSORS = _child('log_processor', mmdet_registry.LOG_PROCESSORS)
# mmdet has no strategy registry. FlexibleRunner builds its strategy before it sets the default scope, so
# configs name ours with the scope: type='groma_mm.GromaFSDPStrategy'.
STRATEGIES = _child('strategy', MMENGINE_STRATEGIES)
# FSDP's wrapper looks its functions up under the default scope.
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS)
