"""mmengine's FSDP and DeepSpeed strategies with what it takes to run them on mmengine 0.10.7 / torch 2.x,
on GPUs and on CPU (tests, CI). Used through ``FlexibleRunner`` (``runner_type='FlexibleRunner'``)::

    strategy = dict(type='groma_mm.GromaFSDPStrategy', wrap_layers=['LlamaDecoderLayer'],
                    activation_checkpointing=True)

What they change, each for a reason measured on mmengine 0.10.7:

- **start-up**: ``init_dist`` calls ``torch.cuda.set_device`` unconditionally. Without CUDA the process group
  is started here instead, with gloo (``deepspeed.init_distributed(dist_backend='gloo')`` for DeepSpeed).
- **FSDP**: the wrapper's ``device_id`` defaults to ``cuda:LOCAL_RANK`` (``cpu`` here without CUDA); the
  units are the layers named in ``wrap_layers`` (``transformer_auto_wrap_policy`` by class name, so any HF
  LLM works); ``use_orig_params=True`` (Groma mixes frozen and trained weights in one unit);
  ``FSDPStrategy.load_optim_state_dict`` calls ``FSDP.optim_state_dict_to_load`` with torch 2.0's argument
  order (``TypeError: unhashable type: 'dict'`` on resume), fixed here; ``state_dict_cfg='full'`` gathers
  model and optimizer state on rank 0 with ``offload_to_cpu`` only on GPUs (on CPU it corrupts the saved
  optimizer state: ``exp_avg`` comes back aliasing ``exp_avg_sq``); gradient clipping goes through
  ``FSDP.clip_grad_norm_``, since ``torch.nn.utils.clip_grad_norm_`` would clip each rank's shard by that
  shard's norm.
- **DeepSpeed**: mmengine imports ``deepspeed.runtime.fp16.onebit``, which DeepSpeed 0.19 no longer has
  (the optimizers that do exist are registered instead); FlexibleRunner passes the micro-batch size only
  to a strategy named ``DeepSpeedStrategy`` (done here); ZeRO refuses a torch optimizer unless
  ``zero_allow_untested_optimizer`` is set (default True here); DeepSpeed's ``torch_autocast`` section is
  accepted; bf16 parameters are refused unless DeepSpeed's ``bf16`` mode, which keeps fp32 master
  weights, is on.
"""
import copy
import functools
import os
from typing import Callable, Optional, Sequence, Union

import torch
import torch.distributed as torch_dist
from mmengine._strategy import DeepSpeedStrategy, FSDPStrategy
from mmengine.dist import is_distributed
from mmengine.optim import BaseOptimWrapper
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.api import FullOptimStateDictConfig, FullStateDictConfig
from torch.distributed.fsdp.wrap import lambda_auto_wrap_policy

from groma_mm.engine.precision import check_fp32_masters
from groma_mm.registry import STRATEGIES


def _start_cpu_process_group(launcher: str, init: Callable[[], None]) -> None:
    """Start the process group without touching CUDA (module docstring)."""
    if launcher != 'pytorch':
        raise RuntimeError(f"without CUDA, groma_mm's strategies start the process group from torchrun's "
                           f"environment (--launcher pytorch), got --launcher {launcher}")
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch needs {missing} in the environment (start with torchrun or '
                           'tools/dist_train.sh)')
    init()


def _is_named_layer(names: Sequence[str], module: torch.nn.Module) -> bool:
    return type(module).__name__ in names


