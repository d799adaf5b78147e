from .vit_simple_pyramid import ViTSimplePyramid

__all__ = ['ViTSimplePyramid']
