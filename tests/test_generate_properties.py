"""Property-based (hypothesis) tests of text generation and evaluation over random small GPTs
(float64 and float32, 1-2 layers, block_size 4-16), random prompts (a single token, longer than
block_size, generation far past block_size) and random sampler settings.

Every property is checked against a plain reference written here: a float64 softmax, a Python
sort with the documented tie rule, a cumulative sum and the documented inverse-CDF draw; for
evaluation, one forward pass per predicted position over the context the documentation says
it has. Nothing is compared with nanograd_llm.generate's or evaluate's own helpers.

Where float32 (or float64 rounding) can flip a decision, the reference also says how close the
decision was (its margin); a difference between the implementation and the reference is only
accepted at a step whose margin is below the dtype's tolerance, and nothing after such a step
is compared (the sequences legitimately part there)."""
import contextlib
import functools
import io
import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from nanograd_llm import GPT, GPTConfig
from nanograd_llm import generate as gen
from nanograd_llm.chat import chat_loop
from nanograd_llm.evaluate import evaluate_ids, evaluate_text
from nanograd_llm.generate import TextStreamer, filter_logits, generate, iter_generate, sample_next
from nanograd_llm.tokenizers import CharTokenizer

FAST = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
# Logit tolerance of the KV-cache / recompute / reference agreement, and the margin below which
# a sampling decision counts as a rounding-level tie
TOL = {"float64": 1e-9, "float32": 2e-4}


# -- the reference sampler ----------------------------------------------------------------------
def ref_sampler(z, temperature, top_k=None, top_p=None):
    """The documented sampler on one row of logits, written plainly.

    Returns (probs, logit_margin, prob_margin): probs, float64 over the V ids (0 for removed
    ids; one-hot for temperature 0); how far the closest top-k (or greedy) decision was from
    flipping, in logit units, and the closest top-p decision, in probability units."""
    z = [float(v) for v in z]
    V = len(z)
    best = max(z)
    if temperature == 0:
        # Açgözlü: en büyük puan, eşitlikte en küçük kimlik
        i = min(j for j in range(V) if z[j] == best)
        probs = np.zeros(V)
        probs[i] = 1.0
        others = [z[j] for j in range(V) if j != i]
        return probs, (best - max(others) if others else math.inf), math.inf
    logit_margin = prob_margin = math.inf
    # Sıcaklık: softmax kaymaya duyarsızdır, (z - max)/τ taşmadan aynı dağılımı verir
    with np.errstate(over="ignore"):
        s = [float(x) for x in (np.array(z) - best) / temperature]      # ≤ 0, maybe −inf
    order = sorted(range(V), key=lambda j: (-z[j], j))
    kept = order[:top_k] if top_k is not None else order
    if top_k is not None and top_k < V:
        logit_margin = z[order[top_k - 1]] - z[order[top_k]]
    e = {j: math.exp(s[j]) for j in kept}
    total = math.fsum(e.values())
    p = {j: e[j] / total for j in kept}
    if top_p is not None and top_p < 1.0:
        order_p = sorted(kept, key=lambda j: (-p[j], j))
        nucleus, before = [], 0.0
        for j in order_p:
            # j kalır ⇔ kendisinden önce gelenlerin toplamı < p (en olası her zaman kalır)
            if nucleus:
                prob_margin = min(prob_margin, abs(before - top_p))
                if before >= top_p:
                    break
            nucleus.append(j)
            before = math.fsum(p[i] for i in nucleus)
        kept = nucleus
        total = math.fsum(p[j] for j in kept)
        p = {j: p[j] / total for j in kept}
    probs = np.zeros(V)
    for j in kept:
        probs[j] = p[j]
    return probs, logit_margin, prob_margin


def ref_draw(probs, u):
    """Inverse CDF: the first id whose cumulative probability exceeds u·total; and the distance
    of u·total from the nearest cumulative boundary (the draw's margin)."""
    cum = np.cumsum(probs)
    target = u * cum[-1]
    i = int(np.flatnonzero(cum > target)[0])
    return i, float(np.min(np.abs(cum[probs > 0] - target)))


