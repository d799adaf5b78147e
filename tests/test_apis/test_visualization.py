"""Drawings: a bounded size whatever the photo's, boxes scaled with it, the user's boxes drawn."""
import numpy as np

from groma_mm.apis import GroundedResult, draw_grounded_result
from groma_mm.apis.visualization import MAX_DRAWING_SIDE


def _edge_is_white(drawing, box, scale=1.0):
    x1, y1, x2, y2 = (np.asarray(box) * scale).round().astype(int)
    top = drawing[y1, x1 + 2:x2 - 2]
    return (top.min(axis=1) > 200).mean()  # share of the top edge drawn (dashed: about half)


def test_a_huge_photo_is_drawn_at_a_bounded_size_with_its_boxes_scaled():
    image = np.full((4000, 6000, 3), 90, np.uint8)
    box = [600.0, 1000.0, 3000.0, 3000.0]
    drawing = draw_grounded_result(image, user_boxes=np.array([box]))
    assert drawing.shape == (round(4000 * MAX_DRAWING_SIDE / 6000), MAX_DRAWING_SIDE, 3)
    assert _edge_is_white(drawing, box, MAX_DRAWING_SIDE / 6000) > 0.3
    full = draw_grounded_result(image[:300, :400], user_boxes=np.array([[40.0, 50.0, 300.0, 200.0]]), max_side=None)
    assert full.shape == (300, 400, 3)


def test_the_users_boxes_and_the_answers_boxes_are_drawn():
    image = np.full((200, 300, 3), 90, np.uint8)
    user, answer = [20.0, 30.0, 140.0, 150.0], [160.0, 40.0, 280.0, 180.0]
    result = GroundedResult(text='a cat', spans=[dict(phrase='a cat', boxes=[answer], region_ids=[1])])
    plain = draw_grounded_result(image)
    drawn = draw_grounded_result(image, result=result, user_boxes=np.array([user]))
    assert _edge_is_white(plain, user) == 0 and _edge_is_white(drawn, user) > 0.3
    x1, y1, x2, y2 = map(int, answer)
    assert (np.abs(drawn[y1 + 40:y2 - 2, x1].astype(int) - 90).max(axis=1) > 40).all()  # the phrase's box edge
