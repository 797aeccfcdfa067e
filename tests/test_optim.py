"""AdamW, LR schedule, gradient clipping and accumulation."""

import numpy as np
import pytest

from nanograd_llm import GPT, GPTConfig, BigramLM
from nanograd_llm.optim import (AdamW, clip_grad_norm, get_lr, global_grad_norm,
                                rescaled_grad_norm)



def _tiny_gpt(dtype="float64", seed=0):
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    return GPT(cfg, seed=seed, dtype=dtype)


@pytest.mark.parametrize("fast", [True, False])
def test_adamw_matches_torch(fast):
    torch = pytest.importorskip("torch")
    model = _tiny_gpt()
    rng = np.random.default_rng(0)
    names = list(model.params)
    tparams = {k: torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True)
               for k, v in model.params.items()}
    decay = [tparams[k] for k in names if tparams[k].ndim >= 2]
    no_decay = [tparams[k] for k in names if tparams[k].ndim < 2]
    kw = dict(lr=3e-3, betas=(0.8, 0.95), eps=1e-7)
    topt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": no_decay, "weight_decay": 0.0}], **kw)
    if fast:
        opt = AdamW(model, weight_decay=0.1, **kw)
        params = model.params
    else:
        params = {k: v.copy() for k, v in model.params.items()}
        opt = AdamW(params, weight_decay=0.1, **kw)
    for step in range(6):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        lr = 3e-3 * (1 + step) / 6
        for k, g in grads.items():
            tparams[k].grad = torch.tensor(g)
            if fast:
                model.grads[k][...] = g
        for group in topt.param_groups:
            group["lr"] = lr
        topt.step()
        opt.step(model.grads if fast else grads, lr=lr)
    for k in names:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-12, atol=1e-14)
    # 1-B parametreler (sapmalar, LN kazançları) azaltılmadı, 2-B olanlar azaltıldı
    assert any(v.ndim < 2 for v in params.values())


def test_adamw_decay_only_on_2d():
    model = _tiny_gpt()
    before = {k: v.copy() for k, v in model.params.items()}
    opt = AdamW(model, lr=0.1, weight_decay=0.5)
    model.zero_grad()
    opt.step(model.grads)          # zero gradient: only weight decay moves parameters
    for k, v in model.params.items():
        if v.ndim >= 2:
            np.testing.assert_allclose(v, before[k] * (1 - 0.1 * 0.5))
        else:
            np.testing.assert_array_equal(v, before[k])


def test_adamw_state_roundtrip():
    m1, m2 = _tiny_gpt(), _tiny_gpt()
    o1 = AdamW(m1, lr=1e-2)
    rng = np.random.default_rng(1)
    for _ in range(3):
        m1.grad_flat[...] = rng.standard_normal(m1.grad_flat.shape)
        o1.step()
    m2.flat[...] = m1.flat
    o2 = AdamW(m2, lr=1e-2)
    o2.load_state_dict(o1.state_dict())
    g = rng.standard_normal(m1.grad_flat.shape)
    m1.grad_flat[...] = g
    m2.grad_flat[...] = g
    o1.step()
    o2.step()
    np.testing.assert_array_equal(m1.flat, m2.flat)
    with pytest.raises(ValueError, match="shape"):
        AdamW(BigramLM(5)).load_state_dict(o1.state_dict())


def test_adamw_rejects_bad_args():
    with pytest.raises(ValueError):
        AdamW(_tiny_gpt(), betas=(1.0, 0.9))
    with pytest.raises(TypeError):
        AdamW([1, 2, 3])



@pytest.mark.parametrize("field, value", [
    ("lr", float("nan")), ("lr", float("inf")), ("lr", -1e-3), ("eps", float("nan")),
    ("weight_decay", float("inf")), ("weight_decay", float("nan")),
])
def test_adamw_refuses_a_non_finite_or_negative_scalar(field, value):
    """NaN slipped past `< 0`: the first step made every parameter NaN (or -inf), and the state
    it saved was then refused by load_state_dict."""
    with pytest.raises(ValueError, match=f"{field} must be a finite number >= 0"):
        AdamW({"w": np.ones((2, 2))}, **{field: value})

@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -1e-3])
@pytest.mark.parametrize("as_model", [True, False])
def test_adamw_step_refuses_the_lr_the_constructor_refuses(lr, as_model):
    """step(grads, lr=...) took any lr: NaN made every parameter NaN and a negative one
    stepped uphill, silently; the parameters and the step count stay as they were."""
    model = _tiny_gpt()
    opt = AdamW(model if as_model else model.params)
    model.forward(np.zeros((1, 4), int), np.ones((1, 4), int))
    model.backward()
    before = model.flat.copy()
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        opt.step(model.grads, lr=lr)
    np.testing.assert_array_equal(model.flat, before)
    assert opt.t == 0
    opt.step(model.grads, lr=0.0)                     # 0 (the end of a schedule) is allowed
    assert opt.t == 1


