from .class_agnostic_coco import ClassAgnosticCocoDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['ClassAgnosticCocoDataset']
