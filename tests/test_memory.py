"""Peak memory of the big paths, measured with tracemalloc (NumPy reports its arrays to it).

The bounds are in units of the arrays that dominate each path (a (B, T, V) logits-sized array,
the parameters' size) with a wide margin: they catch a whole extra copy, not a few percent."""
import dataclasses
import gc
import tracemalloc

import numpy as np
import pytest

from nanograd_llm import backend
from nanograd_llm.layers.cross_entropy import cross_entropy_backward, cross_entropy_forward
from nanograd_llm.models.gpt import GPT, GPTConfig


def peak_bytes(fn):
    """(result, the most bytes fn held at once beyond what was allocated before)."""
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _stepped_model_and_optimizer(seed):
    """A GPT (V=512, 4 layers, C=128) and its AdamW after one step on a random batch: weights,
    gradients and both moments filled, as in a run's checkpoint."""
    from nanograd_llm.optim import AdamW
    model = GPT(GPTConfig(vocab_size=512, block_size=32, n_layer=4, n_head=4, n_embd=128),
                seed=0)
    opt = AdamW(model)
    idx = np.random.default_rng(seed).integers(0, 512, (1, 33))
    model.forward(idx[:, :-1], idx[:, 1:])
    model.backward()
    opt.step()
    return model, opt


def test_cross_entropy_forward_allocates_one_logits_sized_array():
    """The forward kept the shifted logits and the probabilities as two (N, V) arrays; exp now
    overwrites the shifted logits, which become the saved probabilities."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 64, 4096)).astype(np.float32)
    t = rng.integers(0, 4096, (4, 64))
    (loss, cache), peak = peak_bytes(lambda: cross_entropy_forward(z, t))
    assert peak < 1.5 * z.nbytes, peak / z.nbytes
    # the same numbers as the two-array computation
    shifted = z.reshape(-1, 4096) - z.reshape(-1, 4096).max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1)
    assert np.array_equal(cache.probs, e / s[:, None])
    nll = np.log(s) - shifted[np.arange(256), t.reshape(-1)]
    assert loss == nll.sum() / np.float32(256)


def test_cross_entropy_backward_can_reuse_the_probabilities():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 64, 4096)).astype(np.float32)
    t = rng.integers(0, 4096, (4, 64))
    t[0, :5] = -1
    _, cache = cross_entropy_forward(z, t, ignore_index=-1)
    want = cross_entropy_backward(0.7, cache)             # a copy: the cache is left as it was
    assert not np.array_equal(want, cache.probs.reshape(want.shape))
    dz, peak = peak_bytes(lambda: cross_entropy_backward(0.7, cache, reuse_probs=True))
    assert peak < 0.5 * z.nbytes, peak / z.nbytes
    assert np.shares_memory(dz, cache.probs) and np.array_equal(dz, want)


# A model whose logits dwarf everything else: (B, T, V) = (2, 64, 8192), 4 MiB in float32
BIG_V = dict(vocab_size=8192, block_size=64, n_layer=1, n_head=2, n_embd=8)


def _step(model, idx):
    def run():
        model.forward(idx[:, :-1], idx[:, 1:])     # the trainer drops the logits at once
        return model.backward()
    return run


@pytest.mark.parametrize("threads", [1, 2])
def test_a_training_step_holds_at_most_two_logits_sized_arrays(monkeypatch, threads):
    """forward + backward held up to four (B, T, V) arrays at once: the logits, the shifted
    logits, the probabilities (kept until the next forward), dlogits (alive through the whole
    backward), and with the batch split over threads the parts' logits beside their
    concatenation. The minimum is two: the logits the forward returns and the probabilities the
    backward needs, which become dlogits."""
    monkeypatch.setattr(backend, "SHARD_MIN_WORK", 0)
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", str(threads))
    model = GPT(GPTConfig(**BIG_V), seed=0)
    idx = np.random.default_rng(2).integers(0, 8192, (2, 65))
    btv = 2 * 64 * 8192 * 4
    _step(model, idx)()                            # first use: kernels compiled, caches filled
    ref = {k: v.copy() for k, v in model.grads.items()}
    model.release_activations()
    _, peak = peak_bytes(_step(model, idx))
    assert peak < 2.6 * btv, peak / btv
    assert all(np.array_equal(model.grads[k], ref[k]) for k in ref)


def test_backward_frees_the_activations_and_a_second_one_says_why_it_cannot_run():
    model = GPT(GPTConfig(**BIG_V), seed=0)
    idx = np.random.default_rng(3).integers(0, 8192, (1, 65))
    model.forward(idx[:, :-1], idx[:, 1:])
    model.backward()
    assert model._cache is None
    with pytest.raises(RuntimeError, match=r"already called for the last forward.*forward"):
        model.backward()
    model.forward(idx[:, :-1], idx[:, 1:])          # a new forward allows a new backward
    model.backward()


def test_building_a_model_holds_no_float64_copy_of_all_its_weights():
    """The initial values were drawn in float64 for every parameter before any was written into
    the float32 buffer: 4x the parameters' bytes at the peak (GPT-2 small: 2 GB for 0.5 GB of
    weights; load_hf and a resume build the model the same way). Each is written as it is drawn."""
    cfg = GPTConfig(vocab_size=512, block_size=32, n_layer=8, n_head=4, n_embd=128)
    model, peak = peak_bytes(lambda: GPT(cfg, seed=0))
    assert peak < 3.0 * model.flat.nbytes, peak / model.flat.nbytes
    ref = GPT(cfg, seed=0, dtype="float64")          # the same draws, rounded to float32
    assert np.array_equal(model.flat, ref.flat.astype(np.float32))


def test_saving_writes_the_weights_and_moments_without_copying_them(tmp_path):
    """save_checkpoint copied the weights (model.state_dict()) and both AdamW moments
    (optimizer.state_dict()) before writing them, save_hf the weights: up to 3x the weights'
    bytes held only to be written out (GPT-2 small: 1.5 GB). They are written from the model's
    and the optimizer's own arrays; the files are the same."""
    pytest.importorskip("safetensors")
    from nanograd_llm.checkpoint import load_checkpoint, save_checkpoint
    from nanograd_llm.hf import load_hf
    model, opt = _stepped_model_and_optimizer(4)
    size = model.flat.nbytes
    _, peak = peak_bytes(lambda: save_checkpoint(tmp_path / "run", model, opt, None, 1))
    assert peak < 2.0 * size, peak / size
    # The weights alone: beside the moments (numpy writes each as one chunk, 1x) a copy of the
    # weights did not show above (1.6x)
    _, peak = peak_bytes(lambda: save_checkpoint(tmp_path / "weights", model, None, None, 1))
    assert peak < 1.1 * size, peak / size              # 0.61x; 1.61x with a copy
    _, peak = peak_bytes(lambda: model.save_hf(tmp_path / "hf"))
    # safetensors before 0.8 (no TensorSpec) turns every tensor into bytes before it writes the
    # file: one copy of the weights that is the package's own, whatever save_hf passes it
    import safetensors
    package_copies = 0 if hasattr(safetensors, "TensorSpec") else 1
    assert peak < (0.6 + package_copies) * size, peak / size
    st = load_checkpoint(tmp_path / "run")
    assert np.array_equal(st["model"].flat, model.flat)
    assert np.array_equal(st["optimizer_state"]["m"]["flat"], opt.m)
    assert np.array_equal(st["optimizer_state"]["v"]["flat"], opt.v)
    assert np.array_equal(load_hf(tmp_path / "hf").flat, model.flat)


