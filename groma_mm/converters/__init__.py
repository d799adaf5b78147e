"""Checkpoint converters: official Groma HF folders → groma_mm state dicts."""
from .hf_folder import config_field, read_hf_folder
from .official_image_tokenizer import convert_official_image_tokenizer, official_image_tokenizer_cfg
from .official_region_encoder import convert_official_region_encoder, official_region_encoder_cfg
from .source_keys import ConversionError, SourceKeys, check_complete

__all__ = ['ConversionError', 'SourceKeys', 'check_complete', 'config_field', 'read_hf_folder',
           'convert_official_image_tokenizer', 'official_image_tokenizer_cfg', 'convert_official_region_encoder',
           'official_region_encoder_cfg']
