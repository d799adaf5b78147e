"""Drawing grounded answers and region proposals on the image (mmengine's Visualizer)."""
from typing import Dict, Optional

import mmcv
import numpy as np
from mmengine.visualization import Visualizer

from groma_mm.apis.inferencer import GroundedResult

# Distinct, readable colours (RGB) for phrases; proposals are drawn in one muted colour.
PHRASE_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                  (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]
_PROPOSAL_COLOUR = (160, 160, 160)
_USER_BOX_COLOUR = (255, 255, 255)
# matplotlib draws a 10000x10000 photo at full size in tens of seconds and gigabytes; a drawing is for
# looking at, so it is made at most this many pixels on its longer side.
MAX_DRAWING_SIDE = 2048


def draw_grounded_result(image_bgr: np.ndarray,
                         result: Optional[GroundedResult] = None,
                         proposals: Optional[Dict[str, np.ndarray]] = None,
                         out_file: Optional[str] = None,
                         user_boxes: Optional[np.ndarray] = None,
                         max_side: Optional[int] = MAX_DRAWING_SIDE) -> np.ndarray:
    """Draw each grounded phrase's boxes with its label, or the proposer's regions with their scores.

    Args:
        image_bgr: (H, W, 3) uint8 BGR image (original pixels).
        result: an answer; its spans' boxes are drawn and labelled by phrase (or ``<rK>``).
        proposals: ``dict(bboxes (R, 4), scores (R,))`` to draw instead (proposals-only mode).
        out_file: where to save the drawing (any format mmcv writes).
        user_boxes: (M, 4) the boxes the user gave, drawn dashed in white and labelled ``<boxK>``.
        max_side: a larger image is drawn scaled down to this longer side (boxes scaled with it);
            None draws at full size.

    Returns:
        The drawing, (h, w, 3) uint8 RGB: (H, W) scaled by ``min(1, max_side / max(H, W))``.
    """
    height, width = image_bgr.shape[:2]
    scale = 1.0 if max_side is None or max(height, width) <= max_side else max_side / max(height, width)
    if scale < 1:
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
        image_bgr = mmcv.imresize(image_bgr, (width, height), interpolation='area')

    def scaled(boxes) -> np.ndarray:
        return np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * scale

    vis = Visualizer(image=mmcv.bgr2rgb(image_bgr))
    font = max(8, int(min(height, width) / 40))
    if proposals is not None:
        for box, score in zip(scaled(proposals['bboxes']), np.asarray(proposals['scores'])):
            vis.draw_bboxes(box[None], edge_colors=[_PROPOSAL_COLOUR], line_widths=1)
            vis.draw_texts(f'{score:.2f}', box[:2], font_sizes=font, colors=[_PROPOSAL_COLOUR])
    for k, box in enumerate(scaled(user_boxes if user_boxes is not None else np.zeros((0, 4)))):
        vis.draw_bboxes(box[None], edge_colors=[_USER_BOX_COLOUR], line_widths=2, line_styles='--')
        vis.draw_texts(f'<box{k}>', box[2:] - [0, font * 1.2], font_sizes=font, colors=[(0, 0, 0)],
                       bboxes=[dict(facecolor='white', alpha=0.8, pad=1, edgecolor='none')])
    if result is not None:
        for i, span in enumerate(result.spans):
            colour = PHRASE_PALETTE[i % len(PHRASE_PALETTE)]
            for box, region_id in zip(scaled(span['boxes']), span['region_ids']):
                vis.draw_bboxes(box[None], edge_colors=[colour], line_widths=2)
                label = span['phrase'] or f'<r{region_id}>'
                vis.draw_texts(label, box[:2], font_sizes=font, colors=[(255, 255, 255)],
                               bboxes=[dict(facecolor=np.array(colour) / 255, alpha=0.8, pad=1, edgecolor='none')])
    drawing = vis.get_image()
    if out_file is not None:
        mmcv.imwrite(mmcv.rgb2bgr(drawing), out_file)
    return drawing
