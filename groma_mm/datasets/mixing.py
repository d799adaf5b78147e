"""Several datasets in one epoch-based loader: per-dataset sampling ratios and length-grouped batches.

Groma's stages 2-3 mix a dozen datasets of very different sizes and sample lengths (a REC question is a
line, a ShareGPT-4V caption a page). Two things make that work:

- **ratios**: each dataset contributes ``round(ratio × len)`` samples per epoch (Groma's per-dataset
  ``ratio``: 0.5 uses half of COCO each epoch, 2 repeats a small dataset twice); the subset changes every
  epoch and is drawn without replacement within each pass;
- **length grouping** (LLaVA's ``group_by_modality_length`` / HF's ``group_by_length``): the epoch's indices
  are shuffled, cut into mega-batches of ``megabatch_mult × world_size × batch_size``, sorted by length
  within each, cut into global batches whose members go to the ranks so that every rank's batch has about
  the same total length; the global batches are shuffled and the one with the longest sample goes first,
  so an out-of-memory shows at the first step, not after hours.

mmdet's ``MultiSourceSampler`` mixes by ratio but is infinite (iteration-based) and does not group by
length, hence this sampler. It is distributed-aware: every rank computes the same epoch order from the seed
and takes its own part, so its ``batch_size`` must equal the data loader's.

A stage config mixes its datasets like this (``batch_size`` given twice, to the loader and the sampler)::

    train_dataloader = dict(
        batch_size=16,
        sampler=dict(type='LengthGroupedMixSampler', batch_size=16, ratios=[1.0, 1.0, 0.5]),
        dataset=dict(type='ConcatDataset', datasets=[refcoco, flickr30k, coco_grounding]))

Lengths come from the dataset's ``lengths`` (Groma readers: characters of the conversation + number of
boxes, see :func:`groma_mm.datasets.readers.sample_length`), recursively through mmengine / torch
``ConcatDataset`` and ``RepeatDataset``; other datasets are asked sample by sample once.
"""
import math
from typing import Iterator, List, Optional, Sequence

import numpy as np
from mmengine.dataset import ConcatDataset, RepeatDataset
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import ConcatDataset as TorchConcatDataset
from torch.utils.data import Sampler

from groma_mm.registry import DATA_SAMPLERS


def dataset_lengths(dataset) -> np.ndarray:
    """(N,) approximate sample lengths of ``dataset`` (module docstring)."""
    if hasattr(dataset, 'lengths'):
        return np.asarray(dataset.lengths, dtype=np.int64)
    if isinstance(dataset, (ConcatDataset, TorchConcatDataset)):
        parts = [dataset_lengths(d) for d in dataset.datasets]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if isinstance(dataset, RepeatDataset):
        return np.tile(dataset_lengths(dataset.dataset), dataset.times)
    from groma_mm.datasets.readers.base import sample_length
    if hasattr(dataset, 'get_data_info'):
        return np.asarray([sample_length(dataset.get_data_info(i)) for i in range(len(dataset))], dtype=np.int64)
    return np.ones(len(dataset), dtype=np.int64)


def sub_dataset_sizes(dataset) -> List[int]:
    """Sizes of the datasets a ``ConcatDataset`` joins (one entry for any other dataset)."""
    if isinstance(dataset, (ConcatDataset, TorchConcatDataset)):
        return [len(d) for d in dataset.datasets]
    return [len(dataset)]


def split_to_even_chunks(indices: Sequence[int], lengths: np.ndarray, sizes: Sequence[int]) -> List[List[int]]:
    """Deal ``indices`` (longest first) into chunks of the given sizes, each to the chunk with the smallest
    total length that still has room (LLaVA's ``split_to_even_chunks``)."""
    chunks: List[List[int]] = [[] for _ in sizes]
    totals = [0] * len(sizes)
    for i in indices:
        open_chunks = [c for c in range(len(sizes)) if len(chunks[c]) < sizes[c]]
        c = min(open_chunks, key=lambda c: (totals[c], c))
        chunks[c].append(int(i))
        totals[c] += int(lengths[i])
    return chunks


