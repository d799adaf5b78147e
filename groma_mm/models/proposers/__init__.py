from .groma_proposer import GromaProposer
from .region_post_processor import RegionPostProcessor

__all__ = ['GromaProposer', 'RegionPostProcessor']
