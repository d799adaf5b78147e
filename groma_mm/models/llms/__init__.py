from .builder import (apply_lora, build_causal_lm, build_tokenizer, load_causal_lm, resize_embeddings_to_tokenizer,
                      train_token_rows)
from .special_tokens import (DEFAULT_NUM_PROXY_TOKENS, GROMA_TOKENS, GromaTokenIds, add_groma_tokens,
                             groma_special_tokens, proxy_token)

__all__ = [
    'apply_lora', 'build_causal_lm', 'build_tokenizer', 'load_causal_lm', 'resize_embeddings_to_tokenizer',
    'train_token_rows', 'DEFAULT_NUM_PROXY_TOKENS', 'GROMA_TOKENS', 'GromaTokenIds', 'add_groma_tokens',
    'groma_special_tokens', 'proxy_token'
]
