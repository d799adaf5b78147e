from .loading import RobustLoadImageFromFile

__all__ = ['RobustLoadImageFromFile']
