from .gpt4roi_region_encoder import GPT4RoIRegionEncoder
from .multiscale_roi_encoder import MultiScaleRoIRegionEncoder

__all__ = ['GPT4RoIRegionEncoder', 'MultiScaleRoIRegionEncoder']
