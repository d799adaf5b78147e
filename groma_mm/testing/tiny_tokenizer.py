"""A small offline tokenizer for tests and tiny configs: no hub, no files needed.

It is word-level over a fixed English vocabulary (plus single letters, digits and punctuation), with
LLaMA-like special tokens ``<unk> <s> </s>`` and a ``<pad>``, and ChatML's ``<|im_start|> <|im_end|>`` so
ChatML templates render to known tokens. Unknown words become ``<unk>``; that is enough to exercise
templates, label masking and the Groma tokens without a real model's vocabulary.
"""
import string
from typing import Iterable, Optional

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ('<unk>', '<s>', '</s>', '<pad>')
CHATML_TOKENS = ('<|im_start|>', '<|im_end|>')

# Words of the chat templates' system lines and Groma's fixed prompt, then common English words.
_WORDS = """
a chat between curious user and an artificial intelligence assistant the gives helpful detailed polite answers
to questions s here is image with region regions crops from it thank you for how can i assist system are named
smollm trained by hugging face ai
what who where when why which whose whom this that these those there their they them it its he she his her him we
our us me my your yours i am be been being was were has have had do does did done will would shall should can
could may might must not no yes of in on at over under above below into onto out up down off near next behind front
left right top bottom middle center side back inside outside around through across along beside
describe description briefly brief short long please give tell show find locate detect list identify summarize
succinctly summarize comprehensive manner analyze following photo picture about content matches match
corresponds correspond all each every instance instances appears appear see seen look looks looking
dog dogs cat cats man men woman women person people child children boy girl bird birds horse car cars bus truck
bike bicycle motorcycle train plane boat table chair bench sofa bed tv laptop phone book cup bottle glass plate
bowl food pizza cake apple banana sandwich tree trees grass sky cloud clouds water sea ocean beach sand shore wave
waves road street building house window door wall floor room kitchen field park mountain snow frisbee ball kite
umbrella bag hat shirt jacket wetsuit surfboard arm arms hand hands head face hair leg legs eye eyes
red blue green yellow white black brown gray orange pink purple small large big little tall old young new
cute wooden fallen sleeping jumping running walking sitting standing holding playing catching riding eating
lying flying rolling wearing carrying looking smiling catch jump run walk sit stand hold play ride eat wear
one two three four five six seven eight nine ten first second third many some few several
is are very also just only then than so as if or but because while with without
hello hi okay sure good great nice fine thanks welcome sorry
""".split()


def tiny_vocabulary(extra_words: Iterable[str] = ()) -> list:
    """Tokens in id order: specials, ChatML tokens, punctuation, digits, letters, words (each also Capitalized
    and UPPER so sentence starts and role names like ``USER``/``ASSISTANT`` are known)."""
    vocab = list(SPECIAL_TOKENS) + list(CHATML_TOKENS)
    vocab += list(string.punctuation) + list(string.digits) + list(string.ascii_letters)
    for word in list(_WORDS) + list(extra_words):
        for form in (word, word.capitalize(), word.upper()):
            if form not in vocab:
                vocab.append(form)
    return vocab


def build_tiny_tokenizer(extra_words: Iterable[str] = (), save_dir: Optional[str] = None) -> PreTrainedTokenizerFast:
    """Build the tiny tokenizer; optionally save it so it can be loaded like a real one.

    Args:
        extra_words: more words to put in the vocabulary.
        save_dir: if given, ``save_pretrained`` there; ``AutoTokenizer.from_pretrained(save_dir,
            local_files_only=True)`` then returns an equal tokenizer.
    """
    vocab = {token: i for i, token in enumerate(tiny_vocabulary(extra_words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token='<unk>'))
    # Whitespace splits words, every punctuation mark is its own token, and digits are single tokens.
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Punctuation(behavior='isolated'),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    # Like LLaMA: a BOS is prepended when add_special_tokens=True.
    backend.post_processor = processors.TemplateProcessing(
        single='<s> $A', pair='<s> $A <s> $B', special_tokens=[('<s>', vocab['<s>'])])
    # Joins words with spaces and glues punctuation back ("dog ." -> "dog.").
    backend.decoder = decoders.WordPiece(prefix='##', cleanup=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token='<unk>',
        bos_token='<s>',
        eos_token='</s>',
        pad_token='<pad>',
        additional_special_tokens=list(CHATML_TOKENS),
        model_max_length=4096,
        model_input_names=['input_ids', 'attention_mask'],
    )
    if save_dir is not None:
        tokenizer.save_pretrained(save_dir)
    return tokenizer
