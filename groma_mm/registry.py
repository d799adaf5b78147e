"""groma_mm registries.

Every registry is a child of mmdet's (and so of mmengine's), so configs under ``default_scope='groma_mm'``
build our parts by bare name and reach other libraries with a scope prefix (``mmdet.DINOHead``,
``mmpretrain.VisionTransformer``).
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMDET_MODELS, locations=['groma_mm.models'])
TASK_UTILS = Registry('task util', parent=MMDET_TASK_UTILS, locations=['groma_mm.models'])
DATASETS = Registry('dataset', parent=MMDET_DATASETS, locations=['groma_mm.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMDET_DATA_SAMPLERS, locations=['groma_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMDET_TRANSFORMS, locations=['groma_mm.datasets'])
METRICS = Registry('metric', parent=MMDET_METRICS, locations=['groma_mm.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMDET_EVALUATOR, locations=['groma_mm.evaluation'])
HOOKS = Registry('hook', parent=MMDET_HOOKS)
LOOPS = Registry('loop', parent=MMDET_LOOPS)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS)
VISUALIZERS = Registry('visualizer', parent=MMDET_VISUALIZERS)
