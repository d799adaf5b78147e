from .groma import Groma
from .parser import GroundedAnswer, GroundedSpan, parse_grounded_answer

__all__ = ['Groma', 'GroundedAnswer', 'GroundedSpan', 'parse_grounded_answer']
