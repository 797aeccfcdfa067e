"""Generation: KV-cache exactness, sliding window, samplers, reproducibility, errors."""
import numpy as np
import pytest

from nanograd_llm import GPT, GPTConfig
from nanograd_llm.generate import (TextStreamer, filter_logits, generate, iter_generate,
                                   sample_next)

BLOCK = 16


def make_model(positional="learned", dtype="float64", scale=0.5, vocab=23, block=BLOCK,
               tie=True, seed=0):
    """A small GPT whose weights are re-drawn with a larger scale than the init, so that its
    logits are well separated (greedy ties would make float32 comparisons meaningless)."""
    cfg = GPTConfig(vocab_size=vocab, block_size=block, n_layer=2, n_head=2, n_embd=16,
                    positional=positional, tie_weights=tie)
    m = GPT(cfg, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    m.flat[:] = rng.standard_normal(m.flat.size) * scale
    return m.eval()


def naive_decode(model, prompt, n, temperature=0.0, top_k=None, top_p=None, seed=None):
    """Reference: recompute the whole (cropped) context at every step, no cache."""
    rng = np.random.default_rng(seed)
    seq = np.array(prompt, dtype=np.int64).reshape(len(prompt) if np.ndim(prompt) == 2 else 1,
                                                  -1)
    for _ in range(n):
        logits, _ = model.forward(seq[:, -model.block_size:])
        nxt = sample_next(logits[:, -1, :], temperature, top_k, top_p, rng)
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
    return seq


POS = ["learned", "sinusoidal"]


@pytest.mark.parametrize("positional", POS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_greedy_cache_equals_recompute_up_to_block_size(positional, dtype):
    m = make_model(positional, dtype)
    prompt = [[1, 2, 3], [4, 0, 7]]
    n = BLOCK - 3                                     # exactly fills the window
    ref = naive_decode(m, prompt, n)
    cached = generate(m, prompt, n, temperature=0)
    uncached = generate(m, prompt, n, temperature=0, use_cache=False)
    np.testing.assert_array_equal(cached, ref)
    np.testing.assert_array_equal(uncached, ref)


@pytest.mark.parametrize("positional", POS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_greedy_cache_equals_recompute_past_block_size(positional, dtype):
    m = make_model(positional, dtype)
    prompt = [[5, 1], [2, 9]]
    n = 3 * BLOCK                                     # slides the window many times
    ref = naive_decode(m, prompt, n)
    np.testing.assert_array_equal(generate(m, prompt, n, temperature=0), ref)
    np.testing.assert_array_equal(generate(m, prompt, n, temperature=0, use_cache=False), ref)


@pytest.mark.parametrize("positional", POS)
def test_sampled_cache_equals_recompute_past_block_size(positional):
    # Sampling (unlike greedy on a random model) gives varied sequences, so every window
    # slide and cache rebuild is exercised with different contexts.
    m = make_model(positional, "float64", scale=0.3)
    prompt = [[3, 1, 4, 1, 5]]
    n = 2 * BLOCK + 5
    ref = naive_decode(m, prompt, n, temperature=1.0, seed=7)
    assert len(set(ref[0, 5:].tolist())) > 5          # the test data really varies
    np.testing.assert_array_equal(generate(m, prompt, n, seed=7), ref)
    np.testing.assert_array_equal(generate(m, prompt, n, seed=7, use_cache=False), ref)


def test_prompt_longer_than_block_size_uses_last_window():
    m = make_model()
    prompt = np.random.default_rng(0).integers(0, 23, size=(1, BLOCK + 9))
    out = generate(m, prompt, 5, temperature=0)
    np.testing.assert_array_equal(out[:, :BLOCK + 9], prompt)
    np.testing.assert_array_equal(out, naive_decode(m, prompt, 5))


@pytest.mark.parametrize("positional", POS)
@pytest.mark.parametrize("tie", [True, False])
def test_cached_logits_equal_full_forward_position_by_position(positional, tie):
    m = make_model(positional, "float64", tie=tie)
    idx = np.random.default_rng(1).integers(0, 23, size=(2, BLOCK))
    full, _ = m.forward(idx)
    # one position at a time
    cache = m.new_kv_cache(2)
    for t in range(BLOCK):
        logits, _ = m.forward(idx[:, t:t + 1], kv_cache=cache)
        np.testing.assert_allclose(logits[:, 0], full[:, t], rtol=0, atol=1e-10)
    assert cache.length == BLOCK
    # a chunked prefill followed by chunks of different sizes
    cache.reset()
    pieces = []
    for a, b in [(0, 5), (5, 6), (6, 11), (11, BLOCK)]:
        pieces.append(m.forward(idx[:, a:b], kv_cache=cache)[0])
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=0, atol=1e-10)


def test_cached_forward_is_deterministic_in_train_mode_with_dropout():
    # A cached forward is inference: no dropout even if the model is in training mode.
    cfg = GPTConfig(vocab_size=23, block_size=BLOCK, n_layer=2, n_head=2, n_embd=16,
                    dropout=0.5)
    m = GPT(cfg, seed=0, dtype="float64").eval()
    idx = np.arange(6)[None] % 23
    full, _ = m.forward(idx)
    m.train()
    cache = m.new_kv_cache(1)
    logits, _ = m.forward(idx, kv_cache=cache)
    np.testing.assert_allclose(logits, full, atol=1e-12)
    # generate() switches dropout off and restores the mode afterwards
    a = m.generate(idx, 8, temperature=0, use_cache=False)
    b = m.generate(idx, 8, temperature=0)
    np.testing.assert_array_equal(a, b)
    assert m.training


def test_full_cache_and_mismatched_cache_are_clear_errors():
    m = make_model()
    cache = m.new_kv_cache(1)
    m.forward(np.zeros((1, BLOCK), dtype=np.int64), kv_cache=cache)
    with pytest.raises(ValueError, match="KV cache is full"):
        m.forward(np.zeros((1, 1), dtype=np.int64), kv_cache=cache)
    with pytest.raises(ValueError, match="batch"):
        m.forward(np.zeros((2, 1), dtype=np.int64), kv_cache=m.new_kv_cache(1))
    other = make_model(block=8)
    with pytest.raises(ValueError, match="does not match"):
        m.forward(np.zeros((1, 1), dtype=np.int64), kv_cache=other.new_kv_cache(1))


def test_backward_after_a_kv_cache_forward_says_the_cache_is_the_reason():
    # targets were given: the message must not ask for them, but name the KV cache
    m = make_model()
    idx = np.arange(4)[None] % 23
    _, loss = m.forward(idx, idx, kv_cache=m.new_kv_cache(1))
    assert loss is not None
    with pytest.raises(RuntimeError, match=r"not possible after forward\(\.\.\., kv_cache=") \
            as e:
        m.backward()
    assert "targets first" not in str(e.value)
    m.forward(idx, idx)                   # a forward without the cache: backward works again
    m.backward()
    m.forward(idx)
    with pytest.raises(RuntimeError, match="with targets first"):
        m.backward()


def test_new_kv_cache_refuses_a_batch_that_is_not_a_positive_integer():
    m = make_model()
    for bad in (-1, 0, 2.5, True, "2"):
        with pytest.raises(ValueError, match="batch must be a positive integer"):
            m.new_kv_cache(bad)
    assert m.new_kv_cache(np.int64(2)).k[0].shape[0] == 2


def test_seeded_sampling_is_reproducible_and_seed_dependent():
    m = make_model(dtype="float32", scale=0.3)
    kw = dict(temperature=0.9, top_k=10, top_p=0.95)
    a = m.generate([1, 2], 30, seed=123, **kw)
    b = m.generate([1, 2], 30, seed=123, **kw)
    c = m.generate([1, 2], 30, seed=124, **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (1, 32) and a.dtype == np.int64


def test_top_k_1_and_tiny_top_p_equal_greedy():
    m = make_model(scale=0.3)
    greedy = m.generate([[1, 2], [7, 7]], 25, temperature=0)
    np.testing.assert_array_equal(m.generate([[1, 2], [7, 7]], 25, top_k=1, seed=0), greedy)
    np.testing.assert_array_equal(
        m.generate([[1, 2], [7, 7]], 25, top_p=1e-9, temperature=1.5, seed=5), greedy)


def test_filter_logits_top_k_and_top_p():
    z = np.log(np.array([[0.1, 0.4, 0.2, 0.3]]))
    k2 = filter_logits(z, top_k=2)
    assert np.isfinite(k2).tolist() == [[False, True, False, True]]
    # nucleus: 0.4 + 0.3 = 0.7 reaches 0.7 → two tokens; 0.71 needs the third (0.2)
    assert np.isfinite(filter_logits(z, top_p=0.7)).tolist() == [[False, True, False, True]]
    assert np.isfinite(filter_logits(z, top_p=0.71)).tolist() == [[False, True, True, True]]
    assert np.isfinite(filter_logits(z, top_p=1.0)).all()
    # ties at the top-k boundary: exactly k survive, the smaller id first
    t = filter_logits(np.zeros((1, 5)), top_k=2)
    assert np.isfinite(t).tolist() == [[True, True, False, False, False]]


def test_sample_next_follows_the_distribution():
    p = np.array([0.5, 0.0, 0.3, 0.2])
    logits = np.log(np.where(p > 0, p, 1e-300))[None].repeat(20000, axis=0)
    draws = sample_next(logits, 1.0, rng=np.random.default_rng(0))
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, p, atol=0.015)
    assert freq[1] == 0


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_divides_the_logits(temperature):
    """p_i ∝ exp(z_i / τ): τ = 0.5 squares the probabilities, τ = 2 takes their square root
    (both renormalised); multiplying by τ instead would give the other one."""
    p = np.array([0.5, 0.3, 0.15, 0.05])
    logits = np.log(p)[None].repeat(40000, axis=0)
    draws = sample_next(logits, temperature, rng=np.random.default_rng(1))
    freq = np.bincount(draws, minlength=4) / draws.size
    want = p ** (1 / temperature)
    np.testing.assert_allclose(freq, want / want.sum(), atol=0.012)


def test_top_k_and_top_p_renormalise_over_the_kept_tokens():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    logits = np.log(p)[None].repeat(40000, axis=0)
    k2 = np.bincount(sample_next(logits, 1.0, top_k=2, rng=np.random.default_rng(2)),
                     minlength=4) / 40000
    np.testing.assert_allclose(k2, [0.4 / 0.7, 0.3 / 0.7, 0, 0], atol=0.012)
    # top_p = 0.75: the smallest set reaching 0.75 is {0.4, 0.3, 0.2} (0.9 ≥ 0.75 > 0.7)
    p75 = np.bincount(sample_next(logits, 1.0, top_p=0.75, rng=np.random.default_rng(3)),
                      minlength=4) / 40000
    np.testing.assert_allclose(p75, [0.4 / 0.9, 0.3 / 0.9, 0.2 / 0.9, 0], atol=0.012)


def test_non_finite_logits_are_a_clear_error():
    with pytest.raises(RuntimeError, match="non-finite"):
        sample_next(np.array([[0.0, np.nan]]), 1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=-0.1), "temperature"),
    (dict(temperature=float("nan")), "temperature"),
    (dict(top_k=0), "top_k"),
    (dict(top_k=2.5), "top_k"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.01), "top_p"),
    (dict(top_p=-1), "top_p"),
    (dict(max_new_tokens=-1), "max_new_tokens"),
])
def test_invalid_settings_are_clear_errors(kwargs, match):
    m = make_model()
    args = dict(max_new_tokens=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        m.generate([1, 2], **args)


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=-1.0), "temperature"),
    (dict(top_k=0), "top_k"),
    (dict(top_k=-1), "top_k"),
    (dict(top_k=2.5), "top_k"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=2.0), "top_p"),
])
def test_sample_next_and_filter_logits_check_their_settings(kwargs, match):
    """Called directly (a hand-written sampling loop), sample_next took a negative temperature
    and picked the least likely token, top_k=0 turned every score into -inf (always id 0, with
    a NaN warning), top_k=-1 dropped only the least likely token, top_p=0 or 2 passed."""
    z = np.array([[0.0, 1.0, 5.0, 2.0]])
    with pytest.raises(ValueError, match=match):
        sample_next(z, rng=np.random.default_rng(0), **kwargs)
    if "temperature" not in kwargs:
        with pytest.raises(ValueError, match=match):
            filter_logits(z, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(top_p="0.9"), "top_p must be a number"),
    (dict(temperature="0.5"), "temperature must be a number"),
])
def test_sampling_settings_given_as_strings_are_refused(kwargs, match):
    """top_p="0.9" passed the check (float() reads strings) and then fell inside filter_logits
    with "'<' not supported between instances of 'str' and 'float'"."""
    m = make_model()
    with pytest.raises(ValueError, match=match):
        m.generate([1, 2], 3, seed=0, **kwargs)