def test_adamw_refuses_eps_0_which_makes_an_unused_parameter_nan():
    """With eps = 0 a parameter whose gradient has always been 0 (an untied embedding row of a
    token no batch held) gets m / (√v + eps) = 0/0 = NaN: refused in the optimizer and in the
    training config, with the reason."""
    params = {"w": np.ones((2, 2))}
    with pytest.raises(ValueError, match=r"eps must be > 0, got 0.*0/0 = NaN"):
        AdamW(params, eps=0.0)
    from nanograd_llm.train import make_config
    with pytest.raises(ValueError, match="eps must be > 0"):
        make_config(overrides={"eps": "0"})
    opt = AdamW(params, eps=1e-12)                   # any positive eps keeps the step finite
    opt.step({"w": np.zeros((2, 2))})
    assert np.isfinite(params["w"]).all()


@pytest.mark.parametrize("fused", ["1", "0"])
def test_an_eps_that_float32_holds_as_0_is_refused_like_eps_0(monkeypatch, fused):
    """eps=1e-50 is > 0, but a float32 model's step adds it in float32, where it is 0: every
    parameter whose gradient is 0 became 0/0 = NaN at the first step, and training stopped at
    step 1 with 'loss is nan ... try a lower lr'. Refused in the optimizer (a model, a dict, a
    saved state) and in the training config, naming the dtype; float64 holds it."""
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", fused)
    msg = r"eps=1e-50 is 0 in float32 .*0/0 = NaN"
    model = _tiny_gpt("float32")
    for target in (model, {"w": np.zeros((2, 2), np.float32)}):
        with pytest.raises(ValueError, match=msg):
            AdamW(target, eps=1e-50)
    opt = AdamW(model)
    state = {**opt.state_dict(), "eps": 1e-50}
    with pytest.raises(ValueError, match=r"optimizer state: 'eps'=1e-50 is 0 in float32"):
        opt.load_state_dict(state)
    assert opt.eps == 1e-8
    opt.load_state_dict(state, eps=1e-6)             # a resume's own eps replaces the saved one
    assert opt.eps == 1e-6
    from nanograd_llm.train import make_config
    with pytest.raises(ValueError, match=msg + r".*dtype=float64"):
        make_config(overrides={"eps": "1e-50"})
    assert make_config(overrides={"eps": "1e-50", "dtype": "float64"}).eps == 1e-50
    # the smallest eps float32 holds (a subnormal) keeps a zero-gradient step finite
    opt = AdamW(model, eps=float(np.finfo(np.float32).smallest_subnormal))
    model.grad_flat[...] = 0.0
    model.grad_flat[::2] = 1.0
    opt.step()
    assert np.isfinite(model.flat).all()
    wide = _tiny_gpt("float64")
    AdamW(wide, eps=1e-50).step()
    assert np.isfinite(wide.flat).all()


def test_lr_schedule():
    kw = dict(lr=1.0, min_lr=0.1, warmup_iters=10, lr_decay_iters=110)
    assert get_lr(0, **kw) == pytest.approx(1 / 11)
    assert get_lr(9, **kw) == pytest.approx(10 / 11)
    assert get_lr(10, **kw) == pytest.approx(1.0)                  # warmup ends at the peak
    assert get_lr(60, **kw) == pytest.approx(0.55)                 # half-way down the cosine
    assert get_lr(110, **kw) == pytest.approx(0.1)
    assert get_lr(10_000, **kw) == pytest.approx(0.1)
    vals = [get_lr(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))             # monotone decay


@pytest.mark.parametrize("warmup, decay", [(50, 30), (10, 10)])
def test_the_lr_schedule_when_the_cosine_would_end_inside_the_warmup(warmup, decay):
    """get_lr's docstring said "lr at step warmup_iters, then the cosine; min_lr from
    lr_decay_iters on": with lr_decay_iters <= warmup_iters (TrainConfig(max_iters=30) with the
    default warmup_iters=50) the warmup instead runs past lr_decay_iters, lr is never reached
    and min_lr starts at warmup_iters. The docstring now says so, and this is what it says."""
    import inspect
    from nanograd_llm.config import TrainConfig
    cfg = TrainConfig(max_iters=30)
    assert (cfg.warmup_iters, cfg.decay_iters) == (50, 30)
    kw = dict(lr=1.0, min_lr=0.1, warmup_iters=warmup, lr_decay_iters=decay)
    rates = [get_lr(s, **kw) for s in range(warmup + 3)]
    assert rates[:warmup] == pytest.approx([(s + 1) / (warmup + 1) for s in range(warmup)])
    assert rates[warmup:] == [0.1] * 3 and max(rates) < 1.0
    doc = " ".join(inspect.getdoc(get_lr).split())
    assert "lr_decay_iters <= warmup_iters" in doc and "never reached" in doc


