"""The token layout of the released Groma checkpoints (official ``groma/constants.py``, ``train.py``).

The official tokenizer gets ``DEFAULT_TOKENS`` (17 strings, of which ``<s> </s> <unk>`` already exist) and
``<r0>…<r99>`` appended with ``add_tokens(..., special_tokens=True)``, and ``[PAD]`` as its pad token. With an
LLM vocabulary of V ids (Vicuna: 32000) the 114 new tokens get ids V…V+113 in this order; the checkpoints
store their input embeddings in a separate table (``new_input_embs``, row = id − V) and score them with a
separate head (``extra_lm_head``), so both the ids and the order are part of the weights.
"""
from typing import List, Sequence

from groma_mm.models.llms.special_tokens import DEFAULT_NUM_PROXY_TOKENS, proxy_token

PAD_TOKEN = '[PAD]'
REFER_BOX_TOKEN = '<refer_box>'
GROUND_BOX_TOKEN = '<ground_box>'
REFER_FEAT_TOKEN = '<refer_feat>'

# The 14 of DEFAULT_TOKENS that a LLaMA tokenizer does not have yet, in the official order.
OFFICIAL_ADDED_TOKENS = (PAD_TOKEN, '<sep>', '<img>', '</img>', '<roi>', '</roi>', '<p>', '</p>', '<image>',
                         '<region>', REFER_BOX_TOKEN, GROUND_BOX_TOKEN, REFER_FEAT_TOKEN, '[grounding]')
# What the official code hands ``add_tokens`` before the proxies: the LLaMA tokens it already has come
# second to fourth and add nothing.
_OFFICIAL_DEFAULT_TOKENS = OFFICIAL_ADDED_TOKENS[:1] + ('<s>', '</s>', '<unk>') + OFFICIAL_ADDED_TOKENS[1:]


def official_new_tokens(num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS) -> List[str]:
    """The new tokens in id order: the 14 added ones, then ``<r0> … <r{N-1}>``."""
    return list(OFFICIAL_ADDED_TOKENS) + [proxy_token(k) for k in range(num_proxy_tokens)]


def add_official_tokens(tokenizer, base_vocab_size: int, num_proxy_tokens: int = DEFAULT_NUM_PROXY_TOKENS) -> None:
    """Give ``tokenizer`` the official new tokens at ids ``base_vocab_size …`` (in place), or check them.

    A tokenizer saved with the official tokens (the official folders, or ``--tokenizer-out`` of
    ``tools/model_converters/groma_official_to_mm.py``) is only checked; a plain LLM tokenizer gets them added
    exactly as the official ``train.py`` does.

    Args:
        tokenizer: an HF tokenizer.
        base_vocab_size: V, the rows of the LLM's own embedding matrix.
        num_proxy_tokens: N of ``<r0>…<r{N-1}>``.

    Raises:
        ValueError: a token sits at another id than the official layout needs (naming the first few).
    """
    tokens = official_new_tokens(num_proxy_tokens)
    vocab = tokenizer.get_vocab()
    if any(t not in vocab for t in tokens):
        if len(tokenizer) != base_vocab_size:
            raise ValueError(f'{type(tokenizer).__name__} has {len(tokenizer)} tokens but the LLM has '
                             f'{base_vocab_size} embedding rows: the official new tokens would not start at id '
                             f'{base_vocab_size}; use the LLM\'s own tokenizer')
        extra = [proxy_token(k) for k in range(num_proxy_tokens)]
        tokenizer.add_tokens(list(_OFFICIAL_DEFAULT_TOKENS) + extra, special_tokens=True)
    tokenizer.pad_token = PAD_TOKEN
    check_official_ids(tokenizer, base_vocab_size, tokens)


def check_official_ids(tokenizer, base_vocab_size: int, tokens: Sequence[str]) -> None:
    """Raise unless ``tokens[i]`` has id ``base_vocab_size + i`` in ``tokenizer``."""
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    wrong = [(t, i, base_vocab_size + k) for k, (t, i) in enumerate(zip(tokens, ids)) if i != base_vocab_size + k]
    if wrong:
        listed = ', '.join(f'{t} has id {i}, needs {want}' for t, i, want in wrong[:5])
        raise ValueError(f'{type(tokenizer).__name__} does not have the official Groma token ids '
                         f'({len(wrong)} wrong: {listed}); use the tokenizer written by '
                         'tools/model_converters/groma_official_to_mm.py --tokenizer-out')
