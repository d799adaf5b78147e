from .dual_objectness_head import DualObjectnessHead
from .fixed_reference_decoder import FixedReferenceDecoder
from .groma_proposer import GromaProposer
from .official_groma_proposer import OfficialGromaProposer
from .region_post_processor import RegionPostProcessor
from .region_prediction import RegionPredictionMixin, detr_proposals, to_input_frame, user_bboxes_of

__all__ = [
    'DualObjectnessHead', 'FixedReferenceDecoder', 'GromaProposer', 'OfficialGromaProposer', 'RegionPostProcessor',
    'RegionPredictionMixin', 'detr_proposals', 'to_input_frame', 'user_bboxes_of'
]
