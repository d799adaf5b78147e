from .groma_proposer import GromaProposer, detr_proposals, to_input_frame
from .region_post_processor import RegionPostProcessor

__all__ = ['GromaProposer', 'RegionPostProcessor', 'detr_proposals', 'to_input_frame']