def test_adamw_holds_two_moments_and_no_parameter_sized_scratch(monkeypatch):
    """AdamW kept a third parameter-sized array beside m and v, scratch space for the generic
    update (the path without Numba, and float64): 5x the weights with parameters and gradients
    instead of 4x (GPT-2 small: 0.5 GB more). The scratch is now one cache-sized block, made
    during the step (tests/test_optim.py checks the update)."""
    from nanograd_llm.optim import AdamW
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "0")
    # One thread: each thread of backend.for_row_blocks holds its own 1 MiB block of scratch, so
    # with 8 threads (the usable cores when unset) the blocks alone were 0.91x these weights
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "1")
    cfg = GPTConfig(vocab_size=512, block_size=32, n_layer=8, n_head=4, n_embd=128)
    model = GPT(cfg, seed=0)
    idx = np.random.default_rng(5).integers(0, 512, (1, 33))
    model.forward(idx[:, :-1], idx[:, 1:])
    model.backward()
    size = model.flat.nbytes

    def first_step():
        # AdamW makes its moments on first use (a resume adopts the ones it read): building it
        # alone allocates nothing, the first step makes m and v (2x) beside its scratch
        opt = AdamW(model)
        opt.step()
        return opt
    opt, peak = peak_bytes(first_step)
    assert peak < 2.5 * size, peak / size              # was 3.0x with the scratch array
    _, peak = peak_bytes(lambda: [opt.step() for _ in range(2)])
    assert peak < 0.9 * size, peak / size              # one 1 MiB block at a time