def ref_kept(z, temperature, top_k=None, top_p=None):
    probs, logit_margin, prob_margin = ref_sampler(z, temperature, top_k, top_p)
    return set(np.flatnonzero(probs > 0).tolist()), min(logit_margin, prob_margin)


def within_rounding(z, got, want, temperature, logit_margin, prob_margin, tol):
    """Whether moving every logit of z by at most tol could make the reference pick `got`
    instead of `want` (prob_margin includes the draw's)."""
    if abs(z[got] - z[want]) < tol or logit_margin < tol:
        return True
    # Sıcaklık τ'da her puan en çok tol kadar kayınca bir olasılık en çok ≈ 2·tol/τ kayar
    # (çok küçük τ'da dağılım açgözlüdür: yalnızca puan eşitliği belirler)
    return temperature >= 1e-3 and prob_margin * temperature / 2 < tol


# -- strategies ---------------------------------------------------------------------------------
@st.composite
def gpt_models(draw, dtypes=("float64", "float32")):
    """A small GPT whose weights are redrawn with a larger scale than the init (varied,
    well-separated logits)."""
    n_head = draw(st.integers(1, 2))
    cfg = GPTConfig(vocab_size=draw(st.integers(2, 20)), block_size=draw(st.integers(4, 16)),
                    n_layer=draw(st.integers(1, 2)), n_head=n_head,
                    n_embd=n_head * draw(st.integers(1, 4)),
                    positional=draw(st.sampled_from(["learned", "sinusoidal"])),
                    tie_weights=draw(st.booleans()), bias=draw(st.booleans()),
                    activation=draw(st.sampled_from(["gelu", "relu"])))
    seed = draw(st.integers(0, 2**16))
    model = GPT(cfg, seed=seed, dtype=draw(st.sampled_from(dtypes)))
    scale = draw(st.sampled_from([0.3, 0.8, 1.5]))
    model.flat[:] = np.random.default_rng(seed).standard_normal(model.flat.size) * scale
    return model.eval()


def samplers(V):
    return st.fixed_dictionaries({
        "temperature": st.sampled_from([0.0, 0.0, 1e-300, 0.05, 0.7, 1.0, 1.8, 1e4]),
        "top_k": st.none() | st.integers(1, V + 2),
        "top_p": st.none() | st.sampled_from([1e-12, 1.0]) | st.floats(0.05, 0.999),
        "seed": st.integers(0, 2**32),
    })


def prompt_lengths(block):
    return st.sampled_from([1, block - 1, block, block + 1, 2 * block + 3]) | \
        st.integers(1, 2 * block + 3)


# A grid of logits: exact ties are common and distinct values are far apart, so every top-k /
# top-p decision is decided well above rounding (cases within 1e-12 of a threshold are skipped)
grid_rows = st.lists(st.integers(-6, 6), min_size=1, max_size=12).flatmap(
    lambda r: st.sampled_from([0.25, 1.0, 3.0]).map(lambda c: np.array(r, float) * c))


# -- the sampler on its own ---------------------------------------------------------------------
@settings(max_examples=300, **FAST)
@given(z=grid_rows, temperature=st.sampled_from([1e-300, 1e-3, 0.3, 1.0, 2.0, 1e6]),
       top_k=st.none() | st.integers(1, 14), top_p=st.none() | st.floats(1e-6, 1.0))
def test_filter_logits_keeps_exactly_the_documented_set(z, temperature, top_k, top_p):
    kept, margin = ref_kept(z, temperature, top_k, top_p)
    assume(margin > 1e-12)
    with np.errstate(over="ignore"):
        scaled = (z - z.max()) / temperature
    got = filter_logits(scaled[None], top_k, top_p)[0]
    # Olasılığı 0 olan (çok küçük sıcaklıkta exp'i sıfıra inen) belirteçler elenmiş sayılır
    assert {j for j, v in enumerate(got) if math.exp(v) > 0} == kept
    assert np.array_equal(got[np.isfinite(got)], scaled[np.isfinite(got)])   # kept: unchanged
    if top_k is not None:
        assert np.isfinite(got).sum() <= top_k                  # ties: exactly k, lowest ids