@pytest.mark.parametrize("decay", [0, -1])
def test_get_lr_refuses_a_decay_end_of_zero_and_says_what_to_pass(decay):
    """TrainConfig's lr_decay_iters=0 means 'at max_iters'; get_lr(..., lr_decay_iters=0)
    dropped to min_lr right after warm-up, so a loop of one's own that passed
    cfg.lr_decay_iters trained at min_lr without a word. It is refused and names the fix."""
    with pytest.raises(ValueError, match=r"lr_decay_iters=-?[01].*cfg\.decay_iters.*max_iters"):
        get_lr(5, lr=1.0, min_lr=0.1, warmup_iters=2, lr_decay_iters=decay)


def test_get_lr_does_not_call_a_negative_decay_end_step_0():
    """lr_decay_iters=-1 was refused as one that "would end the cosine at step 0": it names no
    step at all. The message says so; 0 keeps its "at step 0"."""
    with pytest.raises(ValueError, match=r"lr_decay_iters=-1 is not a step: it would end the "
                                         r"cosine before step 0 \(the rate would drop"):
        get_lr(5, lr=1.0, min_lr=0.1, warmup_iters=2, lr_decay_iters=-1)
    with pytest.raises(ValueError, match=r"lr_decay_iters=0 would end the cosine at step 0 "):
        get_lr(5, lr=1.0, min_lr=0.1, warmup_iters=2, lr_decay_iters=0)


def test_lr_schedule_last_steps_of_the_cosine():
    kw = dict(lr=1.0, min_lr=0.1, warmup_iters=10, lr_decay_iters=110)
    # the half-cosine is symmetric: its last step lies as far above min_lr as its first step
    # lies below lr; min_lr is reached at lr_decay_iters, not one step earlier
    assert get_lr(109, **kw) > 0.1
    assert get_lr(109, **kw) - 0.1 == pytest.approx(1.0 - get_lr(11, **kw), rel=1e-9)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    tg = [torch.tensor(g.copy(), requires_grad=False) for g in grads.values()]
    ts = [torch.zeros_like(t, requires_grad=True) for t in tg]
    for t, g in zip(ts, tg):
        t.grad = g
    tnorm = torch.nn.utils.clip_grad_norm_(ts, 1.0)
    norm = clip_grad_norm(grads, 1.0)
    assert float(norm) == pytest.approx(float(tnorm))
    for g, t in zip(grads.values(), ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)
    assert float(global_grad_norm(grads)) == pytest.approx(1.0, rel=1e-5)
    # under the limit: unchanged
    flat = np.array([0.3, 0.4])
    clip_grad_norm(flat, 1.0)
    np.testing.assert_array_equal(flat, [0.3, 0.4])


@pytest.mark.parametrize("max_norm", [0.0, -1.0, None])
def test_clip_grad_norm_without_a_limit_leaves_the_gradients_alone(max_norm):
    """max_norm 0, negative or None means "no clipping": the norm is returned and nothing is
    scaled (dict and flat forms). Without the `<= 0` guard the factor max_norm / norm would zero
    every gradient (0) or flip its sign (negative), silently, while the returned norm looked
    right."""
    grads = {"a": np.array([[3.0, 0.0]]), "b": np.array([4.0])}
    norm = clip_grad_norm(grads, max_norm)
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_array_equal(grads["a"], [[3.0, 0.0]])
    np.testing.assert_array_equal(grads["b"], [4.0])
    flat = np.array([3.0, 4.0])
    assert float(clip_grad_norm(flat, max_norm)) == pytest.approx(5.0)
    np.testing.assert_array_equal(flat, [3.0, 4.0])



def _huge_float32_grads():
    """float32 gradients above ~1.8e19: each is finite, the sum of their squares is not."""
    rng = np.random.default_rng(1)
    return {"a": (rng.standard_normal((3, 4)) * 1e20).astype(np.float32),
            "b": np.full(5, 1e20, np.float32), "c": np.zeros(0, np.float32)}


