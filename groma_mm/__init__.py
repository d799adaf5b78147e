"""groma_mm: Groma, a grounded multimodal LLM, as reusable OpenMMLab parts.

Importing the package registers its modules, so a plain mmdet config can use them through
``custom_imports=dict(imports=['groma_mm'])``.
"""
import os

import torch

# mmengine imports DeepSpeed (when installed) to register its optimizers; on a machine without CUDA its
# accelerator auto-detection then prints a warning to stdout on every start, which also corrupts the JSON
# that tools write there. Naming the CPU accelerator up front is what that detection would pick anyway.
if not torch.cuda.is_available():
    os.environ.setdefault('DS_ACCELERATOR', 'cpu')

from .utils import register_all_modules  # noqa: E402

__version__ = '0.1.0'

register_all_modules(init_default_scope=False)

__all__ = ['register_all_modules', '__version__']