@settings(max_examples=200, **FAST)
@given(z=grid_rows, temperature=st.sampled_from([1e-300, 0.05, 0.5, 1.0, 3.0]),
       top_k=st.none() | st.integers(1, 14), top_p=st.none() | st.floats(1e-6, 1.0),
       seed=st.integers(0, 2**32))
def test_sample_next_draws_by_the_documented_inverse_cdf(z, temperature, top_k, top_p, seed):
    probs, logit_margin, prob_margin = ref_sampler(z, temperature, top_k, top_p)
    assume(min(logit_margin, prob_margin) > 1e-12)
    rows = 8
    got = sample_next(np.tile(z, (rows, 1)), temperature, top_k, top_p,
                      np.random.default_rng(seed))
    us = np.random.default_rng(seed).random(rows)               # one u per row, in order
    for g, u in zip(got, us):
        want, m = ref_draw(probs, u)
        assert probs[g] > 0                                     # never a removed token
        assert g == want or m < 1e-12


@settings(max_examples=150, **FAST)
@given(z=grid_rows, temperature=st.sampled_from([0.0, 1e-300, 0.2, 1.0, 4.0]),
       extra=st.integers(0, 5), seed=st.integers(0, 2**32))
def test_settings_that_filter_nothing_equal_no_setting(z, temperature, extra, seed):
    rows = np.tile(z, (6, 1))

    def draw(**kw):
        return sample_next(rows, temperature, rng=np.random.default_rng(seed), **kw)
    plain = draw()
    np.testing.assert_array_equal(draw(top_k=z.size + extra), plain)      # k >= V: off
    np.testing.assert_array_equal(draw(top_p=1.0), plain)                 # p = 1: off
    np.testing.assert_array_equal(draw(top_k=z.size + extra, top_p=1.0), plain)


@settings(max_examples=150, **FAST)
@given(z=grid_rows, temperature=st.sampled_from([1e-300, 0.2, 1.0, 4.0, 1e6]),
       top_p=st.sampled_from([5e-324, 1e-300, 1e-12, 1e-3]), seed=st.integers(0, 2**32))
def test_tiny_top_p_and_top_k_1_are_greedy(z, temperature, top_p, seed):
    greedy = int(np.flatnonzero(z == z.max())[0])               # ties: the smallest id
    probs = np.exp((z - z.max()) / temperature)
    assume(top_p <= probs.max() / probs.sum())                  # "tiny": below the top token
    rows = np.tile(z, (6, 1))
    for kw in ({"top_p": top_p}, {"top_k": 1}):
        got = sample_next(rows, temperature, rng=np.random.default_rng(seed), **kw)
        assert got.tolist() == [greedy] * 6, kw


# Subnormal, tiny and huge temperatures: no overflow / invalid warnings, no NaN, and the
# extreme ends behave as their limits (greedy; every kept token possible)
@settings(max_examples=150, **FAST)
@given(z=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=10).map(np.array),
       temperature=st.sampled_from([5e-324, 1e-300, 1e-200, 1e-30]),
       top_k=st.none() | st.integers(1, 12), top_p=st.none() | st.floats(1e-6, 1.0),
       seed=st.integers(0, 2**32))
def test_a_tiny_temperature_is_greedy_among_the_best(z, temperature, top_k, top_p, seed):
    best = set(np.flatnonzero(z == z.max()).tolist())
    # Bir sonraki puanla fark τ·746'dan büyükse exp(−fark/τ) tam 0'dır: yalnızca en iyiler kalır
    rest = z[z < z.max()]
    assume(rest.size == 0 or float(z.max() - rest.max()) / temperature > 800)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = sample_next(np.tile(z, (8, 1)), temperature, top_k, top_p,
                          np.random.default_rng(seed))
    if top_k is not None:                                       # top-k keeps the lowest ids
        best = set(sorted(best)[:top_k])
    assert set(got.tolist()) <= best


@settings(max_examples=100, **FAST)
@given(z=st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=10).map(np.array),
       temperature=st.sampled_from([1e6, 1e100, 1e300, np.finfo(np.float64).max]),
       top_k=st.none() | st.integers(1, 12), seed=st.integers(0, 2**32))
