"""Print the folder name under which tools/install.sh keeps the mmcv wheel it built for this environment.

    python tools/wheel_cache_key.py      # e.g. torch-2.14.1_cu130-cuda-13.0-cpython-311-x86_64-linux-gnu-ops-cpu

A compiled mmcv only works with the torch, the CUDA and the Python ABI it was built against, and holds CUDA
kernels only if it was built with them (``FORCE_CUDA=1`` or a visible GPU) for the architectures it was built
for (``TORCH_CUDA_ARCH_LIST``, else those of the visible GPUs). All of these are in the key, so a wheel built
on a CPU-only machine is never handed to a GPU host, nor one for Python 3.11 to Python 3.12.
"""
import os
import re
import sysconfig
from typing import Optional, Sequence


def cache_key(torch_version: str, cuda_version: Optional[str], python_abi: str, force_cuda: bool,
              arch_list: Optional[str], gpu_archs: Sequence[str]) -> str:
    """The cache folder name for one set of build inputs (module docstring).

    Args:
        torch_version: ``torch.__version__`` (with its local tag, e.g. ``2.14.1+cu130``).
        cuda_version: ``torch.version.cuda``; None for a CPU-only torch.
        python_abi: the interpreter's ABI, e.g. ``cpython-311-x86_64-linux-gnu``.
        force_cuda: ``FORCE_CUDA=1`` is set.
        arch_list: ``TORCH_CUDA_ARCH_LIST`` if set.
        gpu_archs: compute capabilities of the visible GPUs (``['9.0']``).
    """
    with_cuda_ops = force_cuda or bool(gpu_archs)
    if with_cuda_ops:
        archs = arch_list or ';'.join(sorted(set(gpu_archs))) or 'default'
        ops = 'ops-cuda-' + re.sub(r'[^0-9A-Za-z.]+', '_', archs.strip())
    else:
        ops = 'ops-cpu'
    parts = [f'torch-{torch_version}', f'cuda-{cuda_version}' if cuda_version else 'cpu', python_abi, ops]
    return re.sub(r'[^0-9A-Za-z._-]+', '_', '-'.join(parts))


def current_key() -> str:
    import torch
    gpus = [f'{major}.{minor}' for major, minor in
            (torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))] \
        if torch.cuda.is_available() else []
    abi = sysconfig.get_config_var('SOABI') or f'py{sysconfig.get_python_version()}'
    return cache_key(torch.__version__, torch.version.cuda, abi, os.environ.get('FORCE_CUDA', '0') == '1',
                     os.environ.get('TORCH_CUDA_ARCH_LIST'), gpus)


if __name__ == '__main__':
    print(current_key())
