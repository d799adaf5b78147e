"""tools/model_converters/groma_official_to_mm.py on official-format Hugging Face folders.

The folders are built here from the golden proposer state dict (official key names, tiny random weights)
and the config the golden was made with, written the way ``save_pretrained`` writes them (sharded
safetensors with ``model.safetensors.index.json``).
"""
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece
import torch
from mmengine.runner import load_checkpoint
from safetensors.torch import save_file
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, LlamaTokenizer

from groma_mm.converters import SourceKeys
from groma_mm.converters.official_groma import convert_official_groma, official_groma_cfg
from groma_mm.converters.official_proposer import convert_official_proposer, official_proposer_cfg
from groma_mm.models.llms.official_tokens import add_official_tokens, official_new_tokens
from groma_mm.registry import MODELS
from groma_mm.testing.golden import load_golden

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'model_converters' / 'groma_official_to_mm.py'
GOLDEN = REPO / 'tests/data/parity/03_proposer_seed0.pt'
_spec = importlib.util.spec_from_file_location('groma_official_to_mm', SCRIPT)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


@pytest.fixture(scope='module')
def golden():
    """(config.json dict, official state dict) of the det-pretrain golden (1 feature level)."""
    case = load_golden(str(GOLDEN))['cases']['levels1']
    config = dict(case['config']['perceiver_cfg'], architectures=['CustomDDETRModel'])
    return config, case['state_dict']


def write_folder(folder: Path, config: dict, state_dict: dict, num_shards: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'config.json').write_text(json.dumps(config))
    keys = sorted(state_dict)
    weight_map = {}
    for i in range(num_shards):
        name = f'model-{i + 1:05d}-of-{num_shards:05d}.safetensors'
        # clones: the golden's tied HF copies share storage, which safetensors refuses to write
        shard = {k: state_dict[k].clone() for k in keys[i::num_shards]}
        save_file(shard, str(folder / name), metadata={'format': 'pt'})
        weight_map.update(dict.fromkeys(shard, name))
    index = dict(metadata=dict(total_size=sum(v.numel() * v.element_size() for v in state_dict.values())),
                 weight_map=weight_map)
    (folder / 'model.safetensors.index.json').write_text(json.dumps(index))
    return folder


