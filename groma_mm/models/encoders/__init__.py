from .frozen_vit import FreezableVisionTransformer
from .image_tokenizer import MergedPatchTokenizer, merge_patches_2d, mlp_projector

__all__ = ['FreezableVisionTransformer', 'MergedPatchTokenizer', 'merge_patches_2d', 'mlp_projector']
