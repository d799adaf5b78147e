"""Stage checkpoints hold what the stage trains; one full file restores the whole model."""
import subprocess
import sys

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner.checkpoint import load_checkpoint

from transformers import AutoConfig, AutoModelForCausalLM

from groma_mm.registry import MODELS
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
from groma_mm.testing.paths import REPO_ROOT

TINY = f'{REPO_ROOT}/configs/_base_/models/groma_tiny.py'


def _batch():
    s = DetDataSample(metainfo=dict(img_shape=(112, 112), ori_shape=(112, 112), scale_factor=(1.0, 1.0),
                                    img_path='synthetic', sample_idx=0,
                                    conversation=[dict(role='user', content='What is <box0>?'),
                                                  dict(role='assistant', content='a red circle')]))
    s.bboxes = torch.tensor([[10.0, 10.0, 60.0, 70.0]])
    torch.manual_seed(1)
    return dict(inputs=[torch.randint(0, 255, (3, 112, 112), dtype=torch.uint8)], data_samples=[s])


def _stage2_model(seed, proposer_checkpoint=None, llm_dir=None):
    cfg = Config.fromfile(TINY)
    cfg.model.llm.freeze_llm = True
    cfg.model.proposer_checkpoint = proposer_checkpoint
    if llm_dir is not None:
        cfg.model.tokenizer = dict(type='HFTokenizer', pretrained=llm_dir)
        cfg.model.llm = dict(type='HFCausalLM', pretrained=llm_dir, freeze_llm=True)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def test_stage_checkpoint_holds_exactly_the_trainable_weights():
    _, model = _stage2_model(0)
    keys = set(model.state_dict())
    # and the frozen region feature encoder, which has no other file (next test)
    features = {f'region_feature_encoder.{k}' for k in model.region_feature_encoder.state_dict()}
    assert features and keys == {n for n, p in model.named_parameters() if p.requires_grad} | features
    assert not any(k.startswith('proposer.') for k in keys)
    assert any(k.startswith('region_encoder.') for k in keys) and any(k.startswith('image_tokenizer.') for k in keys)
    # The frozen LLM contributes only its (row-masked) embedding / head matrices.
    llm_keys = {k for k in keys if k.startswith('llm.')}
    assert llm_keys and all('embed_tokens' in k or 'lm_head' in k for k in llm_keys)
    assert len(model.full_state_dict()) > len(keys)


def test_a_frozen_image_tokenizer_region_encoder_or_region_feature_encoder_stays_in_the_stage_checkpoint():
    # Nothing else holds their weights (no stage-1 file, no LLM folder; a pretrained region feature
    # encoder's file is named only where stage 2 builds it): leaving them out loses them.
    cfg = Config.fromfile(TINY)
    cfg.model.update(freeze_image_tokenizer=True, freeze_region_encoder=True, proposer_checkpoint=None)
    model = MODELS.build(cfg.model)
    keys = set(model.state_dict())
    for module in ('image_tokenizer', 'region_encoder', 'region_feature_encoder'):
        expected = {f'{module}.{k}' for k in getattr(model, module).state_dict()}
        assert expected and expected <= keys, module
    assert not any(k.startswith('proposer.') for k in keys)


def test_full_checkpoint_tool_restores_the_model(tmp_path):
    # The frozen parts come from their sources, as in real use: a stage-1 checkpoint and an LLM folder.
    cfg, source = _stage2_model(0)
    torch.save(dict(state_dict=source.proposer.state_dict()), tmp_path / 'stage1.pth')
    tokenizer = build_tiny_tokenizer(save_dir=str(tmp_path / 'llm'))
    AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg.model.llm.config, vocab_size=len(tokenizer))) \
        .save_pretrained(str(tmp_path / 'llm'))
    cfg, trained = _stage2_model(0, str(tmp_path / 'stage1.pth'), str(tmp_path / 'llm'))
    with torch.no_grad():  # "training" changed the trainable weights
        for p in trained.parameters():
            if p.requires_grad:
                p.add_(0.01)
    stage = tmp_path / 'stage2.pth'
    torch.save(dict(state_dict=trained.state_dict()), stage)
    cfg.dump(str(tmp_path / 'cfg.py'))
    full = tmp_path / 'full.pth'
    subprocess.run([sys.executable, 'tools/model_converters/groma_full_checkpoint.py', str(tmp_path / 'cfg.py'),
                    str(stage), str(full)], check=True, cwd=REPO_ROOT)

    _, fresh = _stage2_model(1, str(tmp_path / 'stage1.pth'), str(tmp_path / 'llm'))
    load_checkpoint(fresh, str(full), map_location='cpu', strict=True)
    for model in (trained, fresh):
        model.eval()
    with torch.no_grad():
        a = trained(**trained.data_preprocessor(_batch(), False), mode='predict')[0]
        b = fresh(**fresh.data_preprocessor(_batch(), False), mode='predict')[0]
    assert a.raw_answer == b.raw_answer
    for k, v in trained.full_state_dict().items():
        torch.testing.assert_close(fresh.full_state_dict()[k], v, msg=k)