@STRATEGIES.register_module()
class GromaFSDPStrategy(FSDPStrategy):
    """mmengine's ``FSDPStrategy`` with the fixes of the module docstring.

    Args:
        wrap_layers (list[str], optional): class names of the layers that become FSDP units, e.g.
            ``['LlamaDecoderLayer']``; ignored when ``model_wrapper`` sets ``auto_wrap_policy``. Everything
            else (encoder, proposer, projectors, embeddings, head) lives in the root unit.
        activation_checkpointing (bool | dict, optional): True checkpoints every ``wrap_layers`` layer
            (non-reentrant); a dict is mmengine's form.
        state_dict_cfg (str | dict): ``'full'`` (default): one mmengine checkpoint file written by rank 0,
            loadable anywhere; ``'local'`` or a dict: as mmengine's.
        model_wrapper (dict, optional): ``MMFullyShardedDataParallel`` options (``sharding_strategy``,
            ``mixed_precision``, ...); ``use_orig_params`` defaults to True.
        **kwargs: as for mmengine's ``FSDPStrategy``.
    """

    def __init__(self,
                 *,
                 wrap_layers: Optional[Sequence[str]] = None,
                 activation_checkpointing: Union[None, bool, dict] = None,
                 state_dict_cfg: Union[str, dict] = 'full',
                 model_wrapper: Optional[dict] = None,
                 **kwargs) -> None:
        model_wrapper = copy.deepcopy(dict(model_wrapper or {}))
        model_wrapper.setdefault('type', 'MMFullyShardedDataParallel')
        model_wrapper.setdefault('use_orig_params', True)
        is_layer = functools.partial(_is_named_layer, tuple(wrap_layers or ()))
        if wrap_layers and 'auto_wrap_policy' not in model_wrapper:
            model_wrapper['auto_wrap_policy'] = functools.partial(lambda_auto_wrap_policy, lambda_fn=is_layer)
        if activation_checkpointing is True:
            if not wrap_layers:
                raise ValueError('activation_checkpointing=True checkpoints the wrap_layers; name them')
            activation_checkpointing = dict(check_fn=is_layer)
        elif activation_checkpointing is False:
            activation_checkpointing = None
        super().__init__(model_wrapper=model_wrapper, activation_checkpointing=activation_checkpointing,
                         state_dict_cfg=state_dict_cfg, **kwargs)

    def _setup_distributed(self, launcher: str = 'pytorch', backend: str = 'nccl', **kwargs) -> None:
        if is_distributed():
            return
        if torch.cuda.is_available():
            super()._setup_distributed(launcher, backend, **kwargs)
            return
        _start_cpu_process_group(launcher, lambda: torch_dist.init_process_group(backend='gloo'))

    def _init_state_dict_cfg(self, state_dict_cfg: Union[str, dict]) -> None:
        super()._init_state_dict_cfg(state_dict_cfg)
        if state_dict_cfg == 'full':
            offload = torch.cuda.is_available()
            self.state_dict_config = FullStateDictConfig(rank0_only=True, offload_to_cpu=offload)
            self.optim_state_dict_config = FullOptimStateDictConfig(rank0_only=True, offload_to_cpu=offload)

    def _wrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        if not torch.cuda.is_available():
            self.model_wrapper.setdefault('device_id', torch.device('cpu'))
        return super()._wrap_model(model)

    def build_optim_wrapper(self, optim_wrapper, model=None) -> BaseOptimWrapper:
        wrapper = super().build_optim_wrapper(optim_wrapper, model)
        check_fp32_masters(model.named_parameters(), 'FSDP')
        if getattr(wrapper, 'clip_grad_kwargs', None) and wrapper.clip_func is torch.nn.utils.clip_grad_norm_:
            # The norm must be over all shards; FSDP's own clip reduces it across ranks.
            wrapper.clip_func = lambda params, **clip: model.clip_grad_norm_(**clip)
        return wrapper

    def load_optim_state_dict(self, state_dict: dict) -> None:
        # mmengine passes (state_dict, model, optimizer): the torch-2.0 order.
        optim_state_dict = FSDP.optim_state_dict_to_load(self.model, self.optim_wrapper.optimizer, state_dict)
        self.optim_wrapper.load_state_dict(optim_state_dict)


def _register_deepspeed_optimizers() -> None:
    """Register the DeepSpeed optimizers that exist (mmengine's list names removed ones)."""
    from deepspeed.ops.adam import DeepSpeedCPUAdam, FusedAdam
    from mmengine.registry import OPTIMIZERS
    for optimizer in (DeepSpeedCPUAdam, FusedAdam):
        if OPTIMIZERS.get(optimizer.__name__) is None:
            OPTIMIZERS.register_module(module=optimizer)


@STRATEGIES.register_module()
class GromaDeepSpeedStrategy(DeepSpeedStrategy):
    """mmengine's ``DeepSpeedStrategy`` with the fixes of the module docstring.

    Args:
        torch_autocast (dict, optional): DeepSpeed's ``torch_autocast`` section, e.g.
            ``dict(enabled=True, dtype='bfloat16')``: fp32 weights, bf16 autocast compute.
        zero_allow_untested_optimizer (bool): let ZeRO shard a torch optimizer (AdamW). Defaults to True.
        **kwargs: as for mmengine's ``DeepSpeedStrategy`` (``zero_optimization``, ``bf16``,
            ``gradient_clipping``, ``exclude_frozen_parameters``, ``config``, ...).
    """

    def __init__(self, *, torch_autocast: Optional[dict] = None, zero_allow_untested_optimizer: bool = True,
                 **kwargs) -> None:
        try:
            super().__init__(**kwargs)
        except ModuleNotFoundError as e:
            # Raised by the last statement of DeepSpeedStrategy.__init__ (the optimizer registration), so
            # the strategy is fully set up when it is caught.
            if 'onebit' not in str(e):
                raise
            _register_deepspeed_optimizers()
        if torch_autocast is not None:
            self.config['torch_autocast'] = dict(torch_autocast)
        self.config.setdefault('zero_allow_untested_optimizer', zero_allow_untested_optimizer)

    def _setup_distributed(self, launcher: Optional[str] = None, backend: str = 'nccl', **kwargs) -> None:
        if is_distributed():
            return
        if torch.cuda.is_available():
            super()._setup_distributed(launcher, backend, **kwargs)
            return
        import deepspeed
        _start_cpu_process_group(launcher, lambda: deepspeed.init_distributed(dist_backend='gloo'))

    def _wrap_model(self, model: torch.nn.Module):
        # FlexibleRunner sets the micro-batch size only for a strategy named exactly 'DeepSpeedStrategy'.
        micro_batch = self.dispatch_kwargs.get('train_micro_batch_size_per_gpu') or 1
        self.config.setdefault('train_micro_batch_size_per_gpu', micro_batch)
        return super()._wrap_model(model)

    def build_optim_wrapper(self, optim_wrapper, model=None) -> BaseOptimWrapper:
        keeps_masters = any(self.config.get(mode, {}).get('enabled') for mode in ('bf16', 'fp16'))
        if not keeps_masters:  # torch_autocast (or no mixed precision at all) steps the weights themselves
            check_fp32_masters(model.named_parameters(), 'DeepSpeed without bf16=dict(enabled=True)')
        return super().build_optim_wrapper(optim_wrapper, model)
