"""tools/pretrain_toy_llm.py: text-only REC prompts in Groma's format, and an LLM folder stages 2/3 load."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from groma_mm.datasets.synthetic_world import COLOURS, SHAPES, SIZES
from groma_mm.registry import MODELS
from groma_mm.testing.paths import REPO_ROOT, load_tool
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer
from groma_mm.utils import load_config, register_all_modules

TOOL = os.path.join(REPO_ROOT, 'tools', 'pretrain_toy_llm.py')
CONFIG = os.path.join(REPO_ROOT, 'configs', 'groma', 'groma_tiny_1xb8-stage2-align_synthetic.py')


def _tool():
    return load_tool('tools/pretrain_toy_llm.py')


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


def _with_llm_inputs(llm, fn):
    """``fn()``'s result and the keyword inputs of the LLM decoder's last forward in it (the training loss
    runs the decoder alone and the LM head on the labelled positions)."""
    seen = {}
    handle = llm.get_decoder().register_forward_pre_hook(lambda module, args, kwargs: seen.update(kwargs), with_kwargs=True)
    try:
        return fn(), seen
    finally:
        handle.remove()


def test_cut_prompts_start_at_the_region_list_and_keep_the_reply(tmp_path):
    tool = _tool()
    model = _model(_world_tokenizer(tmp_path))
    task = tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0))
    llm = model.llm
    (full_loss, _), full = _with_llm_inputs(llm, lambda: task.prompt_loss(4, 'full'))
    # (whole prompts run their shared system line first, so the last forward's mask spans the whole prompt)
    full_length = full['attention_mask'].shape[1]
    assert full['inputs_embeds'].shape[1] < full_length
    (short_loss, _), seen = _with_llm_inputs(llm, lambda: task.prompt_loss(4, 'short'))
    short = seen['inputs_embeds']
    # The system line, intro and 16 image slots are gone; BOS and the region list onward stay.
    batch, _ = task.batch(1)
    regions_at = int((batch['input_ids'][0] == task.vocab['Regions']).nonzero()[0])
    assert full_length - short.shape[1] == pytest.approx(regions_at - 1, abs=8)
    bos = llm.get_input_embeddings()(torch.tensor([model.tokenizer.bos_token_id]))
    assert torch.allclose(short[:, 0], bos.expand(4, -1))
    assert torch.isfinite(full_loss) and torch.isfinite(short_loss)


def test_bare_lookups_answer_with_the_proxy_of_the_entry_whose_bag_holds_the_phrase(tmp_path):
    tool = _tool()
    model = _model(_world_tokenizer(tmp_path))
    task = tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0))
    llm = model.llm
    (loss, accuracy), seen = _with_llm_inputs(llm, lambda: task.bare_loss(6, entries=5))
    embeds, mask = seen['inputs_embeds'], seen['attention_mask']
    # 5 entries of 3 tokens after BOS, then <p>, 2 or 3 words, </p> and <roi>: left-padded to one length.
    assert (mask.sum(1) >= 1 + 15 + 4).all() and (mask.sum(1) <= 1 + 15 + 5).all()
    assert (mask[:, -1] == 1).all()
    embed = llm.get_input_embeddings()
    # The last token is <roi>; each entry's slot holds a word bag, not the <region> token's embedding.
    assert torch.allclose(embeds[:, -1], embed(torch.tensor(task.vocab['<roi>'])).expand(6, -1))
    first_slot = embeds[:, -(mask[0].sum() - 2)]
    assert not torch.allclose(first_slot[0], embed(torch.tensor(task.vocab['<region>'])))
    assert loss.item() > 0 and 0.0 <= accuracy <= 1.0


def test_describe_prompts_reply_with_the_objects_words(tmp_path):
    tool = _tool()
    model = _model(_world_tokenizer(tmp_path))
    task = tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0), describe=1.0)
    conversation, objects, asked = task._sample()
    assert '<box0>' in conversation[0]['content']
    assert conversation[1]['content'] == 'a ' + ' '.join(task.OBJECTS[objects[asked]])


def test_world_expressions_name_the_asked_object_of_a_fresh_scene(tmp_path):
    from groma_mm.datasets.synthetic_world.expressions import parse_expression
    tool = _tool()
    task = tool.WordBagLookup(_model(_world_tokenizer(tmp_path)), max_regions=8,
                              gen=torch.Generator().manual_seed(0), expressions='world')
    counts, with_more = set(), 0
    for _ in range(40):
        objects, asked, words = task._draw()
        desc = parse_expression('the ' + ' '.join(words))
        size, colour, shape = task.OBJECTS[objects[asked]]
        assert desc.shape == shape and desc.colour in (None, colour) and desc.size in (None, size), (words, size,
                                                                                                    colour, shape)
        counts.add(len(objects))
        with_more += desc.position is not None or desc.relation is not None
    assert counts <= set(range(2, 6)) and len(counts) > 1  # the world's 2 to 5 shapes per scene
    assert with_more > 0  # positions and relations come too, not only "the colour shape"
    loss, accuracy = task.bare_loss(4)
    assert torch.isfinite(loss) and 0.0 <= accuracy <= 1.0


def test_world_scenes_are_drawn_fresh_until_the_pool_is_full_then_reused(tmp_path):
    tool = _tool()
    task = tool.WordBagLookup(_model(_world_tokenizer(tmp_path)), max_regions=8,
                              gen=torch.Generator().manual_seed(0), expressions='world')
    task.SCENE_POOL = 5
    for _ in range(5):
        task._draw()
    drawn, pool = task.scenes_drawn, [id(scene) for scene, _ in task.scene_pool]
    assert len(pool) == 5
    seen = set()
    for _ in range(40):
        objects, asked, words = task._draw()
        seen.add(tuple(sorted(objects)))
    assert task.scenes_drawn == drawn and [id(scene) for scene, _ in task.scene_pool] == pool
    pooled = {tuple(sorted(task.OBJECTS.index((o.size, o.colour, o.shape)) for o in scene.objects))
              for scene, _ in task.scene_pool}
    assert seen <= pooled and len(seen) > 1


def test_world_expressions_with_a_tokenizer_without_relation_words_are_refused_with_them_named(tmp_path):
    tool = _tool()
    model = _model(_world_tokenizer(tmp_path))
    full_vocab = model.tokenizer.get_vocab()
    model.tokenizer.get_vocab = lambda: {w: i for w, i in full_vocab.items() if w != 'above'}
    tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0))  # attributes need no 'above'
    with pytest.raises(ValueError, match=r"lacks the tokens \['above'\]"):
        tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0), expressions='world')


def test_image_noise_fills_the_image_slots_up_to_its_scale(tmp_path):
    tool = _tool()
    task = tool.WordBagLookup(_model(_world_tokenizer(tmp_path)), max_regions=8,
                              gen=torch.Generator().manual_seed(0), image_noise=2.0)
    batch, embeds = task.batch(8)
    image = embeds[batch['image_mask']]
    slot_norm = embeds[batch['region_mask']].norm(dim=-1).mean()
    assert (image.norm(dim=-1) > 0).all()
    assert (image.norm(dim=-1) <= 2.0 * slot_norm * 1.001).all()


def _batch_and_its_objects(tmp_path, size: int, **task_options):
    """A batch of a noise-free ``WordBagLookup(**task_options)`` on the world's tokenizer, with the
    (conversation, objects, asked) each prompt was drawn from and the clean word bags of every object."""
    model = _model(_world_tokenizer(tmp_path))
    task = _tool().WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0), slot_noise=0.0,
                                 **task_options)
    drawn = []
    sample = task._sample
    task._sample = lambda: drawn.append(sample()) or drawn[-1]
    with torch.no_grad():
        batch, embeds = task.batch(size)
        clean = task._bags(torch.arange(len(task.OBJECTS)))
    return batch, embeds, drawn, clean


def test_image_bags_put_a_share_of_the_image_slots_to_scaled_bags_of_the_prompts_own_objects(tmp_path):
    batch, embeds, drawn, clean = _batch_and_its_objects(tmp_path, 4, image_bags=0.25)
    unit = torch.nn.functional.normalize(clean, dim=-1)
    for row, (_, objects, _) in enumerate(drawn):
        image = embeds[row][batch['image_mask'][row]]
        bagged = image.norm(dim=-1) > 0  # no image noise: every other image slot is zero
        assert bagged.sum() == round(0.25 * len(image))
        # each is its object's bag up to a scale in [0.5, 5], and that object is one of this prompt's
        best = (torch.nn.functional.normalize(image[bagged], dim=-1) @ unit.T).max(-1)
        assert (best.values > 0.999).all() and set(best.indices.tolist()) <= set(objects)
        scale = image[bagged].norm(dim=-1) / clean[best.indices].norm(dim=-1)
        assert ((scale >= 0.5 - 1e-4) & (scale <= 5 + 1e-4)).all()


def test_slot_noise_sets_how_far_a_region_slot_is_from_its_word_bag(tmp_path):
    tool = _tool()
    model = _model(_world_tokenizer(tmp_path))
    objects = list(range(40))
    clean = model.llm.get_input_embeddings()(torch.tensor([[model.tokenizer.get_vocab()[w] for w in o]
                                                            for o in tool.WordBagLookup.OBJECTS[:40]])).sum(1)
    for noise in (0.0, 1.0):
        task = tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0), slot_noise=noise)
        with torch.no_grad():
            ratio = ((task._bags(objects) - clean).norm(dim=-1) / clean.norm(dim=-1)).mean().item()
        assert ratio == pytest.approx(noise, abs=0.2), (noise, ratio)


def test_phases_are_parsed_and_bad_ones_named(capsys):
    tool = _tool()
    assert tool.parse_phase('bare5:1500') == ('bare5', 1500, None)
    assert tool.parse_phase('full:10:world') == ('full', 10, 'world')
    args = tool.parse_args(['cfg.py', '--out', 'x', '--phases', 'bare5:2', 'short:3:world', 'mixed:1'])
    assert args.phases == [('bare5', 2, 'attributes'), ('short', 3, 'world'), ('mixed', 1, 'attributes')]
    for bad in ('warmup:10', 'full:10:scenes'):
        with pytest.raises(SystemExit):
            tool.parse_args(['cfg.py', '--out', 'x', '--phases', bad])
        assert repr(bad) in capsys.readouterr().err
    for bad, named in ((['--phases', 'bare1:10'], 'need 2 to 48 regions'), (['--max-regions', '60'], 'need 2 to 48'),
                       (['--describe', '1.5'], '--describe is a share'),
                       (['--prompt-share', '-0.1'], '--prompt-share is a share'),
                       (['--phases', 'bare3:5:world'], 'bareN fixes the number of regions'),
                       (['--decay-steps', '-1'], '--decay-steps must be >= 0'),
                       (['--sharpen', '0.9', '2.5'], 'EXTRA is a number of steps'),
                       (['--bare-batch-size', '0'], '--bare-batch-size must be >= 1')):
        with pytest.raises(SystemExit):
            tool.parse_args(['cfg.py', '--out', 'x', *bad])
        assert named in capsys.readouterr().err


def test_the_written_llm_folder_loads_with_its_trained_proxy_rows(tmp_path):
    out = tmp_path / 'stage0_llm'
    cmd = [sys.executable, TOOL, CONFIG, '--out', str(out), '--phases', 'bare3:1', 'short:1:world', 'full:1',
           '--batch-size', '4', '--log-every', '1', '--lr', '1e-3', '--decay-steps', '2',
           '--cfg-options', f'model.tokenizer.pretrained={_world_tokenizer(tmp_path)}']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '<rK> accuracy on 512 fresh prompts: bare' in proc.stdout
    log = json.loads((out / 'stage0_log.json').read_text())
    assert [(entry['step'], entry['phase'], entry['expressions']) for entry in log['log']] == [
        (1, 'bare3', 'attributes'), (2, 'short', 'world'), (3, 'full', 'attributes')]
    assert [entry['lr'] for entry in log['log']] == pytest.approx([1e-3, 1e-3, 5e-4])  # decay over the last 2
    assert log['log'][0]['batch'] == 'bare'

    loaded = _model(str(out), config=None, pretrained=str(out))
    weights = load_file(str(out / 'model.safetensors'))
    proxy = list(loaded.prompt_builder.token_ids.proxy)
    # The tokenizer already has Groma's tokens, so loading keeps the rows stage 0 trained (a fresh
    # tokenizer would reset them to the mean of the others).
    embedding = loaded.llm.get_input_embeddings().weight
    assert torch.equal(embedding, weights['model.embed_tokens.weight'])
    assert embedding[proxy].std(0).mean() > 0


def test_prompt_share_puts_groma_prompts_asking_the_next_phases_expressions_into_the_bare_phases(tmp_path):
    out = tmp_path / 'stage0_llm'
    _tool().main([CONFIG, '--out', str(out), '--phases', 'bare3:3', 'full:1:world', '--prompt-share', '1',
                  '--bare-share', '0', '--batch-size', '2', '--log-every', '1',
                  '--cfg-options', f'model.tokenizer.pretrained={_world_tokenizer(tmp_path)}'])
    log = json.loads((out / 'stage0_log.json').read_text())['log']
    assert [(entry['phase'], entry['batch'], entry['expressions']) for entry in log] == [
        ('bare3', 'short', 'world')] * 3 + [('full', 'full', 'world')]


def test_a_tokenizer_without_the_world_words_is_named_with_what_it_lacks(tmp_path):
    tool = _tool()
    folder = str(tmp_path / 'plain_tokenizer')
    build_tiny_tokenizer(save_dir=folder)
    model = _model(folder)
    with pytest.raises(ValueError, match=r'lacks the tokens \[.*\]: use the tokenizer tools/run_main_job.py'):
        tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0))
    build_tiny_tokenizer(save_dir=folder)
    model = _model(folder)
    with pytest.raises(ValueError, match=r'lacks the tokens \[.*\]: use the tokenizer tools/run_main_job.py'):
        tool.WordBagLookup(model, max_regions=8, gen=torch.Generator().manual_seed(0))


def test_slot_scale_scales_each_region_slot_by_its_own_factor_within_the_range(tmp_path):
    batch, embeds, drawn, clean = _batch_and_its_objects(tmp_path, 8, slot_scale=5.0)
    slots = embeds[batch['region_mask']]
    objects = torch.cat([torch.tensor(objs)[ids] for (_, objs, _), ids in zip(drawn, batch['region_slot_ids'])])
    scale = slots.norm(dim=-1) / clean[objects].norm(dim=-1)
    cosine = torch.nn.functional.cosine_similarity(slots, clean[objects], dim=-1)
    assert (cosine > 0.999).all()
    assert ((scale >= 0.5 - 1e-4) & (scale <= 5 + 1e-4)).all()
    assert scale.std() > 0.5  # a factor per slot, not one for all
    with pytest.raises(SystemExit):
        _tool().parse_args(['cfg.py', '--out', 'x', '--slot-scale', '0.2'])


def test_sharpen_runs_a_bare_phase_past_its_steps_until_its_lookup_is_sharp_or_the_extra_steps_end(tmp_path):
    out = tmp_path / 'stage0_llm'
    tokenizer = _world_tokenizer(tmp_path)
    # No LLM this small reaches accuracy 1.01: the bare phase takes all 4 extra steps, the last phase none.
    _tool().main([CONFIG, '--out', str(out), '--phases', 'bare3:2', 'full:1', '--sharpen', '1.01', '4',
                  '--batch-size', '2', '--log-every', '1', '--lr', '1e-3', '--decay-steps', '2',
                  '--cfg-options', f'model.tokenizer.pretrained={tokenizer}'])
    log = json.loads((out / 'stage0_log.json').read_text())['log']
    assert [(entry['step'], entry['phase']) for entry in log] == [(k, 'bare3') for k in range(1, 7)] + [(7, 'full')]
    # The decay counts the steps left of the phases, not the extra ones.
    assert [entry['lr'] for entry in log] == pytest.approx([1e-3] * 6 + [5e-4])



def test_bare_batch_size_sets_the_batch_of_the_bare_phases_only(tmp_path, monkeypatch):
    tool = _tool()
    sizes = []
    bare_loss, prompt_loss = tool.WordBagLookup.bare_loss, tool.WordBagLookup.prompt_loss
    monkeypatch.setattr(tool.WordBagLookup, 'bare_loss', lambda self, b, *a: sizes.append(('bare', b)) or
                        bare_loss(self, b, *a))
    monkeypatch.setattr(tool.WordBagLookup, 'prompt_loss', lambda self, b, *a: sizes.append(('prompt', b)) or
                        prompt_loss(self, b, *a))
    tool.main([CONFIG, '--out', str(tmp_path / 'stage0_llm'), '--phases', 'bare3:2', 'full:1', '--batch-size', '4',
               '--bare-batch-size', '2', '--bare-share', '0',
               '--cfg-options', f'model.tokenizer.pretrained={_world_tokenizer(tmp_path)}'])
    # Training steps first, then the 512 fresh prompts of the final score.
    assert sizes[:3] == [('bare', 2), ('bare', 2), ('prompt', 4)]