def test_evaluation_and_sampling_keep_no_activations():
    """`eval` ran the model's training forward, which keeps every block's activations for a
    backward pass that never comes, beside the logits and two logits-sized temporaries of the
    loss; sampling's first pass over the prompt (the KV cache's prefill) kept them too, until
    it ended. Now each block's activations are freed as soon as the block has its output: the
    peak is about one block's, not all of them (the same losses and tokens). Freed only once the
    next block had run, two blocks' were held at once (eval 0.37, sampling 0.52)."""
    from nanograd_llm.evaluate import evaluate_ids
    cfg = GPTConfig(vocab_size=256, block_size=256, n_layer=6, n_head=4, n_embd=64)
    model = GPT(cfg, seed=0)
    ids = np.random.default_rng(6).integers(0, 256, 4 * 256 + 1)
    x = ids[:-1].reshape(4, 256)
    model.eval()
    model.forward(x)                                   # first use: kernels compiled
    _, full = peak_bytes(lambda: model.forward(x))     # every block's activations kept
    model.release_activations()
    ref = evaluate_ids(model, ids)
    result, peak = peak_bytes(lambda: evaluate_ids(model, ids))
    assert peak < 0.29 * full, peak / full             # 0.21; was 1.04
    assert result.nll == ref.nll
    prompt = ids[None, :250]
    _, full = peak_bytes(lambda: model.forward(prompt))
    model.release_activations()
    want = model.generate(prompt, 3, seed=0)
    got, peak = peak_bytes(lambda: model.generate(prompt, 3, seed=0))
    assert peak < 0.42 * full, peak / full             # 0.32; was 1.29
    assert np.array_equal(got, want)
    with pytest.raises(RuntimeError, match=r"keep_activations=False"):
        model.forward(x, x, keep_activations=False)
        model.backward()


@pytest.mark.parametrize("threads", [1, 2])
def test_backward_writes_each_gradient_into_the_buffer_as_it_is_made(monkeypatch, threads):
    """The backward collected every gradient in fresh arrays and copied them into grad_flat only
    at the end: one more parameter-sized copy at its peak, one per part when the batch ran on
    two threads (GPT-2 small with a short context, e.g. block_size=256: this was the step's
    peak). Each gradient is now written (or added) as soon as it is made; with parts, the first
    part's are, and the others' are added after it, in the same order as before."""
    monkeypatch.setattr(backend, "SHARD_MIN_WORK", 0)
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", str(threads))
    cfg = GPTConfig(vocab_size=512, block_size=16, n_layer=6, n_head=4, n_embd=128)
    model = GPT(cfg, seed=0)
    idx = np.random.default_rng(7).integers(0, 512, (2, 17))
    size = model.flat.nbytes
    model.grad_flat                   # the buffer itself (made on first use) is not measured
    for accumulate in (False, True):
        model.forward(idx[:, :-1], idx[:, 1:])
        _, peak = peak_bytes(lambda: model.backward(accumulate=accumulate))
        limit = 0.5 if threads == 1 else 1.6          # was 1.09 and 2.07
        assert peak < limit * size, (accumulate, peak / size)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_training_step_without_logits_holds_one_logits_sized_array(monkeypatch, threads):
    """The trainer never uses the logits, yet every step made them beside the loss's
    probabilities (and kept them in `_` through the backward). With return_logits=False the
    loss computes its probabilities, then dlogits, in the logits' own memory: one (B, T, V)
    array for the whole step instead of two, the same loss and gradients."""
    monkeypatch.setattr(backend, "SHARD_MIN_WORK", 0)
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", str(threads))
    model = GPT(GPTConfig(**BIG_V), seed=0)
    idx = np.random.default_rng(2).integers(0, 8192, (2, 65))
    btv = 2 * 64 * 8192 * 4
    _, want = model.forward(idx[:, :-1], idx[:, 1:])
    ref = {k: v.copy() for k, v in model.backward().items()}

    def step():
        logits, loss = model.forward(idx[:, :-1], idx[:, 1:], return_logits=False)
        assert logits is None
        model.backward()
        return loss
    loss, peak = peak_bytes(step)
    assert peak < 1.6 * btv, peak / btv                  # 2.04 with the logits
    assert loss == want
    assert all(np.array_equal(model.grads[k], ref[k]) for k in ref)
    with pytest.raises(ValueError, match="return_logits=False returns only the loss"):
        model.forward(idx[:, :-1], return_logits=False)


def test_the_trainer_asks_for_the_loss_only(tmp_path, monkeypatch):
    from _train_helpers import tiny_config
    from nanograd_llm.train import train
    import functools
    seen = []
    real = GPT.forward

    @functools.wraps(real)               # the same signature (the trainer inspects it)
    def record(self, idx, targets=None, **kw):
        seen.append(kw.get("return_logits", True))
        return real(self, idx, targets, **kw)
    monkeypatch.setattr(GPT, "forward", record)
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2, eval_iters=1), quiet=True)
    assert seen and not any(seen)            # training steps and estimate_loss alike


