import pytest
import torch

from groma_mm.datasets.prompt_builder import (IGNORE_INDEX, INTRO_REPLY, GromaPromptBuilder, PromptError,
                                              PromptTooLongError)
from groma_mm.models.llms.special_tokens import add_groma_tokens
from groma_mm.testing.tiny_tokenizer import build_tiny_tokenizer, tiny_vocabulary

N_IMG = 6  # image slots, small so that prompts stay readable


@pytest.fixture(scope='module')
def tok():
    tokenizer = build_tiny_tokenizer()
    add_groma_tokens(tokenizer, num_proxy_tokens=10)
    return tokenizer


def _builder(tok, **kwargs):
    kwargs.setdefault('num_image_tokens', N_IMG)
    return GromaPromptBuilder(tok, num_proxy_tokens=10, **kwargs)


def _labelled_runs(prompt):
    """Contiguous runs of labelled ids."""
    runs, run = [], []
    for i, label in zip(prompt.input_ids.tolist(), prompt.labels.tolist()):
        if label == IGNORE_INDEX:
            if run:
                runs.append(run)
            run = []
        else:
            assert label == i
            run.append(i)
    return runs + ([run] if run else [])


def _ids(tok, text):
    return tok(text, add_special_tokens=False)['input_ids']


CHAT = [dict(role='user', content='What is this photo about?'), dict(role='assistant', content='A dog on a beach.'),
        dict(role='user', content='What color is it?'), dict(role='assistant', content='It is brown.')]


def test_first_turn_lists_every_region(tok):
    p = _builder(tok)(CHAT[:2], num_regions=3)
    assert ('USER: Here is an image with region crops from it. Image: <image>. Regions: <r0><region>, '
            '<r1><region>, <r2><region>. What is this photo about? ASSISTANT: A dog on a beach.</s>') in p.text


@pytest.mark.parametrize('num_regions', [0, 1, 4, 10])
def test_slot_counts_follow_the_number_of_regions(tok, num_regions):
    p = _builder(tok)(CHAT, num_regions=num_regions)
    assert int(p.image_mask.sum()) == N_IMG
    assert int(p.region_mask.sum()) == num_regions
    assert p.region_slot_ids.tolist() == list(range(num_regions))
    # Image slots are contiguous, one <image> became N_IMG slots.
    pos = p.image_mask.nonzero().flatten()
    assert (pos == torch.arange(pos[0], pos[0] + N_IMG)).all()
    assert len(p.input_ids) == len(_ids(tok, p.text)) + 1 + N_IMG - 1  # + BOS, <image> expanded
    assert p.input_ids.dtype == torch.long and p.image_mask.dtype == torch.bool


def test_more_regions_than_proxies_is_an_error(tok):
    with pytest.raises(PromptError, match="sample 'img_7'.*11 regions but only 10 proxy"):
        _builder(tok)(CHAT, num_regions=11, sample='img_7')


def test_only_replies_and_their_end_separator_are_labelled(tok):
    p = _builder(tok)(CHAT, num_regions=2)
    eos = tok.eos_token_id
    assert _labelled_runs(p) == [_ids(tok, 'A dog on a beach.') + [eos], _ids(tok, 'It is brown.') + [eos]]
    assert p.input_ids[0] == tok.bos_token_id and p.labels[0] == IGNORE_INDEX
    # Every labelled run starts right after "ASSISTANT :".
    starts = [i for i in range(1, len(p.labels)) if p.labels[i] != IGNORE_INDEX and p.labels[i - 1] == IGNORE_INDEX]
    assert [tok.convert_ids_to_tokens(p.input_ids[s - 2:s].tolist()) for s in starts] == [['ASSISTANT', ':']] * 2


def test_chatml_labels_exclude_the_separator_and_bos(tok):
    p = _builder(tok, template='qwen_chat')(CHAT, num_regions=2)
    im_end = tok.convert_tokens_to_ids('<|im_end|>')
    assert _labelled_runs(p) == [_ids(tok, 'A dog on a beach.') + [im_end], _ids(tok, 'It is brown.') + [im_end]]
    assert p.input_ids[0] == tok.convert_tokens_to_ids('<|im_start|>')
    assert p.text.endswith('<|im_start|>assistant\nIt is brown.<|im_end|>\n')