def test_bad_prompts_are_clear_errors():
    m = make_model()
    with pytest.raises(ValueError, match="empty"):
        m.generate([], 3)
    with pytest.raises(ValueError, match="outside"):
        m.generate([1, 99], 3)
    with pytest.raises(ValueError, match="integer"):
        m.generate(np.array([0.5, 1.0]), 3)


@pytest.mark.parametrize("prompt", [[[1, 2], [3]], [[1], []], [1, [2]]])
def test_a_ragged_prompt_is_a_clear_error(prompt):
    # NumPy's 'setting an array element with a sequence' named neither the prompt nor its shape
    with pytest.raises(ValueError, match=r"^prompt must be token ids of shape \(T,\) or \(B, T\)"):
        generate(make_model(), prompt, 2)


def test_zero_new_tokens_returns_the_prompt():
    m = make_model()
    out = m.generate([4, 5, 6], 0)
    np.testing.assert_array_equal(out, [[4, 5, 6]])


def test_stream_callback_and_iter_generate():
    m = make_model(scale=0.3)
    got = []
    out = m.generate([1, 2, 3], 12, seed=3, stream=got.append)
    assert got == out[0, 3:].tolist() and all(isinstance(t, int) for t in got)
    batch = []
    out2 = m.generate([[1, 2], [3, 4]], 4, seed=3, stream=batch.append)
    np.testing.assert_array_equal(np.stack(batch, axis=1), out2[:, 2:])
    steps = list(iter_generate(m, [1, 2, 3], 12, seed=3))
    assert [int(s[0]) for s in steps] == got