def test_resuming_takes_over_the_moments_it_read(tmp_path, monkeypatch):
    """A resume read the checkpoint's two moments, then AdamW made two zero moments and copied
    the read ones in: 7x the weights at the peak (model 2, read 3, AdamW 2) where 5x do (GPT-2
    small: 1 GB more). AdamW now makes its moments on first use, and the trainer hands it the
    arrays it read (load_state_dict(adopt=True)); the same numbers."""
    from _train_helpers import tiny_config
    from nanograd_llm.checkpoint import load_checkpoint, save_checkpoint
    from nanograd_llm.optim import AdamW
    from nanograd_llm.train import train
    model, opt = _stepped_model_and_optimizer(8)
    save_checkpoint(tmp_path / "ck", model, opt, None, 1)
    size = model.flat.nbytes
    st = load_checkpoint(tmp_path / "ck")

    def resume():
        o = AdamW(st["model"])
        o.load_state_dict(st.pop("optimizer_state"), adopt=True)
        return o
    new, peak = peak_bytes(resume)
    assert peak < 0.5 * size, peak / size
    assert np.array_equal(new.m, opt.m) and np.array_equal(new.v, opt.v) and new.t == 1
    # the trainer's resume hands the moments over
    seen = []
    real = AdamW.load_state_dict

    def record(self, state, source="optimizer state", adopt=False, **kw):
        seen.append(adopt)
        return real(self, state, source, adopt, **kw)
    monkeypatch.setattr(AdamW, "load_state_dict", record)
    cfg = tiny_config(tmp_path, max_iters=2, eval_interval=2, eval_iters=1)
    train(cfg, quiet=True)
    train(dataclasses.replace(cfg, max_iters=3), resume=True, quiet=True)
    assert seen == [True]


@pytest.mark.parametrize("unfit", ["float64", "read-only", "strided", "memmap"])
def test_adopt_copies_a_moment_it_cannot_take_over(unfit, tmp_path):
    """load_state_dict(adopt=True) takes over only a writeable, contiguous array of the
    parameters' dtype; any other (a float64 state for a float32 model, a read-only or memory-
    mapped array, a strided view, a memory map of a file) is copied into a moment of the model's own kind, so that the
    next step neither fails on it nor keeps a moment of another dtype (a checkpoint twice as
    big)."""
    from nanograd_llm.optim import AdamW
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0,
                dtype="float32")
    n = model.flat.size
    rng = np.random.default_rng(0)
    m, v = rng.standard_normal(n), rng.random(n)
    if unfit == "float64":
        new_m, new_v = m.copy(), v.copy()
    elif unfit == "read-only":
        new_m, new_v = m.astype(np.float32), v.astype(np.float32)
        new_m.flags.writeable = new_v.flags.writeable = False
    elif unfit == "memmap":
        # a writeable map of a file: taken over, every step would write into that file
        np.save(tmp_path / "m.npy", m.astype(np.float32))
        np.save(tmp_path / "v.npy", v.astype(np.float32))
        new_m = np.load(tmp_path / "m.npy", mmap_mode="r+")
        new_v = np.load(tmp_path / "v.npy", mmap_mode="r+")
    else:
        new_m = np.repeat(m.astype(np.float32), 2)[::2]
        new_v = np.repeat(v.astype(np.float32), 2)[::2]
    opt = AdamW(model)
    st = opt.state_dict()
    st["m"], st["v"], st["t"] = {"flat": new_m}, {"flat": new_v}, 3
    opt.load_state_dict(st, adopt=True)
    for mine, given, want in ((opt.m, new_m, m), (opt.v, new_v, v)):
        assert mine is not given
        assert mine.dtype == np.float32 and mine.flags.c_contiguous and mine.flags.writeable
        np.testing.assert_allclose(mine, want.astype(np.float32))
    idx = rng.integers(0, 16, (1, 9))
    model.forward(idx[:, :-1], idx[:, 1:])
    model.backward()
    opt.step()                                      # no "read-only" error
    assert opt.m.dtype == np.float32 and opt.v.dtype == np.float32


def test_a_new_forward_after_a_backward_says_why_its_backward_cannot_run():
    """The "already called" state of a backward belongs to its forward: after forward +
    backward, a forward that keeps nothing (keep_activations=False, a KV cache) makes the next
    backward say why, not "already called for the last forward"."""
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    idx = np.random.default_rng(1).integers(0, 16, (1, 9))
    model.forward(idx[:, :-1], idx[:, 1:])
    model.backward()
    model.forward(idx[:, :-1], idx[:, 1:], keep_activations=False)
    with pytest.raises(RuntimeError, match="keep_activations=False"):
        model.backward()
    model.forward(idx[:, :-1], idx[:, 1:])
    model.backward()
    model.forward(idx[:, :4], kv_cache=model.new_kv_cache(1))
    with pytest.raises(RuntimeError, match="kv_cache"):
        model.backward()


def test_backward_drops_each_blocks_cache_once_it_is_through(monkeypatch):
    """The backward frees the activations as it goes: when block i's backward runs, the caches
    of the blocks after it (already through) are no longer held, so the peak does not keep all
    of them to the end."""
    import sys
    from nanograd_llm.models import gpt
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=3, n_head=2, n_embd=8), seed=0)
    idx = np.random.default_rng(2).integers(0, 16, (1, 9))
    real = gpt.block_backward
    held = []

    def spy(dx, cache):
        blocks = sys._getframe(1).f_locals["c_blocks"]
        held.append([c is not None for c in blocks])
        return real(dx, cache)
    monkeypatch.setattr(gpt, "block_backward", spy)
    model.forward(idx[:, :-1], idx[:, 1:])
    model.backward()
    assert held == [[True, True, True], [True, True, False], [True, False, False]]


