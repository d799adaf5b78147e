"""A NaN/Inf loss leaves weights and optimizer state untouched; too many in a row stop the run."""
import pytest
import torch

from groma_mm.engine.nonfinite_skip import NonFiniteLossError, SkipNonFiniteOptimWrapper


def _wrapper(max_in_a_row=3):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    return model, SkipNonFiniteOptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=0.1),
                                            max_nonfinite_in_a_row=max_in_a_row)


def _loss(model, bad=None):
    loss = model(torch.ones(2, 3)).pow(2).mean()
    return loss * float(bad) if bad is not None else loss


def test_a_non_finite_loss_skips_the_update():
    model, wrapper = _wrapper()
    wrapper.update_params(_loss(model))  # one real step: AdamW now has momentum that would move the weights
    weights = [p.detach().clone() for p in model.parameters()]
    state = {k: v.clone() for k, v in wrapper.optimizer.state[model.weight].items()}
    for bad in ('nan', 'inf'):
        wrapper.update_params(_loss(model, bad))
    for p, before in zip(model.parameters(), weights):
        assert torch.equal(p, before) and p.grad is None
    for k, v in wrapper.optimizer.state[model.weight].items():
        assert torch.equal(v, state[k]), k
    assert wrapper.num_skipped_steps == 2 and wrapper.nonfinite_in_a_row == 2
    wrapper.update_params(_loss(model))
    assert wrapper.nonfinite_in_a_row == 0 and not torch.equal(model.weight, weights[0])


def test_too_many_non_finite_losses_in_a_row_stop_training():
    model, wrapper = _wrapper(max_in_a_row=3)
    wrapper.update_params(_loss(model, 'nan'))
    wrapper.update_params(_loss(model, 'nan'))
    with pytest.raises(NonFiniteLossError, match='3 in a row'):
        wrapper.update_params(_loss(model, 'nan'))
