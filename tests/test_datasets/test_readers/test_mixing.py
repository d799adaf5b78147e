from collections import Counter

import numpy as np
import pytest
from mmengine.dataset import ConcatDataset

from groma_mm.datasets import mixing
from groma_mm.datasets.mixing import LengthGroupedMixSampler, dataset_lengths, split_to_even_chunks
from groma_mm.datasets.readers import GromaBaseDataset, sample_length
from groma_mm.registry import DATA_SAMPLERS, DATASETS


class _Toy(GromaBaseDataset):
    """In-memory samples whose reply has the given lengths."""

    def __init__(self, reply_lengths, **kwargs):
        self.reply_lengths = reply_lengths
        super().__init__(ann_file='', check_files=False, **kwargs)

    def parse(self):
        for i, n in enumerate(self.reply_lengths):
            yield dict(index=i), dict(img_path=f'{i}.jpg', img_id=i, height=None, width=None, task='chat',
                                      grounding=False, gt={}, bboxes=np.zeros((i % 3, 4), np.float32),
                                      conversation=[dict(role='user', content='q'),
                                                    dict(role='assistant', content='a' * n)])


SHORT, LONG = 10, 4  # sizes of the two toy datasets


@pytest.fixture(scope='module')
def concat():
    return ConcatDataset([_Toy([5 + i for i in range(SHORT)], serialize_data=False),
                          _Toy([1000 + i for i in range(LONG)])])


def _sampler(dataset, monkeypatch, rank=0, world=1, **kwargs):
    monkeypatch.setattr(mixing, 'get_dist_info', lambda: (rank, world))
    kwargs.setdefault('seed', 0)
    return LengthGroupedMixSampler(dataset, **kwargs)


def test_lengths_through_concat(concat):
    lengths = dataset_lengths(concat)
    # 1 char question + reply + number of boxes
    assert lengths.tolist() == [1 + 5 + i + i % 3 for i in range(SHORT)] + [1 + 1000 + i + i % 3 for i in range(LONG)]


def test_ratios_per_epoch(concat, monkeypatch):
    exact = _sampler(concat, monkeypatch, batch_size=1, ratios=[0.5, 2], round_up=False)
    counts = Counter(exact)
    assert len(exact) == 13 and sum(counts.values()) == 13  # round(0.5 * 10) + 2 * 4
    assert len([i for i in counts if i < SHORT]) == 5 and all(counts[i] == 1 for i in counts if i < SHORT)
    assert all(counts[i] == 2 for i in range(SHORT, SHORT + LONG))  # two passes over the small dataset
    exact.set_epoch(1)
    assert {i for i in exact if i < SHORT} != {i for i in counts if i < SHORT}  # another half next epoch

    sampler = _sampler(concat, monkeypatch, batch_size=2, ratios=[0.5, 2])
    indices = list(sampler)
    assert len(indices) == len(sampler) == 14  # 13 padded to full batches
    assert list(sampler) == indices  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != indices
    with pytest.raises(ValueError, match='2 ratios for 1 datasets'):
        _sampler(concat.datasets[0], monkeypatch, batch_size=2, ratios=[1, 1])


def test_distributed_ranks_share_one_epoch(concat, monkeypatch):
    kwargs = dict(batch_size=2, ratios=[0.5, 2])
    ranks = [list(_sampler(concat, monkeypatch, rank=r, world=2, **kwargs)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(_sampler(concat, monkeypatch, rank=0, world=2, **kwargs)) == 8
    together = Counter(ranks[0] + ranks[1])
    assert sum(together.values()) == 16  # 13 + 3 padding
    assert sum(n for i, n in together.items() if i >= SHORT) >= 8
    assert len({i for i in together if i < SHORT}) == 5  # the same 5 short samples on both ranks' view
    # The k-th batches of the ranks form one global batch, dealt so that their total lengths are close.
    lengths = dataset_lengths(concat)
    for k in range(0, 8, 2):
        a, b = lengths[ranks[0][k:k + 2]], lengths[ranks[1][k:k + 2]]
        assert abs(int(a.sum()) - int(b.sum())) <= max(a.max(), b.max())


def test_length_grouping_makes_homogeneous_batches(concat, monkeypatch):
    lengths = dataset_lengths(concat)
    sampler = _sampler(concat, monkeypatch, batch_size=2, megabatch_mult=8)
    indices = list(sampler)
    batches = [indices[i:i + 2] for i in range(0, len(indices), 2)]
    mixed = [b for b in batches if len({lengths[i] > 500 for i in b}) > 1]
    assert len(mixed) <= 1  # one megabatch: sorted, so at most the boundary batch mixes
    assert lengths[batches[0]].max() == lengths.max()  # the longest batch comes first
    plain = _sampler(concat, monkeypatch, batch_size=2, group_by_length=False)
    assert sorted(plain) == sorted(range(len(concat)))


def test_split_to_even_chunks_balances_totals():
    lengths = np.array([100, 90, 10, 5, 50, 45])
    order = np.argsort(-lengths)
    chunks = split_to_even_chunks(order, lengths, [3, 3])
    assert sorted(map(len, chunks)) == [3, 3]
    totals = [lengths[c].sum() for c in chunks]
    assert abs(totals[0] - totals[1]) <= 20


def test_no_round_up_and_registry(concat, monkeypatch):
    monkeypatch.setattr(mixing, 'get_dist_info', lambda: (1, 2))
    dataset = DATASETS.build(dict(type='ConcatDataset', datasets=[concat.datasets[0], concat.datasets[1]]))
    sampler = DATA_SAMPLERS.build(dict(type='LengthGroupedMixSampler', dataset=dataset, batch_size=4, seed=3,
                                       round_up=False))
    indices = list(sampler)
    assert len(indices) == len(sampler) == 7  # 14 = one global batch of 8 + 6 split 3/3
    monkeypatch.setattr(mixing, 'get_dist_info', lambda: (0, 2))
    other = DATA_SAMPLERS.build(dict(type='LengthGroupedMixSampler', dataset=dataset, batch_size=4, seed=3,
                                     round_up=False))
    assert sorted(indices + list(other)) == list(range(14))


def test_runner_builds_the_loader(concat):
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(
        dict(batch_size=4, num_workers=0, dataset=concat, collate_fn=list,
             sampler=dict(type='LengthGroupedMixSampler', batch_size=4, ratios=[1, 0.5])), seed=7)
    batches = list(loader)
    assert len(batches) == len(loader) == 3  # 10 + 2 = 12 samples, batches of 4
    assert max(sample_length(s) for s in batches[0]) == dataset_lengths(concat).max()  # longest batch first
