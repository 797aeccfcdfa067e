"""GPT.forward against a plain NumPy re-implementation (catches config fields that are ignored,
e.g. layer_norm_epsilon inside the blocks)."""
import math

import numpy as np
import pytest

from nanograd_llm import GPT, GPTConfig


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def reference_logits(model, idx):
    cfg, p = model.config, {k: np.asarray(v, np.float64) for k, v in model.params.items()}
    B, T = idx.shape
    C, nh = cfg.n_embd, cfg.n_head
    hs = C // nh
    x = p["wte.weight"][idx] + p["wpe.weight"][:T]
    mask = np.triu(np.ones((T, T), bool), 1)
    for i in range(cfg.n_layer):
        g = lambda n: p[f"h.{i}.{n}"]  # noqa: E731
        h = _ln(x, g("ln_1.weight"), g("ln_1.bias"), cfg.layer_norm_epsilon)
        qkv = h @ g("attn.c_attn.weight") + g("attn.c_attn.bias")
        q, k, v = (qkv[..., j * C:(j + 1) * C].reshape(B, T, nh, hs).transpose(0, 2, 1, 3)
                   for j in range(3))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hs)
        s[..., mask] = -np.inf
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        y = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ g("attn.c_proj.weight") + g("attn.c_proj.bias")
        h = _ln(x, g("ln_2.weight"), g("ln_2.bias"), cfg.layer_norm_epsilon)
        u = h @ g("mlp.c_fc.weight") + g("mlp.c_fc.bias")
        u = 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))
        x = x + u @ g("mlp.c_proj.weight") + g("mlp.c_proj.bias")
    x = _ln(x, p["ln_f.weight"], p["ln_f.bias"], cfg.layer_norm_epsilon)
    return x @ p["wte.weight"].T


@pytest.mark.parametrize("eps", [1e-5, 0.3])
def test_gpt_forward_matches_numpy_reference(eps):
    cfg = GPTConfig(vocab_size=19, block_size=10, n_layer=2, n_head=2, n_embd=8,
                    layer_norm_epsilon=eps)
    m = GPT(cfg, seed=0, dtype="float64")
    m.flat[:] = np.random.default_rng(1).standard_normal(m.flat.size) * 0.5
    idx = np.random.default_rng(2).integers(0, 19, size=(2, 10))
    np.testing.assert_allclose(m.forward(idx)[0], reference_logits(m, idx), rtol=0, atol=1e-10)
