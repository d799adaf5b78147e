"""Scenes of the synthetic grounding world: 2–5 coloured shapes on a grey background, some partly hidden.

A scene is pure data (:class:`Scene`, :class:`Shape`) sampled from ``(seed, split, index)`` alone, so the
same held-out images come back whatever the size of the training split. Shapes are drawn in list order
(later ones on top); each shape keeps at least :data:`MIN_VISIBLE` of its pixels, and two shapes of one
colour never touch (their pixels would merge). Boxes are the full extent of a shape, hidden parts included,
exactly as drawn (the tight box of its pixel mask).

Drawing reuses the pixel-exact masks of :mod:`groma_mm.testing.coco_world` (squares, circles) and its
palette; triangles and stars are rasterized polygons.
"""
import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from groma_mm.testing.coco_world import PALETTE, _ellipse_mask, _rectangle_mask

SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star')
# Named colours of coco_world's palette (RGB), far from each other and from the grey backgrounds.
COLOURS: Dict[str, Tuple[int, int, int]] = dict(
    red=PALETTE[0], green=PALETTE[1], yellow=PALETTE[2], blue=PALETTE[3], orange=PALETTE[4], purple=PALETTE[5])
# Side of a shape's square block as a fraction of the image side; the gap keeps "small"/"large" obvious.
SIZES: Dict[str, Tuple[float, float]] = dict(small=(0.13, 0.19), large=(0.28, 0.38))
MIN_SIDE = 8  # px
MIN_VISIBLE = 0.6  # share of a shape's pixels that stays visible
MIN_CENTRE_DISTANCE = 0.12  # × image side; no shape sits (almost) on the centre of another
BACKGROUND_GREY = (100, 160)  # grey level range of the plain background
SPLIT_CODES = dict(train=0, val=1, test=2)
_STAR_INNER = 0.45  # inner/outer radius of the 5-pointed star
_PLACEMENT_TRIES = 60


@dataclass
class Shape:
    """One drawn shape.

    Attributes:
        shape, colour, size: words from :data:`SHAPES`, :data:`COLOURS`, :data:`SIZES`.
        block: ``[x0, y0, x1, y1]`` (x1, y1 exclusive), the square the shape is inscribed in.
        bbox: ``[x, y, w, h]`` tight box of all its pixels, hidden ones included (COCO ``bbox``).
        full_area: pixels of the whole shape.
        area: pixels left visible.
        occluders: ``[[j, n], ...]``: shape ``j`` (drawn later) hides ``n`` of this shape's pixels.
        ann_id: its annotation id once written (None before).
    """
    shape: str
    colour: str
    size: str
    block: List[int]
    bbox: List[int]
    full_area: int
    area: int = 0
    occluders: List[List[int]] = field(default_factory=list)
    ann_id: Optional[int] = None

    @property
    def visible(self) -> float:
        return self.area / self.full_area

    @property
    def centre(self) -> Tuple[float, float]:
        x, y, w, h = self.bbox
        return x + w / 2, y + h / 2

    @property
    def xyxy(self) -> List[int]:
        x, y, w, h = self.bbox
        return [x, y, x + w, y + h]

    def hidden_by(self, j: int) -> int:
        """Pixels of this shape that shape ``j`` hides."""
        return sum(n for k, n in self.occluders if k == j)


@dataclass
class Scene:
    """One image: its objects in drawing order and where it is written."""
    image_id: int
    split: str
    file_name: str
    width: int
    height: int
    background: int
    objects: List[Shape]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> 'Scene':
        d = dict(d)
        d['objects'] = [Shape(**o) for o in d['objects']]
        return cls(**d)

    def render(self) -> np.ndarray:
        """The image, (H, W, 3) uint8 RGB."""
        img = np.full((self.height, self.width, 3), self.background, dtype=np.uint8)
        for obj in self.objects:
            img[shape_mask(obj.shape, obj.block, self.height, self.width)] = COLOURS[obj.colour]
        return img


def _polygon(shape: str, block) -> np.ndarray:
    """Vertices (K, 2) in pixel-centre coordinates of a triangle or star inscribed in ``block``."""
    x0, y0, x1, y1 = block
    if shape == 'triangle':  # upright, apex at the top centre
        return np.array([[(x0 + x1 - 1) / 2, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], dtype=np.float64)
    if shape == 'star':
        radius = (x1 - x0 - 1) / 2
        cx = (x0 + x1 - 1) / 2
        # the star spans R·(1 + cos 36°) vertically: centre it in the block
        cy = y0 + radius + radius * (1 - math.cos(math.pi / 5)) / 2
        angles = -math.pi / 2 + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * _STAR_INNER)
        return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    raise ValueError(f'{shape!r} is not a polygon shape')


