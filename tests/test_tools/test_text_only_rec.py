"""tools/analysis/text_only_rec.py: text-only REC prompts in Groma's format, and an LLM folder stages 2/3 load."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import torch
from safetensors.torch import load_file

from groma_mm.datasets.synthetic_world import COLOURS, SHAPES, SIZES
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
from groma_mm.utils import load_config, register_all_modules

TOOL = os.path.join(REPO_ROOT, 'tools', 'analysis', 'text_only_rec.py')
CONFIG = os.path.join(REPO_ROOT, 'configs', 'groma', 'groma_tiny_1xb8-stage2-align_synthetic.py')


def _tool():
    spec = importlib.util.spec_from_file_location('text_only_rec', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _world_tokenizer(tmp_path) -> str:
    folder = str(tmp_path / 'tokenizer')
    build_tiny_tokenizer(extra_words=[*SHAPES, *COLOURS, *SIZES], save_dir=folder)
    return folder


def _model(tokenizer: str, **llm):
    register_all_modules()
    cfg = load_config(CONFIG, {'model.tokenizer.pretrained': tokenizer, 'model.proposer_checkpoint': None})
    cfg.model.llm.update(llm)
    return MODELS.build(cfg.model)


def test_the_reply_names_the_only_region_whose_words_match_the_phrase(tmp_path):
    tool = _tool()
    model = _model(_world_tokenizer(tmp_path))
    task = tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0))
    asked_places = set()
    for _ in range(50):
        conversation, objects, asked = task._sample()
        phrase = re.search(r'<p>the (.+?)</p>', conversation[0]['content']).group(1).split()
        matching = [k for k, o in enumerate(objects) if set(phrase) <= set(task.OBJECTS[o])]
        assert matching == [asked], (phrase, [task.OBJECTS[o] for o in objects])
        asked_places.add(asked)
    assert len(asked_places) > 2  # the answer is not always the same entry

    batch, embeds = task.batch(4)
    # Image slots are empty; region slots hold the word bags, not the <region> token's embedding.
    assert (embeds[batch['image_mask']] == 0).all()
    region_embedding = model.llm.get_input_embeddings()(batch['input_ids'][batch['region_mask']])
    assert not torch.allclose(embeds[batch['region_mask']], region_embedding)


def test_the_warm_up_shows_two_regions_without_the_system_line_then_the_full_prompts(tmp_path):
    tool = _tool()
    model = _model(_world_tokenizer(tmp_path))
    system = model.prompt_builder.system
    task = tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0))

    def prompts():
        batch, _ = task.batch(16)
        texts = model.tokenizer.batch_decode(batch['input_ids'])
        return batch['region_mask'].sum(1).tolist(), texts

    task.warm_up(True)
    regions, texts = prompts()
    assert set(regions) == {2} and not any('curious user' in t for t in texts)
    task.warm_up(False)
    regions, texts = prompts()
    assert max(regions) > 2 and all('curious user' in t for t in texts)
    assert model.prompt_builder.system == system


def test_the_written_llm_folder_loads_with_its_trained_proxy_rows(tmp_path):
    out = tmp_path / 'stage0_llm'
    cmd = [sys.executable, TOOL, CONFIG, '--out', str(out), '--steps', '3', '--batch-size', '4', '--log-every', '1',
           '--cfg-options', f'model.tokenizer.pretrained={_world_tokenizer(tmp_path)}']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '<rK> accuracy on 512 fresh prompts' in proc.stdout
    log = json.loads((out / 'stage0_log.json').read_text())
    assert [entry['step'] for entry in log['log']] == [1, 2, 3]

    loaded = _model(str(out), config=None, pretrained=str(out))
    weights = load_file(str(out / 'model.safetensors'))
    proxy = list(loaded.prompt_builder.token_ids.proxy)
    # The tokenizer already has Groma's tokens, so loading keeps the rows stage 0 trained (a fresh
    # tokenizer would reset them to the mean of the others).
    embedding = loaded.llm.get_input_embeddings().weight
    assert torch.equal(embedding, weights['model.embed_tokens.weight'])
    assert embedding[proxy].std(0).mean() > 0
