"""Find the samples of a batch that share an image (and a region set), so the front end runs once for them.

One image often carries several queries: LVIS-Ground asks one per category present, RefCOCO holds about
seven expressions per image, a user asks several questions about one picture. Their encoder inputs are
equal pixel for pixel, so the encoder, the proposer and the image tokenizer need to see the image only
once; samples that also end with the same regions (no user boxes, or the same ones) share region tokens.
"""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor


def _first_equal(candidates: Sequence[int], tensors: Sequence[Tensor], probe: Tensor) -> int:
    for index in candidates:
        other = tensors[index]
        if other.shape == probe.shape and torch.equal(other, probe):
            return index
    return -1


def group_identical_images(inputs: Tensor, data_samples: Sequence) -> Tuple[List[int], List[int]]:
    """Which samples show the same image.

    Two samples share an image when their encoder inputs are equal and so are their ``img_shape`` (the
    valid area the proposer masks). A cheap per-image fingerprint, moved to the host once, picks the
    candidates; ``torch.equal`` confirms them, so images that merely collide are never merged.

    Args:
        inputs: (B, C, H, W) preprocessed images.
        data_samples: B samples (``img_shape`` in their metainfo).

    Returns:
        ``firsts``: the sample index of each distinct image, in batch order (U entries);
        ``image_of``: for each sample, the index of its image in ``firsts`` (B entries).
    """
    flat = inputs.reshape(len(inputs), -1).float()
    fingerprints = torch.stack([flat.sum(1), flat[:, ::97].sum(1), flat[:, 1::89].sum(1)], 1).tolist()
    firsts: List[int] = []
    image_of: List[int] = []
    by_key = {}
    for b, sample in enumerate(data_samples):
        key = (tuple(fingerprints[b]), tuple(sample.get('img_shape', ())))
        same = by_key.setdefault(key, [])
        match = _first_equal(same, inputs, inputs[b])
        if match < 0:
            same.append(b)
            image_of.append(len(firsts))
            firsts.append(b)
        else:
            image_of.append(image_of[match])
    return firsts, image_of


def group_identical_boxes(image_of: Sequence[int], bboxes: Sequence[Tensor]) -> Tuple[List[int], List[int]]:
    """Which samples have the same image and the same boxes (hence the same region tokens).

    Args:
        image_of: per sample, its image (see :func:`group_identical_images`).
        bboxes: per sample, its (R_b, 4) region boxes.

    Returns:
        ``firsts``: the sample index of each distinct (image, boxes) pair, in batch order;
        ``set_of``: for each sample, the index of its pair in ``firsts``.
    """
    firsts: List[int] = []
    set_of: List[int] = []
    by_image = {}
    for b, image in enumerate(image_of):
        same = by_image.setdefault(image, [])
        match = _first_equal(same, bboxes, bboxes[b])
        if match < 0:
            same.append(b)
            set_of.append(len(firsts))
            firsts.append(b)
        else:
            set_of.append(set_of[match])
    return firsts, set_of
