"""The package's `--device cuda` code paths, run on the CPU under a fake CuPy (tests/fake_cupy.py).

Sahte CuPy ne yapar: `cupy` (ve `cupy.cuda`, `cupy._core._routines_linalg`) modüllerini yalnızca
bu testlerin süresince sys.modules'e koyar. Dizisi NumPy'ınkinden ayrı bir türdür ve altında NumPy
ile hesap yapar, ama CuPy'ın kurallarına uyar: örtük bir NumPy dönüşümü (`np.asarray(x)`) ve bir
NumPy dizisiyle karışık işlem TypeError verir; aygıttan okumalar (`.get()`, `float()`, `bool()`,
`.item()` …) ve aygıta kopyalar (`cupy.asarray(numpy_dizisi)`) sayılır, her biri onu yapan
nanograd_llm satırıyla. Böylece GPU'suz bir makinede şunlar yakalanır: GPU dizisine karışan bir NumPy
sabiti, ana belleğe örtük bir dönüşüm, eğitim döngüsünde gizli bir eşitleme ya da kopya.

Ne yapmaz: CUDA çekirdeklerini (cuda_kernels.py: testler NANOGRAD_LLM_FUSED=0 ile genel kod yolunu
çalıştırır), CUDA grafiklerini (kayıt denemesi başarısız olur ve TrainStep olağan yola döner),
gerçek eşzamansızlığı, CuPy'ın rastgele sayılarını (dropout maskeleri CPU'dakinden farklıdır ama
gerçek GPU'dakilerle de aynı değildir), bellek sınırlarını ve float32 toplamların GPU'daki
sırasını modellemez. tests/test_gpu.py gerçek GPU'da bunları denetler. Tamsayı dizisiyle
indekslemede sınır dışı bir indeksi ise CuPy gibi başa sarar (hata vermez).
"""
import contextlib
import dataclasses
import io
import json
import sys

import numpy as np
import pytest

import fake_cupy
from _train_helpers import TEXT, tiny_config
from nanograd_llm import GPT, BigramLM, GPTConfig, backend, cli
from nanograd_llm.backend import to_numpy
from nanograd_llm.layers import attention, positional

# Katman normalizasyonunun genel (CPU başvuru) yolu, taşan satırları bulmak için her ileri
# geçişte `bool(finite.all())` okur (layernorm.py'deki açıklama: GPU'da bunu çekirdek yapar).
# NANOGRAD_LLM_FUSED=0 ile GPU'da da bu yol çalışır; o okuma burada bilinen tek eşitlemedir.
LN_CHECK = "layers/layernorm.py"


@pytest.fixture
def gpu(monkeypatch):
    """Install the fake `cupy` for one test; yields the fake module (cp.TRANSFERS counts)."""
    cp, modules = fake_cupy.make_module()
    for name, mod in modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "0")       # cuda_kernels.py needs real CUDA
    monkeypatch.setenv("CUPY_TF32", "0")                 # set_matmul_precision writes it
    # Önbellekteki maskeler ve konum tabloları "cupy" adıyla saklanır: sahte diziler testten
    # sonra başka bir `cupy` taklidine (test_device_branches) ya da CPU testlerine kalmasın
    monkeypatch.setattr(attention, "_MASKS", {})
    monkeypatch.setattr(positional, "_SIN_TABLES", {})
    cp.TRANSFERS.reset()
    yield cp
    cp.TRANSFERS.reset()


def _outside_ln(events):
    return [e for e in events if not e[2].startswith(LN_CHECK)]


# -- the fake itself: it must refuse what CuPy refuses, and count what it moves -------------------

def test_the_fake_refuses_implicit_conversions_and_counts_transfers(gpu):
    cp, T = gpu, gpu.TRANSFERS
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    x = cp.asarray(host)
    assert T.count("h2d") == 1 and T.events[-1][:2] == ("h2d", "cupy.asarray")
    assert type(x) is not np.ndarray and not isinstance(x, np.ndarray)
    assert backend.get_array_module(x) is cp and backend.device_of(x) == "cuda"
    host[0, 0] = 99.0                                   # device memory is a copy
    # Örtük dönüşüm yok: NumPy'ın bir ana bellek dizisi istediği her yer reddedilir
    for implicit in (np.asarray, np.array, lambda a: np.ascontiguousarray(a),
                     lambda a: np.concatenate([a, host])):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array|Unsupported"):
            implicit(x)
    # Karışık işlem yok: NumPy dizisi (0-B olanı da) ile aritmetik ve ufunc'lar
    for mixed in (lambda: x + host, lambda: host * x, lambda: np.add(x, host),
                  lambda: cp.maximum(x, host), lambda: x - np.array(1.0),
                  lambda: x * [1.0, 2.0, 3.0]):
        with pytest.raises(TypeError, match="Unsupported type"):
            mixed()
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        x[...] = host
    # Python ve NumPy skalerleri kabul edilir; NumPy fonksiyonları sahte modüle yönlenir
    y = np.float32(2.0) * x + 1.0
    assert type(np.exp(y)) is cp.ndarray and type(np.sum(y)) is cp.ndarray
    assert T.count("d2h") == 0                          # nothing was read so far
    s = y.sum()                                         # a 0-d device array, not a number
    assert type(s) is cp.ndarray and s.shape == ()
    assert float(s) == 2.0 * 15 + 6 and T.count("d2h") == 1
    assert T.events[-1] == ("d2h", "float()", "test")
    np.testing.assert_array_equal(to_numpy(x), np.arange(6.0).reshape(2, 3))   # .get(): counted
    assert T.count("d2h") == 2 and T.events[-1][:2] == ("d2h", "ndarray.get")
    # Bir olayın yeri onu yapan nanograd_llm satırıdır
    backend.to_device(host, "cuda")
    assert T.events[-1][2].startswith("backend.py:")


def test_the_fake_wraps_out_of_bounds_array_indices_around_as_cupy(gpu):
    """CuPy does not raise for an out-of-bounds index in integer-array indexing: it wraps it
    around (an unchecked id past the vocabulary gives a silently wrong row, where NumPy raises);
    a single integer index raises as in NumPy."""
    cp = gpu
    x = cp.asarray(np.arange(10.0).reshape(2, 5))
    ids = cp.asarray(np.array([1, 7]))
    np.testing.assert_array_equal(to_numpy(x[0, ids]), [1.0, 2.0])
    np.testing.assert_array_equal(to_numpy(x[..., cp.asarray(np.array([-1, 5]))]),
                                  [[4.0, 0.0], [9.0, 5.0]])
    np.testing.assert_array_equal(to_numpy(x.take(cp.asarray(np.array([12])))), [2.0])
    np.testing.assert_array_equal(
        to_numpy(np.take_along_axis(x, cp.asarray(np.array([[6], [5]])), axis=1)), [[1.0], [5.0]])
    y = cp.zeros(3)
    cp.add.at(y, cp.asarray(np.array([3, 4])), 1.0)
    y[cp.asarray(np.array([5]))] = 7.0
    np.testing.assert_array_equal(to_numpy(y), [1.0, 1.0, 7.0])
    with pytest.raises(IndexError):
        x[0, 7]


def test_a_device_integer_is_no_python_index_as_in_cupy(gpu):
    """cupy.ndarray has no __index__: a 0-d device integer in range(), as a list or tuple index
    or in operator.index is a TypeError on CuPy (the fake allowed them, counting a read); it
    must be read with int() first. It has no __imatmul__ either: `a @= b` binds a new array."""
    import operator
    cp = gpu
    n = cp.asarray(np.array(2))
    for use in (lambda: range(n), lambda: [10, 20, 30][n], lambda: (1, 2, 3)[n],
                lambda: operator.index(n), lambda: "abc"[n]):
        with pytest.raises(TypeError, match="integer|indices"):
            use()
    assert range(int(n)) == range(2)                    # read explicitly: one counted read
    assert cp.TRANSFERS.count("d2h") == 1
    a = cp.asarray(np.eye(2))
    before = a
    a @= cp.asarray(np.full((2, 2), 3.0))
    assert a is not before
    np.testing.assert_array_equal(to_numpy(before), np.eye(2))
    np.testing.assert_array_equal(to_numpy(a), np.full((2, 2), 3.0))


