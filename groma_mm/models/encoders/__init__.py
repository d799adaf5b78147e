from .frozen_vit import FreezableVisionTransformer
from .image_tokenizer import MergedPatchTokenizer, merge_patches_2d, mlp_projector
from .frozen_conv_encoder import FrozenConvEncoder

__all__ = [
    'FreezableVisionTransformer', 'FrozenConvEncoder', 'MergedPatchTokenizer', 'merge_patches_2d', 'mlp_projector'
]