def test_state_dicts_are_copies_unless_asked_for_views():
    """copy=False is for a save that writes at once; the plain state_dict() of the model and
    of AdamW stays a snapshot: the next step does not change it."""
    from nanograd_llm.optim import AdamW
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    opt = AdamW(model)
    idx = np.random.default_rng(4).integers(0, 16, (1, 9))

    def step():
        model.forward(idx[:, :-1], idx[:, 1:])
        model.backward()
        opt.step()
    step()
    ms, os_ = model.state_dict(), opt.state_dict()
    kept = ({k: a.copy() for k, a in ms.items()}, os_["m"]["flat"].copy(), os_["v"]["flat"].copy())
    step()
    assert all(np.array_equal(ms[k], a) for k, a in kept[0].items())
    assert np.array_equal(os_["m"]["flat"], kept[1]) and np.array_equal(os_["v"]["flat"], kept[2])


@pytest.mark.parametrize("shared", ["same array", "overlapping views", "the weights"])
def test_adopt_copies_a_moment_that_shares_memory(shared):
    """load_state_dict(adopt=True) took over both moments even when they were one array (or two
    overlapping views of one buffer): every write to m then changed v, and each step was
    silently wrong. A moment that shares memory with the other one, or with the model's
    weights or gradients, is copied: the steps are those of a load that copies."""
    from nanograd_llm.optim import AdamW

    def stepped(adopt):
        model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8),
                    seed=0, dtype="float32")
        n = model.flat.size
        values = np.random.default_rng(1).random(n + 1).astype(np.float32)
        if shared == "same array":
            m = v = values[:n].copy()
        elif shared == "overlapping views":
            buf = values.copy()
            m, v = buf[:n], buf[1:]
        else:
            m, v = model.flat, values[:n].copy()
        opt = AdamW(model)
        st = opt.state_dict()
        st["m"], st["v"], st["t"] = {"flat": m}, {"flat": v}, 3
        opt.load_state_dict(st, adopt=adopt)
        if adopt:
            assert not np.may_share_memory(opt.m, opt.v)
            for a in (opt.m, opt.v):
                assert not np.may_share_memory(a, model.flat)
                assert not np.may_share_memory(a, model.grad_flat)
        for _ in range(2):
            model.grad_flat[...] = np.random.default_rng(2).standard_normal(n)
            opt.step()
        return model.flat.copy(), opt.m.copy(), opt.v.copy()

    for got, want in zip(stepped(True), stepped(False)):
        np.testing.assert_array_equal(got, want)


def test_adopt_refuses_a_moment_of_the_wrong_size():
    """The shapes are checked before a moment is taken over: one of another model is a clear
    ValueError, not a moment of the wrong size (or a broadcasting error at the next step)."""
    from nanograd_llm.optim import AdamW
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    opt = AdamW(model)
    st = opt.state_dict()
    n = model.flat.size
    for size in (n - 1, 1):
        st["m"] = {"flat": np.zeros(size, dtype=model.flat.dtype)}
        for adopt in (False, True):
            with pytest.raises(ValueError, match=r"m\['flat'\] has shape"):
                opt.load_state_dict(st, adopt=adopt)
    for keys in ({"weights": np.zeros(n, dtype=model.flat.dtype)}, {}):
        st["m"] = keys
        with pytest.raises(ValueError, match="moment 'm' does not match the parameters"):
            opt.load_state_dict(st, adopt=True)