def test_text_streamer_holds_back_incomplete_utf8():
    # a byte-level "tokenizer": one token per byte
    def decode(ids):
        return bytes(ids).decode("utf-8", errors="replace")
    written = []
    s = TextStreamer(decode, written.append)
    for b in "aş😀b".encode("utf-8"):
        s(b)
    s.flush()
    assert "".join(written) == "aş😀b"
    assert all("\ufffd" not in w for w in written)


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("nanograd_llm.backend", fromlist=["x"]).cuda_available(),
                    reason="needs CuPy and an NVIDIA GPU")
@pytest.mark.parametrize("positional", POS)
def test_gpu_cached_generation_matches_cpu(positional):
    cpu = make_model(positional, "float64", scale=0.3)
    gpu = make_model(positional, "float64", scale=0.3).to("cuda")
    prompt = [[3, 1, 4], [1, 5, 9]]
    n = 2 * BLOCK
    want = naive_decode(cpu, prompt, n, temperature=1.0, seed=2)
    np.testing.assert_array_equal(generate(gpu, prompt, n, seed=2), want)
    np.testing.assert_array_equal(generate(gpu, prompt, n, temperature=0),
                                  generate(cpu, prompt, n, temperature=0))


def test_last_only_forward():
    m = make_model("learned", "float64")
    idx = np.random.default_rng(3).integers(0, 23, size=(2, 9))
    full, _ = m.forward(idx)
    last, loss = m.forward(idx, last_only=True)
    assert last.shape == (2, 1, 23) and loss is None
    np.testing.assert_allclose(last[:, 0], full[:, -1], atol=1e-12)
    with pytest.raises(RuntimeError):
        m.backward()                       # no backward after a last_only forward
    with pytest.raises(ValueError, match="last_only"):
        m.forward(idx, idx, last_only=True)
    cache = m.new_kv_cache(2)
    a, _ = m.forward(idx[:, :5], kv_cache=cache, last_only=True)
    b, _ = m.forward(idx[:, 5:], kv_cache=cache, last_only=True)
    np.testing.assert_allclose(a[:, 0], full[:, 4], atol=1e-12)
    np.testing.assert_allclose(b[:, 0], full[:, -1], atol=1e-12)


