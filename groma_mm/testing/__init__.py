from .coco_world import make_coco_dataset
from .ground_truth_proposer import GroundTruthProposer

__all__ = ['make_coco_dataset', 'GroundTruthProposer']
