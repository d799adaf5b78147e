"""The prediction contract between a Groma model's test step and the metrics, and readers for its fields.

mmengine's ``Evaluator`` turns every data sample into a dict (``BaseDataElement.to_dict``), so a metric's
``process(data_batch, data_samples)`` receives one dict per sample with:

==================  ======================================================================================
``sample_idx``      int, index of the sample in the evaluated dataset. With ``split`` it identifies the
                    sample: rows are de-duplicated by ``(split, sample_idx)`` after the ranks' results are
                    gathered (samplers pad ranks with repeated samples).
``img_id``          the image's id (any JSON-able value); ``ori_shape`` ``(h, w)``.
``pred_bboxes``     (K, 4) xyxy boxes in original-image pixels that the answer referred to, in answer
                    order; may be (0, 4). REC uses the first, LVIS-Ground the first k.
``pred_text``       str, the clean answer text (tags removed).
``regions``         dict (or data element) with ``bboxes`` (R, 4) xyxy original pixels and ``scores`` (R,):
                    every region the proposer produced for the image.
``gt_bboxes``       (M, 4) xyxy original pixels.
``gt_areas``        (M,), optional: the annotation ``area`` (LVIS / COCO); absent → box area.
``gt_ignore_flags`` (M,) bool, optional: COCO crowd / ignore boxes (proposal metric only).
``gt_captions``     list[str], reference captions of the region (region captioning).
``split``           str, optional, e.g. ``'refcoco_val'``.
``category_id``     LVIS-Ground: the query's category (recall is averaged per category).
==================  ======================================================================================

Tensors, ndarrays and lists are accepted alike. A missing or malformed field raises at the first batch,
naming the sample and the field, so a wiring error never costs a whole test run.
"""
from collections.abc import Mapping
from typing import Any, Optional, Sequence

import numpy as np
import torch

_MISSING = object()


def get_field(sample: Any, name: str, sample_idx: Any = None, default: Any = _MISSING, owner: str = '') -> Any:
    """Read ``name`` from a sample dict (or data element); raise a ``KeyError`` naming the sample and the
    field if it is absent and no ``default`` is given.

    Args:
        owner: the field that holds ``sample`` when it is nested (e.g. ``'regions'``), for messages.
    """
    if isinstance(sample, Mapping):
        value = sample.get(name, _MISSING)
    else:
        value = getattr(sample, name, _MISSING)
    if value is _MISSING:
        if default is not _MISSING:
            return default
        where = f'sample_idx={sample_idx}' if sample_idx is not None else 'a sample'
        field = f'{owner}.{name}' if owner else name
        raise KeyError(f'{where} has no field {field!r}, which this metric needs '
                       '(see groma_mm/evaluation/sample_fields.py for the prediction contract)')
    return value


def get_sample_idx(sample: Any) -> int:
    """The sample's dataset index, as a Python int."""
    value = get_field(sample, 'sample_idx')
    if isinstance(value, torch.Tensor):
        value = value.item()
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TypeError(f'sample_idx must be an int, got {value!r}') from None


def get_split(sample: Any) -> str:
    """The sample's split name ('' when it has none)."""
    split = get_field(sample, 'split', default=None)
    return '' if split is None else str(split)


def to_numpy(value: Any, sample_idx: int, name: str, dtype=np.float64) -> np.ndarray:
    """Tensor / ndarray / list / scalar / mmdet box structure → ndarray of ``dtype``."""
    if isinstance(getattr(value, 'tensor', None), torch.Tensor):  # mmdet HorizontalBoxes
        value = value.tensor
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f'sample_idx={sample_idx}: field {name!r} is not numeric ({err})') from None


def read_boxes(sample: Any, name: str, sample_idx: int, owner: str = '') -> np.ndarray:
    """Read a box field as a float64 (N, 4) array; a single (4,) box becomes (1, 4), nothing becomes (0, 4).

    Args:
        owner: as in :func:`get_field`, when ``sample`` is a nested dict such as ``regions``.
    """
    field = f'{owner}.{name}' if owner else name
    boxes = to_numpy(get_field(sample, name, sample_idx, owner=owner), sample_idx, field)
    if boxes.size == 0:
        return np.zeros((0, 4))
    if boxes.ndim == 1 and boxes.shape[0] == 4:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'sample_idx={sample_idx}: field {field!r} must hold (N, 4) xyxy boxes, '
                         f'got shape {tuple(boxes.shape)}')
    return boxes


def read_gt_boxes(sample: Any, sample_idx: int, name: str = 'gt_bboxes') -> np.ndarray:
    """Ground-truth boxes (M, 4) xyxy. They must be finite and not inverted (a zero-size box is allowed
    and can never be hit): a broken annotation is a data bug to fix, not a miss to count."""
    boxes = read_boxes(sample, name, sample_idx)
    bad = ~np.isfinite(boxes).all(axis=1) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        raise ValueError(f'sample_idx={sample_idx}: field {name!r} has non-finite or inverted boxes '
                         f'{boxes[bad].tolist()}')
    return boxes


def read_vector(sample: Any, name: str, sample_idx: int, length: int, dtype=np.float64,
                owner: str = '') -> np.ndarray:
    """Read a per-box field as a (``length``,) array."""
    field = f'{owner}.{name}' if owner else name
    vector = to_numpy(get_field(sample, name, sample_idx, owner=owner), sample_idx, field, dtype=dtype)
    vector = vector.reshape(-1)
    if vector.shape[0] != length:
        raise ValueError(f'sample_idx={sample_idx}: field {field!r} has {vector.shape[0]} entries for '
                         f'{length} boxes')
    return vector


def read_optional_vector(sample: Any, name: str, sample_idx: int, length: int,
                         dtype=np.float64) -> Optional[np.ndarray]:
    """Like :func:`read_vector`, but ``None`` when the sample lacks the field."""
    if get_field(sample, name, sample_idx, default=None) is None:
        return None
    return read_vector(sample, name, sample_idx, length, dtype=dtype)


def read_text(sample: Any, name: str, sample_idx: int) -> str:
    """Read a string field."""
    value = get_field(sample, name, sample_idx)
    if not isinstance(value, str):
        raise TypeError(f'sample_idx={sample_idx}: field {name!r} must be a str, got {type(value).__name__}')
    return value


def read_texts(sample: Any, name: str, sample_idx: int) -> Sequence[str]:
    """Read a non-empty list of strings."""
    value = get_field(sample, name, sample_idx)
    if isinstance(value, str) or not isinstance(value, Sequence) or not value \
            or not all(isinstance(v, str) for v in value):
        raise ValueError(f'sample_idx={sample_idx}: field {name!r} must be a non-empty list of str, '
                         f'got {value!r}')
    return list(value)


def json_safe(value: Any) -> Any:
    """Tensors / mmdet boxes / ndarrays / numpy scalars → plain Python, recursively (for JSON rows)."""
    if isinstance(getattr(value, 'tensor', None), torch.Tensor):
        value = value.tensor
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