def test_generate_works_with_the_bigram_model():
    from nanograd_llm import BigramLM
    m = BigramLM(11, seed=0, dtype="float64")
    a = generate(m, [1, 2], 6, temperature=0)
    b = generate(m, [1, 2], 6, temperature=0, use_cache=False)
    np.testing.assert_array_equal(a, b)
    table = m.params["token_embedding.weight"]
    assert a[0, 2] == int(np.argmax(table[2]))


def test_vocab_limit_keeps_samples_inside_the_tokenizer():
    """A model whose vocabulary is padded beyond its tokenizer's must not sample the padding:
    with the extra logits made the largest, every sample still lands below the limit."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.generate import generate, iter_generate
    m = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=1, n_head=2, n_embd=16), seed=0)
    m.params["wte.weight"][30:] *= 50.0           # padding rows dominate the tied head's logits
    free = generate(m, np.array([1, 2, 3]), 30, seed=0)
    assert (free[0, 3:] >= 30).any()              # without the limit the padding is sampled
    out = generate(m, np.array([1, 2, 3]), 30, seed=0, vocab_limit=30)
    assert (out[0, 3:] < 30).all()
    steps = list(iter_generate(m, np.array([1, 2, 3]), 20, temperature=0, vocab_limit=30))
    assert all(int(s[0]) < 30 for s in steps)
    with pytest.raises(ValueError, match="vocab_limit"):
        generate(m, np.array([1]), 2, vocab_limit=0)


@pytest.mark.parametrize("use_cache", [True, False])
def test_long_generation_keeps_only_the_window(monkeypatch, use_cache):
    """Past the buffer the window slides within a fixed buffer (constant memory): the tokens
    are those of the reference decoder, and a huge max_new_tokens allocates nothing up front."""
    import nanograd_llm.generate as G
    monkeypatch.setattr(G, "BUFFER_MIN", 5)            # cap = T + max(block, 5): shifts often
    m = make_model(scale=0.3)
    prompt = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]]
    n = 3 * BLOCK + 7
    want = naive_decode(m, prompt, n, temperature=1.0, seed=4)
    np.testing.assert_array_equal(generate(m, prompt, n, seed=4, use_cache=use_cache), want)
    long_prompt = np.arange(40) % 23                   # longer than block_size
    want = naive_decode(m, [long_prompt.tolist()], 20, temperature=0.0)
    np.testing.assert_array_equal(generate(m, long_prompt, 20, temperature=0,
                                           use_cache=use_cache), want)
    steps = iter_generate(m, [1, 2], 10 ** 14, seed=0, use_cache=use_cache)
    assert next(steps).shape == (1,)                   # would need 800 TB as one array
    steps.close()


def test_bigram_generation_feeds_only_the_last_token(monkeypatch):
    from nanograd_llm import BigramLM
    m = BigramLM(11, seed=1, dtype="float64")
    m.params["token_embedding.weight"][...] = np.random.default_rng(0).standard_normal((11, 11))
    seen = []
    fwd = m.forward
    monkeypatch.setattr(m, "forward", lambda idx, *a, **k: (seen.append(idx.shape[1]),
                                                            fwd(idx, *a, **k))[1])
    got = generate(m, [1, 2, 3], 30, seed=5)
    assert set(seen) == {1}                            # not the growing sequence
    monkeypatch.setattr(BigramLM, "context_window", None)
    seen.clear()
    np.testing.assert_array_equal(generate(m, [1, 2, 3], 30, seed=5), got)
    assert max(seen) == 3 + 29


def test_a_tiny_temperature_is_greedy_not_nan():
    import warnings
    z = np.array([[1.0, 2.0, 3.0], [5.0, -1.0, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in (1e-320, 1e-310, 1e-30):
            np.testing.assert_array_equal(sample_next(z, t, rng=np.random.default_rng(0)),
                                          [2, 0])


def test_text_streamer_is_incremental_and_flushes_invalid_bytes():
    calls = []

    def decode(ids):                                   # strict: raises on a partial character
        calls.append(len(ids))
        return bytes(ids).decode("utf-8")
    written = []
    s = TextStreamer(decode, written.append)
    text = "ağaç 😀 " * 200
    for b in text.encode("utf-8"):
        s(b)
    s.flush()
    assert "".join(written) == text and s.text == text
    assert max(calls) <= 4                             # never the whole text again
    # a genuinely invalid byte: held at most HOLD_MAX tokens, then written as U+FFFD
    written.clear()
    s = TextStreamer(lambda ids: bytes(ids).decode("utf-8", errors="replace"), written.append)
    for b in b"a\xff" + b"b" * 10:
        s(b)
    s.flush()
    assert "".join(written) == "a\ufffd" + "b" * 10


@pytest.mark.parametrize("data, text", [
    (b"\xe2AAA", "\ufffdAAA"),                          # written by flush
    (b"\xe2" + b"A" * 9, "\ufffd" + "A" * 9),            # written after HOLD_MAX held ids
    (b"\xff" * 10 + "ğ".encode(), "\ufffd" * 10 + "ğ"),  # a character begun after them
    (b"ok\xe2\x82", "ok\ufffd"),                          # cut inside a character at the end
    (b"\xe2A", "\ufffdA"),                                # (not when text follows)
])
def test_a_strict_decoders_stray_byte_loses_no_text_after_it(data, text):
    # With a decoder that raises, the held ids were all written as one U+FFFD: the text after
    # a stray byte ("AAA") was lost
    written = []
    s = TextStreamer(lambda ids: bytes(ids).decode("utf-8"), written.append)
    for b in data:
        s(b)
    s.flush()
    assert "".join(written) == text and s.text == text


def test_cached_generation_feeds_one_token_until_the_window_is_full(monkeypatch):
    """The cache's point: after the prefill each step forwards only the new token until the cache
    holds block_size positions; only then is the window rebuilt. A prompt longer than block_size
    is cut to exactly its last block_size tokens."""
    import functools
    m = make_model()
    seen = []
    fwd = m.forward

    @functools.wraps(fwd)
    def record(idx, *a, **k):
        seen.append(np.array(idx))
        return fwd(idx, *a, **k)
    monkeypatch.setattr(m, "forward", record)
    generate(m, [[1, 2, 3]], BLOCK - 1, temperature=0)
    assert [s.shape[1] for s in seen] == [3] + [1] * (BLOCK - 3) + [BLOCK]
    seen.clear()
    prompt = np.random.default_rng(0).integers(0, 23, size=(1, BLOCK + 9))
    generate(m, prompt, 2, temperature=0)
    np.testing.assert_array_equal(seen[0], prompt[:, -BLOCK:])


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_iter_generate_checks_the_seed_when_called(seed):
    # Like every other setting: a bad seed is an error at the call, not at the first token
    m = make_model()
    with pytest.raises(ValueError, match="seed"):
        iter_generate(m, [1, 2], 3, seed=seed)


def test_top_p_1_is_allowed_and_filters_nothing():
    m = make_model(scale=0.3)
    np.testing.assert_array_equal(m.generate([1, 2], 20, top_p=1.0, seed=3),
                                  m.generate([1, 2], 20, seed=3))


def test_top_k_one_below_the_vocabulary_drops_the_least_likely():
    z = np.log(np.array([[0.1, 0.4, 0.2, 0.3], [0.4, 0.3, 0.2, 0.1]]))
    kept = np.isfinite(filter_logits(z, top_k=3))
    assert kept.tolist() == [[False, True, True, True], [True, True, True, False]]


def test_top_k_keeps_the_smaller_ids_among_many_ties():
    """Ties (here 3 distinct scores over 200 tokens) are broken by the smaller id at any
    vocabulary size, not only where NumPy's default sort happens to be stable."""
    z = np.random.default_rng(0).integers(0, 3, size=(4, 200)).astype(np.float64)
    for k in (1, 50, 133):
        kept = np.isfinite(filter_logits(z, top_k=k))
        for row, keep in zip(z, kept):
            want = sorted(range(z.shape[1]), key=lambda i: (-row[i], i))[:k]
            assert np.flatnonzero(keep).tolist() == sorted(want)