def test_the_fake_has_cupys_names_and_arguments_only(gpu):
    """The fake forwarded every NumPy name and argument: code calling what CuPy lacks
    (cupy.errstate, np.insert on a device array, x.max(initial=...), cupy.take(mode=...),
    x.astype(casting=...), a ufunc's order=) passed here and failed on a GPU. Names and
    arguments now follow tests/cupy_api.json, written from CuPy 14.2 (scripts/cupy_api.py)."""
    cp = gpu
    x = cp.asarray(np.arange(6.0).reshape(2, 3))
    i = cp.asarray(np.array([0, 2]))
    for name in ("errstate", "insert", "seterr", "geomspace"):
        assert hasattr(np, name)
        with pytest.raises(AttributeError, match=name):
            getattr(cp, name)
    for call in (lambda: np.insert(x, 0, 1.0),                # no cupy.insert: not dispatched
                 lambda: x.max(initial=0.0), lambda: x.sum(where=x > 0),
                 lambda: cp.sum(x, initial=0.0), lambda: cp.take(x, i, mode="clip"),
                 lambda: x.astype(np.float32, casting="same_kind"),
                 lambda: cp.exp(x, order="C"), lambda: cp.ones(3, like=x),
                 lambda: cp.add.at(x, i, 1.0, 2.0)):
        with pytest.raises(TypeError):
            call()
    # … and what CuPy has keeps working, NumPy functions reaching CuPy's by their module path
    np.testing.assert_allclose(float(np.linalg.norm(x)), np.sqrt(55.0))
    assert x.reshape(3, 2).shape == (3, 2) and x.max(axis=1, keepdims=True).shape == (2, 1)
    assert cp.exp(x, out=cp.empty_like(x), dtype=np.float64).dtype == np.float64
    assert cp.sum(x, axis=0, dtype=np.float32).dtype == np.float32
    assert np.shape(x) == (2, 3) and type(np.take_along_axis(x, i[None, :], axis=1)) is cp.ndarray
    # the fake's array has nothing CuPy's lacks (an __index__ did, until the commit before this)
    real = set(fake_cupy.API["ndarray"]) | set(fake_cupy.API["ndarray_special"])
    # (less what every Python class has: Python 3.13 gives each one __firstlineno__ and
    # __static_attributes__, which a compiled class such as cupy.ndarray lacks)
    class Plain:                          # a class statement (type() adds neither of the two)
        pass
    plain = set(dir(Plain))
    extra = {n for n in dir(cp.ndarray) if n != "_a" and not n.startswith("_abc")} - real - plain
    assert not extra, extra


def test_a_numpy_constant_in_a_layer_is_caught(gpu, monkeypatch):
    """The harness is not vacuous: a layer that mixes a host array into device work fails here
    (as on CuPy), while the same layer passes on NumPy."""
    from nanograd_llm.layers import linear
    x, w = np.ones((2, 3)), np.ones((3, 4))
    linear.linear_forward(x, w, np.zeros(4))                        # CPU: fine
    with pytest.raises(TypeError, match="Unsupported type"):
        linear.linear_forward(gpu.asarray(x), gpu.asarray(w), np.zeros(4))


# -- models: the fake GPU against the CPU ---------------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("kw", [dict(), dict(bias=False, tie_weights=False),
                                dict(positional="sinusoidal", activation="relu",
                                     ignore_index=-1)])
def test_gpt_forward_backward_match_the_cpu(gpu, monkeypatch, kw, dtype, tol):
    cfg = GPTConfig(vocab_size=29, block_size=16, n_layer=2, n_head=2, n_embd=16, **kw)
    rng = np.random.default_rng(1)
    idx, tgt = rng.integers(0, 29, (3, 16)), rng.integers(0, 29, (3, 16))
    if "ignore_index" in kw:
        tgt[0, :5] = -1
    cpu = GPT(cfg, seed=0, dtype=dtype)
    dev = GPT(cfg, seed=0, dtype=dtype, device="cuda")
    assert type(dev.flat) is gpu.ndarray
    np.testing.assert_array_equal(to_numpy(dev.flat), cpu.flat)
    lc, loss_c = cpu.forward(idx, tgt)
    lg, loss_g = dev.forward(idx, tgt)
    assert type(lg) is gpu.ndarray and type(loss_g) is gpu.ndarray
    np.testing.assert_allclose(to_numpy(lg), lc, rtol=tol, atol=tol)
    assert abs(float(loss_g) - float(loss_c)) <= tol
    gc, gg = cpu.backward(), dev.backward()
    assert gc.keys() == gg.keys()
    for k in gc:
        assert type(gg[k]) is gpu.ndarray
        np.testing.assert_allclose(to_numpy(gg[k]), gc[k], rtol=tol, atol=tol * 1e-2, err_msg=k)


def test_bigram_forward_backward_and_sampling_match_the_cpu(gpu):
    cpu, dev = BigramLM(10, seed=0, dtype="float64"), BigramLM(10, seed=0, dtype="float64",
                                                               device="cuda")
    rng = np.random.default_rng(0)
    idx, tgt = rng.integers(0, 10, (2, 5)), rng.integers(0, 10, (2, 5))
    lc, loss_c = cpu.forward(idx, tgt)
    lg, loss_g = dev.forward(idx, tgt)
    np.testing.assert_allclose(to_numpy(lg), lc, rtol=1e-12)
    assert abs(float(loss_g) - float(loss_c)) < 1e-12
    np.testing.assert_allclose(to_numpy(dev.backward()["token_embedding.weight"]),
                               cpu.backward()["token_embedding.weight"], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(dev.generate(idx, 6, seed=3), cpu.generate(idx, 6, seed=3))


# -- training, resume, checkpoints ----------------------------------------------------------------

def _metrics(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["train_loss"], r["val_loss"]) for r in rows]


def _train(cfg, **kw):
    from nanograd_llm.train import train
    return train(cfg, quiet=True, **kw)


def test_the_gradient_buffer_is_not_made_from_the_graphs_private_pool(gpu, monkeypatch):
    """The gradient buffer is made on first use. A CUDA-graph step's warm-up pass runs under
    the step's own memory pool: the first backward there would have made the buffer from that
    pool. TrainStep makes it before it switches allocators."""
    from nanograd_llm.cuda_graph import TrainStep
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8),
                seed=0, device="cuda")
    seen = []
    real = gpu.cuda.using_allocator

    @contextlib.contextmanager
    def spy(allocator=None):
        seen.append(model._grad_flat is not None)
        with real(allocator):
            yield
    monkeypatch.setattr(gpu.cuda, "using_allocator", spy)
    idx = np.random.default_rng(0).integers(0, 16, (1, 9))
    TrainStep(model)(idx[:, :-1], idx[:, 1:])        # the fake has no graphs: capture fails
    assert seen and all(seen), seen


@pytest.mark.parametrize("graph,dtype,tol", [("false", "float64", 1e-9),
                                             ("true", "float32", 1e-4)])
def test_training_on_the_fake_gpu_matches_the_cpu_run(gpu, tmp_path, graph, dtype, tol):
    """The same loss curve and weights. cuda_graph=true: the fake cannot capture a graph, so
    TrainStep's fallback to the ordinary step runs."""
    kw = dict(dtype=dtype, dropout=0.0, max_iters=8, lr_decay_iters=8, cuda_graph=graph,
              grad_clip=1.0)
    cpu = _train(tiny_config(tmp_path, "cpu", **kw))
    dev = _train(tiny_config(tmp_path, "dev", device="cuda", **kw))
    assert type(dev["model"].flat) is gpu.ndarray
    mc, mg = _metrics(tmp_path / "cpu"), _metrics(tmp_path / "dev")
    assert [r[0] for r in mg] == [0, 4, 8]
    # metrics.jsonl keeps 6 decimals: two equal losses may round one unit apart
    np.testing.assert_allclose([r[1:] for r in mg], [r[1:] for r in mc], rtol=0,
                               atol=max(tol, 2e-6))
    np.testing.assert_allclose(to_numpy(dev["model"].flat), cpu["model"].flat, rtol=tol,
                               atol=tol * 1e-3)


