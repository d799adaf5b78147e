"""Loading checkpoints without running their code, and loading weights strictly with a clear account.

A ``.pth`` file is a pickle: unpickled with ``weights_only=False`` it can run any code it names (a crafted
file that calls ``os.system`` does so the moment it is loaded). Every local checkpoint that mmengine,
mmdet or groma_mm loads goes through :func:`load_local_checkpoint` (registered as mmengine's loader for
plain paths when ``groma_mm`` is imported), which

- unpickles with ``weights_only=True``: tensors, containers and numbers, plus the few types mmengine
  itself writes into training checkpoints (``HistoryBuffer`` of the message hub, numpy arrays and
  scalars), allowed by name for the duration of the call only;
- refuses anything else with :class:`UnsafeCheckpointError`, naming the types the file needs;
- allows everything inside :func:`trusted_checkpoints` (``--trust-checkpoint`` of the tools,
  ``GromaInferencer(trust_checkpoint=True)``) — only for files whose source you trust;
- reads ``.safetensors`` files (a state dict, no code at all) wherever a ``.pth`` is accepted.

:func:`load_weights` is the strict loading of inference and test: every weight of the model must come
from the checkpoint or from a source the model declares (the proposer's ``proposer_checkpoint``, a
pretrained LLM folder), every checkpoint key must belong to the model, shapes must agree; otherwise
:class:`CheckpointMismatchError` lists the keys (first 20 and the count). A good load logs one line that
says which weights came from where.
"""
import contextlib
import os.path as osp
import pickle
import re
from collections import OrderedDict, defaultdict
from typing import Callable, Dict, Iterator, List, Optional, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader

NUM_LISTED_KEYS = 20
_trusted = False


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs Python objects beyond plain weights to be unpickled; loading it could run code."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model: missing, unexpected or differently shaped weights."""


@contextlib.contextmanager
def trusted_checkpoints() -> Iterator[None]:
    """Inside this block checkpoints are unpickled in full (``weights_only=False``): use it only for files
    whose source you trust, e.g. an old checkpoint that pickled a config class."""
    global _trusted
    previous, _trusted = _trusted, True
    try:
        yield
    finally:
        _trusted = previous


def maybe_trusted(trust: bool):
    """:func:`trusted_checkpoints` when ``trust`` is set, else a no-op context."""
    return trusted_checkpoints() if trust else contextlib.nullcontext()


def _history_buffer_method(owner, name: str):
    """``getattr`` as mmengine's ``HistoryBuffer`` pickles its statistics methods, and nothing more: the
    general ``getattr`` would let a file reach any attribute of any object it can build."""
    if owner is not HistoryBuffer or not isinstance(name, str) or name.startswith('_') \
            or not callable(getattr(HistoryBuffer, name, None)):
        raise UnsafeCheckpointError(f'getattr({owner!r}, {name!r}) is not a HistoryBuffer statistics method')
    return getattr(HistoryBuffer, name)


def _numpy_globals() -> list:
    """numpy's array and scalar reconstructors under the module names numpy 1.x and 2.x pickle them with."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    found = []
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        found += [(multiarray._reconstruct, f'{module}._reconstruct'), (multiarray.scalar, f'{module}.scalar')]
    found += [np.ndarray, np.dtype]
    # numpy >= 1.25 pickles a dtype through its class (numpy.dtypes.Float64DType, ...).
    found += [type(np.dtype(t)) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                          np.uint32, np.uint64, np.float16, np.float32, np.float64, np.str_)]
    return found


def allowed_globals() -> list:
    """What :func:`load_local_checkpoint` allows besides torch's defaults (for ``torch.serialization.safe_globals``)."""
    return [HistoryBuffer, (_history_buffer_method, 'builtins.getattr'), *_numpy_globals()]


def _allowed_names() -> set:
    names = set()
    for item in allowed_globals():
        names.add(item[1] if isinstance(item, tuple) else f'{item.__module__}.{item.__qualname__}')
    return names


def _needed_globals(filename: str, err: Exception) -> List[str]:
    """The names a refused checkpoint asks for (from the file's pickle, else from torch's message)."""
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            names = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # noqa: BLE001 — not a zip checkpoint: fall back to the error text
        names = re.findall(r'GLOBAL ([\w.]+)', str(err))
    allowed = _allowed_names()
    return sorted({n for n in names if n not in allowed}) or [str(err).splitlines()[0]]


def safe_torch_load(filename: str, map_location=None):
    """``torch.load`` of a local file with ``weights_only=True`` and mmengine's own types allowed.

    Raises:
        UnsafeCheckpointError: the file needs other types (named in the message); nothing of it ran.
    """
    if _trusted:
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        needed = ', '.join(_needed_globals(filename, err))
        raise UnsafeCheckpointError(
            f'refusing to load {filename}: unpickling it needs {needed}, which is neither a tensor nor one of '
            "mmengine's own checkpoint types, so loading it could run code. If you trust where the file comes "
            'from, pass --trust-checkpoint (tools/train.py, test.py, infer.py) or trust_checkpoint=True '
            '(GromaInferencer).') from None