def test_top_p_applies_to_the_top_k_distribution():
    """Temperature, then top-k, then top-p (transformers' order): with p = 0.4/0.3/0.2/0.1,
    top_k=2 leaves 0.57/0.43, and top_p=0.5 then keeps only the first token. Top-p on the full
    distribution would have kept two."""
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))[None].repeat(2000, axis=0)
    draws = sample_next(logits, 1.0, top_k=2, top_p=0.5, rng=np.random.default_rng(4))
    assert set(draws.tolist()) == {0}


class _ZeroRng:
    """A generator whose uniform draw is exactly 0.0 (numpy's random() can return it)."""
    def random(self, n):
        return np.zeros(n)


def test_a_uniform_draw_of_zero_never_picks_a_removed_token():
    for kw in (dict(top_k=1), dict(top_p=0.5)):
        got = sample_next(np.array([[0.0, 3.0], [3.0, 0.0]]), 1.0, rng=_ZeroRng(), **kw)
        assert got.tolist() == [1, 0], kw


def test_greedy_ties_go_to_the_smallest_id():
    logits = np.array([[0.0, 0.0, 0.0], [1.0, 3.0, 3.0]])
    assert sample_next(logits, 0.0).tolist() == [0, 1]


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_logits_are_a_clear_error(bad):
    for temperature in (1.0, 0.0):
        with pytest.raises(RuntimeError, match="non-finite"):
            sample_next(np.array([[0.0, bad, 1.0]]), temperature)