def test_a_huge_temperature_stays_finite_and_keeps_every_kept_token(z, temperature, top_k,
                                                                    seed):
    kept, margin = ref_kept(z, temperature, top_k)
    # (z − max)/τ may round two close logits to one value: a tie within rounding is ambiguous
    assume(margin > 1e-12 * (1 + np.abs(z).max()))
    rows = np.tile(z, (64, 1))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = sample_next(rows, temperature, top_k, None, np.random.default_rng(seed))
        scaled = filter_logits(((z - z.max()) / temperature)[None], top_k)
    assert set(got.tolist()) <= kept
    assert np.all(np.isfinite(scaled[0][sorted(kept)]))
    if (z.max() - z.min()) / temperature < 1e-3 and len(kept) <= 4:
        assert set(got.tolist()) == kept                        # ≈ uniform: each is drawn


# -- generation end to end ----------------------------------------------------------------------
def _recording(model, log):
    """Wrap model.forward so that every call's last-position logits are appended to log."""
    orig = model.forward

    @functools.wraps(orig)
    def forward(*args, **kwargs):
        out = orig(*args, **kwargs)
        log.append(np.array(out[0][:, -1, :], dtype=np.float64))
        return out
    model.forward = forward


def _generate_recorded(model, prompt, n, **kw):
    log = []
    _recording(model, log)
    try:
        out = generate(model, prompt, n, **kw)
    finally:
        del model.forward
    return out, log


@settings(max_examples=40, **FAST)
@given(model=gpt_models(), data=st.data())
def test_cached_and_recomputed_generation_follow_the_reference(model, data):
    V, block = model.vocab_size, model.block_size
    dtype = str(model.dtype)
    tol = TOL[dtype]
    B = data.draw(st.integers(1, 2), label="B")
    T = data.draw(prompt_lengths(block), label="T")
    # Past block_size the window slides (the cache is rebuilt, the token buffer shifts)
    n = data.draw(st.sampled_from([0, 1, block]) | st.integers(block + 1, 3 * block),
                  label="n")
    kw = data.draw(samplers(V), label="sampler")
    limit = data.draw(st.none() | st.integers(1, V), label="vocab_limit")
    # The token buffer holds max(block_size, BUFFER_MIN) new tokens before it shifts: a small
    # BUFFER_MIN makes these short generations shift it too
    buffer_min = data.draw(st.sampled_from([1, 1, gen.BUFFER_MIN]), label="BUFFER_MIN")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32), label="prompt seed"))
    prompt = rng.integers(0, V, size=(B, T))
    model.train()                                              # generate restores the mode
    with mock.patch.object(gen, "BUFFER_MIN", buffer_min):
        cached, log_c = _generate_recorded(model, prompt, n, vocab_limit=limit, **kw)
        assert model.training
        plain, log_p = _generate_recorded(model, prompt, n, use_cache=False, vocab_limit=limit,
                                          **kw)
    for out in (cached, plain):
        assert out.shape == (B, T + n) and out.dtype == np.int64
        np.testing.assert_array_equal(out[:, :T], prompt)
        assert out[:, T:].min(initial=0) >= 0 and out[:, T:].max(initial=0) < (limit or V)
    # One forward per new token except the last (its logits are never needed)
    assert len(log_c) == len(log_p) == max(0, n)
    model.eval()
    draws = np.random.default_rng(kw["seed"])
    seq = prompt
    for step in range(n):
        # Referans: kırpılmış bağlamın tamamı, önbelleksiz, bütün konumlar hesaplanarak
        logits = np.array(model.forward(seq[:, -block:])[0][:, -1, :], dtype=np.float64)
        scale = 1.0 + np.abs(logits).max()
        for log in (log_c, log_p):                             # the same logits, both ways
            np.testing.assert_allclose(log[step], logits, rtol=0, atol=tol * scale)
        temperature = kw["temperature"]
        us = draws.random(B) if temperature != 0 else [None] * B
        got = (cached[:, T + step], plain[:, T + step])
        parted = False
        for b in range(B):
            z = logits[b, :limit]
            probs, logit_margin, prob_margin = ref_sampler(z, temperature, kw["top_k"],
                                                           kw["top_p"])
            if us[b] is None:
                want = int(np.argmax(probs))
            else:
                want, draw_margin = ref_draw(probs, us[b])
                prob_margin = min(prob_margin, draw_margin)
            for g in {int(got[0][b]), int(got[1][b])} - {want}:
                # Only a decision within rounding of flipping may differ; the sequences part
                # there, so nothing after it is compared
                assert within_rounding(z, g, want, temperature, logit_margin, prob_margin,
                                       tol * scale), (step, b, g, want)
                parted = True
        if parted:
            return
        seq = np.concatenate([seq, got[0][:, None]], axis=1)


