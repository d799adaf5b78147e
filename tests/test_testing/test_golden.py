import pytest
import torch

from groma_mm.testing import golden


def test_uniform_tensor_is_deterministic_and_inside_its_range():
    a = golden.uniform_tensor('w', (3, 5), center=1.0, half_width=0.25)
    b = golden.uniform_tensor('w', (3, 5), center=1.0, half_width=0.25)
    assert a.dtype == torch.float32 and torch.equal(a, b)
    assert (a > 0.75).all() and (a < 1.25).all()
    assert not torch.equal(a, golden.uniform_tensor('v', (3, 5), center=1.0, half_width=0.25))


def test_rebuilt_tensor_with_wrong_checksum_is_refused(tmp_path):
    t = golden.uniform_tensor('k', (4, ), 0.0, 1.0)
    spec = {golden.SPEC_MARK: golden.SPEC_TAG, 'key': 'k', 'shape': [4], 'center': 0.0, 'half_width': 1.0,
            'dtype': 'float32', 'sha256': golden._sha256(t)}
    path = tmp_path / 'g.pt'
    torch.save({'cases': {'c': {'w': spec, 'raw': torch.ones(2)}}}, path)
    loaded = golden.load_golden(str(path))
    assert torch.equal(loaded['cases']['c']['w'], t) and torch.equal(loaded['cases']['c']['raw'], torch.ones(2))
    spec['sha256'] = '0' * 64
    torch.save({'w': spec}, path)
    with pytest.raises(RuntimeError, match="'k'"):
        golden.load_golden(str(path))
