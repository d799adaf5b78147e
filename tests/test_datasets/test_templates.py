import pytest

from groma_mm.datasets.templates import (TEMPLATES, Segment, get_template, register_template, render_segments)

VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the user's questions.")


def _text(segments):
    return ''.join(s.text for s in segments)


def test_vicuna_v1_multi_turn_matches_llava():
    segs = render_segments(get_template('vicuna_v1'), [('Hi', 'Hello.'), ('Who?', 'A dog.')])
    assert _text(segs) == f'{VICUNA_SYSTEM} USER: Hi ASSISTANT: Hello.</s>USER: Who? ASSISTANT: A dog.</s>'
    assert [s for s in segs if s.labelled] == [Segment(' Hello.</s>', True), Segment(' A dog.</s>', True)]


def test_generation_prompt_ends_with_assistant_start():
    segs = render_segments(get_template('vicuna_v1'), [('Hi', 'Hello.'), ('Who?', None)])
    assert _text(segs).endswith('</s>USER: Who? ASSISTANT:')
    with pytest.raises(ValueError, match='only the last round'):
        render_segments(get_template('vicuna_v1'), [('Hi', None), ('Who?', 'A dog.')])


def test_chatml_templates():
    segs = render_segments(get_template('qwen_chat'), [('Hi', 'Hello.'), ('Who?', 'A dog.')])
    assert _text(segs) == ('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n'
                           '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n'
                           '<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\nA dog.<|im_end|>\n')
    # The separator after <|im_end|> is context, not a target.
    assert [s.text for s in segs if s.labelled] == ['Hello.<|im_end|>', 'A dog.<|im_end|>']
    smol = _text(render_segments(get_template('smollm2'), [('Hi', None)]))
    assert smol == ('<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face'
                    '<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n')
    assert get_template('vicuna_v1')['add_bos'] and not get_template('smollm2')['add_bos']


def test_system_override_and_unlabelled_rounds():
    t = get_template('vicuna_v1')
    assert _text(render_segments(t, [('Hi', 'Yo.')], system='')) == 'USER: Hi ASSISTANT: Yo.</s>'
    assert _text(render_segments(t, [('Hi', 'Yo.')], system='Be brief.')).startswith('Be brief. USER:')
    segs = render_segments(t, [('Hi', 'Yo.'), ('Bye', 'Ok.')], labelled_rounds=[False, True])
    assert [s.text for s in segs if s.labelled] == [' Ok.</s>']
    with pytest.raises(ValueError):
        render_segments(t, [('Hi', 'Yo.')], labelled_rounds=[True, True])


def test_register_template():
    mine = dict(get_template('vicuna_v1'), system='', user='Q: {content}\n', assistant_start='A:')
    register_template('test_qa', mine)
    try:
        assert _text(render_segments(get_template('test_qa'), [('x', 'y')])) == 'Q: x\nA: y</s>'
        with pytest.raises(KeyError, match='already registered'):
            register_template('test_qa', mine)
        register_template('test_qa', dict(mine, assistant_end='<end>'), force=True)
        assert get_template('test_qa')['assistant_end'] == '<end>'
    finally:
        TEMPLATES.pop('test_qa')


def test_bad_templates_are_rejected():
    good = get_template('vicuna_v1')
    with pytest.raises(KeyError, match='missing keys'):
        register_template('bad', {k: v for k, v in good.items() if k != 'sep'})
    with pytest.raises(KeyError, match='unknown keys'):
        register_template('bad', dict(good, stop='x'))
    with pytest.raises(ValueError, match='lacks {content}'):
        register_template('bad', dict(good, user='USER: '))
    with pytest.raises(KeyError, match='unknown chat template'):
        get_template('nope')
    assert 'bad' not in TEMPLATES


def test_get_template_returns_a_copy():
    get_template('vicuna_v1')['system'] = 'changed'
    assert get_template('vicuna_v1')['system'] == VICUNA_SYSTEM
    assert get_template(dict(get_template('qwen_chat')))['assistant_end'] == '<|im_end|>'