@pytest.mark.parametrize("scores", [np.zeros(3), np.zeros((1, 2, 3)), np.zeros((1, 0))])
@pytest.mark.parametrize("call", ["filter_logits", "sample_next", "greedy"])
def test_scores_that_are_not_b_by_v_are_a_clear_error(scores, call):
    # filter_logits took (V,) with an IndexError and (B, T, V) silently, filtering along T;
    # sample_next took V = 0 with NumPy's 'zero-size array' or 'argmax of an empty sequence'
    with pytest.raises(ValueError, match=r"must have shape \(B, V\)(| with V >= 1), got \("):
        if call == "filter_logits":
            filter_logits(scores, top_k=1)
        else:
            sample_next(scores, 1.0 if call == "sample_next" else 0.0)


@pytest.mark.parametrize("training", [False, True])
def test_generation_restores_the_models_mode(training):
    m = make_model()
    m.train(training)
    m.generate([1, 2], 5, seed=0)
    assert m.training is training
    list(iter_generate(m, [1, 2], 3, seed=0))
    assert m.training is training


@pytest.mark.parametrize("first_ends_first", [True, False])
def test_two_interleaved_generations_use_no_dropout_and_leave_the_training_mode(
        first_ends_first):
    # Each generation set eval mode for its whole run and restored the mode it found: the one
    # started second found eval mode. When the first ended, the model was training again and
    # the other went on with dropout (other tokens); when the second ended last, it left the
    # model out of training mode
    m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8, dropout=0.5),
            seed=0)
    m.flat[:] = np.random.default_rng(0).standard_normal(m.flat.size)
    want = generate(m.eval(), [2], 10, temperature=0, use_cache=False)[0, 1:].tolist()
    m.train()
    short, long_ = (2, 10) if first_ends_first else (10, 2)
    a = iter_generate(m, [2], short, temperature=0, use_cache=False)
    b = iter_generate(m, [2], long_, temperature=0, use_cache=False)
    got_a, got_b = [], []
    for _ in range(10):                          # one step of each in turn, while it lasts
        for steps, got in ((a, got_a), (b, got_b)):
            x = next(steps, None)
            if x is not None:
                got.append(int(x[0]))
    assert got_a == want[:short] and got_b == want[:long_]
    assert m.training


