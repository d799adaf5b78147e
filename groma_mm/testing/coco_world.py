"""A tiny synthetic COCO-format detection set for tests and examples (no downloads).

Each image is a plain background with a few non-overlapping filled rectangles and ellipses in distinct
colours; the annotation boxes are exactly the drawn pixels, so a tiny detector can learn them and tests can
check loaders to the pixel.
"""
import json
import os
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

# Saturated colours far from each other and from the grey backgrounds (RGB).
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (0, 0, 128), (128, 0, 0)]
CATEGORIES = [dict(id=1, name='rectangle'), dict(id=2, name='ellipse')]
MIN_SIDE = 12  # px; smaller shapes would be hard for a tiny detector and fragile under JPEG


def make_coco_dataset(root: str,
                      num_images: int = 8,
                      img_size: Tuple[int, int] = (96, 128),
                      seed: int = 0,
                      max_objects: int = 4,
                      mask_only: bool = False) -> str:
    """Write images and a COCO json under ``root``.

    Layout: ``root/images/000001.jpg`` (odd ids JPEG, even ids PNG, so both decoders are exercised) and
    ``root/annotations.json``; ``file_name`` is relative to ``root/images`` (use
    ``data_root=root, ann_file='annotations.json', data_prefix=dict(img='images/')``).

    Annotations (ids from 1): normal files carry ``bbox`` ``[x, y, w, h]`` (the tight box of the drawn
    pixels), ``area``, ``iscrowd=0``, ``category_id`` (1 rectangle, 2 ellipse) and ``segmentation``
    (polygon for rectangles, compressed RLE for ellipses). With ``mask_only=True`` the file looks like
    SA-1B: only ``segmentation`` (and ``area``), no ``bbox``, no categories. The same ``seed`` draws the
    same images and shapes whether ``mask_only`` or not.

    Args:
        root: output folder (created).
        num_images: number of images.
        img_size: ``(height, width)`` in pixels.
        seed: random seed; output is deterministic given the arguments.
        max_objects: each image gets 1..max_objects shapes (fewer if they do not fit without overlap).
        mask_only: write SA-1B-style annotations (see above).

    Returns:
        str: path of the annotation json.
    """
    height, width = img_size
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        file_name = f'{image_id:06d}.{"jpg" if image_id % 2 else "png"}'
        background = rng.integers(90, 170)
        img = np.full((height, width, 3), background, dtype=np.uint8)
        boxes = _place_boxes(rng, height, width, int(rng.integers(1, max_objects + 1)))
        colours = rng.permutation(len(PALETTE))
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            is_ellipse = bool(rng.integers(0, 2))
            mask = _ellipse_mask(height, width, x0, y0, x1, y1) if is_ellipse else _rectangle_mask(
                height, width, x0, y0, x1, y1)
            img[mask] = PALETTE[colours[k]]
            annotations.append(
                _annotation(len(annotations) + 1, image_id, mask, is_ellipse, (x0, y0, x1, y1), mask_only))
        images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
        # cv2 writes BGR
        cv2.imwrite(osp.join(root, 'images', file_name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    coco = dict(images=images, annotations=annotations)
    if not mask_only:
        coco['categories'] = CATEGORIES
    ann_file = osp.join(root, 'annotations.json')
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    return ann_file


def _place_boxes(rng: np.random.Generator, height: int, width: int, num: int) -> List[Tuple[int, ...]]:
    """Up to ``num`` integer boxes ``(x0, y0, x1, y1)`` (x1, y1 exclusive), at least 2 px apart, so no
    shape hides part of another and every drawn pixel belongs to exactly one box."""
    boxes = []
    for _ in range(num * 20):
        if len(boxes) == num:
            break
        w = int(rng.integers(MIN_SIDE, max(MIN_SIDE + 1, width // 2)))
        h = int(rng.integers(MIN_SIDE, max(MIN_SIDE + 1, height // 2)))
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        box = (x0, y0, x0 + w, y0 + h)
        if all(box[0] >= b[2] + 2 or b[0] >= box[2] + 2 or box[1] >= b[3] + 2 or b[1] >= box[3] + 2
               for b in boxes):
            boxes.append(box)
    return boxes


def _rectangle_mask(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _ellipse_mask(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Ellipse inscribed in the pixel block; centred on pixel centres so it touches all four sides."""
    ys, xs = np.mgrid[0:height, 0:width]
    cx, cy = (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    return ((xs - cx) / rx)**2 + ((ys - cy) / ry)**2 <= 1


def _annotation(ann_id: int, image_id: int, mask: np.ndarray, is_ellipse: bool, block: Tuple[int, ...],
                mask_only: bool) -> dict:
    ys, xs = np.nonzero(mask)
    x, y = int(xs.min()), int(ys.min())
    w, h = int(xs.max()) + 1 - x, int(ys.max()) + 1 - y
    if is_ellipse:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        segmentation = dict(size=rle['size'], counts=rle['counts'].decode())
    else:
        x0, y0, x1, y1 = block  # polygon along the pixel edges: its vertex extent is the box
        segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1]]
    ann = dict(id=ann_id, image_id=image_id, segmentation=segmentation, area=int(mask.sum()))
    if not mask_only:
        ann.update(bbox=[x, y, w, h], iscrowd=0, category_id=2 if is_ellipse else 1)
    return ann
