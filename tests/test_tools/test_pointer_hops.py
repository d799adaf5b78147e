"""tools/analysis/pointer_hops.py: a user's run trains the lookup layouts and reports when each learned."""
import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from groma_mm.testing.paths import REPO_ROOT, load_tool

TOOL = os.path.join(REPO_ROOT, 'tools', 'analysis', 'pointer_hops.py')


def test_one_lookup_layout_is_learned_and_reported(tmp_path):
    out = tmp_path / 'hops.json'
    cmd = [sys.executable, TOOL, '--layouts', 'identity-in-slot-query-last', '--steps', '1500', '--eval-every', '100',
           '--json', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = {r['layout']: r for r in json.loads(out.read_text())['results']}
    one_hop = results['identity-in-slot-query-last']
    # It starts near chance (1/5: the task needs learning) and learns one lookup within the budget (about
    # 500 steps with seed 0), then stops.
    assert one_hop['curve'][0][1] < 0.5
    assert one_hop['steps_to_target'] is not None and one_hop['curve'][-1][1] >= 0.9
    assert one_hop['steps_to_target'] == one_hop['curve'][-1][0] < 1500
    assert 'steps to 0.9' in proc.stdout


def _tool_and_tiny_llm():
    """The tool as a module, and a 1-layer LLaMA with its vocabulary (5 entries)."""
    hops = load_tool('tools/analysis/pointer_hops.py')
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=hops.PROXY0 + 5, hidden_size=16, intermediate_size=32,
                                       num_hidden_layers=1, num_attention_heads=2))
    return hops, llm


def test_entries_are_named_in_list_order_as_in_groma_unless_shuffled():
    hops, llm = _tool_and_tiny_llm()
    named = {}
    for order in ('list', 'shuffled'):
        task = hops.LookupTask('groma', llm, 5, order, torch.Generator().manual_seed(0))
        ids, objects, proxies, asked = task.draw(64)
        assert (ids[:, 0:15:3] == hops.PROXY0 + proxies).all()
        # The objects are in random order either way: which entry holds the asked object varies.
        assert len(set(objects[torch.arange(64), asked].tolist())) > 1
        named[order] = {tuple(p) for p in proxies.tolist()}
    assert named['list'] == {(0, 1, 2, 3, 4)}
    assert len(named['shuffled']) > 10


def test_word_questions_name_the_asked_object_between_prefix_and_gap_fillers():
    hops, llm = _tool_and_tiny_llm()
    task = hops.LookupTask('groma', llm, 5, 'list', torch.Generator().manual_seed(0), question='words', prefix=7,
                           gap=4)
    embeds, objects, asked, target = task.prompts(32)
    embed = llm.get_input_embeddings()
    # 7 fillers, 5 entries of 3 tokens, the question marker, 3 words, 4 fillers, the answer marker.
    assert embeds.shape[:2] == (32, 7 + 15 + 1 + 3 + 4 + 1)
    asked_objects = objects[torch.arange(32), asked]
    words = task.words[asked_objects]
    assert torch.equal(embeds[:, 23:26], embed(words))
    # Every object is a distinct (size, colour, shape) triple; fillers are the same in every prompt.
    assert len({tuple(w) for w in task.words.tolist()}) == hops.NUM_OBJECTS
    assert torch.equal(embeds[:, :7], embeds[:1, :7].expand(32, -1, -1))
    assert torch.equal(embeds[:, 26:30], embed(hops.FILLER0 + torch.arange(4)).expand(32, -1, -1))
    assert torch.equal(target, hops.PROXY0 + asked)


def test_negative_token_counts_are_refused_with_the_options_named(capsys):
    hops, _ = _tool_and_tiny_llm()
    with pytest.raises(SystemExit):
        hops.parse_args(['--prefix', '-3'])
    assert '--prefix and --gap count tokens' in capsys.readouterr().err