def test_text_streamer_writes_after_exactly_hold_max_held_ids():
    written = []
    s = TextStreamer(lambda ids: bytes(ids).decode("utf-8", errors="replace"), written.append)
    for k in range(1, TextStreamer.HOLD_MAX):
        s(0xFF)
        assert written == [], k
    s(0xFF)
    # the text of every held id but the last, which could still begin a character
    assert written == ["\ufffd" * (TextStreamer.HOLD_MAX - 1)]
    s.flush()
    assert s.text == "\ufffd" * TextStreamer.HOLD_MAX


@pytest.mark.parametrize("stray", [b"\xff", b"\xf0\x9f"])
@pytest.mark.parametrize("split", [[b"\xc4", b"\x9f"], [b"\xe2\x82", b"\xac"],
                                   [b"\xe2", b"\x82", b"\xac"], [b"\xf0", b"\x9f\x98", b"\x80"]])
def test_text_streamer_completes_a_character_begun_after_many_stray_bytes(stray, split):
    # Ids that do not decode (each ends in U+FFFD), then a character split over ids: when the
    # hold limit is reached inside the character, the next ids must still complete it (it
    # was written as U+FFFD, its continuation bytes as more of them: the printed text was not
    # the generated one)
    for n in range(TextStreamer.HOLD_MAX - len(split), TextStreamer.HOLD_MAX + 1):
        pieces = [stray] * n + split + [b"a"]

        def decode(ids):
            return b"".join(pieces[i] for i in ids).decode("utf-8", errors="replace")
        written = []
        s = TextStreamer(decode, written.append)
        for i in range(len(pieces)):
            s(i)
        s.flush()
        assert "".join(written) == s.text == decode(range(len(pieces))), n
        assert s.text.endswith(b"".join(split).decode() + "a")


