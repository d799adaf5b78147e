from .groma import Groma
from .official_region_selection import OfficialRegionSelector
from .parser import GroundedAnswer, GroundedSpan, parse_grounded_answer
from .region_selection import ScoreRankedRegionSelector

__all__ = [
    'Groma', 'GroundedAnswer', 'GroundedSpan', 'OfficialRegionSelector', 'ScoreRankedRegionSelector',
    'parse_grounded_answer'
]