@settings(max_examples=25, **FAST)
@given(model=gpt_models(), data=st.data())
def test_same_seed_same_tokens_and_streaming_equals_the_array(model, data):
    V, block = model.vocab_size, model.block_size
    B = data.draw(st.integers(1, 2), label="B")
    T = data.draw(prompt_lengths(block), label="T")
    n = data.draw(st.integers(0, 2 * block + 3), label="n")
    kw = data.draw(samplers(V), label="sampler")
    use_cache = data.draw(st.booleans(), label="use_cache")
    prompt = np.random.default_rng(kw["seed"]).integers(0, V, size=(B, T))
    streamed = []
    first = generate(model, prompt, n, use_cache=use_cache, stream=streamed.append, **kw)
    again = model.generate(prompt, n, use_cache=use_cache, **kw)
    np.testing.assert_array_equal(first, again)                # same seed, same tokens
    steps = list(iter_generate(model, prompt, n, use_cache=use_cache, **kw))
    assert len(streamed) == len(steps) == n
    for i, (s, step) in enumerate(zip(streamed, steps)):
        if B == 1:
            assert isinstance(s, int) and s == first[0, T + i]
        else:
            np.testing.assert_array_equal(s, first[:, T + i])
        np.testing.assert_array_equal(step, first[:, T + i])
    if B == 1:
        # A (T,) prompt gives the same tokens as its (1, T) form
        np.testing.assert_array_equal(generate(model, prompt[0], n, use_cache=use_cache, **kw),
                                      first)


# -- streaming text -----------------------------------------------------------------------------
class ByteTokenizer:
    """Byte-level decoding like GPT-2's: each id is a few bytes; decode replaces invalid UTF-8."""

    PIECES = [b"a", b" ", b"\n", "ş".encode(), "ğ".encode()[:1], "ğ".encode()[1:],
              "€".encode()[:1], "€".encode()[1:2], "€".encode()[2:], "😀".encode()[:2],
              "😀".encode()[2:], b"\xff", b"\x80", "ç".encode() + b"\xe2", b"x\xf0\x9f"]

    def decode(self, ids):
        return b"".join(self.PIECES[i] for i in ids).decode("utf-8", errors="replace")


@settings(max_examples=300, **FAST)
@given(ids=st.lists(st.integers(0, len(ByteTokenizer.PIECES) - 1), max_size=40))
@example(ids=[4] * 8 + [5])      # 8 lone first bytes of "ğ", then its second byte
@example(ids=[11] * 6 + [6, 7, 8, 0])
def test_streamed_text_equals_the_decoded_text(ids):
    tok = ByteTokenizer()
    pieces = []
    streamer = TextStreamer(tok.decode, pieces.append)
    for i in ids:
        streamer(i)
    streamer.flush()
    assert "".join(pieces) == streamer.text == tok.decode(ids)


# -- evaluation ---------------------------------------------------------------------------------
def _ref_nll(logits, target):
    z = np.asarray(logits, dtype=np.float64)
    m = z.max()
    return math.log(math.fsum(np.exp(z - m))) + m - z[target]