def test_top_p_breaks_ties_like_top_k_the_smaller_ids_first():
    """Four equally likely tokens and top_p = 0.5: the smallest set reaching 0.5 has two of
    them, and which two must not depend on the sort: the smaller ids, as top_k=2 keeps."""
    z = np.zeros((2, 4))
    z[1] = [0.0, 1.0, 1.0, -2.0]              # a tie below the most likely token
    by_k = np.isfinite(filter_logits(z[:1], top_k=2))
    assert by_k.tolist() == [[True, True, False, False]]
    assert np.isfinite(filter_logits(z[:1], top_p=0.5)).tolist() == by_k.tolist()
    # row 2: p ∝ (1, e, e, e⁻²) ≈ (0.155, 0.421, 0.421, 0.002): 0.421 < 0.5 ≤ 0.842, so
    # two tokens are kept: ids 1 and 2 (tied, both needed) – then top_p = 0.4 keeps id 1 only
    assert np.isfinite(filter_logits(z[1:], top_p=0.5)).tolist() == [[False, True, True, False]]
    assert np.isfinite(filter_logits(z[1:], top_p=0.4)).tolist() == [[False, True, False, False]]


def test_filter_logits_top_p_does_not_depend_on_a_shift_of_the_scores():
    """filter_logits is public and takes raw scores: softmax(z) = softmax(z − c), so large
    scores (exp(1000) overflows) must keep exactly the tokens their shifted copy keeps."""
    z = np.array([[1000.0, 999.0, 990.0], [-5.0, 1000.0, 1000.0]])
    for top_p in (0.5, 0.8, 0.99):
        got = np.isfinite(filter_logits(z, top_p=top_p))
        want = np.isfinite(filter_logits(z - z.max(axis=1, keepdims=True), top_p=top_p))
        assert got.tolist() == want.tolist(), top_p
    # p ≈ (0.731, 0.269, 3e-5): 0.5 keeps the first only, 0.8 the first two
    assert np.isfinite(filter_logits(z[:1], top_p=0.5)).tolist() == [[True, False, False]]
    assert np.isfinite(filter_logits(z[:1], top_p=0.8)).tolist() == [[True, True, False]]