def test_clip_grad_norm_of_finite_gradients_whose_squares_overflow():
    """float32 gradients of 1e20: the sum of squares overflowed, the norm came out inf (torch's
    clip_grad_norm_ returns inf too) and the clip scaled every finite gradient by 0 (training
    stopped with "the gradient norm is inf"). On that rare path the norm is now recomputed
    scaled by max|g|: the true norm, a clip to max_norm and a finite AdamW step."""
    grads = _huge_float32_grads()
    g64 = {k: g.astype(np.float64) for k, g in grads.items()}
    ref = np.sqrt(sum(float(np.sum(g * g)) for g in g64.values()))
    assert not np.isfinite(float(global_grad_norm(grads)))     # the usual path overflows
    norm = clip_grad_norm(grads, 1.0)
    assert float(norm) == pytest.approx(ref, rel=1e-6)
    for k, g in grads.items():
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, g64[k] / ref, rtol=1e-5, atol=1e-30)
    assert float(global_grad_norm(grads)) == pytest.approx(1.0, rel=1e-5)
    # the flat form, then an AdamW step on the clipped gradient
    flat = np.concatenate([g.reshape(-1) for g in _huge_float32_grads().values()])
    assert float(clip_grad_norm(flat, 1.0)) == pytest.approx(ref, rel=1e-6)
    params = {"w": np.ones_like(flat)}
    opt = AdamW(params, lr=1e-2)
    opt.step({"w": flat})
    assert np.isfinite(params["w"]).all() and not np.array_equal(params["w"], np.ones_like(flat))
    # no limit: the true norm is still returned, the gradients are left alone
    grads = _huge_float32_grads()
    assert float(clip_grad_norm(grads, 0.0)) == pytest.approx(ref, rel=1e-6)
    np.testing.assert_array_equal(grads["b"], np.full(5, 1e20, np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_gradient_keeps_a_non_finite_norm(bad):
    """The rescaling is only for finite gradients: a NaN or inf one leaves the norm NaN or inf
    (train.py stops on it), beside huge finite gradients too."""
    for grads in ({"a": np.array([1.0, bad], np.float32)},
                  {**_huge_float32_grads(), "d": np.array([bad], np.float32)}):
        norm = float(rescaled_grad_norm(grads, global_grad_norm(grads)))
        assert not np.isfinite(norm)
        assert np.isnan(norm) == np.isnan(bad)


def test_a_norm_beyond_float32_even_scaled_stays_inf():
    """max|g|·sqrt(n) > 3.4e38: the true norm itself does not fit in float32; inf is kept."""
    grads = np.full(4, 3e38, np.float32)
    assert float(rescaled_grad_norm(grads, global_grad_norm(grads))) == np.inf
    # just below: it fits
    grads = np.full(4, 1.6e38, np.float32)
    assert float(rescaled_grad_norm(grads, global_grad_norm(grads))) == \
        pytest.approx(3.2e38, rel=1e-6)

def test_grad_accumulation_equals_big_batch():
    rng = np.random.default_rng(3)
    w = rng.integers(0, 11, size=(8, 9))
    big, acc = _tiny_gpt(), _tiny_gpt()
    big.forward(w[:, :-1], w[:, 1:])
    big.backward()
    for i, part in enumerate((w[:4], w[4:])):
        acc.forward(part[:, :-1], part[:, 1:])
        acc.backward(accumulate=i > 0)
    acc.grad_flat *= 1 / 2
    np.testing.assert_allclose(acc.grad_flat, big.grad_flat, rtol=1e-10, atol=1e-13)


@pytest.mark.gpu
def test_adamw_gpu_matches_cpu(monkeypatch):
    from nanograd_llm.backend import cuda_available, to_numpy
    if not cuda_available():
        pytest.skip("needs CuPy and an NVIDIA GPU")
    for fused in ("1", "0"):
        monkeypatch.setenv("NANOGRAD_LLM_FUSED", fused)
        cpu, gpu = _tiny_gpt(), _tiny_gpt()
        gpu.to("cuda")
        oc, og = AdamW(cpu, lr=1e-2), AdamW(gpu, lr=1e-2)
        rng = np.random.default_rng(0)
        for _ in range(3):
            g = rng.standard_normal(cpu.grad_flat.shape)
            cpu.grad_flat[...] = g
            gpu.grad_flat[...] = gpu.xp.asarray(g)
            clip_grad_norm(cpu.grad_flat, 1.0)
            clip_grad_norm(gpu.grad_flat, 1.0)
            oc.step()
            og.step()
        np.testing.assert_allclose(to_numpy(gpu.flat), cpu.flat, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("field,value,match", [
    ("t", 2.5, "'t' must be a whole number"),
    ("t", -1, "'t' must be a whole number"),
    ("weight_decay", -0.1, "'weight_decay' must be a finite number >= 0"),
    ("weight_decay", "x", "'weight_decay' must be a finite number"),
    ("lr", float("nan"), "'lr' must be a finite number"),
    ("eps", float("inf"), "'eps' must be a finite number"),
    ("eps", 0.0, "'eps' must be > 0"),
    ("betas", [0.9, 1.0], r"'betas' must be two numbers in \[0, 1\)"),
    ("betas", [0.9, 0.99, 0.5], "'betas' must be two numbers"),
    ("betas", [0.9, float("nan")], "'betas' must be two numbers"),
])
def test_a_saved_state_with_a_bad_scalar_is_refused_by_name(field, value, match):
    from nanograd_llm.optim import AdamW
    params = {"w": np.ones((2, 2), np.float32)}
    opt = AdamW(params, lr=1e-3)
    state = opt.state_dict()
    state[field] = value
    with pytest.raises(ValueError, match=match):
        AdamW(params, lr=1e-3).load_state_dict(state)
    good = opt.state_dict()
    AdamW(params, lr=1e-3).load_state_dict(good)          # the untouched state loads


def test_model_adamw_takes_the_gradients_in_every_form():
    """A model's AdamW steps the same from model.grads, from None, from the flat gradient,
    from a separate dict of arrays and from a flat copy; a flat array of the wrong size is an
    error naming both shapes."""
    rng = np.random.default_rng(3)
    steps = [{k: rng.standard_normal(v.shape) for k, v in _tiny_gpt().params.items()}
             for _ in range(3)]
    finals = {}
    for form in ("grads", "none", "grad_flat", "dict", "flat_copy"):
        model = _tiny_gpt()
        opt = AdamW(model, lr=1e-2, weight_decay=0.1)
        for g in steps:
            for k, v in g.items():
                model.grads[k][...] = v
            arg = {"grads": model.grads, "none": None, "grad_flat": model.grad_flat,
                   "dict": {k: v.copy() for k, v in g.items()},
                   "flat_copy": model.grad_flat.copy()}[form]
            if form in ("dict", "flat_copy"):
                model.zero_grad()            # only the argument may carry the gradient
            opt.step(arg)
        finals[form] = model.flat.copy()
    for form, flat in finals.items():
        np.testing.assert_array_equal(flat, finals["grads"], err_msg=form)
    assert not np.array_equal(finals["grads"], _tiny_gpt().flat)
    model = _tiny_gpt()
    with pytest.raises(ValueError, match=r"flat gradient has shape \(3,\), expected"):
        AdamW(model).step(np.zeros(3))


def test_adamw_step_with_a_number_as_grads_says_to_pass_lr():
    """`opt.step(0.001)` (the course's small AdamW takes lr first) is a clear TypeError, not an
    AttributeError from deep inside."""
    from nanograd_llm import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4), seed=0)
    opt = AdamW(model, lr=1e-3)
    before = model.flat.copy()
    with pytest.raises(TypeError, match="lr=0.001"):
        opt.step(0.001)
    assert opt.t == 0 and np.array_equal(model.flat, before)


@pytest.mark.parametrize("form", ["dict_opt", "model_dict", "model_flat"])
def test_a_refused_step_changes_nothing(form):
    """A gradient of the wrong shape (or a missing one) is refused before anything moves: the
    step count t stayed one step ahead (the next step's bias correction was that of step 2),
    a broadcastable shape ((1, n) for (m, n)) or a same-size transpose (torch's (out, in)
    layout) was silently applied, and a bad gradient late in the dict left the parameters
    before it updated."""
    model = _tiny_gpt()
    params = model.params if form != "dict_opt" else {k: v.copy() for k, v in
                                                      model.params.items()}
    opt = AdamW(model if form != "dict_opt" else params, lr=1e-2, weight_decay=0.1)
    rng = np.random.default_rng(0)
    good = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    last = list(params)[-1]
    if form == "model_flat":
        bads = [np.zeros(3)]
    else:
        bads = [{**good, "h.0.attn.c_attn.weight": good["h.0.attn.c_attn.weight"][:1]},
                {**good, "wte.weight": good["wte.weight"].T.copy()},
                {**good, last: np.zeros(3)},
                {k: v for k, v in good.items() if k != last}]
    before = {k: v.copy() for k, v in params.items()}
    for bad in bads:
        with pytest.raises(ValueError, match="shape|missing"):
            opt.step(bad)
        assert opt.t == 0
        for k, v in params.items():
            np.testing.assert_array_equal(v, before[k], err_msg=k)
    # the next good step is exactly a fresh optimizer's first step
    fresh_model = _tiny_gpt()
    fresh_params = fresh_model.params if form != "dict_opt" else {k: v.copy() for k, v in
                                                                  before.items()}
    AdamW(fresh_model if form != "dict_opt" else fresh_params, lr=1e-2,
          weight_decay=0.1).step(good)
    if form == "model_flat":
        for k, g in good.items():
            model.grads[k][...] = g
        opt.step(model.grad_flat)
    else:
        opt.step(good)
    assert opt.t == 1
    for k, v in params.items():
        np.testing.assert_array_equal(v, fresh_params[k], err_msg=k)


def _nanogpt_get_lr(it, learning_rate, min_lr, warmup_iters, lr_decay_iters):
    """nanoGPT's train.py get_lr, written out on its own."""
    import math
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def test_lr_schedule_equals_nanogpts_on_every_edge():
    """warmup 0, warmup >= lr_decay_iters, lr_decay_iters < warmup, steps past the end: the same
    rate as nanoGPT's get_lr (where nanoGPT divides by zero, warmup == lr_decay_iters at that
    step, ours is min_lr, the value both give one step later). lr_decay_iters=0 is refused
    (test_get_lr_refuses_a_decay_end_of_zero_and_says_what_to_pass): TrainConfig reads it as
    max_iters, nanoGPT as 'min_lr after warm-up' (both read it as the step where the cosine
    ends, where it is 1 or more)."""
    for warmup in range(0, 8):
        for decay in range(1, 12):
            for it in range(0, 16):
                ours = get_lr(it, 1.0, 0.1, warmup, decay)
                if it == warmup == decay:
                    assert ours == 0.1
                    continue
                assert ours == pytest.approx(_nanogpt_get_lr(it, 1.0, 0.1, warmup, decay),
                                             rel=1e-15, abs=1e-15), (warmup, decay, it)


@pytest.mark.parametrize("fast", [True, False])
def test_adamw_follows_torch_over_many_steps_and_a_save_resume(fast):
    """300 steps with the rate changed at every step (warmup + cosine), gradients over eight
    orders of magnitude, weight decay on the >= 2-D weights only (embeddings and an untied head
    included, as nanoGPT): float64 agreement with torch.optim.AdamW; a copy saved and resumed
    at step 150 (state_dict / load_state_dict) ends bit-identical to the uninterrupted one."""
    torch = pytest.importorskip("torch")
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8,
                    tie_weights=False)
    model, twin = GPT(cfg, seed=0, dtype="float64"), GPT(cfg, seed=0, dtype="float64")
    names = list(model.params)
    tp = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in model.params.items()}
    decay = [k for k in names if tp[k].ndim >= 2]
    assert {"wte.weight", "wpe.weight", "lm_head.weight"} <= set(decay)
    kw = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    topt = torch.optim.AdamW([{"params": [tp[k] for k in decay], "weight_decay": 0.1},
                              {"params": [tp[k] for k in names if k not in decay],
                               "weight_decay": 0.0}], **kw)
    params = model.params if fast else {k: v.copy() for k, v in model.params.items()}
    twin_params = twin.params if fast else {k: v.copy() for k, v in twin.params.items()}
    opt = AdamW(model if fast else params, weight_decay=0.1, **kw)
    twin_opt = None
    rng = np.random.default_rng(0)
    for step in range(300):
        lr = get_lr(step, 1e-2, 1e-3, 20, 250)
        grads = {k: rng.standard_normal(v.shape) * 10 ** rng.uniform(-6, 2)
                 for k, v in params.items()}
        for k, g in grads.items():
            tp[k].grad = torch.tensor(g)
        for group in topt.param_groups:
            group["lr"] = lr
        topt.step()
        opt.step(grads, lr=lr)
        if step == 149:
            # "saved and resumed": a fresh optimizer over a copy of the weights
            for k in names:
                twin_params[k][...] = params[k]
            twin_opt = AdamW(twin if fast else twin_params, lr=5.0, betas=(0.5, 0.5), eps=1.0,
                             weight_decay=0.0)
            twin_opt.load_state_dict(opt.state_dict())
        elif twin_opt is not None:
            twin_opt.step(grads, lr=lr)
    for k in names:
        np.testing.assert_allclose(params[k], tp[k].detach().numpy(), rtol=1e-11, atol=1e-14,
                                   err_msg=k)
        np.testing.assert_array_equal(twin_params[k], params[k], err_msg=k)
    assert twin_opt.t == opt.t == 300


