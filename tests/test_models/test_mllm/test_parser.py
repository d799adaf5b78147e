import random

import torch

from groma_mm.models.mllm.parser import GroundedAnswer, parse_grounded_answer

BOXES = torch.arange(40, dtype=torch.float).view(10, 4)  # region k has box [4k, 4k+1, 4k+2, 4k+3]


def _check_offsets(answer: GroundedAnswer):
    for span in answer.spans:
        assert answer.text[span.start:span.end] == span.phrase


def test_paper_example():
    a = parse_grounded_answer('<p> a dog </p> <roi><r4></roi> is jumping over <p>a man</p> <roi><r1><r7></roi>.',
                              BOXES)
    assert a.text == 'a dog is jumping over a man.'
    assert [(s.phrase, s.region_ids) for s in a.spans] == [('a dog', [4]), ('a man', [1, 7])]
    torch.testing.assert_close(a.spans[0].boxes, BOXES[[4]])
    torch.testing.assert_close(a.spans[1].boxes, BOXES[[1, 7]])
    assert a.referred_region_ids == [4, 1, 7]
    assert a.flags == []
    _check_offsets(a)


def test_spaced_decoding_and_capitalisation():
    a = parse_grounded_answer('<p> A dog </p> <roi> <r4> </roi> is jumping to catch <p> a frisbee </p> <roi> <r7> '
                              '</roi> over <p> a fallen man </p> <roi> <r1> </roi> .', BOXES)
    assert a.text == 'A dog is jumping to catch a frisbee over a fallen man.'
    assert [s.phrase for s in a.spans] == ['A dog', 'a frisbee', 'a fallen man']
    assert a.flags == []
    _check_offsets(a)


def test_rec_answer_without_phrase():
    a = parse_grounded_answer('<roi><r3></roi>', BOXES)
    assert a.text == ''
    assert [(s.phrase, s.region_ids, s.start, s.end) for s in a.spans] == [('', [3], 0, 0)]
    torch.testing.assert_close(a.spans[0].boxes, BOXES[[3]])
    assert a.flags == []
    b = parse_grounded_answer('It is here <roi><r3></roi>', BOXES)
    assert b.text == 'It is here' and (b.spans[0].start, b.spans[0].end) == (10, 10)


def test_plain_text_and_repeated_regions():
    assert parse_grounded_answer('A cute cat sleeping on a wooden bench.', BOXES) == GroundedAnswer(
        text='A cute cat sleeping on a wooden bench.')
    a = parse_grounded_answer('<p>dogs</p> <roi><r2><r2><r5></roi> and <p>the dog</p><roi><r5></roi>', BOXES)
    assert [s.region_ids for s in a.spans] == [[2, 5], [5]]
    assert a.referred_region_ids == [2, 5]
    assert a.text == 'dogs and the dog'


def test_unknown_region_ids_are_dropped_with_a_flag():
    a = parse_grounded_answer('<p>a dog</p> <roi><r4><r12></roi> and <p>a cat</p> <roi><r99></roi>.', BOXES)
    assert [(s.phrase, s.region_ids) for s in a.spans] == [('a dog', [4])]
    assert a.text == 'a dog and a cat.'
    assert any('unknown region <r12>' in f for f in a.flags)
    assert any('unknown region <r99>' in f for f in a.flags)
    assert any("empty <roi> for phrase 'a cat'" in f for f in a.flags)


def test_stray_and_unclosed_tags_never_crash():
    cases = {
        'a dog</p> runs': ('a dog runs', 'stray </p>'),
        'a dog</roi> runs': ('a dog runs', 'stray </roi>'),
        'the <p>dog runs': ('the dog runs', 'unclosed <p> at the end'),
        '<p>dog</p> runs': ('dog runs', "phrase 'dog' has no <roi>"),
        '<p>dog <p>cat</p> <roi><r1></roi>': ('dog cat', 'unclosed <p> before another <p>'),
        'a <r3> dog': ('a dog', '<r3> outside <roi>'),
        'see <region> <image> [grounding] it': ('see it', 'stray <region>'),
        '<roi><r1><roi><r2></roi>': ('', 'nested <roi>'),
        '<roi><r1> dog</roi>': ('', "text 'dog' inside <roi>"),
        '<roi><r1><p>x</roi>': ('', '<p> inside <roi>'),
    }
    for text, (clean, flag) in cases.items():
        a = parse_grounded_answer(text, BOXES)
        assert a.text == clean, text
        assert any(flag in f for f in a.flags), (text, a.flags)
        _check_offsets(a)


def test_unclosed_phrase_before_roi_still_grounds():
    a = parse_grounded_answer('<p>a dog <roi><r2></roi> runs', BOXES)
    assert [(s.phrase, s.region_ids) for s in a.spans] == [('a dog', [2])]
    assert any('unclosed <p> closed at <roi>' in f for f in a.flags)


def test_generation_cut_inside_roi_keeps_regions_named_so_far():
    a = parse_grounded_answer('<p>a dog</p> <roi><r2><r3', BOXES)
    assert [(s.phrase, s.region_ids) for s in a.spans] == [('a dog', [2])]
    assert any('unclosed <roi> at the end' in f for f in a.flags)
    assert any("text '<r3' inside <roi>" in f for f in a.flags)


def test_without_boxes():
    a = parse_grounded_answer('<p>a dog</p> <roi><r42></roi>')
    assert a.spans[0].region_ids == [42] and a.spans[0].boxes is None
    b = parse_grounded_answer('<p>a dog</p> <roi><r42></roi>', num_regions=5)
    assert b.spans == [] and any('only 5 regions' in f for f in b.flags)


def test_random_tag_soup_never_raises():
    rng = random.Random(0)
    pieces = ['<p>', '</p>', '<roi>', '</roi>', '<r1>', '<r9>', '<r10>', ' dog', ' .', ',', '  ', '<region>', 'x']
    for _ in range(300):
        text = ''.join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        a = parse_grounded_answer(text, BOXES)
        _check_offsets(a)
        assert all(0 <= r < 10 for s in a.spans for r in s.region_ids)
        assert '<' not in a.text
