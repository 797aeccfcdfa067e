"""Property-based (hypothesis) tests of the optimiser and of the training step's arithmetic.

* AdamW (the dict path, a model's flat fast path given its grads, a dict or the flat buffer,
  with and without the fused float32 kernel) against torch.optim.AdamW over random shapes,
  betas (0, near 1, the largest float below 1), tiny eps, weight decay 0, changing rates and
  float32 / float64: parameters, both moments and the step count;
* which parameters are decayed: the 2-D weight matrices (linear layers, embeddings, an untied
  head), never biases or layer-norm gains (README's Training section, optim.py), on every model;
* gradient clipping against torch.nn.utils.clip_grad_norm_ (a zero gradient, clip off, NaN/inf,
  float32 squares that overflow, as README's "NaN and inf" documents);
* gradient accumulation: k micro-batches averaged = one batch k times as large (model level,
  then whole training runs);
* the optimizer state saved in a checkpoint and loaded, then stepped = never saved, bit for bit;
* the learning-rate schedule against a float64 reference of nanoGPT's get_lr, its range and
  its continuity.

Small shapes and a few steps per example, derandomized: the file runs in seconds. The torch
comparisons are skipped where torch is not installed."""
import contextlib
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from _train_helpers import tiny_config, weights
from nanograd_llm import GPT, BigramLM, GPTConfig
from nanograd_llm import checkpoint as ckpt
from nanograd_llm.models.base import ParamModel
from nanograd_llm.optim import AdamW, clip_grad_norm, get_lr, global_grad_norm
from nanograd_llm.tokenizers import CharTokenizer