def _load_safetensors(filename: str, map_location) -> 'OrderedDict[str, torch.Tensor]':
    from safetensors.torch import load_file
    state = load_file(filename, device='cpu')
    if isinstance(map_location, (str, torch.device)) and str(map_location) != 'cpu':
        state = {k: v.to(map_location) for k, v in state.items()}
    elif callable(map_location):
        state = {k: map_location(v, 'cpu') for k, v in state.items()}
    return OrderedDict(state)


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's loader for local paths: ``.safetensors`` or a safely unpickled ``torch.save`` file."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    if filename.endswith('.safetensors'):
        return _load_safetensors(filename, map_location)
    return safe_torch_load(filename, map_location)


# ------------------------------------------------------------------------------------------ strict loading
def weight_sources(model: torch.nn.Module) -> Dict[str, str]:
    """``{key prefix: where its weights come from}`` for the parts a model loads itself when it is built:
    a Groma's proposer (``proposer_checkpoint``), its LLM when built from a pretrained folder, and a
    region feature encoder whose fixed weights its config's seed makes."""
    sources = {}
    encoder = getattr(model, 'region_feature_encoder', None)
    if encoder is not None and not any(p.requires_grad for p in encoder.parameters()):
        sources['region_feature_encoder.'] = f'the frozen {type(encoder).__name__} of the config'
    if getattr(model, 'proposer_checkpoint', None):
        sources['proposer.'] = f'proposer_checkpoint {model.proposer_checkpoint}'
    llm_path = getattr(getattr(model, 'llm', None), 'name_or_path', '')
    if isinstance(llm_path, str) and llm_path:
        sources['llm.'] = f'the pretrained LLM {llm_path}'
    return sources


def _listed(keys: List[str]) -> str:
    shown = ', '.join(keys[:NUM_LISTED_KEYS])
    more = f' … and {len(keys) - NUM_LISTED_KEYS} more' if len(keys) > NUM_LISTED_KEYS else ''
    return f'{len(keys)}: {shown}{more}'


def _by_part(keys) -> str:
    counts: Dict[str, int] = defaultdict(int)
    for k in keys:
        counts[k.split('.', 1)[0]] += 1
    return ', '.join(f'{part} {n}' for part, n in counts.items())


def checkpoint_state_dict(checkpoint) -> 'OrderedDict[str, torch.Tensor]':
    """The weights of a loaded checkpoint (``state_dict`` of an mmengine file, or the file itself), without
    a DDP ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f'the checkpoint holds a {type(checkpoint).__name__}, not a state dict')
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())


def load_weights(model: torch.nn.Module,
                 filename: str,
                 map_location: Union[str, Callable, None] = 'cpu',
                 strict: bool = True,
                 logger: Optional[MMLogger] = None) -> dict:
    """Load ``filename`` into ``model``; strictly by default (module docstring).

    Args:
        model: the model (a DDP/TTA wrapper is unwrapped).
        filename: a ``.pth`` (mmengine or plain state dict) or ``.safetensors`` file.
        map_location: as for ``torch.load``.
        strict: refuse a checkpoint that leaves weights without a source or holds weights the model lacks.
        logger: where the one-line account goes (the current ``MMLogger`` by default).

    Returns:
        The loaded checkpoint.

    Raises:
        CheckpointMismatchError: missing/unexpected keys or shape mismatches (listed by name).
        UnsafeCheckpointError: the file needs more than weights to be unpickled.
    """
    if is_model_wrapper(model):
        model = model.module
    checkpoint = load_local_checkpoint(filename, map_location)
    state = checkpoint_state_dict(checkpoint)
    expected = model.full_state_dict() if hasattr(model, 'full_state_dict') else model.state_dict()
    sources = weight_sources(model)
    from_sources: Dict[str, List[str]] = defaultdict(list)
    missing = []
    for key in expected:
        if key in state:
            continue
        source = next((s for prefix, s in sources.items() if key.startswith(prefix)), None)
        if source is None:
            missing.append(key)
        else:
            from_sources[source].append(key)
    unexpected = [k for k in state if k not in expected]
    mismatched = [f'{k} {tuple(v.shape)} vs model {tuple(expected[k].shape)}' for k, v in state.items()
                  if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f'missing (no value in the checkpoint or any source) {_listed(missing)}')
    if unexpected:
        problems.append(f'unexpected (not in the model) {_listed(unexpected)}')
    if mismatched:
        problems.append(f'shape mismatch {_listed(mismatched)}')
    if mismatched or (strict and problems):
        raise CheckpointMismatchError(f'{filename} does not fit {type(model).__name__}: ' + '; '.join(problems)
                                      + '. Is it a checkpoint of this config?')
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    account = f'loaded {len(state) - len(unexpected)} tensors from {filename}'
    if state:
        account += f' ({_by_part(k for k in state if k in expected)})'
    for source, keys in from_sources.items():
        account += f'; {_by_part(keys)} ({len(keys)} tensors) from {source}'
    if problems:
        account += '; NOT STRICT: ' + '; '.join(problems)
    (logger or MMLogger.get_current_instance()).info(account)
    return checkpoint