def run_main(capsys, *args) -> tuple:
    code = tool.main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_sharded_safetensors_folder_converts_to_a_strictly_loadable_checkpoint(golden, tmp_path):
    config, state = golden
    src = write_folder(tmp_path / 'groma-det-pretrain', config, state)
    out = tmp_path / 'out' / 'proposer.pth'
    proc = subprocess.run([sys.executable, str(SCRIPT), str(src), str(out)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f'from {len(state)} official ones' in proc.stdout

    ckpt = torch.load(out, map_location='cpu', weights_only=False)
    assert ckpt['meta']['model_type'] == 'ddetr' and ckpt['meta']['hf_config'] == config
    expected = convert_official_proposer(SourceKeys(state), config)
    assert sorted(ckpt['state_dict']) == sorted(expected)
    assert all(torch.equal(ckpt['state_dict'][k], v) for k, v in expected.items())
    model = MODELS.build(official_proposer_cfg(config))
    load_checkpoint(model, str(out), map_location='cpu', strict=True)


def test_missing_key_is_named_and_exits_1(golden, tmp_path, capsys):
    config, state = golden
    dropped = 'ddetr_transformer.level_embed'
    src = write_folder(tmp_path / 'src', config, {k: v for k, v in state.items() if k != dropped})
    code, err = run_main(capsys, src, tmp_path / 'out.pth')
    assert code == 1
    assert f"has no key '{dropped}'" in err
    assert not (tmp_path / 'out.pth').exists()


def test_unexpected_key_is_listed_and_exits_1(golden, tmp_path, capsys):
    config, state = golden
    extra = {'extra_head.weight': torch.zeros(2, 2), 'rogue.bias': torch.zeros(2)}
    src = write_folder(tmp_path / 'src', config, {**state, **extra})
    code, err = run_main(capsys, src, tmp_path / 'out.pth')
    assert code == 1
    assert 'unexpected keys the converter does not know (2: extra_head.weight, rogue.bias)' in err
    assert not (tmp_path / 'out.pth').exists()


def test_converted_tensor_our_model_lacks_or_misses_is_named(golden):
    config, state = golden
    converted = convert_official_proposer(SourceKeys(state), config)
    converted['neck.extra.weight'] = converted.pop('level_embed')
    with pytest.raises(tool.ConversionError, match=r'missing keys of .*\(1: level_embed\).*\(1: neck\.extra\.weight\)'):
        tool.check_vision_keys(converted, config)


def test_folder_without_config_json_is_refused(golden, tmp_path, capsys):
    config, state = golden
    src = write_folder(tmp_path / 'weights_only', config, state)
    (src / 'config.json').unlink()
    code, err = run_main(capsys, src, tmp_path / 'out.pth')
    assert code == 1
    assert f'{src} has no config.json' in err


def test_non_groma_folder_is_refused(golden, tmp_path, capsys):
    _, state = golden
    src = write_folder(tmp_path / 'llama', dict(model_type='llama', architectures=['LlamaForCausalLM']), state)
    code, err = run_main(capsys, src, tmp_path / 'out.pth')
    assert code == 1
    assert "model_type 'llama' is not an official Groma checkpoint" in err


def test_unknown_architecture_is_refused(golden, tmp_path, capsys):
    config, state = golden
    src = write_folder(tmp_path / 'src', dict(config, architectures=['CustomDDETRForObjectDetection']), state)
    code, err = run_main(capsys, src, tmp_path / 'out.pth')
    assert code == 1
    assert "architectures ['CustomDDETRForObjectDetection'] are unknown" in err


def test_unsupported_config_value_is_refused(golden, tmp_path, capsys):
    config, state = golden
    odd = dict(config, ddetr_cfg=dict(config['ddetr_cfg'], num_feature_levels=3))
    src = write_folder(tmp_path / 'src', odd, state)
    code, err = run_main(capsys, src, tmp_path / 'out.pth')
    assert code == 1
    assert 'num_feature_levels=3 is not supported' in err


def test_tokenizer_out_is_refused_for_a_det_pretrain_folder(golden, tmp_path, capsys):
    config, state = golden
    src = write_folder(tmp_path / 'src', config, state)
    code, err = run_main(capsys, src, tmp_path / 'out.pth', '--tokenizer-out', tmp_path / 'tok')
    assert code == 1
    assert 'has no tokenizer' in err
    assert not (tmp_path / 'out.pth').exists()


def tiny_llm_tokenizer(tmp_path: Path) -> LlamaTokenizer:
    """A slow LLaMA tokenizer over a 40-piece sentencepiece model, the kind the official folders keep."""
    model = io.BytesIO()
    text = ['a dog runs on the grass', 'the white cat sleeps', 'locate the dog in the image'] * 10
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=model, vocab_size=40,
                                             model_type='bpe', unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                             minloglevel=2)
    (tmp_path / 'spm.model').write_bytes(model.getvalue())
    return LlamaTokenizer(str(tmp_path / 'spm.model'), legacy=True)


def groma_tokenizer_folder(folder: Path, tokenizer, base: int) -> dict:
    tokenizer.save_pretrained(str(folder))
    return dict(model_type='groma', architectures=['GromaModel'], num_new_token=len(official_new_tokens()),
                llm_cfg=dict(vocab_size=base))


def test_official_tokenizer_is_checked_and_saved_with_its_ids(tmp_path):
    tokenizer = tiny_llm_tokenizer(tmp_path)
    base = len(tokenizer)
    add_official_tokens(tokenizer, base)
    config = groma_tokenizer_folder(tmp_path / 'src', tokenizer, base)
    loaded = tool.load_official_tokenizer(str(tmp_path / 'src'), config)
    loaded.save_pretrained(str(tmp_path / 'tok'))
    saved = AutoTokenizer.from_pretrained(str(tmp_path / 'tok'), local_files_only=True)
    ids = saved.convert_tokens_to_ids(official_new_tokens())
    assert ids == list(range(base, base + 114))
    assert saved.convert_tokens_to_ids(['[PAD]', '<r0>', '<r99>']) == [base, base + 14, base + 113]


def test_tokenizer_without_the_official_ids_is_refused(tmp_path):
    tokenizer = tiny_llm_tokenizer(tmp_path)
    base = len(tokenizer)
    tokens = official_new_tokens()
    tokenizer.add_tokens(tokens[14:] + tokens[:14], special_tokens=True)  # proxies first: wrong ids
    config = groma_tokenizer_folder(tmp_path / 'src', tokenizer, base)
    with pytest.raises(tool.ConversionError, match=r'does not have the official Groma token ids.*\[PAD\] has id'):
        tool.load_official_tokenizer(str(tmp_path / 'src'), config)


def official_region_encoder_state(channels: int, out_channels: int) -> dict:
    """Random tensors under the official region-encoder key names (its 1024/256 widths are hard-coded)."""
    shapes = {}
    for lvl in range(3):
        shapes[f'mlvl_fuse.input_conv.{lvl}.weight'] = (channels, channels + 2, 1, 1)
        shapes[f'roi_align.pconvs.{lvl}.weight'] = (channels, channels, 3, 3)
        shapes[f'mlvl_fuse.input_conv.{lvl}.bias'] = shapes[f'roi_align.pconvs.{lvl}.bias'] = (channels, )
    for k in range(5):
        shapes[f'mlvl_fuse.fuse_convs.{k}.conv.weight'] = (channels, channels, 3, 3)
        shapes[f'mlvl_fuse.fuse_convs.{k}.gn.weight'] = shapes[f'mlvl_fuse.fuse_convs.{k}.gn.bias'] = (channels, )
    linears = {'pos_embedd.0': (256, 4), 'pos_embedd.2': (256, ), 'pos_embedd.3': (1024, 256),
               'pos_embedd.5': (1024, ), 'flatten_linear': (1024, channels * 14 * 14), 'updims': (out_channels, 1024)}
    for name, shape in linears.items():
        shapes[f'roi_align.{name}.weight'] = shape
        shapes[f'roi_align.{name}.bias'] = shape[:1]
    return {k: torch.randn(shape) for k, shape in shapes.items()}


@pytest.fixture(scope='module')
def groma_folder(golden, tmp_path_factory):
    """A groma-7b-like folder: the golden perceiver, a 1-layer LLaMA of width 32, official tokenizer."""
    perceiver_cfg, perceiver = golden
    folder = tmp_path_factory.mktemp('groma-7b-finetune')
    tokenizer = tiny_llm_tokenizer(folder)
    base = len(tokenizer)
    add_official_tokens(tokenizer, base)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    llm_cfg = LlamaConfig(vocab_size=base, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=4, pad_token_id=0)
    llm = LlamaForCausalLM(llm_cfg)
    vision = perceiver_cfg['vis_encoder_cfg']['hidden_size']
    state = {f'perceiver.{k}': v for k, v in perceiver.items()}
    state.update({f'llm.{k}': v for k, v in llm.state_dict().items()})
    state.update({f'region_encoder.{k}': v for k, v in official_region_encoder_state(vision, 32).items()})
    state.update({'img_txt_bridge.0.weight': torch.randn(32, 4 * vision), 'img_txt_bridge.0.bias': torch.randn(32),
                  'img_txt_bridge.2.weight': torch.randn(32, 32), 'img_txt_bridge.2.bias': torch.randn(32),
                  'new_input_embs.weight': torch.randn(114, 32), 'extra_lm_head.weight': torch.randn(114, 32)})
    config = dict(model_type='groma', architectures=['GromaModel'], perceiver_cfg=perceiver_cfg,
                  llm_cfg=llm_cfg.to_dict(), num_new_token=114, nms_thres=0.6, box_score_thres=0.15,
                  max_region_num=100)
    write_folder(folder, config, state, num_shards=2)
    return folder, config, state


def test_groma_folder_converts_with_its_tokenizer(groma_folder, tmp_path, capsys):
    folder, config, state = groma_folder
    out, tok_dir = tmp_path / 'groma.pth', tmp_path / 'tokenizer'
    code, err = run_main(capsys, folder, out, '--tokenizer-out', tok_dir)
    assert code == 0, err

    ckpt = torch.load(out, map_location='cpu', weights_only=False)
    assert ckpt['meta']['model_type'] == 'groma'
    expected = convert_official_groma(SourceKeys(state), config)
    assert sorted(ckpt['state_dict']) == sorted(expected)
    assert all(torch.equal(ckpt['state_dict'][k], v) for k, v in expected.items())
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    base = config['llm_cfg']['vocab_size']
    assert tokenizer.convert_tokens_to_ids(official_new_tokens()) == list(range(base, base + 114))

    model = MODELS.build(official_groma_cfg(config, tokenizer=dict(type='HFTokenizer', pretrained=str(tok_dir))))
    load_checkpoint(model, str(out), map_location='cpu', strict=True)