def test_token_nll_allocates_one_logits_sized_array():
    """evaluate.token_nll computes exp(z − m) in the array of z − m: one logits-sized array
    beyond the logits, not two (V = 50 257 makes them the largest arrays of an evaluation)."""
    from nanograd_llm.evaluate import token_nll
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((2, 64, 8192)).astype(np.float32)
    targets = rng.integers(0, 8192, (2, 64))
    nll, peak = peak_bytes(lambda: token_nll(logits, targets))
    assert peak < 1.5 * logits.nbytes, peak / logits.nbytes
    z = logits.astype(np.float64)
    want = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1) - \
        np.take_along_axis(z, targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(nll, want, rtol=1e-5)


def test_a_model_makes_its_gradient_buffer_at_the_first_backward(tmp_path):
    """The gradient buffer (grad_flat, 1x the weights) was allocated with the model, also for
    sampling, evaluation and chat, which never run a backward (GPT-2 small: 0.5 GB of zeros).
    It is made on first use: the same gradients (accumulating into a fresh model adds to
    zeros), the same AdamW step."""
    from nanograd_llm.checkpoint import load_model, save_checkpoint
    from nanograd_llm.evaluate import evaluate_ids
    from nanograd_llm.optim import AdamW
    cfg = GPTConfig(vocab_size=512, block_size=32, n_layer=8, n_head=4, n_embd=128)
    ids = np.random.default_rng(9).integers(0, 512, 2 * 32 + 1)
    prompt = ids[None, :8]

    def build_and_sample():
        model = GPT(cfg, seed=0)
        model.eval()
        model.generate(prompt, 3, seed=0)
        evaluate_ids(model, ids)
        return model
    build_and_sample()                                  # first use: kernels compiled
    model, peak = peak_bytes(build_and_sample)
    size = model.flat.nbytes
    assert peak < 1.5 * size, peak / size              # 1.13; 2.02 with the buffer
    save_checkpoint(tmp_path / "run", model, None, None, 1)
    _, peak = peak_bytes(lambda: load_model(tmp_path / "run"))
    assert peak < 1.5 * size, peak / size              # 1.1; 2.1 reading before building
    # training: the same gradients and steps as a model whose buffer exists from the start
    x, y = ids[None, :32], ids[None, 1:33]
    lazy, eager = GPT(cfg, seed=0), GPT(cfg, seed=0)
    eager.zero_grad()
    eager.grad_flat[...] = 0
    for m in (lazy, eager):
        m.forward(x, y)
    lazy.backward(accumulate=True)
    eager.backward()
    assert np.array_equal(lazy.grad_flat, eager.grad_flat)
    assert all(np.array_equal(lazy.grads[k], eager.grad_flat[o:o + int(np.prod(s))].reshape(s))
               for k, o, s in lazy.layout)
    fresh = GPT(cfg, seed=0)
    opt = AdamW(fresh)
    opt.step()                                          # a step before any backward: zeros
    ref = GPT(cfg, seed=0)
    ref.grad_flat[...] = 0
    AdamW(ref).step(ref.grads)
    assert np.array_equal(fresh.flat, ref.flat) and not fresh.grad_flat.any()


@pytest.mark.parametrize("kind", ["float32", "float16", "bfloat16", "sharded"])
def test_loading_a_gpt2_folder_reads_one_tensor_at_a_time(tmp_path, kind):
    """load_hf read every tensor of the folder, then built the model and copied them in: the
    weights twice at once, 2.6x with the model's float64 drawing (GPT-2 small: 1.3 GB for
    0.5 GB of weights). Names, dtypes and shapes are now checked from the files' headers, the
    model is built, and each tensor is read as it is copied: the same weights."""
    pytest.importorskip("safetensors")
    import json
    from safetensors.numpy import load_file, save_file
    from nanograd_llm.hf import load_hf, read_hf_tensors
    # GPT-2 small's proportions: the embedding table is about a third of the weights
    cfg = GPTConfig(vocab_size=4096, block_size=64, n_layer=6, n_head=4, n_embd=128)
    model = GPT(cfg, seed=1)
    model.save_hf(tmp_path)
    f = tmp_path / "model.safetensors"
    if kind == "float16":
        save_file({k: a.astype(np.float16) for k, a in load_file(str(f)).items()}, str(f))
    elif kind == "bfloat16":
        # the upper 16 bits of each float32 (the reader's own test is in test_hf_files.py)
        raw = f.read_bytes()
        n = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + n])
        parts, at = [], 0
        for name, info in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                                 key=lambda kv: kv[1]["data_offsets"][0]):
            lo, hi = info["data_offsets"]
            b = (np.frombuffer(raw[8 + n + lo:8 + n + hi], "<u4") >> 16).astype("<u2")
            header[name] = dict(info, dtype="BF16", data_offsets=[at, at + b.nbytes])
            parts.append(b.tobytes())
            at += b.nbytes
        head = json.dumps(header).encode()
        head += b" " * (-len(head) % 8)
        f.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(parts))
    elif kind == "sharded":
        tensors = load_file(str(f))
        names = sorted(tensors)
        half = {n: ("a.safetensors" if i % 2 else "b.safetensors") for i, n in enumerate(names)}
        for shard in ("a.safetensors", "b.safetensors"):
            save_file({n: tensors[n] for n in names if half[n] == shard}, str(tmp_path / shard))
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": half}))
        f.unlink()
    want = {k.removeprefix("transformer."): a for k, a in read_hf_tensors(tmp_path).items()}
    loaded, peak = peak_bytes(lambda: load_hf(tmp_path))
    size = loaded.flat.nbytes
    assert peak < 2.0 * size, peak / size         # 1.3 (16-bit: 1.5); drawing 1.6; was 2.6
    for name, p in loaded.params.items():
        assert np.array_equal(p, want[name].astype(np.float32)), name
    short, peak = peak_bytes(lambda: load_hf(tmp_path, block_size=16))
    assert peak < 2.0 * size, peak / size
    assert np.array_equal(short.params["wpe.weight"], loaded.params["wpe.weight"][:16])


