"""Every layer's forward and hand-written backward against PyTorch autograd (float64).

test_layers.py checks each backward against finite differences of our own forward; here the
forward itself is checked too, against torch's independent ops (F.layer_norm,
F.gelu(approximate="tanh"), F.scaled_dot_product_attention, F.cross_entropy, a sinusoidal table
written out from its formula), and the gradients against torch.autograd. Each case feeds the
same random upstream gradient R to both: ours through xxx_backward(R, cache), torch's through
(out · R).sum().backward().
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from nanograd_llm.gradcheck import rel_error  # noqa: E402
from nanograd_llm.layers import (attention_backward, attention_forward,  # noqa: E402
                                 block_backward, block_forward, cross_entropy_backward,
                                 cross_entropy_forward, dropout_backward, dropout_forward,
                                 embedding_backward, embedding_forward, gelu_backward,
                                 gelu_forward, layernorm_backward, layernorm_forward,
                                 learned_positional_backward, learned_positional_forward,
                                 linear_backward, linear_forward, mha_backward, mha_forward,
                                 mlp_backward, mlp_forward, relu_backward, relu_forward,
                                 sinusoidal_backward, sinusoidal_forward,
                                 tiled_attention_backward, tiled_attention_forward)
from nanograd_llm.layers.dropout import dropout_mask  # noqa: E402

TOL = 1e-10       # float64, two implementations of the same formulas


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def _compare(out, grads: dict, t_out, t_inputs: dict, R):
    """Forward outputs equal; our gradients equal torch.autograd's for the upstream gradient R."""
    assert out.shape == tuple(t_out.shape)
    assert rel_error(out, t_out.detach().numpy()) <= TOL
    (t_out * torch.as_tensor(R)).sum().backward()
    assert set(grads) == set(t_inputs)
    for k, g in grads.items():
        ref = t_inputs[k].grad
        ref = np.zeros(t_inputs[k].shape) if ref is None else ref.numpy()
        assert rel_error(g, ref) <= TOL, k


class Case:
    def __init__(self, seed=0, B=2, T=7, C=12, nh=3, V=11):
        self.rng = np.random.default_rng(seed)
        self.B, self.T, self.C, self.nh, self.V = B, T, C, nh, V

    def a(self, *shape, scale=1.0):
        return self.rng.standard_normal(shape) * scale


def _t_lin(x, w, b=None):
    out = x @ w
    return out if b is None else out + b


def _t_attention(q, k, v, drop=None):
    """Causal attention; query i of Tq sees keys j <= i + (Tk - Tq) (the KV cache's alignment).
    drop: a fixed dropout scale (0 or 1/(1-p)) on the attention weights."""
    if drop is None and q.shape[-2] == k.shape[-2]:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    Tq, Tk = q.shape[-2], k.shape[-2]
    visible = torch.ones(Tq, Tk, dtype=torch.bool).tril(Tk - Tq)
    if drop is None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    a = F.softmax(s.masked_fill(~visible, float("-inf")), dim=-1)
    return (a * torch.as_tensor(drop)) @ v


def _t_drop(h, drop):
    return h if drop is None else h * torch.as_tensor(drop)


def _t_mha(x, P, nh, pre="", att_drop=None, out_drop=None):
    B, T, C = x.shape
    qkv = _t_lin(x, P[pre + "c_attn.weight"], P.get(pre + "c_attn.bias"))
    q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in qkv.split(C, dim=2))
    y = _t_attention(q, k, v, att_drop).transpose(1, 2).reshape(B, T, C)
    return _t_drop(_t_lin(y, P[pre + "c_proj.weight"], P.get(pre + "c_proj.bias")), out_drop)


def _t_mlp(x, P, activation="gelu", pre="", drop=None):
    h = _t_lin(x, P[pre + "c_fc.weight"], P.get(pre + "c_fc.bias"))
    h = F.gelu(h, approximate="tanh") if activation == "gelu" else F.relu(h)
    return _t_drop(_t_lin(h, P[pre + "c_proj.weight"], P.get(pre + "c_proj.bias")), drop)


