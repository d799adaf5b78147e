from .coco_world import make_coco_dataset

__all__ = ['make_coco_dataset']