def test_a_gpt2_folder_is_refused_before_any_weight_is_built(tmp_path, monkeypatch):
    """The refusals load_state_dict made once the model was built (a missing, unexpected or
    wrongly shaped tensor) now come from the files' headers first, with the same messages."""
    pytest.importorskip("safetensors")
    import json
    from safetensors.numpy import load_file, save_file
    from nanograd_llm.hf import load_hf
    from nanograd_llm.models import base
    GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=16),
        seed=0).save_hf(tmp_path)
    f = tmp_path / "model.safetensors"
    good = load_file(str(f))
    built = []
    real = base.ParamModel.__init__

    def spy(self, *a, **kw):
        built.append(type(self).__name__)
        real(self, *a, **kw)
    monkeypatch.setattr(base.ParamModel, "__init__", spy)
    cases = [({k: a for k, a in good.items() if "ln_f" not in k},
              r"does not match the model: missing \['ln_f.weight', 'ln_f.bias'\], unexpected \[\]"),
             ({**good, "transformer.extra": np.zeros(3, np.float32)},
              r"missing \[\], unexpected \['extra'\]"),
             ({**good, "transformer.h.1.mlp.c_fc.weight": np.zeros((16, 63), np.float32)},
              r"tensor 'h.1.mlp.c_fc.weight' has shape \(16, 63\), the model expects \(16, 64\)")]
    for tensors, match in cases:
        save_file(tensors, str(f))
        with pytest.raises(ValueError, match=match):
            load_hf(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "tie_word_embeddings": False}))
    save_file(good, str(f))
    with pytest.raises(ValueError, match="'lm_head.weight' is missing"):
        load_hf(tmp_path)
    assert built == []
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    load_hf(tmp_path)
    assert built == ["GPT"]


def test_a_resume_reads_the_weights_into_the_model_and_the_moments_last(tmp_path):
    """load_checkpoint read the weights and both moments before it built the model: the
    weights twice beside the moments (4.1x with the model's drawing; GPT-2 small 2 GB). The
    files are now opened and checked under one manifest, the model is built, the weights are
    read into it one array at a time and the moments last: the same numbers."""
    from nanograd_llm.checkpoint import load_checkpoint, save_checkpoint
    from nanograd_llm.optim import AdamW
    model, opt = _stepped_model_and_optimizer(10)
    save_checkpoint(tmp_path / "ck", model, opt, None, 1)
    size = model.flat.nbytes

    def resume():
        st = load_checkpoint(tmp_path / "ck")
        o = AdamW(st["model"])
        o.load_state_dict(st.pop("optimizer_state"), adopt=True)
        return st["model"], o
    (got, got_opt), peak = peak_bytes(resume)
    assert peak < 3.5 * size, peak / size              # 3.2: weights and moments; was 4.2
    assert np.array_equal(got.flat, model.flat)
    assert np.array_equal(got_opt.m, opt.m) and np.array_equal(got_opt.v, opt.v)
    assert got_opt.t == opt.t


def test_dropout_keeps_its_mask_as_one_byte_per_element():
    """The dropout cache held its mask as m/(1-p) in the data's dtype: 4 bytes per element in
    float32, for every attention weight (B, nh, T, T) too. It holds the kept elements as bool
    and 1/(1-p) as one number: a quarter of that, and the same numbers bit for bit (x ⊙ m,
    then ⊙ 1/(1-p): signed zeros, infinities and NaN included)."""
    from nanograd_llm.layers.attention import attention_backward, attention_forward
    from nanograd_llm.layers.dropout import dropout_backward, dropout_forward

    def held(fn):
        """(result, the bytes fn allocated that are still held with the result)."""
        gc.collect()
        tracemalloc.start()
        try:
            out = fn()
            return out, tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 64, 1024)).astype(np.float32)
    x.flat[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, np.finfo(np.float32).max]
    (out, cache), size = held(lambda: dropout_forward(x, 0.3, np.random.default_rng(1)))
    assert size < 1.4 * x.nbytes, size / x.nbytes       # out + a bool mask: 1.25; was 2.0
    scale = (np.random.default_rng(1).random(x.shape, dtype=np.float32) >= 0.3) \
        .astype(np.float32)
    scale *= 1.0 / (1.0 - 0.3)                          # the old float mask
    with np.errstate(over="ignore", invalid="ignore"):
        assert (x * scale).tobytes() == out.tobytes()
        dout = x[::-1].copy()
        assert (dout * scale).tobytes() == dropout_backward(dout, cache).tobytes()
    assert np.array_equal(cache.scale, scale)
    q, k, v = (rng.standard_normal((2, 4, 256, 8)).astype(np.float32) for _ in range(3))
    att = 2 * 4 * 256 * 256 * 4                         # the attention weights' bytes
    attention_forward(q, k, v, 0.1, np.random.default_rng(2))   # first use: kernels, masks
    ((y, cache), size) = held(lambda: attention_forward(q, k, v, 0.1, np.random.default_rng(2)))
    assert size < 1.5 * att, size / att                 # weights + bool mask: 1.25; was 2.0
    dq, dk, dv = attention_backward(y, cache)
    a = cache.att
    s = (np.random.default_rng(2).random(a.shape, dtype=np.float32) >= 0.1).astype(np.float32)
    s *= 1.0 / (1.0 - 0.1)
    assert np.array_equal((a * s) @ v, y)


