"""fp32 master weights: at the paper's stage-3 lr an fp32-master step moves the weights, a bf16 step does not,
and an optimizer over bf16 weights is refused when it is built."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from groma_mm.engine import AutocastOptimWrapper, Fp32MasterOptimWrapperConstructor
from groma_mm.models.llms.builder import build_causal_lm
from groma_mm.testing.paths import REPO_ROOT
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer, tiny_vocabulary

TINY_LLAMA = dict(model_type='llama', hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=256, vocab_size=len(tiny_vocabulary()))
STAGE3 = f'{REPO_ROOT}/configs/groma/groma_dinov2-l14_vicuna-7b_8xb16-1e_stage3-instruct.py'


def _llm(**kwargs):
    torch.manual_seed(0)
    return build_causal_lm(config=TINY_LLAMA, tokenizer=build_tiny_tokenizer(), num_proxy_tokens=4, **kwargs)


def _share_of_trained_weights_moved(model, lr=1e-5) -> float:
    """One AdamW step at ``lr`` under bf16 autocast; the share of weights with a gradient that changed."""
    ids = torch.randint(3, 200, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    torch.optim.AdamW(params, lr=lr, weight_decay=0.0).step()
    moved = total = 0
    for p, old in zip(params, before):
        trained = p.grad != 0
        moved += int(((p.detach() != old) & trained).sum())
        total += int(trained.sum())
    return moved / total


def test_fp32_master_weights_keep_the_updates_a_bf16_step_rounds_away():
    masters = _llm(torch_dtype='bfloat16', trainable_dtype='float32')
    assert {p.dtype for p in masters.parameters()} == {torch.float32}
    naive = _llm(torch_dtype='bfloat16')
    assert {p.dtype for p in naive.parameters()} == {torch.bfloat16}
    assert _share_of_trained_weights_moved(masters) >= 0.99
    assert _share_of_trained_weights_moved(naive) < 0.5


def test_frozen_bf16_body_with_fp32_trainable_rows_runs_with_and_without_autocast():
    model = _llm(torch_dtype='bfloat16', trainable_dtype='float32', freeze_llm=True)
    trainable = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and set(trainable.values()) == {torch.float32}  # the embedding / head matrices
    assert model.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    ids = torch.randint(3, 200, (1, 16))
    with torch.no_grad():
        plain = model(input_ids=ids).logits  # inference: no autocast
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert torch.isfinite(plain).all() and torch.isfinite(loss)
    assert model.get_output_embeddings().weight.grad.abs().sum() > 0  # the Groma rows of the fp32 head learn


def test_an_optimizer_over_bf16_weights_is_refused_when_built():
    cfg = Config.fromfile(STAGE3)  # the paper stage-3 optimizer wrapper, as the runner builds it at start-up
    with pytest.raises(TypeError, match=r'bfloat16.*round away'):
        build_optim_wrapper(_llm(torch_dtype='bfloat16'), cfg.optim_wrapper)
    wrapper = build_optim_wrapper(_llm(torch_dtype='bfloat16', trainable_dtype='float32'), cfg.optim_wrapper)
    assert isinstance(wrapper, AutocastOptimWrapper)
    assert isinstance(Fp32MasterOptimWrapperConstructor, type)


def test_autocast_wrapper_computes_in_bf16_on_cpu_and_steps_fp32_weights():
    layer = torch.nn.Linear(8, 8)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.AdamW(layer.parameters(), lr=1e-5), dtype='bfloat16')
    with wrapper.optim_context(layer):
        out = layer(torch.randn(2, 8))
    assert out.dtype == torch.bfloat16
    before = layer.weight.detach().clone()
    wrapper.update_params(out.float().pow(2).sum())
    assert layer.weight.dtype == torch.float32 and (layer.weight != before).float().mean() > 0.99
    with AutocastOptimWrapper(optimizer=torch.optim.SGD(layer.parameters(), lr=0.1), dtype=None).optim_context(layer):
        assert layer(torch.randn(2, 8)).dtype == torch.float32
