"""Chat templates as plain data (xtuner style), and their rendering into labelled text segments.

A template is a dict of format strings; rendering a conversation yields ``(text, labelled)`` segments whose
concatenation is the prompt, where ``labelled`` marks the text the LLM is trained to produce: every
assistant reply and the end separator that closes it (so the model learns to stop). Everything else
(system line, user turns, role prefixes, inter-turn separators) is context only.

Keys of a template (all strings unless noted):

- ``system``: default system message ('' for none).
- ``system_format``: wraps the system message; contains ``{system}``; skipped when the message is ''.
- ``user``: wraps a user message; contains ``{content}``.
- ``assistant_start``: text between the user message and the reply (``'ASSISTANT:'``); a generation
  prompt ends with it.
- ``assistant``: wraps a reply; contains ``{content}``.
- ``assistant_end``: closes a reply; labelled, and the stop string at generation.
- ``sep``: text after a finished round (after ``assistant_end``), not labelled.
- ``add_bos`` (bool): whether the prompt starts with the tokenizer's BOS token (LLaMA yes, ChatML no).
"""
import copy
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

TEMPLATE_KEYS = ('system', 'system_format', 'user', 'assistant_start', 'assistant', 'assistant_end', 'sep',
                 'add_bos')

# LLaVA's conv_vicuna_v1 (what Groma's checkpoints were trained on):
# "{system} USER: {q} ASSISTANT: {a}</s>USER: {q2} ASSISTANT: {a2}</s>".
VICUNA_V1 = dict(
    system=("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
            "helpful, detailed, and polite answers to the user's questions."),
    system_format='{system} ',
    user='USER: {content} ',
    assistant_start='ASSISTANT:',
    assistant=' {content}',
    assistant_end='</s>',
    sep='',
    add_bos=True,
)

# The official Groma repository's conv_llava (groma/data/conversation.py): the same text as vicuna_v1. The
# released groma-7b-finetune was trained and evaluated with it.
LLAVA = dict(VICUNA_V1)

# Its conv_default: replies end with a space instead of "</s>", so a model trained on it (the released
# groma-7b-pretrain) never learned to stop; generation ends at EOS or max_new_tokens.
GROMA_DEFAULT = dict(VICUNA_V1, assistant_end='', sep=' ')

# ChatML as used by Qwen/Qwen2 chat models.
QWEN_CHAT = dict(
    system='You are a helpful assistant.',
    system_format='<|im_start|>system\n{system}<|im_end|>\n',
    user='<|im_start|>user\n{content}<|im_end|>\n',
    assistant_start='<|im_start|>assistant\n',
    assistant='{content}',
    assistant_end='<|im_end|>',
    sep='\n',
    add_bos=False,
)

# SmolLM2-Instruct: ChatML with its own default system line.
SMOLLM2 = dict(QWEN_CHAT, system='You are a helpful AI assistant named SmolLM, trained by Hugging Face')

TEMPLATES: Dict[str, dict] = {}
DEFAULT_TEMPLATE = 'vicuna_v1'


class Segment(NamedTuple):
    """A piece of rendered prompt; ``labelled`` pieces are the LLM's training targets."""
    text: str
    labelled: bool


def _validate(name: str, template: dict) -> dict:
    unknown = set(template) - set(TEMPLATE_KEYS)
    missing = set(TEMPLATE_KEYS) - set(template)
    if unknown or missing:
        raise KeyError(f'template {name!r}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; '
                       f'a template has exactly {list(TEMPLATE_KEYS)}')
    for key, field in (('system_format', '{system}'), ('user', '{content}'), ('assistant', '{content}')):
        if field not in template[key]:
            raise ValueError(f'template {name!r}: {key}={template[key]!r} lacks {field}')
    return template


def register_template(name: str, template: dict, force: bool = False) -> None:
    """Make ``template`` available by ``name`` (e.g. in a config: ``template='my_chat'``).

    Raises:
        KeyError: the name is taken (and ``force`` is False) or the template's keys are wrong.
    """
    if name in TEMPLATES and not force:
        raise KeyError(f'template {name!r} is already registered; pass force=True to replace it')
    TEMPLATES[name] = _validate(name, dict(template))


def get_template(template: Union[str, dict]) -> dict:
    """A copy of a registered template (by name), or a validated copy of a template dict."""
    if isinstance(template, dict):
        return _validate('<dict>', copy.deepcopy(template))
    if template not in TEMPLATES:
        raise KeyError(f'unknown chat template {template!r}; registered: {sorted(TEMPLATES)}')
    return copy.deepcopy(TEMPLATES[template])


def render_segments(template: dict,
                    rounds: Sequence[Tuple[str, Optional[str]]],
                    system: Optional[str] = None,
                    labelled_rounds: Optional[Sequence[bool]] = None) -> List[Segment]:
    """Render rounds of (user message, assistant reply) into segments.

    Args:
        template: a template dict (see :func:`get_template`).
        rounds: ``(user, reply)`` pairs; the last reply may be ``None``, which renders a generation prompt
            ending with ``assistant_start``.
        system: system message; ``None`` uses the template's, '' drops it.
        labelled_rounds: per round, whether its reply is a training target (default: all).

    Returns:
        Segments whose texts concatenate to the prompt.
    """
    if labelled_rounds is None:
        labelled_rounds = [True] * len(rounds)
    if len(labelled_rounds) != len(rounds):
        raise ValueError(f'{len(labelled_rounds)} labelled_rounds flags for {len(rounds)} rounds')
    system = template['system'] if system is None else system
    segments = [Segment(template['system_format'].format(system=system), False)] if system else []
    for i, (user, reply) in enumerate(rounds):
        segments.append(Segment(template['user'].format(content=user) + template['assistant_start'], False))
        if reply is None:
            if i != len(rounds) - 1:
                raise ValueError(f'round {i}: only the last round may lack a reply')
            break
        labelled = labelled_rounds[i]
        segments.append(Segment(template['assistant'].format(content=reply) + template['assistant_end'], labelled))
        if template['sep']:
            segments.append(Segment(template['sep'], False))
    return segments


register_template('vicuna_v1', VICUNA_V1)
register_template('llava', LLAVA)
register_template('default', GROMA_DEFAULT)
register_template('qwen_chat', QWEN_CHAT)
register_template('smollm2', SMOLLM2)