def test_resume_and_checkpoints_across_devices(gpu, tmp_path):
    from nanograd_llm.checkpoint import load_checkpoint, load_model
    kw = dict(dtype="float64", dropout=0.1, cuda_graph="false")
    # Dropout maskeleri aygıtın üretecinden gelir: kesilip devam ettirilen GPU eğitimi, kesintisiz
    # GPU eğitimiyle bit düzeyinde aynı biter
    whole = _train(tiny_config(tmp_path, "whole", device="cuda", **kw))
    _train(tiny_config(tmp_path, "part", device="cuda", **kw), stop_after=5)
    part = _train(tiny_config(tmp_path, "part", device="cuda", **kw), resume=True)
    np.testing.assert_array_equal(to_numpy(part["model"].flat), to_numpy(whole["model"].flat))
    # Sahte GPU'da kaydedilen denetim noktası CPU'da ve yeniden GPU'da aynı ağırlıklarla açılır
    on_cpu = load_model(tmp_path / "whole")
    on_gpu = load_checkpoint(tmp_path / "whole", device="cuda")
    assert type(on_cpu.flat) is np.ndarray and type(on_gpu["model"].flat) is gpu.ndarray
    np.testing.assert_array_equal(on_cpu.flat, to_numpy(whole["model"].flat))
    np.testing.assert_array_equal(to_numpy(on_gpu["model"].flat), on_cpu.flat)
    assert type(on_gpu["optimizer_state"]["m"]["flat"]) is np.ndarray
    # GPU'da başlayan eğitim CPU'da sürdürülür (dropout yok: iki aygıtın sayıları aynı)
    kw0 = dict(kw, dropout=0.0)
    cpu_whole = _train(tiny_config(tmp_path, "cpu_whole", **kw0))
    _train(tiny_config(tmp_path, "moved", device="cuda", **kw0), stop_after=6)
    moved = _train(tiny_config(tmp_path, "moved", **kw0), resume=True)
    assert type(moved["model"].flat) is np.ndarray
    np.testing.assert_allclose(moved["model"].flat, cpu_whole["model"].flat, rtol=1e-9,
                               atol=1e-12)


def test_a_cpu_model_and_optimizer_load_arrays_that_are_on_the_device(gpu):
    """load_state_dict takes host or device arrays: a GPU model loaded either, but a CPU model
    (or AdamW) given device arrays (another model's `params`, a GPU optimizer's moments) called
    np.asarray on them, CuPy's TypeError for an implicit conversion."""
    from nanograd_llm.optim import AdamW
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8)
    dev = GPT(cfg, seed=1, dtype="float64", device="cuda")
    opt = AdamW(dev, lr=1e-2)
    dev.forward(np.array([[1, 2, 3]]), np.array([[2, 3, 4]]))
    dev.backward()
    opt.step()
    cpu = GPT(cfg, seed=0, dtype="float64")
    cpu.load_state_dict(dev.params)
    np.testing.assert_array_equal(cpu.flat, to_numpy(dev.flat))
    state = dict(opt.state_dict(), m={"flat": opt.m}, v={"flat": opt.v})    # device moments
    cpu_opt = AdamW(cpu)
    cpu_opt.load_state_dict(state)
    np.testing.assert_array_equal(cpu_opt.m, to_numpy(opt.m))
    np.testing.assert_array_equal(cpu_opt.v, to_numpy(opt.v))
    assert cpu_opt.t == 1 and type(cpu_opt.m) is np.ndarray


def test_adamw_takes_a_dict_of_device_arrays(gpu):
    """AdamW's check that a dict's parameters can be updated in place read p.flags.writeable,
    which CuPy's flags lack (AttributeError at construction on a GPU; the fake handed out
    NumPy's flags); the fake now has CuPy's flags only. The GPU dict path equals the CPU's."""
    from nanograd_llm.optim import AdamW
    cp = gpu
    rng = np.random.default_rng(0)
    host = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in host.items()} for _ in range(3)]
    with pytest.raises(AttributeError, match="writeable"):
        cp.asarray(host["w"]).flags.writeable                   # as on CuPy
    cpu = {k: v.copy() for k, v in host.items()}
    dev = {k: cp.asarray(v) for k, v in host.items()}
    oc, og = AdamW(cpu, lr=1e-2), AdamW(dev, lr=1e-2)
    for g in grads:
        oc.step(g)
        og.step({k: cp.asarray(v) for k, v in g.items()})
    for k in host:
        np.testing.assert_allclose(to_numpy(dev[k]), cpu[k], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="read-only"):           # the CPU check still holds
        AdamW({"w": np.broadcast_to(np.ones(3), (2, 3))})


def test_an_optimizer_follows_its_model_to_another_device(gpu):
    """model.to(device) after AdamW(model) was built: the optimizer's moments stayed on the old
    device and its next step mixed host and device arrays (CuPy's TypeError). They follow the
    model now, and the steps are those of a run that never moved."""
    from nanograd_llm.optim import AdamW
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8)
    x, y = np.array([[1, 2, 3, 4]]), np.array([[2, 3, 4, 5]])
    stay, moved = GPT(cfg, seed=0, dtype="float64"), GPT(cfg, seed=0, dtype="float64")
    opts = AdamW(stay, lr=1e-2), AdamW(moved, lr=1e-2)
    for device in ("cpu", "cuda", "cuda", "cpu"):
        moved.to(device)
        for model, opt in zip((stay, moved), opts):
            model.forward(x, y)
            model.backward()
            opt.step()
        assert type(opts[1].m) is type(moved.flat)
        np.testing.assert_allclose(to_numpy(moved.flat), stay.flat, rtol=1e-12, atol=1e-15)


# -- no hidden host<->device traffic in the training loop -----------------------------------------

def _events_per_step(gpu, monkeypatch, cfg, quiet=True, log=None):
    """Train with cfg; return the transfer events (or log's: gpu.RANDOM) between consecutive
    optimizer steps."""
    from nanograd_llm import optim
    T, marks = log or gpu.TRANSFERS, []
    step = optim.AdamW.step

    def counted(self, *a, **k):
        marks.append(T.mark())
        return step(self, *a, **k)
    monkeypatch.setattr(optim.AdamW, "step", counted)
    T.reset()
    from nanograd_llm.train import train
    train(cfg, quiet=quiet)
    return [T.events[a:b] for a, b in zip(marks, marks[1:])]


@pytest.mark.parametrize("grad_accum,quiet", [(1, False), (2, True)])
def test_no_hidden_transfers_in_the_training_loop(gpu, monkeypatch, tmp_path, grad_accum, quiet):
    """Between log steps a step moves its token batch to the device once (per micro-batch) and
    reads nothing back, apart from the generic layer norm's overflow check; the loss becomes a
    Python float only on log steps (checked, then shown on the progress bar; the clipped norm
    is checked there too)."""
    n_layer, log = 2, 3
    cfg = tiny_config(tmp_path, "run", device="cuda", dtype="float32", dropout=0.1,
                      cuda_graph="false", n_layer=n_layer, max_iters=12, eval_interval=6,
                      log_interval=log, grad_accum=grad_accum)
    steps = _events_per_step(gpu, monkeypatch, cfg, quiet)
    # steps[i]: after optimizer step i+1 (its step count, i+1), up to optimizer step i+2
    for i, events in enumerate(steps):
        step = i + 1                                    # the step whose work these events are
        if step % cfg.eval_interval == 0:
            continue                                    # evaluation and checkpoint: reads expected
        h2d = [e for e in events if e[0] == "h2d"]
        assert len(h2d) == grad_accum, (step, h2d)
        assert {e[2] for e in h2d} == {h2d[0][2]} and h2d[0][2].startswith("train.py:")
        ln = [e for e in events if e[2].startswith(LN_CHECK)]
        assert len(ln) == grad_accum * (2 * n_layer + 1), (step, ln)
        d2h = [e for e in _outside_ln(events) if e[0] != "h2d"]
        # loss and norm checked before the update; without --quiet the bar shows the loss after it
        expected = ["float()"] * (2 if quiet else 3) if step % log == 0 else []
        assert [e[1] for e in d2h] == expected, (step, d2h)


