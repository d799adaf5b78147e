import numpy as np
import pytest

from groma_mm.apis.chat_session import (ChatSession, GenerationSettings, answer_html, corner_box, format_boxes,
                                        parse_boxes)
from groma_mm.apis.inferencer import GroundedResult
from groma_mm.apis.inputs import InputError
from groma_mm.apis.visualization import PHRASE_PALETTE


def test_typed_boxes_in_any_common_notation_round_trip():
    boxes = parse_boxes('10 20 30 40; [1.5, 2, 3, 4.25]')
    assert boxes == [[10, 20, 30, 40], [1.5, 2, 3, 4.25]]
    assert parse_boxes(format_boxes(boxes)) == boxes
    for bad in ('1 2 3', '1 2 3 4 x', 'a b c d'):
        with pytest.raises(InputError, match='x1 y1 x2 y2'):
            parse_boxes(bad)


def test_two_clicks_make_a_box_in_either_order_but_not_a_line():
    assert corner_box((50, 10), (5, 40)) == [5, 10, 50, 40]
    with pytest.raises(InputError, match='no area'):
        corner_box((5, 10), (5, 40))


def test_modes_turn_words_into_the_trained_prompts():
    session = ChatSession(image=np.zeros((8, 8, 3), np.uint8))
    find = session.turn('the red ball', 'find')
    assert find.conversation[-1]['content'] == 'Locate <p>the red ball</p> in the image.'
    caption = session.turn('', 'grounded caption')
    assert caption.grounding and caption.conversation[-1]['content'] == 'Give me a short description of the image.'
    with pytest.raises(InputError, match='needs a box'):
        session.turn('', 'describe region')
    session.boxes = [[1, 1, 4, 4]]
    assert session.turn('', 'describe region').conversation[-1]['content'] == 'Please briefly describe <box0>.'
    assert session.turn('', 'proposals').kind == 'proposals'
    with pytest.raises(InputError, match='unknown mode'):
        session.turn('hi', 'dance')
    with pytest.raises(InputError, match='no image'):
        ChatSession().turn('hi', 'chat')


def test_free_chat_keeps_history_and_reset_or_new_image_forgets_it():
    session = ChatSession(image=np.zeros((8, 8, 3), np.uint8))
    first = session.turn('What is <box0>?', 'chat')
    session.remember(first, 'chat', GroundedResult(text='a ball'))
    second = session.turn('[grounding] And then?', 'chat')
    assert second.grounding
    assert [m['content'] for m in second.conversation] == ['What is <box0>?', 'a ball', 'And then?']
    session.remember(second, 'chat', GroundedResult(error='bad'))  # a failed turn is not kept
    assert len(session.history) == 2
    session.remember(session.turn('x', 'find'), 'find', GroundedResult(text='y'))  # one-shot modes neither
    assert len(session.history) == 2
    session.reset()
    assert session.history == []
    session.history = [dict(role='user', content='q')]
    session.set_image(np.ones((4, 4, 3), np.uint8))
    assert session.history == [] and session.boxes == []


def test_answer_html_colours_each_phrase_like_its_boxes_and_escapes_text():
    result = GroundedResult(text='A <dog> chases a ball.', spans=[
        dict(phrase='A <dog>', boxes=[[0, 0, 1, 1]], region_ids=[0]),
        dict(phrase='a ball', boxes=[[1, 1, 2, 2]], region_ids=[1])])
    page = answer_html(result)
    (r0, g0, b0), (r1, g1, b1) = PHRASE_PALETTE[:2]
    assert f'rgb({r0},{g0},{b0})' in page and f'rgb({r1},{g1},{b1})' in page
    assert '&lt;dog&gt;' in page and '<dog>' not in page and page.count('groma-phrase') == 2
    assert 'groma-error' in answer_html(GroundedResult(error='no <image>')) and '&lt;image&gt;' in answer_html(
        GroundedResult(error='no <image>'))


def test_generation_settings_are_greedy_unless_sampling_is_asked_for():
    assert GenerationSettings(max_new_tokens=8).to_generation_cfg() == dict(max_new_tokens=8)
    assert GenerationSettings(8, 0.7, 0.9, greedy=False).to_generation_cfg() == dict(
        max_new_tokens=8, do_sample=True, temperature=0.7, top_p=0.9)
    with pytest.raises(InputError):
        GenerationSettings(8, 0.0, 0.9, greedy=False).to_generation_cfg()
    with pytest.raises(InputError):
        GenerationSettings(0).to_generation_cfg()
