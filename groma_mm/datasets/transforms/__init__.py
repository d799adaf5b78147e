from .formatting import PackGromaInputs
from .loading import RobustLoadImageFromFile

__all__ = ['PackGromaInputs', 'RobustLoadImageFromFile']