@pytest.mark.parametrize("dropout,graph,grad_accum", [(0.0, "false", 1), (0.0, "true", 1),
                                                       (0.0, "false", 2), (0.1, "false", 2)])
def test_the_eager_step_builds_a_dropout_generator_only_when_it_draws(gpu, monkeypatch,
                                                                      tmp_path, dropout, graph,
                                                                      grad_accum):
    """The ordinary step (cuda_graph=false, grad_accum > 1, or the fallback after a failed
    capture) seeds the dropout generator with (seed, stream, step) every step. At dropout 0
    nothing is drawn, so nothing may be built either: on a GPU each step built a new CuPy
    generator (device memory for the cuRAND states and a kernel to fill them). With dropout
    the step builds one generator and draws its masks from it."""
    cfg = tiny_config(tmp_path, "run", device="cuda", dtype="float32", dropout=dropout,
                      cuda_graph=graph, max_iters=6, eval_interval=3, log_interval=3,
                      grad_accum=grad_accum)
    steps = _events_per_step(gpu, monkeypatch, cfg, log=gpu.RANDOM)
    assert len(steps) == 5
    for events in steps:
        kinds = [e[0] for e in events]
        if dropout == 0.0:
            assert events == []
        else:
            assert kinds[0] == "build" and kinds.count("build") == 1 and "draw" in kinds


def test_a_copied_gpu_model_draws_the_dropout_numbers_the_original_draws(gpu):
    """copy.deepcopy(model) promises the same dropout generator state. CuPy's generator cannot
    be deep-copied (its bit generator holds a threading.Lock; the fake refuses it as CuPy
    does), and on a GPU the copy's generator started again from the model's seed: a copy made
    mid-training drew other masks than the original. backend.copy_rng gives the copy a new
    lock and copies the rest, the generator's state included."""
    import copy
    with pytest.raises(TypeError, match="_thread.lock"):
        copy.deepcopy(gpu.random.default_rng(0))
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.3)
    x = np.random.default_rng(0).integers(0, 13, (2, 8))

    def losses(model, n):
        return [float(model.forward(x, x)[1]) for _ in range(n)]
    ref = GPT(cfg, seed=0, dtype="float64", device="cuda")
    ref.set_dropout_seed(7)
    want = losses(ref, 4)
    assert len(set(want)) == 4                      # each forward draws other masks
    dev = GPT(cfg, seed=0, dtype="float64", device="cuda")
    dev.set_dropout_seed(7)
    early = copy.deepcopy(dev)                      # the generator is not built yet: the seed
    assert losses(dev, 2) == want[:2]
    twin = copy.deepcopy(dev)                       # after two draws
    assert twin.rng is not dev.rng
    assert twin.rng.bit_generator.lock is not dev.rng.bit_generator.lock
    assert losses(twin, 2) == want[2:]
    assert losses(dev, 2) == want[2:]               # the copy's draws left the original alone
    assert losses(early, 2) == want[:2]
    # the same on the CPU (NumPy's generator is copied as it is)
    cpu = GPT(cfg, seed=0, dtype="float64")
    cpu.set_dropout_seed(7)
    losses(cpu, 1)
    cpu_twin = copy.deepcopy(cpu)
    assert losses(cpu_twin, 2) == losses(cpu, 2)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_dropout_seed_is_taken_when_it_is_given(gpu, device):
    """set_dropout_seed keeps the seed and the generator is built at the first draw. The seed
    must still be taken at the call, as when the generator was built there: a model of seed
    None (or set_dropout_seed(None)) copied before its first draw drew other masks than the
    copy (each drew its own fresh entropy later), a bad seed was accepted and failed in a
    later forward (or never, at dropout 0), and a list changed after the call changed the
    masks."""
    import copy
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.3)
    x = np.random.default_rng(0).integers(0, 13, (2, 8))

    def loss(model):
        return float(model.forward(x, x)[1])
    for seeded in (lambda m: None, lambda m: m.set_dropout_seed(None)):
        model = GPT(cfg, seed=None, dtype="float64", device=device)
        seeded(model)
        twin = copy.deepcopy(model)
        assert loss(twin) == loss(model)
    for bad, error in ((-1, ValueError), ("abc", TypeError), (1.5, TypeError)):
        for dropout in (0.0, 0.3):
            model = GPT(dataclasses.replace(cfg, dropout=dropout), seed=0, device=device)
            with pytest.raises(error):
                model.set_dropout_seed(bad)
    seed = [1, 4, 0]
    model = GPT(cfg, seed=0, dtype="float64", device=device)
    model.set_dropout_seed(seed)
    seed[2] = 1
    ref = GPT(cfg, seed=0, dtype="float64", device=device)
    ref.set_dropout_seed([1, 4, 0])
    assert loss(model) == loss(ref)


def test_the_fakes_random_with_out_fills_it_by_index_as_cupy_does(gpu):
    """CuPy 14.2's Generator.random(size, dtype, out=) draws into a new array of `size` and
    copies it into out element by element (elementwise_copy): out[i, j] is the number
    random(size) has at [i, j], whatever out's memory order, and size=None draws one number
    for all of out. The
    fake filled out in its memory order (NumPy's out=), so an F-ordered out got the numbers
    transposed, and size=None filled out with out.size numbers."""
    for dtype in (np.float64, np.float32):
        want = to_numpy(gpu.random.default_rng(3).random((3, 4), dtype=dtype))
        out = gpu.zeros((4, 3), dtype=dtype).T                 # F-ordered (3, 4)
        assert out.flags.f_contiguous and not out.flags.c_contiguous
        got = gpu.random.default_rng(3).random((3, 4), dtype=dtype, out=out)
        assert got is out
        np.testing.assert_array_equal(to_numpy(out), want)
        one = gpu.zeros((2, 2), dtype=dtype)
        gpu.random.default_rng(3).random(dtype=dtype, out=one)
        np.testing.assert_array_equal(to_numpy(one), np.full((2, 2), want[0, 0]))
    with pytest.raises(TypeError, match="wrong type"):
        gpu.random.default_rng(3).random((3, 4), out=gpu.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="size must match out.shape"):
        gpu.random.default_rng(3).random((4, 3), out=gpu.zeros((3, 4)))


def test_the_graph_step_redraws_its_dropout_numbers_into_its_buffers_with_out(gpu):
    """A replayed CUDA-graph step redraws the dropout numbers into the buffers the graph reads,
    with Generator.random(..., out=buf) (tests/cupy_api.json; CuPy 14.2 still draws into a new
    array and copies it into out, NumPy draws into out itself): the same numbers, and the steps
    equal the ordinary ones. The capture is emulated (the fake has no CUDA graphs)."""
    from nanograd_llm.cuda_graph import TrainStep
    from nanograd_llm.optim import AdamW
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.2)
    a = GPT(cfg, seed=1, dtype="float64", device="cuda")
    b = GPT(cfg, seed=1, dtype="float64", device="cuda")
    ts = TrainStep(b, emulate=True)
    oa, ob = AdamW(a, lr=1e-2), AdamW(b, lr=1e-2)
    rng = np.random.default_rng(0)
    R = gpu.RANDOM
    for step in range(4):
        x, y = rng.integers(0, 11, (2, 8)), rng.integers(0, 11, (2, 8))
        a.set_dropout_seed([1, 4, step])
        la = a.forward(x, y)[1]
        a.backward()
        mark = R.mark()
        lb = ts(x, y, [1, 4, step])
        draws = [e[1] for e in R.since(mark) if e[0] == "draw"]
        assert len(draws) == 1 + 3 * cfg.n_layer, draws            # every dropout of the step
        assert set(draws) == {"Generator.random(out=)"}, (step, draws)
        assert float(la) == float(lb), step
        np.testing.assert_array_equal(to_numpy(a.grad_flat), to_numpy(b.grad_flat))
        oa.step()
        ob.step()
    assert ts.replays == 3