@DATA_SAMPLERS.register_module()
class LengthGroupedMixSampler(Sampler):
    """Epoch-based sampler with per-dataset ratios and length-grouped batches (module docstring).

    Args:
        dataset: the (usually ``ConcatDataset``) dataset.
        batch_size (int): per-rank batch size; must equal the data loader's.
        ratios (list[float], optional): per joined dataset (one number for a plain dataset), ≥ 0; None → 1.
        group_by_length (bool): group by length; False gives plain shuffled batches. Defaults to True.
        megabatch_mult (int): mega-batch size in global batches; larger groups lengths more tightly but
            makes batches less random (and more single-dataset). Defaults to 16.
        shuffle (bool): shuffle each epoch (False: dataset order, first ``ratio`` part, no grouping
            shuffle). Defaults to True.
        seed (int, optional): same on every rank; None → a random seed synced across ranks.
        round_up (bool): pad the epoch (repeating its first indices) so every rank gets the same number
            of full batches; False lets the last global batch be partial. Defaults to True.
    """

    def __init__(self,
                 dataset,
                 batch_size: int,
                 ratios: Optional[Sequence[float]] = None,
                 group_by_length: bool = True,
                 megabatch_mult: int = 16,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True) -> None:
        rank, world_size = get_dist_info()
        self.rank, self.world_size = rank, world_size
        self.dataset = dataset
        if batch_size < 1 or megabatch_mult < 1:
            raise ValueError(f'batch_size and megabatch_mult must be >= 1, got {batch_size}, {megabatch_mult}')
        self.batch_size = batch_size
        self.sizes = sub_dataset_sizes(dataset)
        ratios = [1.0] * len(self.sizes) if ratios is None else [float(r) for r in ratios]
        if len(ratios) != len(self.sizes):
            raise ValueError(f'{len(ratios)} ratios for {len(self.sizes)} datasets (sizes {self.sizes})')
        if any(r < 0 or not math.isfinite(r) for r in ratios):
            raise ValueError(f'ratios must be finite and >= 0, got {ratios}')
        self.ratios = ratios
        self.group_by_length = group_by_length
        self.megabatch_mult = megabatch_mult
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.round_up = round_up
        self.epoch = 0
        self._skip = 0
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.counts = [int(round(r * n)) for r, n in zip(ratios, self.sizes)]
        self.num_total = sum(self.counts)
        self.lengths = dataset_lengths(dataset) if group_by_length else None
        if self.lengths is not None and len(self.lengths) != len(dataset):
            raise ValueError(f'got {len(self.lengths)} lengths for {len(dataset)} samples')

    # ----------------------------------------------------------------------------------------- epoch
    def _epoch_pool(self, rng: np.random.Generator) -> np.ndarray:
        """The epoch's global indices: ``counts[d]`` from dataset ``d``, whole passes then a partial one."""
        parts = []
        for offset, size, count in zip(self.offsets, self.sizes, self.counts):
            if size == 0 or count == 0:
                continue
            full, rest = divmod(count, size)
            for _ in range(full):
                parts.append(offset + (rng.permutation(size) if self.shuffle else np.arange(size)))
            if rest:
                part = rng.permutation(size)[:rest] if self.shuffle else np.arange(rest)
                parts.append(offset + part)
        pool = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return rng.permutation(pool) if self.shuffle else pool

    def _global_batches(self, pool: np.ndarray, rng: np.random.Generator) -> List[np.ndarray]:
        global_size = self.world_size * self.batch_size
        if self.round_up and len(pool) % global_size:
            pad = global_size - len(pool) % global_size
            pool = np.concatenate([pool, np.resize(pool, pad)]) if len(pool) else pool
        if not self.group_by_length:
            return [pool[i:i + global_size] for i in range(0, len(pool), global_size)]
        mega = global_size * self.megabatch_mult
        batches = []
        for start in range(0, len(pool), mega):
            megabatch = pool[start:start + mega]
            megabatch = megabatch[np.argsort(-self.lengths[megabatch], kind='stable')]
            batches += [megabatch[i:i + global_size] for i in range(0, len(megabatch), global_size)]
        if self.shuffle and len(batches) > 1:
            # Shuffle the full batches only: a partial last batch (round_up=False) must stay last.
            full = len(batches) - (len(batches[-1]) < global_size)
            order = list(rng.permutation(full)) + list(range(full, len(batches)))
            batches = [batches[i] for i in order]
            longest = max(range(full), key=lambda b: int(self.lengths[batches[b]].max()), default=0)
            batches.insert(0, batches.pop(longest))
        return batches

    def _rank_sizes(self, n: int) -> List[int]:
        """How many of a global batch of ``n`` each rank gets (full: batch_size each)."""
        base, extra = divmod(n, self.world_size)
        return [base + (r < extra) for r in range(self.world_size)]

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        indices: List[int] = []
        for batch in self._global_batches(self._epoch_pool(rng), rng):
            sizes = self._rank_sizes(len(batch))
            if self.group_by_length:
                chunk = split_to_even_chunks(batch, self.lengths, sizes)[self.rank]
            else:
                start = sum(sizes[:self.rank])
                chunk = batch[start:start + sizes[self.rank]].tolist()
            indices += [int(i) for i in chunk]
        skip, self._skip = self._skip, 0
        return iter(indices[skip:])

    def __len__(self) -> int:
        global_size = self.world_size * self.batch_size
        if self.round_up:
            return math.ceil(self.num_total / global_size) * self.batch_size
        full, rest = divmod(self.num_total, global_size)
        return full * self.batch_size + (self._rank_sizes(rest)[self.rank] if rest else 0)

    def set_epoch(self, epoch: int) -> None:
        """Called by the runner each epoch: a new subset, order and grouping."""
        self.epoch = epoch

    def skip(self, num_samples: int) -> None:
        """Make the next iteration start after its first ``num_samples`` indices of this rank (a resumed
        epoch, see ``ResumableEpochBasedTrainLoop``); ``len`` stays the epoch's, as the loop counts it so."""
        if num_samples < 0:
            raise ValueError(f'cannot skip {num_samples} samples')
        self._skip = int(num_samples)