@pytest.mark.parametrize("param, err, match", [
    (np.array([[1, 2], [3, 4]]), TypeError, "floating-point array, got dtype int64"),
    ([1.0, 2.0], TypeError, "must be an array"),
    (np.broadcast_to(np.ones(2), (2, 2)), ValueError, "read-only"),
])
def test_adamw_refuses_a_dict_parameter_it_cannot_update(param, err, match):
    """AdamW({"w": np.array([[1, 2], [3, 4]])}) was built with integer moments, and its first
    step fell with a UFuncTypeError from deep inside after the step count (and a list or a
    read-only view with AttributeError / "output array is read-only")."""
    with pytest.raises(err, match=match):
        AdamW({"b": np.zeros(2), "w": param})
    # float arrays of either precision are fine
    opt = AdamW({"w": np.ones((2, 2), np.float32), "b": np.zeros(2)})
    opt.step({"w": np.ones((2, 2)), "b": np.ones(2)})
    assert opt.t == 1


@pytest.mark.parametrize("as_model", [True, False])
def test_adamw_step_given_the_model_or_a_list_says_what_it_takes(as_model):
    """opt.step(model) or opt.step([arrays]) fell with "'GPT' object has no attribute 'shape'"
    from inside the flat-gradient path; nothing moves."""
    model = _tiny_gpt()
    opt = AdamW(model if as_model else dict(model.params))
    before = model.flat.copy()
    with pytest.raises(TypeError, match=r"got GPT \(pass model.grads, not the model\)"):
        opt.step(model)
    with pytest.raises(TypeError, match="expects .*got list"):
        opt.step(list(model.grads.values()))
    assert opt.t == 0 and np.array_equal(model.flat, before)