# -- sampling, chat, eval, attention maps, gradcheck, the command line ---------------------------

def _pair(cfg, seed=0):
    cpu = GPT(cfg, seed=seed, dtype="float64")
    cpu.flat[:] = np.random.default_rng(seed).standard_normal(cpu.flat.size) * 0.3
    dev = GPT(cfg, seed=seed, dtype="float64", device="cuda")
    dev.load_state_dict(cpu.state_dict())
    return cpu, dev


@pytest.mark.parametrize("use_cache", [True, False])
def test_sampling_matches_the_cpu_and_moves_one_token_per_step(gpu, use_cache):
    from nanograd_llm.generate import generate
    cpu, dev = _pair(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8))
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    for kw in (dict(temperature=0.0), dict(temperature=0.9, top_k=5, top_p=0.9, seed=3)):
        want = generate(cpu, prompt, 12, use_cache=use_cache, **kw)   # slides past block_size
        T = gpu.TRANSFERS
        T.reset()
        got = generate(dev, prompt, 12, use_cache=use_cache, **kw)
        np.testing.assert_array_equal(got, want)
        reads = [e for e in _outside_ln(T.events) if e[0] == "d2h"]
        assert len(reads) == 12                         # one logits row a step, nothing else
        assert all(e[1] == "ndarray.get" for e in reads)


def test_a_host_prompt_is_checked_on_the_host_and_never_read_back(gpu):
    """generate, iter_generate and the bigram's generate check a host prompt there and keep
    it there: it goes to the device only with the forward pass that needs it, and is never
    uploaded just to be read back (a device→host copy per generate call / chat turn)."""
    from nanograd_llm.generate import generate, iter_generate
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8)
    cpu, dev = _pair(cfg)
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    T = gpu.TRANSFERS
    T.reset()
    np.testing.assert_array_equal(generate(dev, prompt, 0), prompt)      # no forward pass
    assert T.events == []
    np.testing.assert_array_equal(generate(dev, [7, 8], 0), [[7, 8]])
    assert list(iter_generate(dev, prompt, 0)) == [] and T.events == []
    want = generate(cpu, prompt, 3, temperature=0.8, seed=5)
    got = generate(dev, prompt, 3, temperature=0.8, seed=5)
    np.testing.assert_array_equal(got, want)
    assert [e[0] for e in _outside_ln(T.events) if e[0] != "h2d"] == ["d2h"] * 3   # logits rows
    with pytest.raises(ValueError, match=r"token id 13 in prompt is outside \[0, 13\)"):
        generate(dev, [[1, 13]], 2)
    bc, bd = BigramLM(10, seed=0, dtype="float64"), BigramLM(10, seed=0, dtype="float64",
                                                             device="cuda")
    T.reset()
    np.testing.assert_array_equal(bd.generate(prompt, 4, seed=2), bc.generate(prompt, 4, seed=2))
    assert [e[1] for e in T.events] == ["ndarray.get"]                 # the table, read once


def test_a_list_of_device_arrays_as_prompt_is_not_called_ragged(gpu):
    """A list of CuPy arrays (rows of equal length) fell into the ragged prompt's message
    'every row as long as the others': NumPy's TypeError (CuPy converts nothing implicitly)
    is not about the rows' lengths. The message says what the prompt may be and CuPy's why."""
    from nanograd_llm.generate import generate
    m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    for prompt in ([gpu.array([1, 2]), gpu.array([3, 4])], [gpu.array(1), gpu.array(2)]):
        with pytest.raises(ValueError) as e:
            generate(m, prompt, 2)
        assert str(e.value).startswith("prompt must be token ids of shape (T,) or (B, T): a "
                                       "list of integers or one array, not a list") and \
            "as long as the others" not in str(e.value) and ".get()" in str(e.value), e.value
    with pytest.raises(ValueError, match="every row as long as the others"):
        generate(m, [[1, 2], [3]], 2)                   # a ragged list is still said so


def test_chat_eval_and_attention_maps_match_the_cpu(gpu):
    from nanograd_llm.chat import chat_loop
    from nanograd_llm.evaluate import evaluate_text
    from nanograd_llm.tokenizers import CharTokenizer
    from nanograd_llm.viz import attention_weights
    tok = CharTokenizer.from_text(TEXT)
    cpu, dev = _pair(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=2, n_head=2,
                               n_embd=16))
    outs = []
    for model in (cpu, dev):
        out = io.StringIO()
        assert chat_loop(model, tok, io.StringIO("Dikkat\nGeri yayılım\n"), out,
                         max_new_tokens=8, seed=0, banner=False) == 0
        outs.append(out.getvalue())
    assert outs[0] == outs[1]
    rc, _ = evaluate_text(cpu, tok, TEXT[:500], stride=5)
    rg, _ = evaluate_text(dev, tok, TEXT[:500], stride=5)
    assert rg.tokens == rc.tokens and abs(rg.loss - rc.loss) < 1e-12
    ids = tok.encode("Dikkat katmanı")
    for a, b in zip(attention_weights(dev, ids), attention_weights(cpu, ids)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_gradcheck_command_on_the_fake_gpu(gpu):
    rc, out, err = _cli("gradcheck", "--device", "cuda")
    assert rc == 0, out + err
    assert "FAIL" not in out and " checks passed" in out


def test_train_sample_eval_chat_commands_on_the_fake_gpu(gpu, tmp_path, monkeypatch):
    data = tmp_path / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    run = str(tmp_path / "run")
    words = ["n_layer=1", "n_head=2", "n_embd=16", "block_size=16", "batch_size=4",
             "eval_interval=3", "eval_iters=2", "sample_tokens=12", "dtype=float64",
             "precision=tf32"]
    rc, out, err = _cli("train", "--device", "cuda", "--data", str(data), "--out", run,
                        "--quiet", "max_iters=3", *words)
    assert rc == 0, err
    assert "--- sample ---" in out
    # TF32 anahtarı CuPy'ın matris çarpımı ayarına iletildi (7: TF32) ve eğitim bitince önceki
    # ayar (1: varsayılan) geri kondu; sahte CuPy'da get_compute_type yokken (gerçeğinde var)
    # backend.matmul_precision geri koymayı hiç denemiyordu
    linalg = sys.modules["cupy._core._routines_linalg"]
    assert (np.dtype(np.float32), 7) in linalg.compute_types
    assert linalg.get_compute_type(np.float32) == 1, linalg.compute_types
    rc, out, err = _cli("train", "--device", "cuda", "--data", str(data), "--out", run,
                        "--quiet", "--resume", "max_iters=6", *words)
    assert rc == 0, err
    assert "final (step 6)" in out
    rc, out_g, err = _cli("sample", "--ckpt", run, "--device", "cuda", "--prompt", "Dikkat",
                          "--max-new-tokens", "15", "--seed", "1")
    assert rc == 0, err
    rc, out_c, _ = _cli("sample", "--ckpt", run, "--prompt", "Dikkat", "--max-new-tokens",
                        "15", "--seed", "1")
    assert out_g == out_c and out_g.startswith("Dikkat")
    rc, ev_g, err = _cli("eval", "--ckpt", run, "--device", "cuda", "--json")
    assert rc == 0, err
    rc, ev_c, _ = _cli("eval", "--ckpt", run, "--json")
    assert abs(json.loads(ev_g)["loss"] - json.loads(ev_c)["loss"]) < 1e-12
    monkeypatch.setattr(sys, "stdin", io.StringIO("Dikkat\n"))
    rc, chat_g, err = _cli("chat", "--ckpt", run, "--device", "cuda", "--seed", "0",
                           "--max-new-tokens", "10")
    assert rc == 0, err
    monkeypatch.setattr(sys, "stdin", io.StringIO("Dikkat\n"))
    assert _cli("chat", "--ckpt", run, "--seed", "0", "--max-new-tokens", "10")[1] == chat_g


def test_attention_maps_check_the_token_ids_on_the_gpu_as_on_the_cpu(gpu):
    """attention_weights gives the model host ids: the model checks them before moving them (ids
    already on the device are trusted, and CuPy would wrap an id past the vocabulary around)."""
    from nanograd_llm.viz import attention_weights
    cfg = GPTConfig(vocab_size=11, block_size=6, n_layer=1, n_head=2, n_embd=8)
    for device in ("cpu", "cuda"):
        model = GPT(cfg, seed=0, device=device)
        with pytest.raises(ValueError, match=r"token id 30 in idx is outside \[0, 11\)"):
            attention_weights(model, [1, 2, 30])
    gpu.TRANSFERS.reset()
    attention_weights(model, [1, 2, 3])
    assert gpu.TRANSFERS.count("h2d") == 1                   # the ids, moved once


def test_attention_maps_take_token_ids_that_are_on_the_device(gpu):
    """ids already on the GPU (as generate() and evaluate_ids() take them): attention_weights
    called np.asarray on them, CuPy's TypeError for an implicit conversion. They are read to the
    host, so they are range-checked there too (CuPy would wrap an id past the vocabulary)."""
    from nanograd_llm.viz import attention_weights
    model = GPT(GPTConfig(vocab_size=11, block_size=6, n_layer=1, n_head=2, n_embd=8), seed=0,
                device="cuda")
    want = attention_weights(model, [1, 2, 3])
    for a, b in zip(attention_weights(model, gpu.asarray(np.array([1, 2, 3]))), want):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"token id 30 in idx is outside \[0, 11\)"):
        attention_weights(model, gpu.asarray(np.array([1, 2, 30])))


