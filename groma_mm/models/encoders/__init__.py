from .frozen_vit import FreezableVisionTransformer

__all__ = ['FreezableVisionTransformer']
