"""The synthetic grounding world: the embedded default dataset of groma_mm.

Images of coloured shapes (circle, square, triangle, star; six colours; small or large; some partly
hidden), annotated in the public formats of the real datasets (COCO detection, RefCOCO refer pickle,
Visual Genome regions, Flickr30k Entities, ShareGPT-4V captions, LLaVA-Instruct and Groma-Instruct chats),
so the real readers and the real pipeline run on it. See :mod:`.world` for the layout.
"""
from .expressions import Description, is_unique, match, parse_expression, referring_expressions, shortest_unique
from .scene import COLOURS, SHAPES, SIZES, Scene, Shape, sample_scene, shape_mask
from .world import ATTRIBUTES, generate_world, layout, world_objects, world_vocabulary

__all__ = [
    'generate_world', 'layout', 'world_vocabulary', 'world_objects', 'ATTRIBUTES', 'sample_scene', 'Scene', 'Shape',
    'shape_mask', 'SHAPES',
    'COLOURS', 'SIZES',
    'Description', 'parse_expression', 'match', 'is_unique', 'shortest_unique', 'referring_expressions'
]
