from .frozen_vit import FreezableVisionTransformer
from .image_tokenizer import MergedPatchTokenizer, merge_patches_2d, mlp_projector
from .random_conv_encoder import FrozenRandomConvEncoder

__all__ = ['FreezableVisionTransformer', 'FrozenRandomConvEncoder', 'MergedPatchTokenizer', 'merge_patches_2d', 'mlp_projector']