@pytest.mark.parametrize("as_model", [True, False])
def test_a_step_that_is_not_given_the_models_buffer_does_not_make_it(as_model):
    """The model's gradient buffer (1x the weights) is made on first use. A refused
    opt.step(model) made it only to add "(pass model.grads, not the model)" to its error
    (hasattr read the property), and a step given gradients of its own made it to compare them
    with it: zeros held for nothing (GPT-2 small: 0.5 GB). Neither makes it now; the same
    errors and the same steps."""
    model = _tiny_gpt()
    opt = AdamW(model if as_model else dict(model.params))
    with pytest.raises(TypeError, match=r"got GPT \(pass model.grads, not the model\)"):
        opt.step(model)
    with pytest.raises(TypeError, match=r"got list$"):
        opt.step([np.zeros(3)])
    assert model.grad_flat_if_made() is None
    rng = np.random.default_rng(3)
    own = {k: rng.standard_normal(p.shape) for k, p in model.params.items()}
    ref = _tiny_gpt()
    ref_opt = AdamW(ref if as_model else dict(ref.params))
    ref.grad_flat                                       # made before, as the old step did
    opt.step(own)
    ref_opt.step(own)
    if as_model:
        flat = np.concatenate([own[k].reshape(-1) for k, _, _ in model.layout])
        opt.step(flat)
        ref_opt.step(flat)
    assert model.grad_flat_if_made() is None
    assert np.array_equal(model.flat, ref.flat)