def _bpe_tokenizer(kind):
    """A BPE trained here: 'metaspace' splits like LLaMA's SentencePiece, 'bytelevel' like GPT-2/Qwen."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    backend = Tokenizer(models.BPE(unk_token='<unk>'))
    if kind == 'metaspace':
        backend.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme='first')
        backend.decoder = decoders.Metaspace(prepend_scheme='first')
        alphabet = []
    else:
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    words = tiny_vocabulary()[50:]
    corpus = [' '.join(words[i:i + 12]) + '.' for i in range(0, len(words), 3)]
    backend.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=500, special_tokens=['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'],
        initial_alphabet=alphabet))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token='<unk>', bos_token='<s>', eos_token='</s>',
                                        additional_special_tokens=['<|im_start|>', '<|im_end|>'])
    add_groma_tokens(tokenizer, num_proxy_tokens=10)
    return tokenizer


@pytest.mark.parametrize('kind', ['metaspace', 'bytelevel'])
@pytest.mark.parametrize('template, end', [('vicuna_v1', '</s>'), ('qwen_chat', '<|im_end|>')])
def test_labels_are_exact_for_subword_tokenizers(kind, template, end):
    # Labels come from character spans, so whatever a tokenizer does with the space before a reply, the
    # labelled tokens decode to the reply and its end separator, and the ids equal those of the plain text.
    bpe = _bpe_tokenizer(kind)
    conv = CHAT[:3] + [dict(role='assistant', content='It is <p>brown</p> <roi><r1></roi>.')]
    p = GromaPromptBuilder(bpe, template=template, num_image_tokens=N_IMG, num_proxy_tokens=10)(conv, num_regions=2)
    assert [bpe.decode(run).strip() for run in _labelled_runs(p)] == [
        'A dog on a beach.' + end, 'It is <p>brown</p> <roi><r1></roi>.' + end]
    dropped = (bpe.convert_tokens_to_ids('<image>'), bpe.bos_token_id)
    assert [i for i in p.input_ids.tolist() if i not in dropped] == [i for i in _ids(bpe, p.text) if i not in dropped]


def test_generation_prompt_has_no_labels(tok):
    b = _builder(tok)
    p = b(CHAT[:3], num_regions=2)
    assert p.text.endswith('USER: What color is it? ASSISTANT:')
    assert len(_labelled_runs(p)) == 1
    q = b(CHAT[:1], num_regions=2)
    assert (q.labels == IGNORE_INDEX).all()


def test_user_boxes_become_their_region_tokens(tok):
    conv = [dict(role='user', content='What is <box1> next to <box0>?'), dict(role='assistant', content='A cat.')]
    p = _builder(tok)(conv, num_regions=5, box_to_region=[3, 4])
    assert 'What is <r4><region> next to <r3><region>?' in p.text
    # Intro regions 0..4, then the user's two boxes.
    assert p.region_slot_ids.tolist() == [0, 1, 2, 3, 4, 4, 3]
    assert int(p.region_mask.sum()) == 7


def test_box_inds_per_turn_like_groma_instruct(tok):
    conv = [dict(role='user', content='Describe <region>.', box_inds=[0]), dict(role='assistant', content='A dog.'),
            dict(role='user', content='And <region> or <region>?', box_inds=[2, 1]),
            dict(role='assistant', content='The <p>cat</p> <roi><box1></roi>.')]
    p = _builder(tok)(conv, num_regions=3, box_to_region={0: 2, 1: [0, 1], 2: 1})
    assert 'Describe <r2><region>.' in p.text
    assert 'And <r1><region> or <r0><region><r1><region>?' in p.text
    assert 'ASSISTANT: The <p>cat</p> <roi><r0><r1></roi>.</s>' in p.text
    assert p.region_slot_ids.tolist() == [0, 1, 2, 2, 1, 0, 1]
    # Proxy tokens in the reply are targets, the reply's tags too.
    assert _labelled_runs(p)[1] == _ids(tok, 'The <p>cat</p> <roi><r0><r1></roi>.') + [tok.eos_token_id]


def test_box_to_region_may_be_a_tensor(tok):
    conv = [dict(role='user', content='What is <box1>?')]
    p = _builder(tok)(conv, num_regions=4, box_to_region=torch.tensor([0, 3]))
    assert 'What is <r3><region>?' in p.text


@pytest.mark.parametrize('conv, box_to_region, match', [
    ([dict(role='user', content='What is <box2>?')], [0, 1], 'message 0: box 2 has no region'),
    ([dict(role='user', content='What is <box0>?')], [[]], 'box 0 maps to no region'),
    ([dict(role='user', content='What is <region>?')], [0], r'1 <region> placeholder\(s\) but 0 box_inds'),
    ([dict(role='user', content='Is <region> <region>?', box_inds=[0])], [0], 'but 1 box_inds'),
    ([dict(role='user', content='What is <r7>?')], None, r"refers to \['<r7>'\] but has only 3 regions"),
    ([dict(role='user', content='<region> hi', box_inds=[0])], None, 'box 0 has no region'),
    ([dict(role='assistant', content='Hi')], None, 'alternate user/assistant'),
    ([dict(role='user', content='a'), dict(role='user', content='b')], None, 'alternate user/assistant'),
    ([dict(role='user', content='a'), dict(role='system', content='b')], None, 'system message must come first'),
    ([dict(role='robot', content='a')], None, 'needs role'),
    ([], None, 'alternate'),
])
def test_bad_conversations_name_the_sample(tok, conv, box_to_region, match):
    with pytest.raises(PromptError, match=match) as info:
        _builder(tok)(conv, num_regions=3, box_to_region=box_to_region, sample='refcoco/123')
    assert "sample 'refcoco/123'" in str(info.value)


def test_grounding_switch(tok):
    b = _builder(tok)
    p = b(CHAT[:1], num_regions=1, grounding=True)
    assert p.text.endswith('Regions: <r0><region>. [grounding] What is this photo about? ASSISTANT:')
    already = [dict(role='user', content='[grounding] Describe the image.')]
    assert b(already, num_regions=1, grounding=True).text.count('[grounding]') == 1
    assert '[grounding]' not in b(CHAT[:1], num_regions=1).text


def test_llava_style_messages_and_image_placeholder(tok):
    conv = [dict(role='system', content='Be brief.'), {'from': 'human', 'value': '<image>\nWhat is this photo about?'},
            {'from': 'gpt', 'value': 'A dog.'}]
    p = _builder(tok)(conv, num_regions=1)
    assert p.text == ('Be brief. USER: Here is an image with region crops from it. Image: <image>. Regions: '
                      '<r0><region>. What is this photo about? ASSISTANT: A dog.</s>')
    assert int(p.image_mask.sum()) == N_IMG


def test_image_only_first_message(tok):
    conv = [{'from': 'human', 'value': '<image>'}, {'from': 'gpt', 'value': 'A dog.'}]
    p = _builder(tok)(conv, num_regions=1, grounding=True)
    assert 'Regions: <r0><region>. [grounding] ASSISTANT: A dog.</s>' in p.text
    assert 'Regions: <r0><region>. ASSISTANT:' in _builder(tok)(conv, num_regions=1).text


def test_intro_as_its_own_turn(tok):
    p = _builder(tok, intro_turn=True)(CHAT[:2], num_regions=2, grounding=True)
    assert (f'Regions: <r0><region>, <r1><region>. ASSISTANT: {INTRO_REPLY}</s>USER: [grounding] What is this '
            'photo about? ASSISTANT: A dog on a beach.</s>') in p.text
    assert _labelled_runs(p) == [_ids(tok, 'A dog on a beach.') + [tok.eos_token_id]]


def test_truncation_keeps_visual_slots_or_raises(tok):
    b = _builder(tok)
    full = b(CHAT, num_regions=3)
    last_slot = int((full.image_mask | full.region_mask).nonzero().max())
    second_reply_start = len(full.labels) - len(_ids(tok, 'It is brown.')) - 1
    cut = _builder(tok, max_length=second_reply_start + 2)(CHAT, num_regions=3)
    assert len(cut.input_ids) == second_reply_start + 2
    assert torch.equal(cut.input_ids, full.input_ids[:second_reply_start + 2])
    assert int(cut.region_mask.sum()) == 3 and int(cut.image_mask.sum()) == N_IMG
    with pytest.raises(PromptTooLongError, match="sample 'x'.*would cut visual slots"):
        _builder(tok, max_length=last_slot)(CHAT, num_regions=3, sample='x')
    first_reply_start = int((full.labels != IGNORE_INDEX).nonzero().min())
    with pytest.raises(PromptTooLongError, match='leaves no reply token'):
        _builder(tok, max_length=first_reply_start)(CHAT, num_regions=3, sample='x')


def test_pad_right_for_training_and_left_for_generation(tok):
    b = _builder(tok)
    prompts = [b(CHAT, num_regions=1), b(CHAT[:2], num_regions=4)]
    lengths = [len(p.input_ids) for p in prompts]
    right = b.pad(prompts)
    assert right['input_ids'].shape == (2, max(lengths))
    assert right['attention_mask'].sum(1).tolist() == lengths
    short = lengths.index(min(lengths))
    assert (right['input_ids'][short, min(lengths):] == tok.pad_token_id).all()
    assert (right['labels'][short, min(lengths):] == IGNORE_INDEX).all()
    assert right['region_mask'].sum(1).tolist() == [1, 4]
    left = b.pad(prompts, padding_side='left')
    assert (left['attention_mask'][:, -1] == 1).all()
    assert torch.equal(left['input_ids'][short, -min(lengths):], prompts[short].input_ids)
    assert left['image_mask'].sum(1).tolist() == [N_IMG, N_IMG]
    assert [t.tolist() for t in left['region_slot_ids']] == [[0], [0, 1, 2, 3]]
    with pytest.raises(ValueError):
        b.pad(prompts, padding_side='middle')


def test_decode_reply_keeps_tags_and_stops(tok):
    b = _builder(tok)
    assert b.stop_token_ids == [tok.eos_token_id]
    assert _builder(tok, template='qwen_chat').stop_token_ids == [tok.convert_tokens_to_ids('<|im_end|>'),
                                                                   tok.eos_token_id]
    ids = _ids(tok, '<p>a dog</p> <roi><r1></roi>.</s> leftover')
    assert b.decode_reply(ids) == '<p> a dog </p> <roi> <r1> </roi>.'


def test_needs_fast_tokenizer_with_groma_tokens(tok):
    with pytest.raises(KeyError, match='add_groma_tokens'):
        GromaPromptBuilder(build_tiny_tokenizer())

    class Slow:
        is_fast = False
    with pytest.raises(TypeError, match='not a fast tokenizer'):
        GromaPromptBuilder(Slow())