@pytest.mark.parametrize("name", ["attention", "causal_tiles", "multihead_attention", "mlp",
                                  "block"])
def test_layer_gradcheck_with_dropout_on_the_gpu(gpu, name):
    """layer_case's dropout inside a layer draws its masks next to the data (a host generator
    would give host masks, which CuPy refuses to multiply with device arrays)."""
    from nanograd_llm.gradcheck import check_case, layer_case
    inputs, f, g = layer_case(name, np.random.default_rng(0), xp=gpu, layer_dropout=0.2, B=1,
                              T=4, C=4)
    assert all(type(v) is gpu.ndarray for v in inputs.values())
    r = check_case(name, inputs, f, g)
    assert r.passed, r


# -- the rest of the command line on the GPU: GPT-2 folders, bigram and BPE runs ----------------

def _same_eval(gpu_json, cpu_json):
    g, c = json.loads(gpu_json), json.loads(cpu_json)
    g.pop("seconds"), c.pop("seconds")
    assert g.pop("loss") == pytest.approx(c.pop("loss"), rel=1e-12)
    assert g.pop("nll") == pytest.approx(c.pop("nll"), rel=1e-12)
    # bits_per_char is None where the text has no characters to count (a token file)
    for k in ("perplexity", "bits_per_token", "bits_per_char"):
        want = c.pop(k)
        assert g.pop(k) == (want if want is None else pytest.approx(want, rel=1e-9)), k
    assert g == c


def _gpu_and_cpu(monkeypatch, argv, stdin=None):
    """Run a command with --device cuda and without; both must succeed with the same output."""
    outs = []
    for device in (["--device", "cuda"], []):
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        rc, out, err = _cli(*argv, *device)
        assert rc == 0, (argv, device, err)
        outs.append(out)
    if "eval" in argv:
        _same_eval(*outs)
    else:
        assert outs[0] == outs[1], argv
    return outs[0]


def test_gpt2_folder_commands_on_the_fake_gpu_match_the_cpu(gpu, tmp_path, monkeypatch):
    """sample, eval and chat with --hf (a GPT-2 folder saved by save_hf) and every sampling and
    evaluation option: the GPU gives the CPU's text and numbers."""
    from _train_helpers import tiny_gpt2_folder
    hf = tmp_path / "gpt2"
    model, tok = tiny_gpt2_folder(hf, 290)
    data = tmp_path / "text.txt"
    data.write_text(TEXT, encoding="utf-8")
    h = ["--hf", str(hf)]
    for opts in (["--seed", "1"], ["--seed", "2", "--top-k", "5", "--top-p", "0.9",
                                   "--temperature", "1.3", "--dtype", "float64"],
                 ["--seed", "3", "--no-cache", "--no-stream"], ["--temperature", "0"]):
        out = _gpu_and_cpu(monkeypatch, ["sample", *h, "--prompt", "merhaba", "--max-new-tokens",
                                         "20", *opts])
        assert out.startswith("merhaba")
    for opts in (["--json"], ["--stride", "5", "--context", "12", "--batch-size", "3", "--json"],
                 ["--split", "train", "--max-tokens", "200", "--json"]):
        _gpu_and_cpu(monkeypatch, ["eval", *h, "--data", str(data), *opts])
    _gpu_and_cpu(monkeypatch, ["chat", *h, "--seed", "0", "--max-new-tokens", "12", "--stop", ".",
                               "--top-k", "4"], stdin="merhaba\ngüneş\n")
    # Metin sonu belirteci: açgözlü örnekleme onu seçince metin orada biter (aygıttan okunan
    # belirteç ana bellekte karşılaştırılır)
    end = tok.special_tokens["<|endoftext|>"]
    model.params["ln_f.weight"][...] = 0.0
    model.params["ln_f.bias"][...] = 1.0
    model.params["wte.weight"][end] = 5.0
    model.save_hf(hf)
    out = _gpu_and_cpu(monkeypatch, ["sample", *h, "--prompt", "merhaba", "--temperature", "0",
                                     "--max-new-tokens", "20"])
    assert out == "merhaba\n"


def test_bigram_and_fine_tuned_runs_through_the_command_line_on_the_fake_gpu(gpu, tmp_path,
                                                                              monkeypatch):
    """The bigram preset and a fine-tuned GPT-2 folder (a BPE run, dropout on) trained with
    --device cuda; their sample, eval, chat and attention commands on the GPU; the course's
    pictures (docs --run) of the GPU run."""
    from _train_helpers import tiny_gpt2_folder
    from nanograd_llm.viz import course_images
    data = tmp_path / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    hf = tmp_path / "gpt2"
    tiny_gpt2_folder(hf, 290)
    runs = {"bigram": ["--preset", "bigram", "batch_size=4"],
            "tuned": ["--init-from", str(hf), "block_size=8", "batch_size=2", "dropout=0.1"]}
    for name, words in runs.items():
        rc, out, err = _cli("train", "--device", "cuda", "--data", str(data), "--out",
                            str(tmp_path / name), "--quiet", *words, "max_iters=2",
                            "eval_interval=2", "eval_iters=1", "sample_tokens=6")
        assert rc == 0, err
        assert "--- sample ---" in out
        ck = ["--ckpt", str(tmp_path / name)]
        _gpu_and_cpu(monkeypatch, ["sample", *ck, "--prompt", "Dikkat", "--seed", "1",
                                   "--max-new-tokens", "12", "--top-k", "4", "--top-p", "0.8"])
        _gpu_and_cpu(monkeypatch, ["sample", *ck, "--seed", "2", "--max-new-tokens", "12",
                                   "--no-cache"])
        _gpu_and_cpu(monkeypatch, ["eval", *ck, "--json", "--stride", "3", "--context", "6"])
        _gpu_and_cpu(monkeypatch, ["chat", *ck, "--seed", "0", "--max-new-tokens", "8"],
                     stdin="Dikkat\n")
    rc, _, err = _cli("attention", *ck, "--device", "cuda", "--prompt", "merhaba", "--out",
                      str(tmp_path / "a.png"))
    assert rc == 0 and (tmp_path / "a.png").stat().st_size > 0, err
    rc, _, err = _cli("attention", "--ckpt", str(tmp_path / "bigram"), "--device", "cuda",
                      "--prompt", "Dikkat", "--out", str(tmp_path / "b.png"))
    assert rc == 1 and "no attention layers" in err
    names = {p.name for p in course_images(tmp_path / "img", run_dir=tmp_path / "tuned",
                                           log=lambda *a: None)}
    assert {"loss_curve.png", "attention.png"} <= names


