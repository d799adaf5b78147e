"""Instruction templates that turn task datasets into conversations (paper Appendix A, Table 9).

Each task has a pool of user instructions; a reader picks one per sample (per turn for multi-round
samples) with :func:`sample_instruction`. The pick depends only on ``(seed, task, sample index, turn)``,
so it is reproducible and independent of data-loader worker order or process count.

Placeholders (``str.format`` fields):

- ``{region}``: a referred region; readers fill ``<box0>`` (the prompt builder turns it into
  ``<rK><region>``). Table 9 writes it as ``<region>``.
- ``{expression}``: a referring expression (REC), already inside ``<p>…</p>``.
- ``{category}``: an object class name (multi-object grounding), inside ``<p>…</p>``; Table 9's
  ``{object class}``.

The replies the readers pair with these instructions are the official Groma ones (``readers/base.py``):
REC ``<roi><box0></roi>`` and multi-object grounding ``<roi><box0><box1>…</roi>`` (the boxes alone: the
phrase is already in the question), grounded captions ``<p>phrase</p> <roi><box0></roi>`` inside the text,
region and image captions plain text. The answer parser (``models/mllm/parser.py``) reads a bare ``<roi>``
as a span with an empty phrase, so an REC answer's first box is the prediction.

Grounded-caption templates carry no ``[grounding]`` prefix: readers set ``grounding=True`` on the sample and
the prompt builder adds the switch token before the first user message, as Table 9 shows it.
Grounded chat (Groma Instruct) uses the dataset's own free-form user messages, i.e. Table 9's
``[grounding] {Free-form user instructions}``; it has no pool.
"""
import random
from typing import Dict, Mapping, Sequence, Tuple, Union

# Table 9 verbatim (the paper lists three per task, one for grounded chat).
TABLE9: Dict[str, Tuple[str, ...]] = {
    'caption': ('What is this photo about?', 'Describe the following image.',
                'Analyze the image in a comprehensive and detailed manner.'),
    'region_caption': ('What is <region>?', 'Please briefly describe <region>.',
                       'Give a concise description of <region>.'),
    'rec': ('Locate <p>{expression}</p> in the image.', 'Which region matches <p>{expression}</p>?',
            'Identify the region that corresponds to <p>{expression}</p>.'),
    'multi_grounding': ('Locate all <p>{object class}</p> in this image.',
                        'Find out all instances of <p>{object class}</p> in the image.',
                        'Detect and list each <p>{object class}</p> that appears in the picture.'),
    'grounded_caption': ('[grounding] Give me a short description of the image.',
                         '[grounding] Succinctly summarize what you see in the image.',
                         '[grounding] Please summarize the content of this image in brief.'),
    'chat': ('[grounding] {Free-form user instructions}.', ),
}

# The pools: Table 9 first (rewritten to this module's placeholders), then more in the same style.
INSTRUCTION_TEMPLATES: Dict[str, Tuple[str, ...]] = {
    'caption': (
        'What is this photo about?',
        'Describe the following image.',
        'Analyze the image in a comprehensive and detailed manner.',
        'Describe this image in detail.',
        'What do you see in this picture?',
        'Give a detailed description of the image.',
        'Write a description of what is shown in this image.',
    ),
    'region_caption': (
        'What is {region}?',
        'Please briefly describe {region}.',
        'Give a concise description of {region}.',
        'Provide a short description for {region}.',
        'What can you tell me about {region}?',
        'Describe the region {region} in a few words.',
    ),
    # RefCOCOg region captions are long, so their prompt asks for detail (paper §5.3: "Please describe <region>
    # in details."). The rest are the official release's RefCOCOg caption prompts, kept word for word so that
    # its checkpoints are asked what they were trained on.
    'detailed_region_caption': (
        'Please describe {region} in details.',
        'Can you provide me with a detailed description of {region}?',
        "I'm curious about {region} in the photo. Can you describe it in detail?",
        'Please give a comprehensive description of the object {region}.',
        'What does the object {region} in the picture look like? Could you give me a detailed description?',
    ),
    'rec': (
        'Locate <p>{expression}</p> in the image.',
        'Which region matches <p>{expression}</p>?',
        'Identify the region that corresponds to <p>{expression}</p>.',
        'Can you spot <p>{expression}</p> in the photograph?',
        'Where is <p>{expression}</p> in the picture?',
        'Please find <p>{expression}</p> in this image.',
    ),
    'multi_grounding': (
        'Locate all <p>{category}</p> in this image.',
        'Find out all instances of <p>{category}</p> in the image.',
        'Detect and list each <p>{category}</p> that appears in the picture.',
        'Point out all the <p>{category}</p> visible in this picture.',
        'Identify all instances of <p>{category}</p> in the photo.',
        'Where are all the <p>{category}</p> in this image?',
    ),
    'grounded_caption': (
        'Give me a short description of the image.',
        'Succinctly summarize what you see in the image.',
        'Please summarize the content of this image in brief.',
        'Briefly describe what is shown in this picture.',
        'What does this picture show? Please summarize briefly.',
        'Sum up the contents of this picture in one sentence.',
    ),
}

Templates = Union[None, Sequence[str], Mapping[str, Sequence[str]]]


def table9_as_template(text: str) -> str:
    """A Table 9 line in this module's placeholder syntax (``<region>`` → ``{region}``, no ``[grounding]``)."""
    text = text.replace('<region>', '{region}').replace('{object class}', '{category}')
    return text.replace('[grounding] ', '')


def get_templates(task: str, templates: Templates = None) -> Tuple[str, ...]:
    """The template pool of ``task``: ``templates`` when given (a list, or a dict task → list), else the
    built-in pool.

    Raises:
        KeyError: a task without a pool.
    """
    if isinstance(templates, Mapping):
        pool = templates.get(task)
    else:
        pool = templates
    if pool is None:
        if task not in INSTRUCTION_TEMPLATES:
            raise KeyError(f'no instruction templates for task {task!r}; tasks with templates: '
                           f'{sorted(INSTRUCTION_TEMPLATES)}')
        pool = INSTRUCTION_TEMPLATES[task]
    pool = tuple(pool)
    if not pool:
        raise ValueError(f'the template pool of task {task!r} is empty')
    return pool


def template_rng(seed: int, task: str, index: int, turn: int = 0) -> random.Random:
    """A generator that depends only on its arguments (str seeds hash with SHA-512, not ``hash()``, so
    ``PYTHONHASHSEED`` and the process do not matter)."""
    return random.Random(f'{int(seed)}:{task}:{int(index)}:{int(turn)}')


def sample_instruction(task: str,
                       index: int,
                       seed: int = 0,
                       turn: int = 0,
                       templates: Templates = None,
                       **fields: str) -> str:
    """Pick and fill the instruction of sample ``index`` (turn ``turn``) of a ``task`` dataset.

    Args:
        task: 'caption', 'region_caption', 'detailed_region_caption', 'rec', 'multi_grounding' or
            'grounded_caption'.
        index: the sample's index in its dataset.
        seed: the dataset's template seed.
        turn: the round within a multi-round sample.
        templates: custom pool (see :func:`get_templates`).
        **fields: placeholder values, e.g. ``expression='the red car'`` or ``region='<box0>'``.

    Returns:
        The instruction text.
    """
    pool = get_templates(task, templates)
    template = pool[template_rng(seed, task, index, turn).randrange(len(pool))]
    try:
        return template.format(**fields)
    except (KeyError, IndexError) as e:
        raise KeyError(f'template {template!r} of task {task!r} needs field {e}; got {sorted(fields)}') from None