def shape_mask(shape: str, block, height: int, width: int) -> np.ndarray:
    """(H, W) bool pixels of ``shape`` inscribed in ``block`` ``[x0, y0, x1, y1]`` (x1, y1 exclusive)."""
    x0, y0, x1, y1 = (int(v) for v in block)
    if shape == 'square':
        return _rectangle_mask(height, width, x0, y0, x1, y1)
    if shape == 'circle':
        return _ellipse_mask(height, width, x0, y0, x1, y1)
    if shape not in SHAPES:
        raise ValueError(f'unknown shape {shape!r}; known: {SHAPES}')
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(_polygon(shape, block) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def shape_segmentation(shape: str, block) -> List[List[float]]:
    """COCO polygon (pixel-edge coordinates) of the whole shape."""
    x0, y0, x1, y1 = (int(v) for v in block)
    if shape == 'square':
        points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    elif shape == 'circle':
        angles = np.arange(24) * 2 * math.pi / 24
        r = (x1 - x0) / 2
        points = np.stack([(x0 + x1) / 2 + r * np.cos(angles), (y0 + y1) / 2 + r * np.sin(angles)], axis=1)
    else:
        points = _polygon(shape, block) + 0.5
    return [[round(float(v), 2) for v in points.reshape(-1)]]


def _tight_box(mask: np.ndarray) -> List[int]:
    ys, xs = np.nonzero(mask)
    x, y = int(xs.min()), int(ys.min())
    return [x, y, int(xs.max()) + 1 - x, int(ys.max()) + 1 - y]


def sample_scene(seed: int, split: str, index: int, image_id: int, img_size: int = 112, min_objects: int = 2,
                 max_objects: int = 5) -> Tuple[Scene, np.ndarray]:
    """Sample scene ``index`` of ``split`` and draw it.

    Args:
        seed: world seed; the scene depends only on ``(seed, split, index)`` and the size arguments.
        split: ``'train'``, ``'val'`` or ``'test'``.
        index: position in the split.
        image_id: id written in the annotations; the file is ``f'{image_id}.jpg'``.
        img_size: image side in pixels.
        min_objects, max_objects: number of shapes, drawn uniformly.

    Returns:
        (scene, image): the image is (img_size, img_size, 3) uint8 RGB.
    """
    if split not in SPLIT_CODES:
        raise ValueError(f'split must be one of {sorted(SPLIT_CODES)}, got {split!r}')
    if not 2 <= min_objects <= max_objects:
        raise ValueError(f'need 2 <= min_objects <= max_objects, got {min_objects}, {max_objects}')
    if img_size < 48:
        raise ValueError(f'img_size must be >= 48 px for shapes to stay recognizable, got {img_size}')
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    while True:  # a scene with too few shapes (rare: shapes did not fit) is redrawn
        scene = _try_scene(rng, split, image_id, img_size, int(rng.integers(min_objects, max_objects + 1)))
        if len(scene[0].objects) >= min_objects:
            return scene


def _try_scene(rng: np.random.Generator, split: str, image_id: int, size: int, num: int):
    labels = np.full((size, size), -1, dtype=np.int16)  # which shape shows at each pixel
    objects: List[Shape] = []
    visible = np.zeros(num, dtype=np.int64)
    background = int(rng.integers(*BACKGROUND_GREY))
    for _ in range(num):
        placed = _place(rng, size, labels, objects, visible)
        if placed is None:
            continue
        obj, mask = placed
        k = len(objects)
        hidden = labels[mask]
        for j, n in zip(*np.unique(hidden[hidden >= 0], return_counts=True)):
            objects[j].occluders.append([k, int(n)])
            visible[j] -= int(n)
        labels[mask] = k
        visible[k] = obj.full_area
        objects.append(obj)
    for obj, n in zip(objects, visible):
        obj.area = int(n)
    img = np.full((size, size, 3), background, dtype=np.uint8)
    for k, obj in enumerate(objects):
        img[labels == k] = COLOURS[obj.colour]
    scene = Scene(image_id=image_id, split=split, file_name=f'{image_id}.jpg', width=size, height=size,
                  background=background, objects=objects)
    return scene, img


def _place(rng: np.random.Generator, size: int, labels: np.ndarray, objects: List[Shape],
           visible: np.ndarray) -> Optional[Tuple[Shape, np.ndarray]]:
    """A new shape on top of ``objects`` that leaves each of them ≥ MIN_VISIBLE visible, or None."""
    for _ in range(_PLACEMENT_TRIES):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        size_word = list(SIZES)[int(rng.integers(len(SIZES)))]
        lo, hi = SIZES[size_word]
        side = int(rng.integers(max(MIN_SIDE, round(lo * size)), max(MIN_SIDE, round(hi * size)) + 1))
        x0, y0 = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
        block = [x0, y0, x0 + side, y0 + side]
        cx, cy = x0 + side / 2, y0 + side / 2
        if any(math.hypot(cx - o.centre[0], cy - o.centre[1]) < MIN_CENTRE_DISTANCE * size for o in objects):
            continue
        mask = shape_mask(shape, block, size, size)
        # A same-coloured neighbour must not even touch: grow the mask by one pixel to test.
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        near = np.unique(labels[grown])
        if any(objects[j].colour == colour for j in near if j >= 0):
            continue
        hidden = labels[mask]
        counts = np.bincount(hidden[hidden >= 0], minlength=len(objects))
        if any(visible[j] - counts[j] < MIN_VISIBLE * objects[j].full_area for j in range(len(objects))):
            continue
        full_area = int(mask.sum())
        obj = Shape(shape=shape, colour=colour, size=size_word, block=block, bbox=_tight_box(mask),
                    full_area=full_area)
        return obj, mask
    return None