def _params(c: Case, attn=True, mlp=True, ln=False, bias=True, pa="", pm=""):
    C, p = c.C, {}
    if attn:
        p[pa + "c_attn.weight"] = c.a(C, 3 * C, scale=0.3)
        p[pa + "c_proj.weight"] = c.a(C, C, scale=0.3)
        if bias:
            p[pa + "c_attn.bias"] = c.a(3 * C, scale=0.1)
            p[pa + "c_proj.bias"] = c.a(C, scale=0.1)
    if mlp:
        p[pm + "c_fc.weight"] = c.a(C, 4 * C, scale=0.3)
        p[pm + "c_proj.weight"] = c.a(4 * C, C, scale=0.3)
        if bias:
            p[pm + "c_fc.bias"] = c.a(4 * C, scale=0.1)
            p[pm + "c_proj.bias"] = c.a(C, scale=0.1)
    if ln:
        for name in ("ln_1", "ln_2"):
            p[name + ".weight"] = 1.0 + c.a(C, scale=0.1)
            if bias:
                p[name + ".bias"] = c.a(C, scale=0.1)
    return p


def test_embedding():
    c = Case()
    W = c.a(c.V, c.C)
    idx = c.rng.integers(0, c.V, (c.B, c.T))
    idx[0, 0] = idx[1, 3]                                  # a repeated id: gradients add up
    out, cache = embedding_forward(idx, W)
    R = c.a(*out.shape)
    Wt = _t(W)
    _compare(out, {"W": embedding_backward(R, cache)}, F.embedding(torch.as_tensor(idx), Wt),
             {"W": Wt}, R)


def test_learned_positional():
    c = Case()
    x, wpe = c.a(c.B, c.T, c.C), c.a(c.T + 4, c.C)
    out, cache = learned_positional_forward(x, wpe, 3)
    R = c.a(*out.shape)
    dx, dwpe = learned_positional_backward(R, cache)
    xt, wt = _t(x), _t(wpe)
    _compare(out, {"x": dx, "wpe": dwpe}, xt + wt[3:3 + c.T], {"x": xt, "wpe": wt}, R)