@settings(max_examples=30, **FAST)
@given(model=gpt_models(), data=st.data())
def test_evaluation_is_the_mean_cross_entropy_over_the_documented_contexts(model, data):
    V, block = model.vocab_size, model.block_size
    n = data.draw(st.sampled_from([2, block, block + 1, block + 2]) |
                  st.integers(2, 3 * block + 5), label="n")
    context = data.draw(st.none() | st.integers(1, block), label="context")
    L = min(context or block, n - 1)
    stride = data.draw(st.none() | st.integers(1, L), label="stride")
    S = stride or L
    batch_size = data.draw(st.none() | st.integers(1, 4), label="batch_size")
    limit = data.draw(st.none() | st.integers(1, V), label="vocab_limit")
    ids = np.random.default_rng(n).integers(0, limit or V, size=n)
    model.train()
    res = evaluate_ids(model, ids, context=context, stride=stride, batch_size=batch_size,
                       vocab_limit=limit)
    assert model.training                                      # the mode is restored
    model.eval()
    # Belgelenen tanım: pencereler 0, S, 2S, … konumlarında başlar (sonuncusu metnin sonuna
    # dayanır); p hedefi, sonu s + L ≥ p olan ilk pencerede sayılır ve ids[s:p]'yi görür
    nll = []
    for p in range(1, n):
        s = 0 if p <= L else min(S * -(-(p - L) // S), n - 1 - L)
        assert 1 <= p - s <= L and (p <= L or S == L or p - s >= L - S + 1)
        logits = model.forward(ids[None, s:p])[0][0, -1, :limit]
        nll.append(_ref_nll(logits, ids[p]))
    rtol = 1e-10 if str(model.dtype) == "float64" else 2e-5
    assert res.tokens == n - 1
    assert (res.context, res.stride, res.vocab_size) == (L, S, limit or V)
    assert res.nll == pytest.approx(math.fsum(nll), rel=rtol, abs=rtol)
    assert res.loss == pytest.approx(res.nll / (n - 1), rel=1e-12)
    assert res.bits_per_token == pytest.approx(res.loss / math.log(2), rel=1e-12)
    assert res.perplexity == pytest.approx(math.exp(res.loss), rel=1e-12)
    if S == 1 and n - 1 > L:
        # Stride 1: every target after the first window sees exactly L tokens
        assert res.windows == n - L


@settings(max_examples=20, **FAST)
@given(model=gpt_models(dtypes=("float64",)), data=st.data())
def test_bits_per_character_of_a_character_model(model, data):
    alphabet = "abcçdeğış \n"[:model.vocab_size]
    assume(len(alphabet) >= 2)
    tok = CharTokenizer(list(alphabet))
    text = "".join(data.draw(st.lists(st.sampled_from(alphabet), min_size=2, max_size=50),
                             label="text"))
    res, skipped = evaluate_text(model, tok, text)
    assert skipped == {}
    ids = np.array([tok.stoi[c] for c in text])
    # A vocabulary larger than the tokenizer's is scored over the tokenizer's ids
    direct = evaluate_ids(model, ids, vocab_limit=len(alphabet)
                          if len(alphabet) < model.vocab_size else None)
    assert res.nll == direct.nll and res.tokens == direct.tokens == len(text) - 1
    assert res.characters == len(text) - 1                      # one character per target
    assert res.bits_per_char == pytest.approx(res.nll / math.log(2) / res.characters, rel=1e-12)
    # With a character tokenizer a token is a character
    assert res.bits_per_char == pytest.approx(res.bits_per_token, rel=1e-12)


# -- the chat loop and the sample command -------------------------------------------------------
ALPHABET = "abcçdeğı .\n"


def _char_model(seed, block, dtype="float64"):
    tok = CharTokenizer(list(ALPHABET))
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=block, n_layer=1, n_head=2, n_embd=8)
    model = GPT(cfg, seed=seed, dtype=dtype)
    model.flat[:] = np.random.default_rng(seed).standard_normal(model.flat.size) * 0.8
    return model, tok


@settings(max_examples=25, **FAST)
@given(seed=st.integers(0, 2**16), block=st.integers(4, 12),
       lines=st.lists(st.text(ALPHABET.replace("\n", ""), min_size=1, max_size=20)
                      .filter(str.strip), min_size=1, max_size=4),
       max_new=st.integers(1, 20), stop=st.none() | st.sampled_from(["a", "\n", ". ", "ğı"]),
       sampler=samplers(len(ALPHABET)))
def test_chat_replies_are_generate_on_the_last_block_size_tokens(seed, block, lines, max_new,
                                                                 stop, sampler):
    model, tok = _char_model(seed, block)
    kw = dict(sampler)
    out = io.StringIO()
    rc = chat_loop(model, tok, io.StringIO("".join(line + "\n" for line in lines)), out,
                  max_new_tokens=max_new, stop=stop, banner=False, **kw)
    assert rc == 0
    # Referans: konuşmanın son block_size belirteci üzerinde generate; her tur kendi tohumu
    seeds = np.random.default_rng(kw.pop("seed"))
    history, want = [], ""
    for line in lines:
        want += f"> {line}\n"                     # a piped line is echoed, then answered
        context = (history + tok.encode(line + "\n"))[-block:]
        turn_seed = int(seeds.integers(2**63))
        new = generate(model, context, max_new, seed=turn_seed, **kw)[0, len(context):].tolist()
        text = tok.decode(new)
        i = text.find(stop) if stop else -1
        if i >= 0:                               # the reply ends at the stop text, which the
            new = new[:i + len(stop)]            # context keeps
            text = text[:i]
        want += text + "\n"
        if new and not tok.decode(new).endswith("\n"):
            new = new + tok.encode("\n")        # the line break the screen shows after it
        history = (context + new)[-block:]
    assert out.getvalue() == want


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    from nanograd_llm.checkpoint import save_checkpoint
    model, tok = _char_model(3, 8)
    run = tmp_path_factory.mktemp("char_run")
    save_checkpoint(run, model, None, tok, 0)
    return run, model, tok


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture],
          **{k: v for k, v in FAST.items() if k != "suppress_health_check"})
