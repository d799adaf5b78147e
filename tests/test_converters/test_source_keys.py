import pytest
import torch

from groma_mm.converters import ConversionError, SourceKeys, check_complete


def test_every_key_must_be_used_once_and_leftovers_are_named():
    src = SourceKeys({'a.w': torch.ones(2), 'a.b': torch.zeros(2), 'tied.w': torch.ones(2), 'extra': torch.ones(1)},
                     source='ckpt')
    assert set(src.take_prefix('a.')) == {'w', 'b'}
    src.alias('tied.w', same_as='a.w')
    with pytest.raises(ConversionError, match='twice'):
        src.take('a.w')
    with pytest.raises(ConversionError, match="extra"):
        src.check_all_used()


def test_alias_of_a_different_tensor_is_an_error():
    src = SourceKeys({'a': torch.ones(2), 'b': torch.zeros(2)})
    with pytest.raises(ConversionError, match='copy'):
        src.alias('b', same_as='a')


def test_check_complete_lists_missing_extra_and_shape_mismatches():
    expected = {'x': torch.ones(2), 'y': torch.ones(3), 'z': torch.ones(1)}
    with pytest.raises(ConversionError) as err:
        check_complete({'x': torch.ones(2), 'y': torch.ones(4), 'q': torch.ones(1)}, expected, 'model')
    msg = str(err.value)
    assert "missing keys of model (1: z)" in msg and 'q' in msg and 'y (4,) vs (3,)' in msg
