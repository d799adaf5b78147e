"""Evaluation order that keeps batches cheap: the queries of one image together, similar lengths together.

A batch of generation prompts is left-padded to its longest prompt, so mixing a one-line REC question
with a long instruction wastes compute on padding; and queries about one image (RefCOCO holds about seven
expressions per image, LVIS-Ground one query per category present) share the vision front end when they
land in the same batch (``Groma`` encodes each distinct image of a batch once). ``GroupedInferenceSampler``
orders a test set accordingly. Metrics see every sample exactly once; ``PerSampleMetric`` sorts rows by
sample index, so the order never changes a score.

Use it in a test loader in place of ``DefaultSampler``::

    test_dataloader = dict(batch_size=16, sampler=dict(type='GroupedInferenceSampler'), dataset=...)
"""
import math
from typing import Iterator, List

import numpy as np
from mmengine.dist import get_dist_info

from groma_mm.datasets.mixing import dataset_lengths
from groma_mm.registry import DATA_SAMPLERS


def image_keys(dataset) -> List[str]:
    """Each sample's image (``img_path``; the sample index when a sample has none)."""
    keys = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index) if hasattr(dataset, 'get_data_info') else {}
        keys.append(str(info.get('img_path', f'#{index}')))
    return keys


def grouped_order(lengths: np.ndarray, images: List[str], by_image: bool = True) -> np.ndarray:
    """Sample indices sorted by length; with ``by_image``, the samples of one image stay adjacent.

    Images are ordered by the mean length of their samples and their samples by length, so neighbouring
    batches hold neighbouring lengths either way. Ties keep dataset order (the order is deterministic).

    Args:
        lengths: (N,) sample lengths.
        images: N image keys.
        by_image: keep each image's samples together.

    Returns:
        (N,) a permutation of ``range(N)``.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    if not by_image:
        return np.argsort(lengths, kind='stable')
    _, image_id = np.unique(np.asarray(images, dtype=object), return_inverse=True)
    image_id = image_id.reshape(-1)
    mean_length = np.bincount(image_id, weights=lengths) / np.bincount(image_id)
    # lexsort: the last key is the primary one.
    return np.lexsort((np.arange(len(lengths)), lengths, image_id, mean_length[image_id]))


@DATA_SAMPLERS.register_module()
class GroupedInferenceSampler:
    """``DefaultSampler(shuffle=False)`` over :func:`grouped_order` instead of dataset order.

    Each rank takes one contiguous block of the order, so the queries of an image stay on one rank (and
    are encoded once) unless a block boundary falls inside them. Ranks hold as many samples as with
    ``DefaultSampler``; with ``round_up`` the short blocks (the last ranks') end with one repeated
    sample. mmengine collects rank results by interleaving them and cutting to the dataset size, which
    drops exactly those repeats, so every sample reaches the metric once (in another order, which
    ``PerSampleMetric`` undoes by sorting on the sample index).

    Args:
        dataset: the test dataset (lengths from its ``lengths``, as for ``LengthGroupedMixSampler``).
        by_image: keep the queries of one image together (they share the front end in a batch).
        round_up: pad so every rank gets the same number of samples.
        seed: unused (the order is deterministic); accepted because runners pass one.
    """

    def __init__(self, dataset, by_image: bool = True, round_up: bool = True, seed=None) -> None:
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.round_up = round_up
        self.order = grouped_order(dataset_lengths(dataset), image_keys(dataset), by_image)
        if round_up:
            self.num_samples = math.ceil(len(dataset) / self.world_size)
            self.total_size = self.num_samples * self.world_size
        else:
            self.num_samples = math.ceil((len(dataset) - self.rank) / self.world_size)
            self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        order = self.order.tolist()
        full = math.ceil(len(order) / self.world_size)
        # The first len % world_size ranks (all, when it divides) take `full` samples, the others one less.
        long_ranks = len(order) - (full - 1) * self.world_size
        sizes = [full if rank < long_ranks else full - 1 for rank in range(self.world_size)]
        start = sum(sizes[:self.rank])
        block = order[start:start + sizes[self.rank]]
        if self.round_up and order and len(block) < full:
            block.append(block[-1] if block else order[0])
        return iter(block)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The order is the same every epoch."""
