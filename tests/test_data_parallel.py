"""Data parallelism on the CPU (backend.run_shards, GPT._forward_sharded): splitting a batch
over threads gives the same loss, logits and gradients as one pass, and stays deterministic."""
import numpy as np
import pytest

from nanograd_llm import backend
from nanograd_llm.models.gpt import GPT, GPTConfig
from nanograd_llm.optim import AdamW

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture
def shards(monkeypatch):
    """Force splitting even for tiny test models; returns a setter for the thread count."""
    monkeypatch.setattr(backend, "SHARD_MIN_WORK", 0)

    def set_threads(n):
        monkeypatch.setenv("NANOGRAD_LLM_THREADS", str(n))
    return set_threads


def _model(dtype="float64", **kw):
    cfg = dict(vocab_size=23, block_size=10, n_layer=2, n_head=2, n_embd=12)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg), seed=3, dtype=dtype)


def _run(model, idx, tgt, accumulate=False):
    """(logits, loss, gradients, parts the forward ran in; counted before backward(), which
    frees the forward's cache)"""
    logits, loss = model.forward(idx, tgt)
    parts = len(model._cache[0]) if len(model._cache) == 2 else 1
    model.backward(accumulate=accumulate)
    return logits.copy(), float(loss), model.grad_flat.copy(), parts


@pytest.mark.parametrize("extra", [{}, {"tie_weights": False, "bias": False},
                                   {"ignore_index": 0}])
@pytest.mark.parametrize("threads", [2, 3])
def test_sharded_step_equals_one_pass(shards, extra, threads):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 23, (7, 10))
    tgt = rng.integers(0, 23, (7, 10))
    if "ignore_index" in extra:
        tgt[:2, 3:] = 0                       # parts with different numbers of valid targets
    shards(1)
    ref = _run(_model(**extra), idx, tgt)
    shards(threads)
    m = _model(**extra)
    assert backend.shard_count(7, 10 ** 6) == threads
    got = _run(m, idx, tgt)
    assert got[3] == threads                  # it really ran in parts
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-13, atol=1e-13)
    assert abs(got[1] - ref[1]) < 1e-13
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-11, atol=1e-13)


def test_sharded_accumulate_and_float32(shards):
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 23, (2, 6, 11))
    shards(1)
    m = _model("float32")
    _run(m, a[:, :-1], a[:, 1:])
    ref = _run(m, b[:, :-1], b[:, 1:], accumulate=True)[2]
    shards(2)
    m = _model("float32")
    _run(m, a[:, :-1], a[:, 1:])
    got = _run(m, b[:, :-1], b[:, 1:], accumulate=True)[2]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_sharded_backward_without_accumulate_replaces_the_last_gradient(shards):
    """backward() without accumulate overwrites the previous step's gradient also when the batch
    ran in parts: the first part's gradient is written, the others are added to it. Had the
    first part been added to the buffer too, a model's first step would still be right (the
    buffer starts at 0) but every later step would carry the earlier steps' gradients."""
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 23, (2, 6, 11))
    shards(1)
    ref = _run(_model(), b[:, :-1], b[:, 1:])[2]
    shards(2)
    m = _model()
    _run(m, a[:, :-1], a[:, 1:])
    got, parts = _run(m, b[:, :-1], b[:, 1:])[2:]
    assert parts == 2                         # it really ran in parts
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("threads,batch,ignored", [
    (2, 4, slice(2, None)),     # the second half has nothing to predict
    (3, 7, slice(2, 4)),        # 7 rows over 3 parts are cut 2/2/3: the middle part is empty
])
def test_part_without_valid_targets_falls_back_to_one_pass(shards, threads, batch, ignored):
    rng = np.random.default_rng(threads)
    idx = rng.integers(1, 23, (batch, 10))
    tgt = rng.integers(1, 23, (batch, 10))
    tgt[ignored] = 0
    shards(1)
    _, loss_ref = _model(ignore_index=0).forward(idx, tgt)
    shards(threads)
    m = _model(ignore_index=0)
    _, loss = m.forward(idx, tgt)
    assert len(m._cache) == 1                 # not split
    assert np.isfinite(loss) and abs(float(loss) - float(loss_ref)) < 1e-13


def test_sharded_dropout_is_deterministic_and_resumable(shards):
    shards(2)
    rng = np.random.default_rng(3)
    batches = rng.integers(0, 23, (4, 6, 11))

    def train(n_steps, model=None, opt=None):
        model = model or _model("float32", dropout=0.3)
        opt = opt or AdamW.from_model(model, lr=1e-2)
        for w in batches[:n_steps]:
            model.forward(w[:, :-1], w[:, 1:])
            model.backward()
            opt.step()
        return model, opt

    m1, _ = train(4)
    m2, _ = train(4)
    assert np.array_equal(m1.flat, m2.flat)   # same seed, same parts: bit-identical
    # the dropout masks differ between parts (each row has its own generator)
    m = _model("float32", dropout=0.5)
    m.forward(batches[0][:, :-1], batches[0][:, 1:])
    masks = [c[2].scale for c in m._cache[0]]     # embedding dropout of each part
    assert masks[0].shape == masks[1].shape and not np.array_equal(masks[0], masks[1])


