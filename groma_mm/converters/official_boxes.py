"""Boxes at the boundary with the official Groma code.

The official ``GromaModel`` keeps every box (proposals, ``refer_boxes``, ``ground_boxes``, ``pred_boxes``)
as normalized ``cx cy w h`` on its 448×448 (aspect-ignoring) resized image. groma_mm keeps ``x1 y1 x2 y2``
in pixels of the encoder input everywhere; these two functions are the only place the two meet.
"""
from typing import Tuple

from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from torch import Tensor


def official_to_xyxy(boxes: Tensor, input_shape: Tuple[int, int]) -> Tensor:
    """(N, 4) official normalized cxcywh → (N, 4) xyxy pixels of an ``input_shape`` = (H, W) input."""
    height, width = input_shape
    return bbox_cxcywh_to_xyxy(boxes) * boxes.new_tensor([width, height, width, height])


def xyxy_to_official(boxes: Tensor, input_shape: Tuple[int, int]) -> Tensor:
    """(N, 4) xyxy pixels of an ``input_shape`` = (H, W) input → (N, 4) official normalized cxcywh."""
    height, width = input_shape
    return bbox_xyxy_to_cxcywh(boxes / boxes.new_tensor([width, height, width, height]))
