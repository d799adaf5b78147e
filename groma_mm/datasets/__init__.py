from .class_agnostic_coco import ClassAgnosticCocoDataset
from .inference_sampler import GroupedInferenceSampler
from .readers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403

__all__ = ['ClassAgnosticCocoDataset', 'GroupedInferenceSampler']