@pytest.mark.parametrize("betas", [0.9, (0.9, 0.99, 0.5), (0.9,), ("0.9", "0.99"),
                                   np.array([0.9, 0.99, 0.5])])
def test_adamw_betas_must_be_a_pair_of_numbers(betas):
    """betas=0.9 fell with "'float' object is not iterable", three values with "too many
    values to unpack"."""
    with pytest.raises(ValueError, match=r"betas must be a pair of numbers \(beta1, beta2\)"):
        AdamW(_tiny_gpt(), betas=betas)
    assert AdamW(_tiny_gpt(), betas=[0.9, np.float32(0.95)]).betas == (0.9, float(np.float32(0.95)))
    assert AdamW(_tiny_gpt(), betas=np.array([0.9, 0.95])).betas == (0.9, 0.95)


def test_gradient_norm_and_clip_take_a_list_of_arrays():
    """clip_grad_norm(list(model.grads.values()), 1.0) (torch's clip_grad_norm_ takes a list)
    fell with "'list' object has no attribute 'size'"."""
    model = _tiny_gpt()
    rng = np.random.default_rng(0)
    model.grad_flat[...] = rng.standard_normal(model.grad_flat.size)
    want = float(global_grad_norm(model.grads))
    assert float(global_grad_norm(list(model.grads.values()))) == pytest.approx(want, rel=1e-12)
    assert float(global_grad_norm(tuple(model.grads.values()))) == pytest.approx(want, rel=1e-12)
    assert float(clip_grad_norm(list(model.grads.values()), 1.0)) == pytest.approx(want, rel=1e-12)
    assert float(global_grad_norm(model.grad_flat)) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("empty", [[], (), {}])
