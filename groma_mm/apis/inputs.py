"""Turning user inputs (image files or arrays, boxes) into what the model takes, with clear errors."""
from typing import Optional, Sequence, Union

import mmcv
import numpy as np

ImageInput = Union[str, np.ndarray]


class InputError(ValueError):
    """A request cannot be answered as given; the message says which input and why."""


def to_bgr_uint8(img: np.ndarray, name: str) -> np.ndarray:
    """Any common image array → (H, W, 3) uint8 BGR (mmcv's convention).

    Grayscale (H, W) or (H, W, 1) is repeated to 3 channels, an alpha channel is dropped, 16-bit and
    float images are rescaled to 8 bits.
    """
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
        shape = getattr(img, 'shape', None)
        raise InputError(f'{name}: expected an H×W or H×W×C image array, got {type(img).__name__} {shape}')
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        raise InputError(f'{name}: {img.shape[2]} channels; expected 1, 3 or 4')
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        scale = 255.0 if img.max() <= 1.0 else 1.0
        img = np.clip(img * scale, 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)


def load_image(image: ImageInput, name: str) -> np.ndarray:
    """A file path, or an array in BGR order as cv2 and mmcv give it (mmdet's inferencers' convention),
    → (H, W, 3) BGR uint8."""
    if isinstance(image, str):
        try:
            img = mmcv.imread(image, flag='unchanged', channel_order='bgr')
        except Exception as err:  # noqa: BLE001 — any decoder failure means the same to the user
            raise InputError(f'{name}: cannot read {image}: {err}') from err
        if img is None:
            raise InputError(f'{name}: cannot read {image}: missing, empty or not an image')
        return to_bgr_uint8(img, name)
    return to_bgr_uint8(image, name)


def check_boxes(boxes: Optional[Sequence[Sequence[float]]], width: int, height: int, max_boxes: int,
                name: str) -> np.ndarray:
    """Validate user boxes (xyxy, original pixels) → (M, 4) float32.

    A box may touch the border; one that extends past it by more than a pixel, is degenerate (x2 ≤ x1 or
    y2 ≤ y1) or not finite is refused, as is asking for more boxes than there are region slots.
    """
    if boxes is None or len(boxes) == 0:
        return np.zeros((0, 4), np.float32)
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(f'{name}: boxes must be a list of [x1, y1, x2, y2], got shape {arr.shape}')
    if len(arr) > max_boxes:
        raise InputError(f'{name}: {len(arr)} boxes given but the model has {max_boxes} region slots')
    for k, (x1, y1, x2, y2) in enumerate(arr):
        where = f'{name}: box {k} [{x1:g}, {y1:g}, {x2:g}, {y2:g}]'
        if not np.isfinite(arr[k]).all():
            raise InputError(f'{where} is not finite')
        if x2 <= x1 or y2 <= y1:
            raise InputError(f'{where} is degenerate (needs x1 < x2 and y1 < y2)')
        if x1 < -1 or y1 < -1 or x2 > width + 1 or y2 > height + 1:
            raise InputError(f'{where} lies outside the {width}×{height} image')
    arr[:, 0::2] = arr[:, 0::2].clip(0, width)
    arr[:, 1::2] = arr[:, 1::2].clip(0, height)
    return arr


def check_box_references(conversation: Sequence[dict], num_boxes: int, name: str) -> None:
    """Every ``<boxK>`` a user message names must be one of the boxes given."""
    from groma_mm.models.mllm.region_selection import user_box_indices
    missing = sorted(k for k in user_box_indices(conversation) if k >= num_boxes)
    if missing:
        names = ', '.join(f'<box{k}>' for k in missing)
        raise InputError(f'{name}: the prompt refers to {names} but {num_boxes} box(es) were given')