def test_a_loader_builds_its_model_without_drawing_weights(tmp_path, monkeypatch):
    """load_hf and load_checkpoint built the model with its random initial weights (float64
    normal draws, parameter by parameter: 124M of them for GPT-2 small) and then overwrote
    every one: the largest parameter's float64 draw was the load's peak (1.6x the weights with
    GPT-2 small's proportions). They now build it with init_weights=False (zeros): no draw at
    all, the same weights, seed and dropout generator. A missing name is still refused before
    anything is copied, and a read that fails half-way raises instead of giving a model."""
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file, save_file
    from nanograd_llm.checkpoint import load_checkpoint, load_model, save_checkpoint
    from nanograd_llm.hf import load_hf
    from nanograd_llm.models import base
    from nanograd_llm.models.bigram import BigramLM
    # GPT-2 small's proportions: the embedding table is about a third of the weights
    cfg = GPTConfig(vocab_size=4096, block_size=64, n_layer=6, n_head=4, n_embd=128,
                    dropout=0.1)
    model = GPT(cfg, seed=1)
    model.save_hf(tmp_path / "hf")
    save_checkpoint(tmp_path / "ck", model, None, None, 1)
    bigram = BigramLM(50, seed=2, dtype="float64")
    save_checkpoint(tmp_path / "bigram", bigram, None, None, 1)
    size = model.flat.nbytes
    load_hf(tmp_path / "hf"), load_model(tmp_path / "ck")    # first use: imports, kernels
    _, peak = peak_bytes(lambda: load_hf(tmp_path / "hf"))
    assert peak < 1.45 * size, peak / size              # 1.32; 1.63 drawing
    _, peak = peak_bytes(lambda: load_model(tmp_path / "ck"))
    assert peak < 1.5 * size, peak / size               # 1.41; 1.63 drawing
    ref = GPT(cfg, seed=0)                              # what a load used to build
    empty = GPT(cfg, seed=0, init_weights=False)
    assert not empty.flat.any() and empty.seed == 0
    assert empty.rng.bit_generator.state == ref.rng.bit_generator.state

    def no_draw(seed):
        raise AssertionError("a loader drew initial weights")
    monkeypatch.setattr(base, "host_rng", no_draw)
    loads = {"load_hf": load_hf(tmp_path / "hf"), "load_model": load_model(tmp_path / "ck"),
             "load_checkpoint": load_checkpoint(tmp_path / "ck")["model"]}
    for name, got in loads.items():
        assert np.array_equal(got.flat, model.flat), name
        assert got.seed == 0 and got.rng.bit_generator.state == ref.rng.bit_generator.state, name
        assert got.grad_flat_if_made() is None, name
    got = load_model(tmp_path / "bigram")
    assert type(got) is BigramLM and np.array_equal(got.flat, bigram.flat)
    with pytest.raises(AssertionError, match="drew"):
        GPT(cfg)                                        # a model of its own still draws
    # a missing tensor: the same refusal, before any weight is copied
    f = tmp_path / "hf" / "model.safetensors"
    good = load_file(str(f))
    save_file({k: a for k, a in good.items() if "ln_f" not in k}, str(f))
    with pytest.raises(ValueError, match=r"missing \['ln_f.weight', 'ln_f.bias'\]"):
        load_hf(tmp_path / "hf")
    save_file(good, str(f))
    # a read that fails half-way: its error, no model
    real = base.ParamModel.load_state_dict

    def fail_half_way(self, state, source="state dict"):
        name = list(state)[len(state) // 2]
        arr = state[name]

        def read():
            raise OSError("the disk went away")
        state = {**state, name: base.DeferredArray(arr.shape, arr.dtype, read)}
        return real(self, state, source)
    monkeypatch.setattr(base.ParamModel, "load_state_dict", fail_half_way)
    for load in (lambda: load_hf(tmp_path / "hf"), lambda: load_model(tmp_path / "ck")):
        with pytest.raises(OSError, match="the disk went away"):
            load()


def test_a_last_only_forward_keeps_no_activations():
    """forward(last_only=True) (generation without a KV cache, use_cache=False) is never
    followed by a backward: like keep_activations=False it must not hold every block's
    activations after it returns (a model that kept them passed every output check)."""
    model = GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=4, n_head=2, n_embd=64), seed=0)
    idx = np.random.default_rng(0).integers(0, 50, (2, 32))
    model.forward(idx, keep_activations=False)           # first-call caches (masks, tables)
    gc.collect()
    tracemalloc.start()
    try:
        out, _ = model.forward(idx, last_only=True)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # the (2, 1, 50) logits and bookkeeping; one block's activations alone are > 100 kB
    assert out.shape == (2, 1, 50)
    assert held < 64 * 1024, held
