"""The conversation format of the released Groma checkpoints, as the prompt builder writes it with the
official options (``OFFICIAL_PROMPT``), and the default format left as it was."""
import pytest
import torch

from groma_mm.converters.official_groma import OFFICIAL_PROMPT
from groma_mm.datasets.prompt_builder import IGNORE_INDEX, INTRO_REPLY, GromaPromptBuilder
from groma_mm.datasets.templates import get_template, render_segments
from groma_mm.models.llms.official_tokens import add_official_tokens
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer

SYSTEM = get_template('vicuna_v1')['system']


@pytest.fixture(scope='module')
def tokenizer():
    tokenizer = build_tiny_tokenizer()
    add_official_tokens(tokenizer, len(tokenizer), num_proxy_tokens=100)
    return tokenizer


def _official(tokenizer, template='llava'):
    return GromaPromptBuilder(tokenizer, num_image_tokens=4, **dict(OFFICIAL_PROMPT, template=template))


@pytest.mark.parametrize('template, expected', [
    # groma/data/conversation.py conv_llava: sep ' ', sep2 '</s>'; conv_default: both ' '.
    ('llava', f'{SYSTEM} USER: hi ASSISTANT: hello</s>USER: how are you ASSISTANT: fine</s>USER: bye ASSISTANT:'),
    ('default', f'{SYSTEM} USER: hi ASSISTANT: hello USER: how are you ASSISTANT: fine USER: bye ASSISTANT:'),
])
def test_official_templates_render_as_the_official_conversations(template, expected):
    rounds = [('hi', 'hello'), ('how are you', 'fine'), ('bye', None)]
    assert ''.join(s.text for s in render_segments(get_template(template), rounds)) == expected


def test_official_prompt_lists_regions_glues_grounding_and_refers_by_refer_feat(tokenizer):
    conversation = [dict(role='user', content='What is <box0> next to <box1>?'),
                    dict(role='assistant', content='a dog')]
    prompt = _official(tokenizer)(conversation, num_regions=3, box_to_region=[2, 0], grounding=True)
    intro = 'Here is an image with region crops from it. Image: <image>. Regions: <r0><region><r1><region><r2><region>.'
    assert prompt.text == (f'{SYSTEM} USER: {intro} ASSISTANT: {INTRO_REPLY}</s>'
                           'USER: [grounding]What is <roi><r2></roi><refer_feat> next to <roi><r0></roi><refer_feat>? '
                           'ASSISTANT: a dog</s>')
    # Slots: the three listed regions, then each <refer_feat> with the region named just before it.
    refer_feat = tokenizer.convert_tokens_to_ids('<refer_feat>')
    assert prompt.region_slot_ids.tolist() == [0, 1, 2, 2, 0]
    assert int(prompt.region_mask.sum()) == 5 and int((prompt.input_ids == refer_feat).sum()) == 2
    # Only the answer (and its </s>) is learned; the intro round's reply is context.
    learned = tokenizer.decode(prompt.labels[prompt.labels != IGNORE_INDEX])
    assert learned.split() == ['a', 'dog', '</s>']


def test_a_refer_feat_without_its_proxy_is_refused(tokenizer):
    builder = _official(tokenizer)
    with pytest.raises(ValueError, match='must follow a proxy token'):
        builder([dict(role='user', content='What is <refer_feat>?')], num_regions=1)


def test_default_format_is_unchanged(tokenizer):
    builder = GromaPromptBuilder(tokenizer, num_image_tokens=4)
    prompt = builder([dict(role='user', content='What is <box0>?')], num_regions=2, box_to_region=[1], grounding=True)
    assert 'Regions: <r0><region>, <r1><region>. [grounding] What is <r1><region>?' in prompt.text
    assert prompt.region_slot_ids.tolist() == [0, 1, 1]
    assert torch.equal(prompt.region_mask, prompt.input_ids == tokenizer.convert_tokens_to_ids('<region>'))
