"""float32 end to end: no activation, cache entry or gradient of a float32 GPT is silently
float64 (an accidental upcast doubles memory traffic and hides precision bugs)."""
import numpy as np
import pytest

from nanograd_llm.models.gpt import GPT, GPTConfig


def _arrays(obj, path="cache"):
    """Yield (path, array) for every ndarray inside nested tuples / lists / dicts / NamedTuples."""
    if isinstance(obj, np.ndarray):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _arrays(v, f"{path}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        names = getattr(obj, "_fields", None)
        for i, v in enumerate(obj):
            yield from _arrays(v, f"{path}.{names[i]}" if names else f"{path}[{i}]")


CONFIGS = [
    dict(),
    dict(dropout=0.1),
    dict(activation="relu", positional="sinusoidal", tie_weights=False, bias=False),
    dict(ignore_index=0),
]


@pytest.mark.parametrize("extra", CONFIGS, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()) or "default")
def test_float32_gpt_never_upcasts(extra):
    cfg = GPTConfig(vocab_size=17, block_size=12, n_layer=2, n_head=2, n_embd=16, **extra)
    m = GPT(cfg, seed=0, dtype="float32")
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 17, (3, 12))
    tgt = rng.integers(0, 17, (3, 12))
    logits, loss = m.forward(idx, tgt)
    assert logits.dtype == np.float32
    assert loss.dtype == np.float32
    floats = [(p, a) for p, a in _arrays(m._cache) if a.dtype.kind == "f"]
    assert len(floats) > 20          # the walk really saw the activations
    bad = [(p, a.dtype) for p, a in floats if a.dtype != np.float32]
    assert not bad, f"float64 activations in the cache: {bad[:5]}"
    grads = m.backward()
    assert m.grad_flat.dtype == np.float32
    for name, g in grads.items():
        assert g.dtype == np.float32, name
        assert np.isfinite(g).all(), name


def test_float32_layer_outputs_are_float32(monkeypatch):
    """Instrument every layer's forward and backward through the layers package: each returned
    float array must be float32."""
    import nanograd_llm.layers.block as block_mod
    import nanograd_llm.layers.mlp as mlp_mod
    import nanograd_llm.layers.multihead_attention as mha_mod
    import nanograd_llm.models.gpt as gpt_mod
    seen = []

    def wrap(fn, name):
        def inner(*a, **k):
            out = fn(*a, **k)
            for p, arr in _arrays(out if isinstance(out, tuple) else (out,), name):
                if arr.dtype.kind == "f":
                    seen.append((p, arr.dtype))
            return out
        return inner

    for act, (fwd, bwd) in list(mlp_mod.ACTIVATIONS.items()):
        monkeypatch.setitem(mlp_mod.ACTIVATIONS, act, (wrap(fwd, fwd.__name__),
                                                       wrap(bwd, bwd.__name__)))
    for mod in (block_mod, mlp_mod, mha_mod, gpt_mod):
        for attr in dir(mod):
            if attr.endswith(("_forward", "_backward")) and callable(getattr(mod, attr)):
                monkeypatch.setattr(mod, attr, wrap(getattr(mod, attr), attr))
    m = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8), dtype="float32")
    rng = np.random.default_rng(1)
    m.forward(rng.integers(0, 11, (2, 8)), rng.integers(0, 11, (2, 8)))
    m.backward()
    names = {p.split(".")[0].split("[")[0] for p, _ in seen}
    assert {"linear_forward", "linear_backward", "attention_forward", "attention_backward",
            "gelu_forward", "gelu_backward", "layernorm_forward", "layernorm_backward",
            "cross_entropy_forward", "cross_entropy_backward", "embedding_backward"} <= names
    bad = [s for s in seen if s[1] != np.float32]
    assert not bad, bad[:5]


def test_float64_model_stays_float64():
    m = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8), dtype="float64")
    rng = np.random.default_rng(2)
    logits, loss = m.forward(rng.integers(0, 11, (2, 8)), rng.integers(0, 11, (2, 8)))
    assert logits.dtype == np.float64 and loss.dtype == np.float64
    assert all(g.dtype == np.float64 for g in m.backward().values())
