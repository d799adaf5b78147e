from .builder import (apply_lora, build_causal_lm, build_tokenizer, load_causal_lm, resize_embeddings_to_tokenizer,
                      train_token_rows)
from .official_tokens import OFFICIAL_ADDED_TOKENS, add_official_tokens, official_new_tokens
from .special_tokens import (DEFAULT_NUM_PROXY_TOKENS, GROMA_TOKENS, GromaTokenIds, add_groma_tokens,
                             groma_special_tokens, proxy_token)
from .split_vocab_lm import ConcatLMHead, SplitVocabEmbedding, build_split_vocab_causal_lm, split_vocabulary

__all__ = [
    'apply_lora', 'build_causal_lm', 'build_tokenizer', 'load_causal_lm', 'resize_embeddings_to_tokenizer',
    'train_token_rows', 'DEFAULT_NUM_PROXY_TOKENS', 'GROMA_TOKENS', 'GromaTokenIds', 'add_groma_tokens',
    'groma_special_tokens', 'proxy_token', 'OFFICIAL_ADDED_TOKENS', 'add_official_tokens', 'official_new_tokens',
    'ConcatLMHead', 'SplitVocabEmbedding', 'build_split_vocab_causal_lm', 'split_vocabulary'
]
