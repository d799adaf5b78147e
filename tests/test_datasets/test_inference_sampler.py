"""GroupedInferenceSampler: each sample once, one image's queries together, lengths sorted, ranks dealt as
DefaultSampler deals them."""
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


@pytest.mark.parametrize('round_up', [True, False])
def test_ranks_share_the_order_as_default_sampler_does(monkeypatch, round_up):
    dataset = _Queries(IMAGES, LENGTHS)
    parts = []
    for rank in range(2):
        monkeypatch.setattr(inference_sampler, 'get_dist_info', lambda rank=rank: (rank, 2))
        sampler = GroupedInferenceSampler(dataset, round_up=round_up)
        parts.append(list(sampler))
        assert len(sampler) == len(parts[-1])
    # mmengine collects rank results by interleaving them: that gives back the grouped order (plus padding).
    interleaved = [i for pair in zip(*parts) for i in pair] + parts[0][len(parts[1]):]
    assert interleaved[:7] == [1, 4, 0, 5, 2, 6, 3]
    assert len(parts[0]) == len(parts[1]) if round_up else sum(map(len, parts)) == 7
