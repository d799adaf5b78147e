"""Seeded fuzzing of the readers and the validator: 500 mutations of every public format, no crash, and every
mutation that surely broke the data reported by the validator (figures: docs/reliability.md)."""
import pytest

from groma_mm.testing.fuzzing import FORMATS, figures_table, fuzz

MUTATIONS = 500


@pytest.fixture(scope='module')
def figures():
    results = fuzz(MUTATIONS, seed=0)
    print('\n' + figures_table(results))
    return results


def test_every_public_format_is_fuzzed(figures):
    assert set(figures) == set(FORMATS)
    for name, f in figures.items():
        assert f.tried == MUTATIONS, name
        assert len(f.kinds) >= 5, (name, f.kinds)  # truncation, bad bytes, types, keys, boxes/ids, images


@pytest.mark.parametrize('name', FORMATS)
def test_no_mutation_crashes_a_reader_or_the_validator(figures, name):
    f = figures[name]
    assert f.crashes == 0, [str(o) for o in f.examples]


@pytest.mark.parametrize('name', FORMATS)
def test_every_surely_bad_mutation_is_reported(figures, name):
    f = figures[name]
    assert f.missed == 0, [str(o) for o in f.examples]
    assert f.validator['reported'] > MUTATIONS // 2 and f.caught >= f.validator['reported']
