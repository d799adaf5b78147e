import pytest

from groma_mm.datasets.instruction_templates import (INSTRUCTION_TEMPLATES, TABLE9, get_templates, sample_instruction,
                                                     table9_as_template)

FIELDS = dict(region='<box0>', expression='the red car', category='dog')
# Measured once, in processes with different PYTHONHASHSEED; a change here changes every dataset's prompts.
PINNED_CAPTION_CHOICES = [6, 4, 5, 6, 3, 3, 6, 5]


def test_every_table9_template_is_in_its_pool():
    lines = [(task, line) for task, pool in TABLE9.items() for line in pool]
    assert len(lines) == 16  # Table 9: three per task, one for grounded chat
    for task, line in lines:
        if task == 'chat':  # free-form user instructions: no pool
            continue
        assert table9_as_template(line) in INSTRUCTION_TEMPLATES[task], line


@pytest.mark.parametrize('task', sorted(INSTRUCTION_TEMPLATES))
def test_pools_are_large_distinct_and_well_formed(task):
    pool = INSTRUCTION_TEMPLATES[task]
    assert len(pool) >= 5 and len(set(pool)) == len(pool)
    for template in pool:
        text = template.format(**FIELDS)
        assert '[grounding]' not in text  # the prompt builder adds it from the sample's `grounding`
        if task in ('region_caption', 'detailed_region_caption'):
            assert text.count('<box0>') == 1
        if task == 'rec':
            assert text.count('<p>the red car</p>') == 1
        if task == 'multi_grounding':
            assert text.count('<p>dog</p>') == 1


def test_choice_is_seeded_per_sample_and_pinned():
    picks = [sample_instruction('rec', i, seed=0, expression='x') for i in range(60)]
    assert picks == [sample_instruction('rec', i, seed=0, expression='x') for i in range(60)]
    assert len(set(picks)) == len(INSTRUCTION_TEMPLATES['rec'])  # every template gets used
    assert picks != [sample_instruction('rec', i, seed=1, expression='x') for i in range(60)]
    assert sample_instruction('rec', 3, seed=0, turn=1, expression='x') in {
        t.format(expression='x') for t in INSTRUCTION_TEMPLATES['rec']}
    # Pinned: the choice depends only on (seed, task, index, turn), not on the process or hash seed.
    assert [INSTRUCTION_TEMPLATES['caption'].index(sample_instruction('caption', i, seed=0)) for i in range(8)] == \
        PINNED_CAPTION_CHOICES


def test_custom_pools():
    assert sample_instruction('rec', 0, templates=['Find {expression}.'], expression='x') == 'Find x.'
    assert sample_instruction('caption', 0, templates={'caption': ['Caption it.']}) == 'Caption it.'
    assert get_templates('rec', {'caption': ['a']}) == INSTRUCTION_TEMPLATES['rec']
    with pytest.raises(KeyError, match='no instruction templates'):
        sample_instruction('chat', 0)
    with pytest.raises(KeyError, match='needs field'):
        sample_instruction('rec', 0)