FAST = dict(deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DTYPES = ("float64", "float32")

# Tolerances of the torch comparison. In float64 both compute the same thing in another order
# (torch: m.lerp_(g, 1 - b1), sqrt(v) / sqrt(bc2); here b1*m + (1 - b1)*g, sqrt(v) * (1/sqrt(bc2))):
# a few ulps apart. In float32 each operation rounds by ~6e-8 and the errors carry from step to
# step. The tolerance is per entry, relative to a scale: the parameter's first value, torch's
# displacement at every step and the sum of the rates (an ulp of difference in a moment whose
# m-hat is ~0 moves that step by ~lr * ulp).
RTOL = {"float64": 1e-12, "float32": 2e-5}

BETA = st.one_of(st.just(0.0), st.floats(0.0, 0.999),
                 st.integers(1, 9).map(lambda k: 1 - 10.0 ** -k),      # near 1
                 st.just(math.nextafter(1.0, 0.0)))                      # the largest below 1
EPS = st.one_of(st.just(1e-8), st.floats(-30, -2).map(lambda e: 10.0 ** e))
SHAPE = st.lists(st.integers(0, 4), max_size=3).map(tuple)


@contextlib.contextmanager
def fused(on: bool):
    """The fused float32 AdamW kernel (Numba, where installed) on or off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NANOGRAD_LLM_FUSED", "1" if on else "0")
        yield


def _normal(rng, shape, scale=1.0, dtype="float64"):
    """Normal draws times scale as an array of `shape` (a 0-d one too: NumPy gives scalars)."""
    return np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)


def _param_model(shapes, dtype, seed):
    specs = [(f"p{i}", shape, _normal) for i, shape in enumerate(shapes)]
    return ParamModel(specs, seed=seed, dtype=dtype)


def _flat_of(model, arrays):
    out = np.empty_like(model.flat)
    for name, off, shape in model.layout:
        out[off:off + math.prod(shape)] = np.asarray(arrays[name]).reshape(-1)
    return out


def _views(model, flat):
    return {name: flat[off:off + math.prod(shape)].reshape(shape)
            for name, off, shape in model.layout}


# -- AdamW against torch.optim.AdamW ----------------------------------------------------------
@st.composite
def adamw_cases(draw):
    n = draw(st.integers(1, 6))
    return dict(dtype=draw(st.sampled_from(DTYPES)),
                shapes=draw(st.lists(SHAPE, min_size=1, max_size=5)),
                betas=(draw(BETA), draw(BETA)), eps=draw(EPS),
                weight_decay=draw(st.one_of(st.just(0.0), st.floats(1e-4, 0.5))),
                lrs=draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-5, 0.1)),
                                  min_size=n, max_size=n)),
                scale=10.0 ** draw(st.floats(-3, 3)), same=draw(st.booleans()),
                zeros=draw(st.sampled_from([0.0, 0.3])), seed=draw(st.integers(0, 2 ** 32 - 1)),
                form=draw(st.sampled_from(["dict", "model", "model-dict", "model-flat"])),
                fused=draw(st.booleans()))


def _gradient_steps(case, shapes):
    """One dict name -> gradient per step: fresh normal draws (or the same ones every step),
    some entries exactly 0."""
    rng = np.random.default_rng(case["seed"])
    steps, g = [], None
    for _ in case["lrs"]:
        if g is None or not case["same"]:
            g = {}
            for k, s in shapes.items():
                a = _normal(rng, s, case["scale"], case["dtype"])
                a[rng.random(s) < case["zeros"]] = 0.0
                g[k] = a
        steps.append(g)
    return steps


@settings(max_examples=70, **FAST)
@given(adamw_cases())
@example(dict(dtype="float32", shapes=[(3, 4), (4,), ()], betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.1, lrs=[1e-2] * 4, scale=1.0, same=False, zeros=0.3, seed=0,
              form="model", fused=True))
@example(dict(dtype="float64", shapes=[(2, 3), (3,)], betas=(1 - 1e-9, math.nextafter(1.0, 0.0)),
              eps=1e-30, weight_decay=0.0, lrs=[1e-3, 0.0, 5e-2], scale=1e-3, same=True,
              zeros=0.0, seed=1, form="dict", fused=False))
def test_adamw_equals_torchs_adamw(case):
    """Parameters, first and second moments and the step count equal torch.optim.AdamW's after
    N steps with the same gradients and rates, weight decay on the >= 2-D parameters only
    (float64: to a few ulps; float32: RTOL, the rounding of each single-precision operation)."""
    _compare_with_torch(case)


@settings(max_examples=6, **FAST)
@given(rows=st.integers(500, 700), cols=st.integers(400, 500), n=st.integers(70_000, 150_000),
       dtype=st.sampled_from(DTYPES), on=st.booleans(),
       form=st.sampled_from(["model", "model-flat"]))
def test_adamw_on_arrays_split_into_blocks_equals_torchs(rows, cols, n, dtype, on, form):
    """Above 2**18 elements a model's step runs block by block (on threads), and a block can
    straddle the end of the decayed part of the flat buffer: the same agreement with torch."""
    assert rows * cols + n >= 1 << 18
    _compare_with_torch(dict(dtype=dtype, shapes=[(rows, cols), (n,)], betas=(0.9, 0.95),
                             eps=1e-8, weight_decay=0.1, lrs=[1e-2, 5e-3], scale=1.0,
                             same=False, zeros=0.1, seed=rows * n, form=form, fused=on))


def _compare_with_torch(case):
    torch = pytest.importorskip("torch")
    dtype = case["dtype"]
    model = _param_model(case["shapes"], dtype, case["seed"] % 1000)
    names = [name for name, _, _ in model.layout]
    shapes = {name: shape for name, _, shape in model.layout}
    p0 = {k: np.array(v) for k, v in model.params.items()}
    kw = dict(lr=0.5, betas=case["betas"], eps=case["eps"], weight_decay=case["weight_decay"])
    if case["form"] == "dict":
        params = {k: v.copy() for k, v in p0.items()}
        opt = AdamW(params, **kw)
    else:
        params = model.params
        opt = AdamW(model, **kw)
    tp = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in p0.items()}
    groups = [{"params": [tp[k] for k in names if len(shapes[k]) >= 2],
               "weight_decay": case["weight_decay"]},
              {"params": [tp[k] for k in names if len(shapes[k]) < 2], "weight_decay": 0.0}]
    topt = torch.optim.AdamW([g for g in groups if g["params"]], lr=0.5, betas=case["betas"],
                             eps=case["eps"])
    scale_p = {k: np.asarray(np.abs(v), dtype=np.float64) for k, v in p0.items()}
    scale_m = {k: np.zeros(s) for k, s in shapes.items()}
    scale_v = {k: np.zeros(s) for k, s in shapes.items()}
    steps = _gradient_steps(case, shapes)
    with fused(case["fused"]):
        for lr, grads in zip(case["lrs"], steps):
            before = {k: tp[k].detach().numpy().astype(np.float64) for k in names}
            for k in names:
                tp[k].grad = torch.tensor(grads[k].copy())
            for group in topt.param_groups:
                group["lr"] = lr
            topt.step()
            if case["form"] == "model":
                for k in names:
                    model.grads[k][...] = grads[k]
                opt.step(model.grads, lr=lr)
            elif case["form"] == "model-flat":
                opt.step(_flat_of(model, grads), lr=lr)
            else:
                opt.step(grads, lr=lr)
            for k in names:
                scale_p[k] += np.abs(tp[k].detach().numpy() - before[k]) + lr
                scale_m[k] += np.abs(grads[k].astype(np.float64))
                scale_v[k] += grads[k].astype(np.float64) ** 2
    if case["form"] == "dict":
        m, v = opt.m, opt.v
    else:
        m, v = _views(model, opt.m), _views(model, opt.v)
    rtol = RTOL[dtype]
    for k in names:
        state = topt.state[tp[k]]
        assert float(state["step"]) == opt.t == len(case["lrs"])
        for ours, ref, scale, what in ((params[k], tp[k].detach().numpy(), scale_p[k], "param"),
                                       (m[k], state["exp_avg"].numpy(), scale_m[k], "m"),
                                       (v[k], state["exp_avg_sq"].numpy(), scale_v[k], "v")):
            assert ours.dtype == ref.dtype == np.dtype(dtype), (what, k)
            err = np.asarray(np.abs(ours.astype(np.float64) - ref.astype(np.float64)))
            bad = np.asarray(~(err <= rtol * scale + 1e-300))
            scale = np.broadcast_to(scale, err.shape)
            assert not bad.any(), (what, k, err[bad][:5], scale[bad][:5])


@settings(max_examples=60, **FAST)
@given(dtype=st.sampled_from(DTYPES), shape=SHAPE, betas=st.tuples(BETA, BETA),
       lr=st.floats(1e-5, 0.1), scale=st.floats(-3, 3), steps=st.integers(1, 8),
       seed=st.integers(0, 2 ** 16), on=st.booleans())
def test_a_constant_gradient_moves_each_weight_by_lr_per_step(dtype, shape, betas, lr, scale,
                                                              steps, seed, on):
    """The module's own account of Adam (optim.py): with the same gradient at every step,
    m̂ = g and v̂ = g², so without weight decay each step is lr·g/(|g| + eps), about lr in the
    direction against g, whatever the gradient's size (no torch needed)."""
    rng = np.random.default_rng(seed)
    g = _normal(rng, shape, 10.0 ** scale, dtype)
    g[np.abs(g) < 1e-6 * 10.0 ** scale] = 10.0 ** scale          # no near-0 entry: eps is noise
    p0 = _normal(rng, shape, dtype=dtype)
    model = ParamModel([("w", shape, lambda r, s: p0)], seed=0, dtype=dtype)
    opt = AdamW(model, lr=lr, betas=betas, eps=1e-12, weight_decay=0.0)
    with fused(on):
        for _ in range(steps):
            model.grads["w"][...] = g
            opt.step()
    g64 = g.astype(np.float64)
    want = p0.astype(np.float64) - steps * lr * g64 / (np.abs(g64) + 1e-12)
    # 1 − βᵗ rounds by an ulp of 1: relatively 2·10⁻¹⁶/(1 − β) for a β near 1 (torch alike)
    rel = (1e-9 if dtype == "float64" else 1e-5) + sum(1e-15 / (1.0 - b) for b in betas)
    tol = steps * lr * rel + np.abs(p0) * (1e-15 if dtype == "float64" else 1e-6)
    np.testing.assert_array_less(np.abs(model.params["w"] - want), tol + 1e-300)


@settings(max_examples=80, **FAST)
@given(dtype=st.sampled_from(DTYPES + ("float16",)), exponent=st.floats(-330, -1),
       form=st.sampled_from(["model", "dict"]), on=st.booleans())
@example(dtype="float32", exponent=-50, form="model", on=True)
@example(dtype="float32", exponent=-45.2, form="model", on=False)
def test_any_eps_adamw_accepts_keeps_a_zero_gradient_step_finite(dtype, exponent, form, on):
    """eps > 0 is not enough: the step adds eps in the parameters' type, where a tiny one is 0
    and a parameter whose gradient is 0 gets 0/0 = NaN. AdamW refuses exactly the eps its
    parameters' type holds as 0 (naming the type); any other keeps such a step finite."""
    eps = 10.0 ** exponent
    if eps == 0.0:
        return
    if form == "model" and dtype == "float16":
        dtype = "float32"                          # models are float32 or float64
    shape = (3, 2)
    params = ParamModel([("w", shape, _normal), ("b", (2,), _normal)], seed=0, dtype=dtype) \
        if form == "model" else {"w": np.ones(shape, dtype), "b": np.ones(2, dtype)}
    held_as_zero = np.asarray(eps).astype(dtype) == 0
    if held_as_zero:
        with pytest.raises(ValueError, match=f"is 0 in {dtype} .*0/0 = NaN"):
            AdamW(params, eps=eps)
        return
    opt = AdamW(params, eps=eps)
    grads = {"w": np.zeros(shape, dtype), "b": np.array([0.0, 1.0], dtype)}
    with fused(on):
        for _ in range(2):
            opt.step(grads)
    values = params.flat if form == "model" else np.concatenate([params["w"].ravel(),
                                                                  params["b"]])
    assert np.isfinite(values).all()


# -- which parameters are decayed ---------------------------------------------------------------
GPT_CONFIGS = st.builds(
    dict, vocab_size=st.integers(2, 9), block_size=st.integers(1, 6), n_layer=st.integers(1, 2),
    n_head=st.integers(1, 2), head=st.integers(1, 3), bias=st.booleans(),
    tie_weights=st.booleans(), activation=st.sampled_from(["gelu", "relu"]),
    positional=st.sampled_from(["learned", "sinusoidal"]))


def _gpt(c, dtype, seed=0):
    c = dict(c)
    c["n_embd"] = c["n_head"] * c.pop("head") * 2         # sinusoidal wants an even n_embd
    return GPT(GPTConfig(**c), seed=seed, dtype=dtype)


def _is_weight_matrix(name: str) -> bool:
    """README / optim.py: linear layers' and embeddings' weights are decayed; biases and the
    layer norms' gains and biases are not."""
    return name.endswith(".weight") and not name.split(".")[-2].startswith("ln")


@settings(max_examples=40, **FAST)
@given(cfg=GPT_CONFIGS, bigram=st.booleans(), dtype=st.sampled_from(DTYPES),
       lr=st.floats(1e-4, 1.0), wd=st.floats(1e-3, 0.9), on=st.booleans())
def test_weight_decay_falls_on_the_weight_matrices_only(cfg, bigram, dtype, lr, wd, on):
    """A step with every gradient 0 moves only what weight decay moves: each weight matrix
    (embeddings and an untied head included, as nanoGPT) is multiplied by exactly 1 − lr·wd,
    and every bias and layer-norm parameter stays bit for bit."""
    model = BigramLM(cfg["vocab_size"], seed=1, dtype=dtype) if bigram else _gpt(cfg, dtype)
    before = {k: np.array(v) for k, v in model.params.items()}
    decayed = {name for name, off, _ in model.layout if off < model.n_decay}
    assert decayed == {k for k in before if _is_weight_matrix(k)} \
        == {k for k, v in before.items() if v.ndim >= 2}
    if not bigram:
        assert "wte.weight" in decayed
    opt = AdamW(model, lr=lr, weight_decay=wd)
    model.grad_flat[...] = 0.0
    with fused(on):
        opt.step()
    factor = np.asarray(1.0 - lr * wd, dtype=dtype)
    for k, v in model.params.items():
        want = before[k] * factor if k in decayed else before[k]
        np.testing.assert_array_equal(v, want, err_msg=k)


# -- gradient clipping against torch's clip_grad_norm_ -------------------------------------------
@st.composite
def clip_cases(draw):
    return dict(dtype=draw(st.sampled_from(DTYPES)),
                shapes=draw(st.lists(SHAPE, min_size=0, max_size=4)),
                scale=10.0 ** draw(st.floats(-6, 6)), seed=draw(st.integers(0, 2 ** 16)),
                max_norm=draw(st.one_of(st.just(0.0), st.floats(-3, 3).map(lambda e: 10.0 ** e))),
                zero=draw(st.booleans()), bad=draw(st.sampled_from([None, None, np.nan, np.inf,
                                                                    -np.inf])),
                form=draw(st.sampled_from(["dict", "list", "flat"])),
                given_norm=draw(st.booleans()))


@settings(max_examples=100, **FAST)
@given(clip_cases())
@example(dict(dtype="float32", shapes=[(2, 3), ()], scale=1.0, seed=0, max_norm=1.0, zero=True,
              bad=None, form="dict", given_norm=False))
@example(dict(dtype="float64", shapes=[(2, 3), (4,)], scale=1.0, seed=0, max_norm=1.0,
              zero=False, bad=np.inf, form="list", given_norm=False))
@example(dict(dtype="float32", shapes=[(3,)], scale=1.0, seed=0, max_norm=0.5, zero=False,
              bad=np.nan, form="flat", given_norm=True))
def test_clipping_equals_torchs_clip_grad_norm(case):
    """The norm returned and the gradients after clipping equal clip_grad_norm_'s (a dict, a
    list of arrays or the flat buffer; with the norm computed by the caller, as train.py does,
    or not); a zero gradient stays 0; max_norm 0 is off (the norm, nothing scaled); a NaN or inf
    gradient gives torch's non-finite norm and its NaN/0 gradients (train.py stops on it)."""
    torch = pytest.importorskip("torch")
    dtype = case["dtype"]
    rng = np.random.default_rng(case["seed"])
    grads = [_normal(rng, s, case["scale"], dtype) for s in case["shapes"]]
    if case["zero"]:
        grads = [np.zeros_like(g) for g in grads]
    if case["bad"] is not None:
        sized = [g for g in grads if g.size]
        if not sized:
            return
        sized[case["seed"] % len(sized)].reshape(-1)[0] = case["bad"]
    leaves = [torch.zeros(g.shape, dtype=getattr(torch, dtype), requires_grad=True) for g in grads]
    for t, g in zip(leaves, grads):
        t.grad = torch.tensor(g.copy())
    if case["max_norm"] > 0:
        ref = float(torch.nn.utils.clip_grad_norm_(leaves, case["max_norm"]))
    else:
        ref = float(torch.nn.utils.get_total_norm([t.grad for t in leaves]))
    if case["form"] == "dict":
        ours = {f"g{i}": g for i, g in enumerate(grads)}
        arrays = list(ours.values())
    elif case["form"] == "list":
        ours = arrays = grads
    else:
        ours = np.concatenate([g.reshape(-1) for g in grads] + [np.zeros(0, dtype)])
        arrays = []
        offset = 0
        for g in grads:
            arrays.append(ours[offset:offset + g.size].reshape(g.shape))
            offset += g.size
    before = [g.copy() for g in grads]
    with np.errstate(invalid="ignore", over="ignore"):
        norm = global_grad_norm(ours) if case["given_norm"] else None
        got = clip_grad_norm(ours, case["max_norm"], norm=norm)
    if grads:
        assert np.asarray(got).dtype == np.dtype(dtype)
    rtol = 1e-13 if dtype == "float64" else 1e-6
    if math.isfinite(ref):
        assert float(got) == pytest.approx(ref, rel=rtol, abs=0.0)
    else:
        assert math.isnan(float(got)) == math.isnan(ref) and not math.isfinite(float(got))
    for a, t in zip(arrays, leaves):
        want = t.grad.numpy()
        if case["bad"] is None:
            np.testing.assert_allclose(a, want, rtol=rtol, atol=0.0)
        else:
            np.testing.assert_array_equal(a, want)          # NaN where torch has NaN, 0 elsewhere
    if case["zero"] and case["bad"] is None:
        assert all(not a.any() for a in arrays)
    if case["max_norm"] <= 0 and case["bad"] is None:
        for a, g in zip(arrays, before):
            np.testing.assert_array_equal(a, g)


@settings(max_examples=60, **FAST)
@given(shapes=st.lists(SHAPE, min_size=1, max_size=4), exponent=st.floats(15, 36),
       seed=st.integers(0, 2 ** 16), max_norm=st.floats(0.1, 10.0))
def test_clipping_float32_gradients_whose_squares_overflow_uses_the_true_norm(shapes, exponent,
                                                                           seed, max_norm):
    """README: finite float32 gradients whose sum of squares overflows (entries above ~1.8e19;
    torch's norm is inf there) are clipped with the true norm, the float64 one."""
    rng = np.random.default_rng(seed)
    grads = [_normal(rng, s, 10.0 ** exponent, np.float32) for s in shapes]
    g64 = [g.astype(np.float64) for g in grads]
    true = math.sqrt(sum(float(np.sum(g * g)) for g in g64))
    if not 0 < true < float(np.finfo(np.float32).max):
        return
    norm = float(clip_grad_norm(grads, max_norm))
    assert norm == pytest.approx(true, rel=1e-5)
    coef = min(max_norm / (true + 1e-6), 1.0)
    for g, ref in zip(grads, g64):
        assert g.dtype == np.float32 and np.isfinite(g).all()
        np.testing.assert_allclose(g, ref * coef, rtol=1e-5, atol=1e-37)


# -- gradient accumulation ---------------------------------------------------------------------
@settings(max_examples=25, **FAST)
@given(cfg=GPT_CONFIGS, dtype=st.sampled_from(DTYPES), k=st.integers(1, 4),
       rows=st.integers(1, 3), seed=st.integers(0, 2 ** 16), clip=st.sampled_from([0.0, 0.05, 1.0]))
def test_k_micro_batches_averaged_equal_one_batch_k_times_as_large(cfg, dtype, k, rows, seed,
                                                                 clip):
    """train.py's step: k micro-batches of B rows, backward(accumulate=True), the sum times 1/k,
    clipped, an AdamW step = the same on one batch of k·B rows (each micro-batch's loss is its
    mean and the parts are equal: README, optim.py), to rounding; the loss too."""
    big, acc = _gpt(cfg, dtype, seed=seed % 7), _gpt(cfg, dtype, seed=seed % 7)
    rng = np.random.default_rng(seed)
    T = big.config.block_size
    w = rng.integers(0, big.config.vocab_size, size=(k * rows, T + 1))
    loss_big = float(big.forward(w[:, :-1], w[:, 1:])[1])
    big.backward()
    loss_sum = 0.0
    for micro in range(k):
        part = w[micro * rows:(micro + 1) * rows]
        loss_sum += float(acc.forward(part[:, :-1], part[:, 1:])[1])
        acc.backward(accumulate=micro > 0)
    if k > 1:
        acc.grad_flat *= 1.0 / k
    rtol, atol = (1e-10, 1e-13) if dtype == "float64" else (2e-4, 1e-6)
    scale = float(np.abs(big.grad_flat).max())
    np.testing.assert_allclose(acc.grad_flat, big.grad_flat, rtol=rtol, atol=atol * max(scale, 1))
    assert loss_sum / k == pytest.approx(loss_big, rel=rtol)
    if dtype == "float32":
        return              # Adam's m/√v turns float32 rounding noise of a ~0 gradient into ±lr
    for model in (big, acc):
        if clip:
            clip_grad_norm(model.grad_flat, clip, norm=global_grad_norm(model.grad_flat))
        AdamW(model, lr=1e-2, weight_decay=0.1).step(model.grads)
    np.testing.assert_allclose(acc.flat, big.flat, rtol=1e-9, atol=1e-11)


@settings(max_examples=4, **FAST)
@given(k=st.integers(2, 3), rows=st.integers(1, 3), clip=st.sampled_from([0.0, 0.5]),
       warmup=st.integers(0, 3), decay=st.integers(0, 4), min_frac=st.sampled_from([0.0, 0.1, 1.0]),
       max_iters=st.integers(1, 4))
def test_training_with_grad_accum_equals_training_on_batches_k_times_as_large(
        tmp_path_factory, k, rows, clip, warmup, decay, min_frac, max_iters):
    """Whole runs: batch_size=B grad_accum=k trains the same weights as batch_size=k·B
    grad_accum=1 on the same windows (float64, no dropout), each step's rate is the schedule's
    (lr_decay_iters=0: the cosine ends at max_iters) and, with clipping on, AdamW is handed a
    gradient of global norm <= grad_clip."""
    from nanograd_llm.data import BatchSampler
    from nanograd_llm.train import train
    tmp = tmp_path_factory.mktemp("accum")
    common = dict(max_iters=max_iters, eval_interval=100, eval_iters=1, dropout=0.0,
                  dtype="float64", grad_clip=clip, warmup_iters=warmup, lr_decay_iters=decay,
                  lr=1e-2, min_lr=1e-2 * min_frac, block_size=8)
    drawn = []
    real_batch, real_step = BatchSampler.train_batch, AdamW.step

    def draw(self, batch_size=None):                # the large batches, as the sampler draws
        drawn.append(real_batch(self, batch_size))
        return drawn[-1]

    def replay(self, batch_size=None):               # the same rows, B at a time
        rows_left = np.concatenate(drawn)
        out = rows_left[:self.batch_size]
        drawn[:] = [rows_left[self.batch_size:]]
        return out
    runs = []
    for name, b, acc, batches in (("big", k * rows, 1, draw), ("acc", rows, k, replay)):
        cfg = tiny_config(tmp, name, batch_size=b, grad_accum=acc, **common)
        assert cfg.decay_iters == (decay or max_iters)
        seen = []

        def record(self, grads=None, lr=None):
            g = self.model.grad_flat
            seen.append((lr, math.sqrt(float(np.dot(g, g)))))
            real_step(self, grads, lr)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(AdamW, "step", record)
            mp.setattr(BatchSampler, "train_batch", batches)
            out = train(cfg, quiet=True, progress=False)
        rates = [r for r, _ in seen]
        assert rates == pytest.approx([_reference_lr(s, cfg.lr, cfg.min_lr, warmup,
                                                     cfg.decay_iters)
                                       for s in range(max_iters)], rel=1e-12, abs=0)
        if clip:
            assert all(n <= clip * (1 + 1e-9) for _, n in seen)
        runs.append((weights(out["model"]), seen))
    assert drawn[0].size == 0                        # every row drawn was replayed
    (w_big, s_big), (w_acc, s_acc) = runs
    np.testing.assert_allclose([n for _, n in s_acc], [n for _, n in s_big], rtol=1e-9)
    np.testing.assert_allclose(w_acc, w_big, rtol=1e-9, atol=1e-12)


# -- the optimizer state through a checkpoint ----------------------------------------------------
@settings(max_examples=25, **FAST)
@given(cfg=GPT_CONFIGS, bigram=st.booleans(), dtype=st.sampled_from(DTYPES),
       before=st.integers(1, 4), after=st.integers(1, 4), betas=st.tuples(BETA, BETA), eps=EPS,
       wd=st.sampled_from([0.0, 0.1]), seed=st.integers(0, 2 ** 16), on=st.booleans())
def test_the_optimizer_state_saved_and_loaded_steps_bit_for_bit_as_never_saved(
        cfg, bigram, dtype, before, after, betas, eps, wd, seed, on):
    """save_checkpoint, load_checkpoint, a new AdamW on the loaded model given the state as a
    resume does (adopt=True, then the run's settings), and the same gradients: the weights, the
    moments and the step count equal those of the optimizer that was never saved, bit for bit."""
    model = BigramLM(cfg["vocab_size"], seed=3, dtype=dtype) if bigram else _gpt(cfg, dtype, 3)
    kw = dict(lr=1e-2, betas=betas, eps=eps, weight_decay=wd)
    opt = AdamW(model, **kw)
    rng = np.random.default_rng(seed)
    grads = [_normal(rng, model.flat.shape, 10.0 ** rng.uniform(-3, 1), dtype)
             for _ in range(before + after)]
    rates = rng.uniform(0, 1e-2, before + after)
    vocab = cfg["vocab_size"]
    tok = CharTokenizer.from_text("abcdefghi"[:vocab])
    assert tok.vocab_size == vocab
    with fused(on), tempfile.TemporaryDirectory() as d:
        for g, lr in zip(grads[:before], rates[:before]):
            model.grad_flat[...] = g
            opt.step(lr=lr)
        ckpt.save_checkpoint(Path(d), model, opt, tok, before)
        state = ckpt.load_checkpoint(Path(d))
        twin = state["model"]
        twin_opt = AdamW(twin, lr=5.0, betas=(0.5, 0.5), eps=1.0, weight_decay=0.0)
        twin_opt.load_state_dict(state["optimizer_state"], adopt=True)
        twin_opt.lr, twin_opt.betas, twin_opt.eps, twin_opt.weight_decay = \
            kw["lr"], kw["betas"], kw["eps"], kw["weight_decay"]
        np.testing.assert_array_equal(twin.flat, model.flat)
        for g, lr in zip(grads[before:], rates[before:]):
            model.grad_flat[...] = g
            twin.grad_flat[...] = g
            opt.step(lr=lr)
            twin_opt.step(lr=lr)
    assert twin_opt.t == opt.t == before + after
    assert twin.flat.dtype == model.flat.dtype == np.dtype(dtype)
    for ours, ref in ((twin.flat, model.flat), (twin_opt.m, opt.m), (twin_opt.v, opt.v)):
        np.testing.assert_array_equal(ours, ref)


@settings(max_examples=30, **FAST)
@given(shapes=st.lists(SHAPE, min_size=1, max_size=4), dtype=st.sampled_from(DTYPES),
       before=st.integers(0, 3), after=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
def test_a_dict_optimizers_state_through_npz_steps_bit_for_bit(shapes, dtype, before, after, seed):
    """The dict path: state_dict() written with np.savez and read back into a new AdamW over a
    copy of the parameters steps exactly as the original (0-d and empty parameters included)."""
    rng = np.random.default_rng(seed)
    params = {f"p{i}": _normal(rng, s, dtype=dtype) for i, s in enumerate(shapes)}
    opt = AdamW(params, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    steps = [{k: _normal(rng, p.shape, dtype=dtype) for k, p in params.items()}
             for _ in range(before + after)]
    for g in steps[:before]:
        opt.step(g)
    st_ = opt.state_dict()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "o.npz"
        np.savez(path, **{f"m.{k}": a for k, a in st_["m"].items()},
                 **{f"v.{k}": a for k, a in st_["v"].items()})
        with np.load(path) as z:
            loaded = {**st_, "m": {k: z[f"m.{k}"] for k in params},
                      "v": {k: z[f"v.{k}"] for k in params}}
    copy = {k: p.copy() for k, p in params.items()}
    other = AdamW(copy)
    other.load_state_dict(loaded)
    for g in steps[before:]:
        opt.step(g)
        other.step(g)
    assert other.t == opt.t
    for k in params:
        for a, b in ((copy[k], params[k]), (other.m[k], opt.m[k]), (other.v[k], opt.v[k])):
            np.testing.assert_array_equal(a, b, err_msg=k)


# -- the learning-rate schedule ------------------------------------------------------------------
def _reference_lr(it, lr, min_lr, warmup, decay):
    """nanoGPT's get_lr in float64, as README documents it: linear warm-up over `warmup` steps
    ((it + 1) / (warmup + 1) of lr), a cosine from lr down to min_lr at step `decay`, min_lr from
    there on (also right after the warm-up when decay <= warmup, where nanoGPT divides by 0)."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it >= decay or decay <= warmup:
        return min_lr
    ratio = (it - warmup) / (decay - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


LR = st.floats(-8, 1).map(lambda e: 10.0 ** e)


@st.composite
def schedules(draw):
    lr = draw(LR)
    min_lr = draw(st.one_of(st.just(0.0), st.just(lr), st.floats(0.0, 1.0).map(lambda f: f * lr),
                            st.floats(1.0, 10.0).map(lambda f: f * lr)))   # min_lr > lr: allowed
    return lr, min_lr, draw(st.integers(0, 60)), draw(st.integers(1, 200))


def _ulp(x):
    return math.ulp(x) if x else 0.0


@settings(max_examples=200, **FAST)
@given(sched=schedules(), step=st.integers(0, 400))
@example(sched=(1.0, 0.1, 0, 1), step=0)            # warmup_iters=0: lr at step 0
@example(sched=(1.0, 0.1, 10, 5), step=10)          # lr_decay_iters < warmup_iters
@example(sched=(1.0, 1.0, 3, 50), step=20)          # min_lr == lr: flat after the warm-up
def test_get_lr_equals_nanogpts_schedule(sched, step):
    lr, min_lr, warmup, decay = sched
    want = _reference_lr(step, lr, min_lr, warmup, decay)
    got = get_lr(step, lr, min_lr, warmup, decay)
    assert got == pytest.approx(want, rel=1e-14, abs=0.0)
    if step >= warmup and (step >= decay or decay <= warmup):
        assert got == min_lr                           # the steps after decay ends: exactly
    if min_lr == lr and step >= warmup:
        assert got == lr


@settings(max_examples=300, **FAST)
@given(sched=schedules(), after=st.integers(0, 3))
@example(sched=(0.9789068130965245, 0.09789068130965245, 42, 93), after=0)
@example(sched=(0.8568730363362137, 0.08568730363362137, 23, 118), after=0)
def test_get_lr_never_leaves_lr_and_min_lr(sched, after):
    """After the warm-up, min_lr + coeff·(lr − min_lr) rounded to one ulp above lr at the
    warm-up's end (coeff = 1) and near it (e.g. lr=0.9789068130965245, min_lr=lr/10, warm-up
    42: 0.9789068130965246 at step 42) → the rate is never above lr nor below min_lr."""
    lr, min_lr, warmup, decay = sched
    for step in {warmup - 1 - after, warmup + after, max(warmup, decay) - 1 - after}:
        if step < 0:
            continue
        got = get_lr(step, lr, min_lr, warmup, decay)
        if step < warmup:
            assert 0.0 < got <= lr, step                       # the warm-up
        else:
            assert min(lr, min_lr) <= got <= max(lr, min_lr), step


@settings(max_examples=150, **FAST)
@given(sched=schedules())
@example(sched=(7.853493832731432, 3.0330786581521916, 33, 109))
def test_get_lr_stays_in_range_and_moves_by_small_steps(sched):
    """Over every step: the warm-up rises from lr/(warmup+1) to lr, in equal steps of
    lr/(warmup+1), and lands on the cosine's start (the rate at step warmup_iters is lr, one
    such step above the last warm-up rate); after it, the rate stays between min_lr and lr
    (exactly: the rounding of min_lr + (lr − min_lr) is clamped), never rises when min_lr <= lr, moves at
    most (π/2)·|lr − min_lr|/(lr_decay_iters − warmup_iters) a step, reaches min_lr exactly at
    lr_decay_iters and stays there; its last step above min_lr mirrors its first below lr."""
    lr, min_lr, warmup, decay = sched
    rates = [get_lr(s, lr, min_lr, warmup, decay) for s in range(max(warmup, decay) + 3)]
    ramp = lr / (warmup + 1)
    for s in range(warmup):
        assert 0.0 < rates[s] <= lr
        assert rates[s] == pytest.approx((s + 1) * ramp, rel=1e-14)
        if s:
            assert rates[s] - rates[s - 1] == pytest.approx(ramp, rel=1e-9, abs=_ulp(lr) * 4)
    lo, hi = min(lr, min_lr), max(lr, min_lr)
    slack = 4 * _ulp(hi)       # min_lr + (lr − min_lr) rounds: an ulp or so, a few if min_lr > lr
    for s in range(warmup, len(rates)):
        assert lo <= rates[s] <= hi, s
    for s in range(max(warmup, decay), len(rates)):
        assert rates[s] == min_lr
    if decay > warmup:
        assert rates[warmup] == pytest.approx(lr, rel=1e-14)          # the joint: no jump
        if warmup:
            assert rates[warmup] - rates[warmup - 1] == pytest.approx(ramp, rel=1e-9,
                                                                     abs=_ulp(lr) * 4)
        bound = math.pi / 2 * abs(lr - min_lr) / (decay - warmup) * (1 + 1e-9) + 4 * _ulp(hi)
        for s in range(warmup, decay):
            assert abs(rates[s + 1] - rates[s]) <= bound, s
            if min_lr <= lr:
                assert rates[s + 1] <= rates[s] + slack
        if decay - warmup >= 2:
            first = lr - rates[warmup + 1]
            last = rates[decay - 1] - min_lr
            assert last == pytest.approx(first, rel=1e-9, abs=8 * _ulp(hi))
