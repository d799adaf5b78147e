"""Readers of the public datasets of Groma's stages 2-3 (paper Table 1), each returning the sample contract
of :mod:`groma_mm.datasets.readers.base`."""
from ..mixing import LengthGroupedMixSampler  # registered with the readers it mixes
from .base import GromaBaseDataset, grounded_phrase, sample_length
from .chat import GromaInstructDataset, ImageCaptionDataset, LLaVAChatDataset
from .coco_caption import COCOCaptionDataset
from .detection_grounding import DetectionGroundingDataset
from .flickr30k import Flickr30kEntitiesDataset
from .grit import GRITDataset
from .lvis_ground import LVISGroundDataset
from .rec_benchmark import RECBenchmarkDataset
from .refcoco import RefCOCODataset, RefCOCOgRegionCaptionDataset
from .region_caption_coco import RegionCaptionCocoDataset
from .visual_genome import VGRegionCaptionDataset

__all__ = [
    'GromaBaseDataset', 'grounded_phrase', 'sample_length', 'RefCOCODataset', 'RefCOCOgRegionCaptionDataset',
    'VGRegionCaptionDataset', 'Flickr30kEntitiesDataset', 'DetectionGroundingDataset', 'ImageCaptionDataset',
    'LLaVAChatDataset', 'GromaInstructDataset', 'LengthGroupedMixSampler', 'LVISGroundDataset', 'RECBenchmarkDataset',
    'RegionCaptionCocoDataset', 'GRITDataset', 'COCOCaptionDataset'
]