def test_blas_threads_restored_and_errors_propagate(shards):
    shards(2)
    # NumPy's BLAS, the one its matmul calls. Loading the Numba kernels (an earlier float32
    # test) also loads SciPy's own OpenBLAS, which nothing here calls and which the cached
    # controller, made before it was loaded, does not limit: run alone, this file failed.
    def numpy_blas():
        return [d["num_threads"] for d in threadpoolctl.threadpool_info()
                if d["user_api"] == "blas" and "numpy" in d["filepath"]]
    before = numpy_blas()
    seen = []

    def fn(i):
        seen.append(numpy_blas())
        if i == 1:
            raise ValueError("boom in part 1")
        return i

    with pytest.raises(ValueError, match="boom in part 1"):
        backend.run_shards(fn, 2)
    assert all(s == [1] for s in seen), seen               # BLAS on one thread inside
    assert numpy_blas() == before and before
    assert backend.run_shards(lambda i: i * 10, 3) == [0, 10, 20]


def test_no_split_on_one_thread_or_small_work(monkeypatch):
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "1")
    assert backend.shard_count(64, 10 ** 7) == 1
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "2")
    assert backend.shard_count(64, 100) == 1                 # too little work
    assert backend.shard_count(1, 10 ** 7) == 1              # one row cannot be split
    assert backend.shard_count(64, 10 ** 7) == 2


def test_parts_keep_a_minimum_size_on_many_cores(monkeypatch):
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "16")
    m = backend.SHARD_MIN_WORK
    assert backend.shard_count(12, 3 * m) == 3          # baby on 16 cores: 3 parts, not 12
    assert backend.shard_count(64, 200 * m) == 16
    assert backend.shard_count(64, m) == 1


def test_run_shards_on_one_thread_runs_the_parts_in_turn(monkeypatch):
    """run_shards(fn, n) with num_threads() == 1 (NANOGRAD_LLM_THREADS=1 set between a split
    forward and its backward, or a direct call) runs the parts one after another in the calling
    thread; it raised ValueError from ThreadPoolExecutor(max_workers=0)."""
    monkeypatch.setattr(backend, "SHARD_MIN_WORK", 0)
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "1")
    assert backend.run_shards(lambda i: i * 10, 3) == [0, 10, 20]
    rng = np.random.default_rng(2)
    idx, tgt = rng.integers(0, 23, (2, 4, 10))
    ref = _run(_model(), idx, tgt)
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "2")
    m = _model()
    logits, loss = m.forward(idx, tgt)
    assert len(m._cache[0]) == 2              # the forward ran in two parts
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "1")
    m.backward()
    np.testing.assert_allclose(m.grad_flat, ref[2], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("T", [10, 130])          # 130: the causal query tiles (T >= 128)
def test_dropout_does_not_depend_on_the_thread_count(shards, T):
    """Dropout draws each batch row's masks from that row's own generator, so a batch split
    into 2 or 3 parts (or run in one piece) drops the same elements: same loss and gradients up
    to rounding. Each part used to draw from its own generator (seeded per part), so the masks,
    and so the training, changed with NANOGRAD_LLM_THREADS and the machine's core count."""
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 23, (5, T))
    tgt = rng.integers(0, 23, (5, T))
    kw = dict(dropout=0.3, block_size=T)
    results = {}
    for threads in (1, 2, 3):
        shards(threads)
        m = _model(**kw)
        m.set_dropout_seed([1, 2, 3])
        results[threads] = _run(m, idx, tgt)
        assert results[threads][3] == threads
    for threads in (2, 3):
        np.testing.assert_allclose(results[threads][0], results[1][0], rtol=1e-12, atol=1e-13)
        assert abs(results[threads][1] - results[1][1]) < 1e-12
        np.testing.assert_allclose(results[threads][2], results[1][2], rtol=1e-10, atol=1e-13)
    # the rows do not share masks, and the next forward draws new ones
    shards(1)
    m = _model(**kw, n_layer=1)
    m.forward(idx, tgt)
    first = m._cache[0][2].scale                      # embedding dropout, (5, T, 12)
    assert not any(np.array_equal(first[0], first[b]) for b in range(1, 5))
    m.forward(idx, tgt)
    assert not np.array_equal(first, m._cache[0][2].scale)
