"""Reader of the official-parity golden files (``tests/data/parity/*.pt``).

The goldens were made by running the official Groma modules on tiny random weights. Large generated
tensors (weights, inputs) are not stored: the file holds a generator spec instead, and this reader
rebuilds the tensor bit-exactly from it. The generator is a counter-based splitmix64 stream:

    counter = FNV-1a-64(key) + arange(numel)        (uint64, wrapping)
    u       = splitmix64(counter) >> 40             (24 random bits)
    value   = center + half_width * ((2u + 1) / 2**24 - 1)    in float64, then rounded to float32

Every step is integer arithmetic or one correctly rounded float64 operation, so the rebuilt tensor does
not depend on the platform; each spec carries the sha256 of its float32 bytes, which is checked.
"""
import hashlib
from typing import Any

import numpy as np
import torch

SPEC_MARK = '__golden_gen__'
SPEC_TAG = 'splitmix64-uniform-v1'

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1


def fnv1a_64(text: str) -> int:
    value = _FNV_OFFSET
    for byte in text.encode('utf-8'):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK64
    return value


def splitmix64(counter: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over='ignore'):
        z = counter + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform_tensor(key: str, shape, center: float, half_width: float) -> torch.Tensor:
    """The float32 tensor a spec describes: uniform in ``center ± half_width``."""
    shape = tuple(int(s) for s in shape)
    numel = int(np.prod(shape)) if shape else 1
    with np.errstate(over='ignore'):
        counter = np.uint64(fnv1a_64(key)) + np.arange(numel, dtype=np.uint64)
    bits = (splitmix64(counter) >> np.uint64(40)).astype(np.float64)
    values = center + half_width * ((2.0 * bits + 1.0) / float(1 << 24) - 1.0)
    return torch.from_numpy(values.astype(np.float32).reshape(shape))


def _sha256(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().astype('<f4').tobytes()).hexdigest()


def _rebuild(spec: dict) -> torch.Tensor:
    if spec.get(SPEC_MARK) != SPEC_TAG:
        raise ValueError(f'unknown golden generator {spec.get(SPEC_MARK)!r} (this reader knows {SPEC_TAG!r})')
    t = uniform_tensor(spec['key'], spec['shape'], spec['center'], spec['half_width'])
    if _sha256(t) != spec['sha256']:
        raise RuntimeError(f"golden tensor {spec['key']!r} does not match its stored sha256")
    return t


def _expand(obj: Any) -> Any:
    if isinstance(obj, dict):
        if SPEC_MARK in obj:
            return _rebuild(obj)
        return {k: _expand(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_expand(v) for v in obj)
    return obj


def load_golden(path: str) -> dict:
    """Load a golden file with every generated tensor rebuilt (and checked against its sha256).

    Returns:
        dict with ``component``, ``config``-bearing ``cases`` (``{name: {config, state_dict, inputs,
        outputs, intermediates}}``) and, for the whole-model file, ``tokenizer``.
    """
    # The only non-tensor object the files pickle is the torch version they record.
    with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
        return _expand(torch.load(path, map_location='cpu', weights_only=True))
