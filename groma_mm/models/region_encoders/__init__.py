from .multiscale_roi_encoder import MultiScaleRoIRegionEncoder

__all__ = ['MultiScaleRoIRegionEncoder']
