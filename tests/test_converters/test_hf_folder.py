"""Reading official Groma Hugging Face folders: config checks and every weight layout save_pretrained writes."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from groma_mm.converters import ConversionError, config_field, read_hf_folder

CONFIG = dict(model_type='groma', architectures=['GromaModel'], llm_cfg=dict(hidden_size=8))


def tensors() -> dict:
    torch.manual_seed(0)
    return {f'layer.{i}.weight': torch.randn(3, 2) for i in range(5)} | {'head.bias': torch.randn(4)}


def folder_with_config(path: Path, config=CONFIG) -> Path:
    path.mkdir(parents=True)
    (path / 'config.json').write_text(json.dumps(config))
    return path


def save(state: dict, path: Path) -> None:
    if path.suffix == '.safetensors':
        save_file(state, str(path))
    else:
        torch.save(state, path)


def write_sharded(folder: Path, state: dict, ext: str, index_name: str, num_shards: int = 2) -> dict:
    keys = sorted(state)
    weight_map = {}
    for i in range(num_shards):
        name = f'shard-{i + 1}-of-{num_shards}.{ext}'
        save({k: state[k] for k in keys[i::num_shards]}, folder / name)
        weight_map.update(dict.fromkeys(keys[i::num_shards], name))
    (folder / index_name).write_text(json.dumps(dict(metadata={}, weight_map=weight_map)))
    return weight_map


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize('name', ['model.safetensors', 'pytorch_model.bin'])
def test_single_weight_file_is_read(tmp_path, name):
    folder = folder_with_config(tmp_path / 'src')
    save(tensors(), folder / name)
    config, state = read_hf_folder(str(folder))
    assert config == CONFIG
    assert_same(state, tensors())


@pytest.mark.parametrize('ext,index', [('safetensors', 'model.safetensors.index.json'),
                                       ('bin', 'pytorch_model.bin.index.json')])
def test_shards_are_read_through_their_index(tmp_path, ext, index):
    folder = folder_with_config(tmp_path / 'src')
    write_sharded(folder, tensors(), ext, index, num_shards=3)
    _, state = read_hf_folder(str(folder))
    assert_same(state, tensors())


def test_shard_that_disagrees_with_the_index_is_named(tmp_path):
    folder = folder_with_config(tmp_path / 'src')
    weight_map = write_sharded(folder, tensors(), 'safetensors', 'model.safetensors.index.json')
    weight_map['ghost.weight'] = 'shard-1-of-2.safetensors'
    (folder / 'model.safetensors.index.json').write_text(json.dumps(dict(weight_map=weight_map)))
    with pytest.raises(ConversionError, match=r"shard-1-of-2\.safetensors does not match .*absent \['ghost\.weight'\]"):
        read_hf_folder(str(folder))


def test_missing_shard_is_named(tmp_path):
    folder = folder_with_config(tmp_path / 'src')
    write_sharded(folder, tensors(), 'safetensors', 'model.safetensors.index.json')
    (folder / 'shard-2-of-2.safetensors').unlink()
    with pytest.raises(ConversionError, match=r'weight file .*shard-2-of-2\.safetensors is missing'):
        read_hf_folder(str(folder))


def test_shards_without_index_are_refused(tmp_path):
    folder = folder_with_config(tmp_path / 'src')
    write_sharded(folder, tensors(), 'safetensors', 'model.safetensors.index.json')
    (folder / 'model.safetensors.index.json').unlink()
    with pytest.raises(ConversionError, match='has weight shards .* but no index'):
        read_hf_folder(str(folder))


def test_folder_without_weights_is_refused(tmp_path):
    folder = folder_with_config(tmp_path / 'src')
    with pytest.raises(ConversionError, match=f'{folder} has no weights'):
        read_hf_folder(str(folder))


def test_folder_without_config_is_refused(tmp_path):
    folder = tmp_path / 'src'
    folder.mkdir()
    save(tensors(), folder / 'model.safetensors')
    with pytest.raises(ConversionError, match=f'{folder} has no config.json'):
        read_hf_folder(str(folder))


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConversionError, match='is not a folder'):
        read_hf_folder(str(tmp_path / 'nowhere'))


def test_broken_config_json_is_named(tmp_path):
    folder = tmp_path / 'src'
    folder.mkdir()
    (folder / 'config.json').write_text('{"model_type": "groma",')
    with pytest.raises(ConversionError, match=r'config\.json is not valid JSON'):
        read_hf_folder(str(folder))


@pytest.mark.parametrize('config,message', [
    (dict(model_type='llama'), "model_type 'llama' is not an official Groma checkpoint"),
    (dict(architectures=['GromaModel']), 'model_type None is not an official Groma checkpoint'),
    (dict(model_type='groma', architectures=['CustomDDETRModel']), r"architectures \['CustomDDETRModel'\] are unknown"),
])
def test_config_that_is_not_official_groma_is_refused(tmp_path, config, message):
    folder = folder_with_config(tmp_path / 'src', config)
    save(tensors(), folder / 'model.safetensors')
    with pytest.raises(ConversionError, match=message):
        read_hf_folder(str(folder))


def test_config_field_names_the_missing_field():
    assert config_field(CONFIG, 'llm_cfg.hidden_size') == 8
    with pytest.raises(ConversionError, match="no field 'llm_cfg.vocab_size'"):
        config_field(CONFIG, 'llm_cfg.vocab_size')