@pytest.mark.parametrize("C", [12, 7])
def test_sinusoidal_against_its_formula(C):
    """PE[p, 2i] = sin(p / 10000^(2i/C)), PE[p, 2i+1] = cos(…), written out element by element
    (odd C: the last column is a sine)."""
    c = Case(C=C)
    x = c.a(c.B, c.T, C)
    out, cache = sinusoidal_forward(x, 2)
    pe = torch.zeros(c.T, C, dtype=torch.float64)
    for p in range(c.T):
        for j in range(C):
            angle = (p + 2) / 10000 ** ((j - j % 2) / C)
            pe[p, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    R = c.a(*out.shape)
    xt = _t(x)
    _compare(out, {"x": sinusoidal_backward(R, cache)}, xt + pe, {"x": xt}, R)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    c = Case()
    x, w, b = c.a(c.B, c.T, c.C), c.a(c.C, 5), c.a(5)
    out, cache = linear_forward(x, w, b if bias else None)
    R = c.a(*out.shape)
    dx, dw, db = linear_backward(R, cache)
    xt, wt, bt = _t(x), _t(w), _t(b)
    grads, ins = {"x": dx, "w": dw}, {"x": xt, "w": wt}
    if bias:
        grads["b"], ins["b"] = db, bt
    else:
        assert db is None
    _compare(out, grads, _t_lin(xt, wt, bt if bias else None), ins, R)


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm(bias):
    c = Case()
    x, w, b = c.a(c.B, c.T, c.C, scale=3.0) + 1.5, c.a(c.C), c.a(c.C)
    out, cache = layernorm_forward(x, w, b if bias else None)
    R = c.a(*out.shape)
    dx, dw, db = layernorm_backward(R, cache)
    xt, wt, bt = _t(x), _t(w), _t(b)
    grads, ins = {"x": dx, "w": dw}, {"x": xt, "w": wt}
    if bias:
        grads["b"], ins["b"] = db, bt
    else:
        assert db is None
    _compare(out, grads, F.layer_norm(xt, (c.C,), wt, bt if bias else None, 1e-5), ins, R)


@pytest.mark.parametrize("fused", ["0", "1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layernorm_offset_rows(monkeypatch, fused, dtype):
    """Rows 1000 + N(0, 0.01) against F.layer_norm in float64 on the same values: the one-pass
    mean's rounding (an ulp of 1000) put float32 outputs ~2e-2 off (float64 ~7e-11); the mean
    taken after subtracting the row's first element keeps them at the dtype's precision.
    fused=1 is the Numba kernel for float32."""
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", fused)
    rng = np.random.default_rng(0)
    C = 128
    x = (1000 + rng.normal(0, 1e-2, (4, 16, C))).astype(dtype)
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    out, cache = layernorm_forward(x, w, b)
    ref = F.layer_norm(torch.from_numpy(x).double(), (C,), torch.from_numpy(w).double(),
                       torch.from_numpy(b).double(), 1e-5).numpy()
    # float64: torch's own Welford mean is good to ~1e-11 here, the bound is its error
    assert np.abs(out - ref).max() < (1e-5 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("name", ["gelu", "relu"])
def test_activations(name):
    c = Case()
    x = c.a(c.B, c.T, c.C, scale=3.0)
    fwd, bwd = (gelu_forward, gelu_backward) if name == "gelu" else (relu_forward, relu_backward)
    out, cache = fwd(x)
    R = c.a(*out.shape)
    xt = _t(x)
    t_out = F.gelu(xt, approximate="tanh") if name == "gelu" else F.relu(xt)
    _compare(out, {"x": bwd(R, cache)}, t_out, {"x": xt}, R)


def test_dropout_with_a_fixed_mask():
    c = Case()
    x = c.a(c.B, c.T, c.C)
    mask = dropout_mask(x.shape, 0.3, np.random.default_rng(1), np, np.dtype(np.float64))
    assert set(np.unique(mask)) <= {0.0, 1 / 0.7}
    out, cache = dropout_forward(x, 0.3, mask=mask)
    R = c.a(*out.shape)
    xt = _t(x)
    _compare(out, {"x": dropout_backward(R, cache)}, xt * torch.as_tensor(mask), {"x": xt}, R)


@pytest.mark.parametrize("tiled", [False, True])
def test_attention_and_causal_tiles(tiled):
    c = Case(T=9)
    hs = c.C // c.nh
    q, k, v = (c.a(c.B, c.nh, c.T, hs) for _ in range(3))
    if tiled:
        out, cache = tiled_attention_forward(q, k, v, tile=4)      # tiles (0,4) (4,8) (8,9)
        dq, dk, dv = tiled_attention_backward(R := c.a(*out.shape), cache)
    else:
        out, cache = attention_forward(q, k, v)
        dq, dk, dv = attention_backward(R := c.a(*out.shape), cache)
    qt, kt, vt = _t(q), _t(k), _t(v)
    _compare(out, {"q": dq, "k": dk, "v": dv}, _t_attention(qt, kt, vt),
             {"q": qt, "k": kt, "v": vt}, R)


def test_attention_with_fewer_queries_than_keys():
    """The KV cache's shape: 3 new queries after 5 cached keys; query i sees the keys up to
    i + (Tk − Tq) (torch: an explicit bottom-right causal mask)."""
    c = Case()
    hs = c.C // c.nh
    q, k, v = c.a(c.B, c.nh, 3, hs), c.a(c.B, c.nh, 8, hs), c.a(c.B, c.nh, 8, hs)
    out, cache = attention_forward(q, k, v)
    dq, dk, dv = attention_backward(R := c.a(*out.shape), cache)
    qt, kt, vt = _t(q), _t(k), _t(v)
    _compare(out, {"q": dq, "k": dk, "v": dv}, _t_attention(qt, kt, vt),
             {"q": qt, "k": kt, "v": vt}, R)


@pytest.mark.parametrize("name", ["attention", "causal_tiles", "multihead_attention", "mlp",
                                  "block"])
def test_layers_with_dropout_match_torch(name):
    """Dropout p = 0.3 inside the layer: torch applies the masks our forward drew (read from its
    cache) to its own ops; outputs and every gradient agree."""
    c = Case(T=9)
    rd = np.random.default_rng(3)
    p_drop = 0.3
    if name in ("attention", "causal_tiles"):
        hs = c.C // c.nh
        q, k, v = (c.a(c.B, c.nh, c.T, hs) for _ in range(3))
        if name == "attention":
            out, cache = attention_forward(q, k, v, p_drop, rd)
            dq, dk, dv = attention_backward(R := c.a(*out.shape), cache)
            att_drop = cache.drop.scale
        else:
            out, cache = tiled_attention_forward(q, k, v, p_drop, rd, tile=4)  # (0,4) (4,8) (8,9)
            dq, dk, dv = tiled_attention_backward(R := c.a(*out.shape), cache)
            att_drop = np.zeros((c.B, c.nh, c.T, c.T))
            for d, (r0, r1) in zip(cache.drops, cache.bounds):
                att_drop[:, :, r0:r1, :r1] = d.scale
        masks = [att_drop]
        qt, kt, vt = _t(q), _t(k), _t(v)
        grads, ins = {"q": dq, "k": dk, "v": dv}, {"q": qt, "k": kt, "v": vt}
        t_out = _t_attention(qt, kt, vt, att_drop)
    else:
        x = c.a(c.B, c.T, c.C)
        if name == "multihead_attention":
            p = _params(c, mlp=False)
            out, cache = mha_forward(x, p, c.nh, p_drop, rd)
            dx, g = mha_backward(R := c.a(*out.shape), cache)
            masks = [cache.attn.drop.scale, cache.drop.scale]
        elif name == "mlp":
            p = _params(c, attn=False)
            out, cache = mlp_forward(x, p, "gelu", p_drop, rd)
            dx, g = mlp_backward(R := c.a(*out.shape), cache)
            masks = [cache.drop.scale]
        else:
            p = _params(c, ln=True, pa="attn.", pm="mlp.")
            out, cache = block_forward(x, p, c.nh, "gelu", p_drop, rd)
            dx, g = block_backward(R := c.a(*out.shape), cache)
            masks = [cache.attn.attn.drop.scale, cache.attn.drop.scale, cache.mlp.drop.scale]
        xt, P = _t(x), {k: _t(v) for k, v in p.items()}
        grads, ins = {"x": dx, **g}, {"x": xt, **P}
        if name == "multihead_attention":
            t_out = _t_mha(xt, P, c.nh, att_drop=masks[0], out_drop=masks[1])
        elif name == "mlp":
            t_out = _t_mlp(xt, P, drop=masks[0])
        else:
            def ln(h, n):
                return F.layer_norm(h, (c.C,), P[n + ".weight"], P.get(n + ".bias"), 1e-5)
            h = xt + _t_mha(ln(xt, "ln_1"), P, c.nh, "attn.", masks[0], masks[1])
            t_out = h + _t_mlp(ln(h, "ln_2"), P, "gelu", "mlp.", masks[2])
    assert all(m is not None and (m == 0).any() for m in masks)      # something was dropped
    _compare(out, grads, t_out, ins, R)


@pytest.mark.parametrize("name, bias, activation", [
    ("multihead_attention", True, "gelu"), ("multihead_attention", False, "gelu"),
    ("mlp", True, "gelu"), ("mlp", False, "relu"),
    ("block", True, "gelu"), ("block", False, "relu")])
def test_composite_layers(name, bias, activation):
    c = Case(T=6)
    x = c.a(c.B, c.T, c.C)
    if name == "multihead_attention":
        p = _params(c, mlp=False, bias=bias)
        out, cache = mha_forward(x, p, c.nh)
        dx, grads = mha_backward(R := c.a(*out.shape), cache)
    elif name == "mlp":
        p = _params(c, attn=False, bias=bias)
        out, cache = mlp_forward(x, p, activation)
        dx, grads = mlp_backward(R := c.a(*out.shape), cache)
    else:
        p = _params(c, ln=True, bias=bias, pa="attn.", pm="mlp.")
        out, cache = block_forward(x, p, c.nh, activation)
        dx, grads = block_backward(R := c.a(*out.shape), cache)
    xt, P = _t(x), {k: _t(v) for k, v in p.items()}
    if name == "multihead_attention":
        t_out = _t_mha(xt, P, c.nh)
    elif name == "mlp":
        t_out = _t_mlp(xt, P, activation)
    else:
        def ln(h, n):
            return F.layer_norm(h, (c.C,), P[n + ".weight"], P.get(n + ".bias"), 1e-5)
        h = xt + _t_mha(ln(xt, "ln_1"), P, c.nh, "attn.")
        t_out = h + _t_mlp(ln(h, "ln_2"), P, activation, "mlp.")
    _compare(out, {"x": dx, **grads}, t_out, {"x": xt, **P}, R)


@pytest.mark.parametrize("ignore_index, dloss", [(-100, 1.0), (None, 0.37), (5, 2.0)])
def test_cross_entropy(ignore_index, dloss):
    c = Case()
    logits = c.a(c.B, c.T, c.V, scale=2.0)
    tgt = c.rng.integers(0, c.V, (c.B, c.T))
    if ignore_index is not None:
        tgt[0, :3] = ignore_index
    loss, cache = cross_entropy_forward(logits, tgt, ignore_index)
    dlogits = cross_entropy_backward(dloss, cache)
    lt = _t(logits)
    t_loss = F.cross_entropy(lt.reshape(-1, c.V), torch.as_tensor(tgt).reshape(-1),
                             ignore_index=-100 if ignore_index is None else ignore_index)
    assert abs(float(loss) - float(t_loss.detach())) <= TOL * abs(float(t_loss.detach()))
    (t_loss * dloss).backward()
    assert rel_error(dlogits, lt.grad.numpy()) <= TOL


def test_bigram_model_matches_torch():
    from nanograd_llm import BigramLM
    model = BigramLM(9, seed=3, dtype="float64")
    model.flat[...] += np.random.default_rng(0).standard_normal(model.flat.size)
    rng = np.random.default_rng(1)
    idx, tgt = rng.integers(0, 9, (3, 10)), rng.integers(0, 9, (3, 10))
    logits, loss = model.forward(idx, tgt)
    grads = model.backward()
    (name, table), = model.params.items()
    tt = _t(table)
    t_logits = F.embedding(torch.as_tensor(idx), tt)
    t_loss = F.cross_entropy(t_logits.reshape(-1, 9), torch.as_tensor(tgt).reshape(-1))
    t_loss.backward()
    assert rel_error(logits, t_logits.detach().numpy()) <= TOL
    assert abs(float(loss) - float(t_loss.detach())) <= TOL
    assert rel_error(grads[name], tt.grad.numpy()) <= TOL


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(B=st.integers(1, 3), T=st.integers(1, 12), n_head=st.integers(1, 3),
       hs=st.integers(1, 5), n_layer=st.integers(1, 2), tie=st.booleans(), bias=st.booleans(),
       positional=st.sampled_from(["learned", "sinusoidal"]),
       activation=st.sampled_from(["gelu", "relu"]), ignore=st.booleans(),
       dropout=st.sampled_from([0.0, 0.0, 0.3]), seed=st.integers(0, 1000))
def test_gpt_matches_torch_over_random_shapes(B, T, n_head, hs, n_layer, tie, bias, positional,
                                              activation, ignore, dropout, seed):
    """The whole GPT (float64): logits, loss and every gradient, random shapes and options
    (dropout: torch applies the masks our forward drew)."""
    from torch_reference import dropout_masks, torch_gpt_forward
    # n_embd 1-2: layer norm's output is constant (0 or ±1), its input gradient is 0 up to
    # rounding, and the relative error of two rounding noises says nothing
    assume(n_head * hs >= 3)

    from nanograd_llm import GPT, GPTConfig
    cfg = GPTConfig(vocab_size=13, block_size=12, n_layer=n_layer, n_head=n_head,
                    n_embd=n_head * hs, tie_weights=tie, bias=bias, positional=positional,
                    activation=activation, ignore_index=-1 if ignore else None, dropout=dropout)
    model = GPT(cfg, seed=seed, dtype="float64")
    model.flat[...] += np.random.default_rng(seed).standard_normal(model.flat.size) * 0.1
    rng = np.random.default_rng(seed + 1)
    idx, tgt = rng.integers(0, 13, (B, T)), rng.integers(0, 13, (B, T))
    if ignore and B * T > 1:
        tgt[0, 0] = -1                      # one ignored target (not all: torch's mean is NaN)
    logits, loss = model.forward(idx, tgt)
    masks = dropout_masks(model) if dropout else None   # before backward(), which frees them
    grads = model.backward()
    t_logits, t_loss, P = torch_gpt_forward(model.params, cfg, idx, tgt, masks=masks)
    t_loss.backward()
    assert rel_error(logits, t_logits.detach().numpy()) <= 1e-9
    assert abs(float(loss) - float(t_loss.detach())) <= 1e-9 * abs(float(t_loss.detach()))
    for k, g in grads.items():
        assert rel_error(g, P[k].grad.numpy()) <= 1e-8, k
