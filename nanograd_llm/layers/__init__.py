"""The layers: each module is one chapter, a pair `xxx_forward(...) -> (out, cache)` and
`xxx_backward(dout, cache) -> grads`, with its Turkish explanation at the top."""
from .attention import attention_backward, attention_forward, causal_mask
from .causal_tiles import tiled_attention_backward, tiled_attention_forward
from .block import block_backward, block_forward
from .cross_entropy import cross_entropy_backward, cross_entropy_forward
from .dropout import dropout_backward, dropout_forward
from .embedding import embedding_backward, embedding_forward
from .gelu import gelu_backward, gelu_forward
from .kv_cache import KVCache
from .layernorm import layernorm_backward, layernorm_forward
from .linear import linear_backward, linear_forward
from .mlp import mlp_backward, mlp_forward
from .multihead_attention import mha_backward, mha_forward
from .positional import (learned_positional_backward, learned_positional_forward,
                         sinusoidal_backward, sinusoidal_forward, sinusoidal_table)
from .relu import relu_backward, relu_forward

# Okuma sırası (kurs bölümleri): girdiden kayba doğru.
CHAPTERS = [
    "embedding", "positional", "linear", "layernorm", "gelu", "relu", "dropout",
    "attention", "causal_tiles", "multihead_attention", "mlp", "block", "cross_entropy", "kv_cache",
]
