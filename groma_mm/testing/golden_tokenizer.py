"""The offline tokenizer of the whole-model golden (``tests/data/parity/04_groma_seed0.pt``).

The golden was made with a word-level tokenizer over the template words (``tokenizer['tokenizer_vocab']``:
``<unk>`` 0, ``<s>`` 1, ``</s>`` 2, BOS prepended), to which the official code added its tokens. This
rebuilds the base tokenizer; the official tokens are added by the model's LLM builder
(``HFSplitVocabCausalLM``) exactly as they would be to Vicuna's, so a test can compare the resulting ids
with the golden's ``tokenizer['added_tokens']``.
"""
from typing import Dict, Optional

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast


def build_golden_tokenizer(vocab: Dict[str, int], save_dir: Optional[str] = None) -> PreTrainedTokenizerFast:
    """Word-level fast tokenizer over ``vocab`` (words and punctuation marks split apart, BOS prepended);
    saved to ``save_dir`` when given, so that ``HFTokenizer`` can load it."""
    backend = Tokenizer(models.WordLevel(vocab=dict(vocab), unk_token='<unk>'))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior='isolated')])
    backend.post_processor = processors.TemplateProcessing(single='<s> $A', special_tokens=[('<s>', vocab['<s>'])])
    backend.decoder = decoders.WordPiece(prefix='##', cleanup=True)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token='<unk>', bos_token='<s>',
                                        eos_token='</s>', model_input_names=['input_ids', 'attention_mask'])
    if save_dir is not None:
        tokenizer.save_pretrained(save_dir)
    return tokenizer
