from .inferencer import GromaInferencer, GroundedResult
from .inputs import InputError
from .visualization import draw_grounded_result

__all__ = ['GromaInferencer', 'GroundedResult', 'InputError', 'draw_grounded_result']