def test_the_norm_of_no_gradients_is_0_as_torchs(empty):
    """clip_grad_norm([], 1.0) (a filtered list that came out empty) fell deep in NumPy with
    "loop of ufunc does not support argument 0 of type NoneType"; torch's clip_grad_norm_([])
    returns 0. The norm of no gradients is 0 and there is nothing to scale."""
    assert float(global_grad_norm(empty)) == 0.0
    assert float(clip_grad_norm(empty, 1.0)) == 0.0
    assert float(rescaled_grad_norm(empty, global_grad_norm(empty))) == 0.0
    torch = pytest.importorskip("torch")
    assert float(torch.nn.utils.clip_grad_norm_([], 1.0)) == 0.0


def test_an_eps_float16_cannot_hold_is_not_told_to_use_1e_8():
    """With float16 parameters the default eps=1e-8 is itself 0 (float16 holds nothing below
    about 6e-8): the refusal advised "use a larger eps (the usual is 1e-8)", the value it had
    just refused. It names a value float16 holds; float32's advice is unchanged."""
    with pytest.raises(ValueError, match=r"^eps=1e-08 is 0 in float16 .*use a larger eps \(1e-8, "
                                         r"the usual one, is 0 in float16 too: about 1e-4 is "
                                         r"used there\)$"):
        AdamW({"w": np.zeros(3, np.float16)})
    with pytest.raises(ValueError, match=r"use a larger eps \(the usual is 1e-8\)$"):
        AdamW({"w": np.zeros(3, np.float32)}, eps=1e-50)
    AdamW({"w": np.zeros(3, np.float16)}, eps=1e-4).step({"w": np.zeros(3, np.float16)})


@pytest.mark.parametrize("fused", ["1", "0"])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_non_finite_gradient_step_prints_no_numpy_warning(monkeypatch, fused, bad):
    """Without Numba (or NANOGRAD_LLM_FUSED=0) the NumPy step of an infinite gradient computed
    inf/inf and printed "RuntimeWarning: invalid value encountered in divide" from optim.py
    before the trainer's own clear "loss is nan at step N" error (the fused kernel prints
    nothing): the step gives the same NaN weights, silently, on both paths and the dict path."""
    import warnings
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", fused)
    model = _tiny_gpt("float32")
    g = np.zeros_like(model.flat)
    g[::7] = bad
    params = {"w": np.ones((3, 4), np.float32)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AdamW(model, weight_decay=0.1).step(g)
        AdamW(params, weight_decay=0.1).step({"w": np.full((3, 4), bad, np.float32)})
    assert np.isnan(model.flat[::7]).all() and np.isfinite(model.flat[1::7]).all()
    assert np.isnan(params["w"]).all()


def test_rescaled_norm_takes_the_largest_peak_of_all_gradients():
    """rescaled_grad_norm divides every gradient by the largest max|g| of them all. Taking the
    first gradient's peak instead passed the overflow test above, whose first gradient holds the
    largest entry; here the first one is an ordinary gradient, so the later ones divided by its
    peak overflowed again: the norm stayed inf and the clip zeroed every gradient."""
    grads = {"ln.weight": np.array([0.5, -2.0], np.float32),
             "w": np.full((3, 4), 3e19, np.float32), "v": np.array([-4e19], np.float32)}
    ref = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
    assert not np.isfinite(float(global_grad_norm(grads)))     # the usual path overflows
    assert float(rescaled_grad_norm(grads, global_grad_norm(grads))) == pytest.approx(ref, rel=1e-6)
    assert float(clip_grad_norm(grads, 1.0)) == pytest.approx(ref, rel=1e-6)
    assert float(global_grad_norm(grads)) == pytest.approx(1.0, rel=1e-5)


def test_adamw_step_refuses_bad_gradients_unchanged_but_applies_non_finite_values():
    """AdamW.step's docstring said "Bad gradients or lr are an error that changes nothing",
    but a NaN or infinite gradient is no error: it is applied (checking values would be a host
    sync on the GPU) and the weights become NaN. The docstring now says which gradients are
    refused (keys, shapes, type) and that values are not checked; this is what it says."""
    import inspect
    model = _tiny_gpt()
    opt = AdamW(model)
    before = model.flat.copy()
    for grads, lr in [({"nope": np.zeros(3)}, None), (np.zeros(model.flat.size + 1), None),
                      (None, float("nan"))]:
        with pytest.raises((ValueError, TypeError)):
            opt.step(grads, lr=lr)
        assert np.array_equal(model.flat, before)
    grads = {k: np.zeros_like(v) for k, v in model.params.items()}
    name = next(iter(grads))
    grads[name][...] = np.nan
    opt.step(grads)
    assert np.isnan(model.params[name]).all()
    doc = " ".join(inspect.getdoc(AdamW.step).split())
    assert "values are not checked" in doc and "NaN" in doc
