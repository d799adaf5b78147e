from .layer_mean_neck import LayerMeanNeck
from .vit_simple_pyramid import ViTSimplePyramid

__all__ = ['LayerMeanNeck', 'ViTSimplePyramid']