@given(prompt=st.text(ALPHABET, max_size=20), n=st.integers(0, 20),
       sampler=samplers(len(ALPHABET)))
def test_sample_streamed_unstreamed_and_uncached_print_the_generated_text(char_run, prompt, n,
                                                                          sampler):
    import argparse

    from nanograd_llm.cli_generate import add_sampling_args, sample_main
    run, model, tok = char_run
    p = argparse.ArgumentParser()
    add_sampling_args(p)
    argv = ["--ckpt", str(run), "--prompt", prompt, "--max-new-tokens", str(n),
            "--temperature", repr(sampler["temperature"]), "--seed", str(sampler["seed"])]
    if sampler["top_k"] is not None:
        argv += ["--top-k", str(sampler["top_k"])]
    if sampler["top_p"] is not None:
        argv += ["--top-p", repr(sampler["top_p"])]
    outputs = []
    for extra in ([], ["--no-stream"], ["--no-cache"], ["--no-stream", "--no-cache"]):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert sample_main(p.parse_args(argv + extra)) == 0
        outputs.append(buf.getvalue())
    ids = tok.encode(prompt) if prompt else tok.encode("\n")
    new = generate(model, ids, n, **sampler)[0, len(ids):]
    assert outputs == [(prompt or "\n") + tok.decode(new) + "\n"] * 4


@functools.lru_cache(maxsize=None)
def _bpe():
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    return BPETokenizer.train("merhaba dünya, çalışkan öğrenci; güneş € 😀. " * 5, 300)


@settings(max_examples=20, **FAST)
@given(text=st.text("aeçğışöü €😀.\n", min_size=2, max_size=40), seed=st.integers(0, 2**16),
       stride=st.none() | st.integers(1, 4))
def test_bits_per_character_of_a_byte_level_model(text, seed, stride):
    tok = _bpe()
    ids = tok.encode(text)
    assume(len(ids) >= 2 and (stride or 1) <= min(4, len(ids) - 1))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=4, n_layer=1, n_head=1,
                          n_embd=4), seed=seed, dtype="float64")
    res, _ = evaluate_text(model, tok, text, stride=stride)
    # A character is counted with the token that holds its first byte (one byte of each UTF-8
    # character is not a continuation byte 10xxxxxx): the characters of the text, less those
    # that begin in the first token (it is read, never predicted)
    first = sum((b & 0xC0) != 0x80 for b in tok.token_bytes(ids[0]))
    assert res.characters == len(text) - first
    assert res.tokens == len(ids) - 1
    assert res.nll == pytest.approx(evaluate_ids(model, ids, stride=stride).nll, rel=1e-12)
    if res.characters:
        assert res.bits_per_char == pytest.approx(res.nll / math.log(2) / res.characters,
                                                  rel=1e-12)
