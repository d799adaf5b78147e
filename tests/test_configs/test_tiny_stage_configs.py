"""The tiny stage-2/3 configs of the main job: what their optimizer trains, and at which rate."""
import pytest
from mmengine.optim import build_optim_wrapper

from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT
from groma_mm.utils import load_config, register_all_modules

CONFIGS = [f'{REPO_ROOT}/configs/groma/groma_tiny_1xb8-stage2-align_synthetic.py',
           f'{REPO_ROOT}/configs/groma/groma_tiny_1xb8-stage3-instruct_synthetic.py']
INNER = ('pyramid', 'level_projections', 'geometry', 'norm')


@pytest.mark.parametrize('config', CONFIGS, ids=['stage2', 'stage3'])
def test_the_region_encoders_inner_layers_learn_at_a_tenth_of_its_projectors_rate(config):
    register_all_modules()
    cfg = load_config(config)
    cfg.model.proposer_checkpoint = None
    cfg.model.tokenizer = dict(type='TinyWordTokenizer')
    model = MODELS.build(cfg.model)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    lr_of = {id(p): group['lr'] for group in optimizer.param_groups for p in group['params']}
    base = cfg.optim_wrapper.optimizer.lr
    rates = {name: lr_of[id(p)] for name, p in model.named_parameters() if p.requires_grad}
    inner = {n: r for n, r in rates.items() if n.split('.')[:2] in [['region_encoder', i] for i in INNER]}
    projector = {n: r for n, r in rates.items() if n.startswith('region_encoder.projector.')}
    assert {n.split('.')[1] for n in inner} == set(INNER)
    assert list(inner.values()) == pytest.approx([0.1 * base] * len(inner))
    assert projector and set(projector.values()) == {base}
    # Everything else the stage trains (the LLM's rows or all of it, the image tokenizer) at the full rate.
    others = {n: r for n, r in rates.items() if n.startswith(('llm.', 'image_tokenizer.'))}
    assert others and set(others.values()) == {base}
