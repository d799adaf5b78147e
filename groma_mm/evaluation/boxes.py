"""Box helpers shared by the metrics: predicted-box sanitizing, xyxy → COCO xywh, pairwise IoU.

Boxes are continuous xyxy pixel coordinates (no ``+1``), the convention of pycocotools and mmdet 3.x.
"""
import numpy as np


def sanitize_pred_boxes(boxes: np.ndarray) -> np.ndarray:
    """Make predicted boxes safe to match without dropping any.

    A non-finite or inverted (x2 < x1 or y2 < y1) prediction keeps its place in the answer order (it still
    uses up one of the top-k slots) but becomes the empty box ``[0, 0, 0, 0]``, whose IoU with anything
    is 0, so it counts as a miss.

    Args:
        boxes: (K, 4) xyxy.

    Returns:
        (K, 4) xyxy, a copy.
    """
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    bad = ~np.isfinite(boxes).all(axis=1) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    boxes[bad] = 0.0
    return boxes


def xyxy_to_coco_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) ``[x1, y1, x2, y2]`` → (N, 4) COCO ``[x, y, w, h]`` (pixels)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy → (N,) areas."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0]).clip(min=0) * (boxes[:, 3] - boxes[:, 1]).clip(min=0)


def pairwise_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of every pair.

    Two boxes whose union is empty (both zero-size) have IoU 0: nothing was localized.

    Args:
        boxes1: (N, 4) xyxy.
        boxes2: (M, 4) xyxy.

    Returns:
        (N, M) IoU in [0, 1].
    """
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (bottom_right - top_left).clip(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