# -- training options on the GPU ------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(grad_accum=2, bias="false", tie_weights="false", activation="relu",
         positional="sinusoidal", precision="tf32", grad_clip=0.5),
    dict(model="bigram", grad_clip=0.0, warmup_iters=0, lr_decay_iters=3, min_lr=1e-4,
         weight_decay=0.0),
    dict(tokenizer="bpe", vocab_size=262, keep_best="false", eps=1e-6, beta2=0.95)])
def test_training_options_on_the_fake_gpu_match_the_cpu(gpu, monkeypatch, tmp_path, kw):
    """The same losses and weights as the CPU run for each option; between log steps the
    steps read nothing back (the generic layer norm's check aside)."""
    kw = dict(kw, dtype="float64", dropout=0.0, max_iters=6, eval_interval=3, log_interval=2,
              eval_iters=1, cuda_graph="false")
    cpu = _train(tiny_config(tmp_path, "cpu", **kw))
    steps = _events_per_step(gpu, monkeypatch, tiny_config(tmp_path, "dev", device="cuda", **kw))
    for i, events in enumerate(steps):
        step = i + 1
        if step % 3:
            d2h = [e for e in _outside_ln(events) if e[0] != "h2d"]
            assert [e[1] for e in d2h] == (["float()"] * (2 if kw.get("grad_clip", 1.0) else 1)
                                           if step % 2 == 0 else []), (step, d2h)
    mc, mg = _metrics(tmp_path / "cpu"), _metrics(tmp_path / "dev")
    np.testing.assert_allclose([r[1:] for r in mg], [r[1:] for r in mc], rtol=0, atol=2e-6)
    from nanograd_llm.checkpoint import load_model
    np.testing.assert_allclose(load_model(tmp_path / "dev").flat, cpu["model"].flat, rtol=1e-9,
                               atol=1e-12)


def test_dropout_runs_resume_on_the_fake_gpu_as_if_never_stopped(gpu, tmp_path):
    """grad_accum > 1 with dropout, fine-tuned from a GPT-2 folder, with the best/ copy: a GPU run
    stopped and resumed ends with the weights of the uninterrupted GPU run."""
    from _train_helpers import tiny_gpt2_folder
    from nanograd_llm.checkpoint import load_model
    hf = tmp_path / "gpt2"
    tiny_gpt2_folder(hf, 290)
    kw = dict(device="cuda", dtype="float64", dropout=0.2, grad_accum=2, init_from=str(hf),
              n_embd=8, block_size=8, batch_size=2, max_iters=6, eval_interval=2, eval_iters=1,
              cuda_graph="false")
    whole = _train(tiny_config(tmp_path, "whole", **kw))
    _train(tiny_config(tmp_path, "part", **kw), stop_after=3)
    part = _train(tiny_config(tmp_path, "part", **kw), resume=True)
    np.testing.assert_array_equal(to_numpy(part["model"].flat), to_numpy(whole["model"].flat))
    assert part["best_step"] == whole["best_step"]
    best = load_model(tmp_path / "whole" / "best")
    assert best.config.dropout == 0.2 and np.isfinite(best.flat).all()


@pytest.mark.parametrize("bad", [np.inf, 1e20])
def test_a_gradient_that_overflows_on_a_checked_gpu_step(gpu, tmp_path, monkeypatch, bad):
    """A non-finite gradient norm on a checked step stops the run before its update, naming the
    norm; finite float32 gradients whose squares overflow are clipped by their true norm
    (optim.rescaled_grad_norm, a host read on this rare path) and training goes on."""
    import warnings
    import nanograd_llm.train as train_module
    real_backward, calls, seen = GPT.backward, [], []

    def backward(self, *a, **k):
        out = real_backward(self, *a, **k)
        calls.append(1)
        if len(calls) == 5:                           # training step 4: a checked step
            self.grad_flat[3] = bad
        return out
    real_clip = train_module.clip_grad_norm

    def clip(grads, max_norm, norm=None):
        seen.append(norm)
        return real_clip(grads, max_norm, norm=norm)
    monkeypatch.setattr(GPT, "backward", backward)
    monkeypatch.setattr(train_module, "clip_grad_norm", clip)
    cfg = tiny_config(tmp_path, "run", device="cuda", dropout=0.0, cuda_graph="false",
                      max_iters=6, eval_interval=2, log_interval=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        if bad == np.inf:
            with pytest.raises(RuntimeError, match=r"the gradient norm is inf at step 4 .*"
                                                   r"\(step 4\) is kept"):
                _train(cfg)
            return
        result = _train(cfg)
    assert type(seen[4]) is gpu.ndarray and float(seen[4]) == pytest.approx(1e20, rel=1e-6)
    assert result["step"] == 6 and bool(gpu.isfinite(result["model"].flat).all())


def test_library_calls_take_device_arrays(gpu):
    """evaluate_ids, generate and iter_generate with ids already on the GPU give the CPU's
    results (the ids are read to the host and checked there)."""
    from nanograd_llm.evaluate import evaluate_ids
    from nanograd_llm.generate import generate, iter_generate
    cpu, dev = _pair(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8))
    ids = np.random.default_rng(0).integers(0, 13, 40)
    a, b = evaluate_ids(cpu, ids, stride=3), evaluate_ids(dev, gpu.asarray(ids), stride=3)
    assert (a.tokens, a.windows) == (b.tokens, b.windows) and abs(a.nll - b.nll) < 1e-9
    with pytest.raises(ValueError, match=r"token id 13 is outside \[0, 13\)"):
        evaluate_ids(dev, gpu.asarray(np.array([1, 2, 13])))
    prompt = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(generate(dev, gpu.asarray(prompt), 10, seed=1, top_k=4),
                                  generate(cpu, prompt, 10, seed=1, top_k=4))
    assert [int(t[0]) for t in iter_generate(dev, gpu.asarray(prompt[0]), 5, seed=2)] == \
        [int(t[0]) for t in iter_generate(cpu, prompt[0], 5, seed=2)]
    with pytest.raises(ValueError, match=r"token id 20 in prompt is outside \[0, 13\)"):
        generate(dev, gpu.asarray(np.array([[1, 20]])), 3)


def test_model_gradcheck_on_the_fake_gpu_with_ignore_index_and_dropout(gpu):
    """gradcheck.check_model of a GPU model with what `gradcheck --device cuda` leaves out:
    ignored targets (the valid count is read on the host) together with dropout."""
    from nanograd_llm.gradcheck import check_model
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.2,
                    ignore_index=-1)
    model = GPT(cfg, seed=0, dtype="float64", device="cuda")
    rng = np.random.default_rng(0)
    idx, tgt = rng.integers(0, 13, (2, 6)), rng.integers(0, 13, (2, 6))
    tgt[0, :2] = -1
    r = check_model(model, idx, tgt, coords_per_tensor=2)
    assert r.passed, r


