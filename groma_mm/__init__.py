"""groma_mm: Groma, a grounded multimodal LLM, as reusable OpenMMLab parts.

Importing the package registers its modules, so a plain mmdet config can use them through
``custom_imports=dict(imports=['groma_mm'])``.
"""
from .utils import register_all_modules

__version__ = '0.1.0'

register_all_modules(init_default_scope=False)

__all__ = ['register_all_modules', '__version__']
