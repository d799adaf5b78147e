"""Strict bookkeeping of a source state dict while it is converted: every key used exactly once."""
from typing import Dict, Iterable, List, Optional

import torch
from torch import Tensor


class ConversionError(RuntimeError):
    """A checkpoint that cannot be converted; the message names the keys or fields at fault."""


def _listing(keys: List[str], limit: int = 20) -> str:
    shown = ', '.join(keys[:limit])
    more = f' … and {len(keys) - limit} more' if len(keys) > limit else ''
    return f'{len(keys)}: {shown}{more}'


class SourceKeys:
    """A source state dict whose keys are ticked off as a converter takes them.

    Converters call :meth:`take` (one key) or :meth:`take_prefix` (a sub-module) and build the target
    dict from what they get; :meth:`alias` consumes a key that the source stores twice under two names
    (HF ties such as ``bbox_embed`` and ``decoder.bbox_embed``), checking that both hold the same tensor.
    :meth:`check_all_used` raises with every leftover key by name.
    """

    def __init__(self, state_dict: Dict[str, Tensor], source: str = 'checkpoint') -> None:
        self._state = dict(state_dict)
        self._used = set()
        self.source = source

    def __contains__(self, key: str) -> bool:
        return key in self._state

    def keys(self) -> List[str]:
        return list(self._state)

    def has_prefix(self, prefix: str) -> bool:
        return any(k.startswith(prefix) for k in self._state)

    def take(self, key: str) -> Tensor:
        if key not in self._state:
            raise ConversionError(f'{self.source} has no key {key!r}')
        if key in self._used:
            raise ConversionError(f'{self.source}: key {key!r} was used twice by the converter')
        self._used.add(key)
        return self._state[key]

    def take_prefix(self, prefix: str, required: bool = True) -> Dict[str, Tensor]:
        """Every unused key under ``prefix``, with the prefix stripped."""
        found = {k[len(prefix):]: self.take(k) for k in list(self._state)
                 if k.startswith(prefix) and k not in self._used}
        if required and not found:
            raise ConversionError(f'{self.source} has no keys under {prefix!r}')
        return found

    def alias(self, key: str, same_as: str) -> None:
        """Consume ``key``, which must hold exactly the tensor at ``same_as``."""
        value = self.take(key)
        if same_as not in self._state or not torch.equal(value, self._state[same_as]):
            raise ConversionError(f'{self.source}: {key!r} was expected to be a copy of {same_as!r}')

    def unused(self) -> List[str]:
        return sorted(k for k in self._state if k not in self._used)

    def check_all_used(self, ignore: Optional[Iterable[str]] = None) -> None:
        ignored = set(ignore or ())
        left = [k for k in self.unused() if k not in ignored]
        if left:
            raise ConversionError(f'{self.source}: unexpected keys the converter does not know ({_listing(left)})')


def check_complete(converted: Dict[str, Tensor], expected: Dict[str, Tensor], target: str) -> None:
    """Raise if ``converted`` misses keys of ``expected`` (a target state dict) or has extra ones, or
    a tensor whose shape differs; every offending key is listed by name."""
    missing = sorted(set(expected) - set(converted))
    extra = sorted(set(converted) - set(expected))
    shapes = sorted(k for k in set(expected) & set(converted) if tuple(expected[k].shape) != tuple(converted[k].shape))
    problems = []
    if missing:
        problems.append(f'missing keys of {target} ({_listing(missing)})')
    if extra:
        problems.append(f'keys {target} does not have ({_listing(extra)})')
    if shapes:
        detail = [f'{k} {tuple(converted[k].shape)} vs {tuple(expected[k].shape)}' for k in shapes]
        problems.append(f'shape mismatches ({_listing(detail)})')
    if problems:
        raise ConversionError('; '.join(problems))