def _host_peak(fn):
    """(fn(), the most bytes of host memory fn held at once): tracemalloc, with the fake's
    device memory out of its sight (fake_cupy.DEVICE_MEMORY_UNTRACED)."""
    import gc
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_loading_onto_the_gpu_copies_each_tensor_as_it_is_read(gpu, tmp_path, monkeypatch):
    """load_hf(device="cuda") built the model on the CPU and then moved it with .to(device):
    the host held the whole weights (1x; 0.5 GB for GPT-2 small) besides the device copy, moved
    in one host→device copy. It now builds the model (zeros) on the device and copies each
    tensor there as it is read: the host holds about one tensor at a time, one copy per tensor,
    and the model is the CPU load moved to the device. load_checkpoint and load_model built on
    the device already; the same checks hold for them."""
    pytest.importorskip("safetensors")
    from nanograd_llm.checkpoint import load_checkpoint, load_model, save_checkpoint
    from nanograd_llm.hf import load_hf
    # Çok sayıda küçük tensör: en büyüğü (1 MiB) ağırlıkların %4'ü
    cfg = GPTConfig(vocab_size=64, block_size=32, n_layer=8, n_head=4, n_embd=256,
                    dropout=0.1)
    model = GPT(cfg, seed=1)
    model.save_hf(tmp_path / "hf")
    save_checkpoint(tmp_path / "ck", model, None, None, 1)
    size = model.flat.nbytes
    largest = max(p.nbytes for p in model.params.values())
    assert largest < 0.05 * size
    T = gpu.TRANSFERS
    # Sahte aygıtın belleği tracemalloc'un dışında: ölçülen yalnızca ana bellek
    monkeypatch.setattr(fake_cupy, "DEVICE_MEMORY_UNTRACED", True)
    host = np.ones(1 << 16, dtype=np.float32)
    (z, d), peak = _host_peak(lambda: (gpu.zeros(1 << 20, dtype=np.float32),
                                       gpu.asarray(host, dtype=np.float64)))
    assert peak < (64 << 10) and not bool(z.any()) and bool((d == 1.0).all())
    loads = {"load_hf": lambda dev: load_hf(tmp_path / "hf", device=dev),
             "load_model": lambda dev: load_model(tmp_path / "ck", device=dev),
             "load_checkpoint": lambda dev: load_checkpoint(tmp_path / "ck",
                                                            device=dev)["model"]}
    for name, load in loads.items():
        load("cuda")                                    # first use: imports
        moved = load("cpu").to("cuda")                  # what a GPU load gave before
        mark = T.mark()
        got, peak = _host_peak(lambda: load("cuda"))
        events = T.since(mark)
        assert type(got.flat) is gpu.ndarray and got.device == "cuda", name
        np.testing.assert_array_equal(to_numpy(got.flat), to_numpy(moved.flat), err_msg=name)
        np.testing.assert_array_equal(to_numpy(got.flat), model.flat, err_msg=name)
        assert got.rng._g.bit_generator.state == moved.rng._g.bit_generator.state, name
        assert got.grad_flat_if_made() is None, name
        # Ana bellekte bir anda bir tensör (okunanı) ve küçük ek yük (.npz'de okumanın 1 MiB'lık
        # arabellekleri: sha256 blokları, np.load'un parçaları); önce bütün ağırlıklar (1x)
        overhead = (128 << 10) if name == "load_hf" else (5 << 19)
        assert peak < 2 * largest + overhead, (name, peak / largest, peak / size)
        # Her tensör bir kez, okunduğu anda kopyalanır (load_state_dict); aygıttan okuma yok
        h2d = [e for e in events if e[0] == "h2d"]
        assert len(h2d) == len(got.params), (name, h2d)
        assert all(site.startswith("models/base.py:") for _, _, site in h2d), (name, h2d)
        assert not [e for e in events if e[0] == "d2h"], name
    assert not load_hf(tmp_path / "hf", device="cuda").training
    # Konum gömmesi kırpılarak yüklenen bir model de CPU'dakinin aynısıdır
    short = load_hf(tmp_path / "hf", device="cuda", block_size=8)
    np.testing.assert_array_equal(to_numpy(short.params["wpe.weight"]),
                                  model.params["wpe.weight"][:8])
    np.testing.assert_array_equal(to_numpy(short.flat),
                                  load_hf(tmp_path / "hf", block_size=8).flat)


def test_a_gpu_load_is_checked_against_the_gpus_memory_not_the_hosts(gpu, tmp_path,
                                                                      monkeypatch, capsys):
    """The 1x "fits in memory" check compared a load onto the GPU with the host's memory,
    although the load keeps one tensor at a time on the host: a 128 GB host refused a model
    that an H200 (141 GB) holds, and a model too big for the GPU was not refused up front →
    a GPU load is checked against the GPU's free memory (with the blocks CuPy's pool holds
    freed); a model built on the GPU draws its weights on the host, so it needs both."""
    pytest.importorskip("safetensors")
    from nanograd_llm.checkpoint import load_checkpoint, load_model, save_checkpoint
    from nanograd_llm.hf import load_hf
    from nanograd_llm.models import base
    cfg = GPTConfig(vocab_size=64, block_size=32, n_layer=2, n_head=4, n_embd=64)
    model = GPT(cfg, seed=1)
    model.save_hf(tmp_path / "hf")
    save_checkpoint(tmp_path / "ck", model, None, None, 1)
    size = model.flat.nbytes
    loads = {"load_hf": lambda: load_hf(tmp_path / "hf", device="cuda"),
             "load_model": lambda: load_model(tmp_path / "ck", device="cuda"),
             "load_checkpoint": lambda: load_checkpoint(tmp_path / "ck", device="cuda")["model"]}
    monkeypatch.setattr(base, "physical_memory", lambda: size // 2)    # a host smaller than it
    monkeypatch.setattr(fake_cupy, "DEVICE_MEMORY", (2 * size, 4 * size))
    for name, load in loads.items():
        np.testing.assert_array_equal(to_numpy(load().flat), model.flat, err_msg=name)
    with pytest.raises(MemoryError, match="this machine has"):
        GPT(cfg, device="cuda")                 # drawn on the host, then copied
    monkeypatch.setattr(base, "physical_memory", lambda: 100 * size)
    monkeypatch.setattr(fake_cupy, "DEVICE_MEMORY", (size // 2, 4 * size))
    for name, load in list(loads.items()) + [("GPT", lambda: GPT(cfg, device="cuda"))]:
        with pytest.raises(MemoryError, match=r"to build; the GPU has 0\.0 GiB free \(of 0\.0 "
                                              r"GiB\)"):
            load()
    monkeypatch.setattr(fake_cupy, "POOL_FREE_BYTES", size)      # freed blocks CuPy keeps
    assert load_model(tmp_path / "ck", device="cuda").device == "cuda"
    monkeypatch.setattr(fake_cupy, "POOL_FREE_BYTES", 0)
    assert cli.main(["sample", "--ckpt", str(tmp_path / "ck"), "--device", "cuda",
                     "--max-new-tokens", "2"]) == 1
    err = capsys.readouterr().err
    assert "the GPU has 0.0 GiB free" in err and "this GPU cannot hold" in err, err


def test_cross_entropy_syncs_with_the_host_only_with_ignore_index(gpu):
    """cross_entropy_forward's docstring said the loss comes with "no host sync"; with
    ignore_index it reads how many positions count (int(valid.sum())), a sync on the GPU. The
    docstring now says when there is one; this is what it says."""
    import inspect

    from nanograd_llm.layers.cross_entropy import cross_entropy_forward
    rng = np.random.default_rng(0)
    z = gpu.asarray(rng.standard_normal((6, 5)))
    t = gpu.asarray(np.array([0, 1, 2, 3, 4, 0]))
    gpu.TRANSFERS.reset()
    loss, _ = cross_entropy_forward(z, t)
    assert type(loss).__module__.startswith("cupy") and loss.shape == ()
    assert gpu.TRANSFERS.events == []
    loss, _ = cross_entropy_forward(z, t, ignore_index=0)
    sites = [site for _, _, site in gpu.TRANSFERS.events]
    assert len(sites) == 1 and sites[0].startswith("layers/cross_entropy.py:"), sites
    doc = " ".join(inspect.getdoc(cross_entropy_forward).split())
    assert "Without ignore_index there is no host sync" in doc
