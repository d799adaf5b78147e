"""GroupedInferenceSampler: each sample once, one image's queries together, lengths sorted, one contiguous
block per rank."""
import itertools

import numpy as np
import pytest

from groma_mm.datasets import inference_sampler
from groma_mm.datasets.inference_sampler import GroupedInferenceSampler, grouped_order
from groma_mm.registry import DATA_SAMPLERS


class _Queries:
    """Queries with an image and a length each."""

    def __init__(self, images, lengths):
        self.images, self.lengths = images, lengths

    def __len__(self):
        return len(self.images)

    def get_data_info(self, index):
        return dict(img_path=self.images[index], sample_idx=index)


IMAGES = ['b.jpg', 'a.jpg', 'b.jpg', 'c.jpg', 'a.jpg', 'b.jpg', 'c.jpg']
LENGTHS = [30, 10, 50, 100, 12, 40, 90]


def test_order_keeps_each_images_queries_together_shortest_images_first():
    order = grouped_order(np.array(LENGTHS), IMAGES).tolist()
    assert sorted(order) == list(range(len(IMAGES)))
    assert [IMAGES[i] for i in order] == ['a.jpg'] * 2 + ['b.jpg'] * 3 + ['c.jpg'] * 2
    assert order == [1, 4, 0, 5, 2, 6, 3]  # within an image: by length


def test_order_by_length_alone_interleaves_images():
    images, lengths = ['a.jpg', 'b.jpg', 'a.jpg'], np.array([10, 50, 95])
    assert grouped_order(lengths, images).tolist() == [1, 0, 2]  # image b (mean 50) before a (mean 52.5)
    assert grouped_order(lengths, images, by_image=False).tolist() == [0, 1, 2]


def test_built_from_config_with_the_runners_seed():
    sampler = DATA_SAMPLERS.build(dict(type='GroupedInferenceSampler'),
                                  default_args=dict(dataset=_Queries(IMAGES, LENGTHS), seed=0))
    assert list(sampler) == [1, 4, 0, 5, 2, 6, 3] and len(sampler) == 7


def _rank_parts(monkeypatch, dataset, world_size, round_up=True):
    parts = []
    for rank in range(world_size):
        monkeypatch.setattr(inference_sampler, 'get_dist_info', lambda rank=rank: (rank, world_size))
        sampler = GroupedInferenceSampler(dataset, round_up=round_up)
        parts.append(list(sampler))
        assert len(sampler) == len(parts[-1])
    return parts


@pytest.mark.parametrize('round_up', [True, False])
@pytest.mark.parametrize('world_size', [1, 2, 3, 4, 7, 9])
def test_mmengine_collection_gets_every_sample_once(monkeypatch, world_size, round_up):
    parts = _rank_parts(monkeypatch, _Queries(IMAGES, LENGTHS), world_size, round_up)
    if round_up:
        assert len({len(p) for p in parts}) == 1  # every rank runs as many batches
    # mmengine's collect_results interleaves the rank results, then cuts to the dataset size.
    interleaved = [i for row in itertools.zip_longest(*parts) for i in row if i is not None]
    assert sorted(interleaved[:len(IMAGES)]) == list(range(len(IMAGES)))


def test_each_rank_takes_a_contiguous_block_so_an_images_queries_stay_together(monkeypatch):
    images = [f'{i % 4}.jpg' for i in range(24)]  # 4 images, 6 queries each
    parts = _rank_parts(monkeypatch, _Queries(images, [10] * 24), 4)
    assert [len({images[i] for i in part}) for part in parts] == [1, 1, 1, 1]
    assert sum(parts, []) == grouped_order(np.array([10] * 24), images).tolist()


def test_without_round_up_ranks_hold_default_sampler_counts(monkeypatch):
    parts = _rank_parts(monkeypatch, _Queries(IMAGES, LENGTHS), 3, round_up=False)
    assert [len(p) for p in parts] == [3, 2, 2]  # as DefaultSampler(round_up=False) deals 7 over 3 ranks
    assert sum(parts, []) == [1, 4, 0, 5, 2, 6, 3]
