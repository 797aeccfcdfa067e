"""TrainStep (nanograd_llm/cuda_graph.py): the recorded-and-replayed training step.

On the CPU the graph is emulated (the recorded step is called again with the same buffers), so
the bookkeeping is tested everywhere: the batch copied into fixed buffers, the dropout numbers
redrawn in the recorded order from the step's generator, the loss copied out. The real CUDA
graph is compared with the ordinary path in tests/test_gpu.py.
"""
import numpy as np
import pytest

from nanograd_llm import GPT, GPTConfig
from nanograd_llm.cuda_graph import ReplayRandom, TrainStep
from nanograd_llm.optim import AdamW

CFG = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
N_DRAWS = {"rows": 1, "device": 1 + 3 * CFG["n_layer"]}   # random() calls of one forward


@pytest.fixture(params=["rows", "device"])
def draws(request, monkeypatch):
    """How a training forward draws its dropout numbers. "rows": the CPU's way, one seed from
    the model's generator for the per-row generators (RowGenerators), so the step records a
    single (1,) buffer. "device": the GPU's way, every mask drawn for the whole batch from the
    model's generator, so the step records one buffer per dropout in order, which is what the
    real graph refills; emulated here on the CPU."""
    if request.param == "device":
        from nanograd_llm.models import gpt
        monkeypatch.setattr(gpt.RowGenerators, "spawn", lambda rng, n: rng)
    return request.param


def _batches(n, B=2, T=8, V=11, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))) for _ in range(n)]


def _train(model, batches, step_fn, seeds):
    opt = AdamW(model, lr=1e-2)
    losses = []
    for (x, y), sd in zip(batches, seeds):
        loss = step_fn(x, y, sd)
        losses.append(float(loss))
        opt.step()
    return losses


def _eager(model):
    def run(x, y, sd):
        if sd is not None:
            model.set_dropout_seed(sd)
        _, loss = model.forward(x, y)
        model.backward()
        return loss
    return run


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.parametrize("seeded", [True, False])
def test_emulated_graph_equals_ordinary_steps(dropout, seeded, draws):
    cfg = GPTConfig(**CFG, dropout=dropout)
    a, b = GPT(cfg, seed=3, dtype="float64"), GPT(cfg, seed=3, dtype="float64")
    batches = _batches(4)
    seeds = [[7, 4, s] for s in range(4)] if seeded else [None] * 4
    ts = TrainStep(b, emulate=True)
    la = _train(a, batches, _eager(a), seeds)
    lb = _train(b, batches, ts, seeds)
    assert ts.active and ts.reason is None and ts.replays == 3
    assert la == lb                                 # bit-identical on the CPU
    np.testing.assert_array_equal(a.flat, b.flat)
    np.testing.assert_array_equal(a.grad_flat, b.grad_flat)
    if dropout:
        assert len(ts._rand.buffers) == N_DRAWS[draws]
        # different seeds: the replayed dropout numbers really change from step to step
        assert len(set(la)) == len(la)


def test_dropout_numbers_are_redrawn_each_step(draws):
    cfg = GPTConfig(**CFG, dropout=0.5)
    m = GPT(cfg, seed=0, dtype="float64")
    ts = TrainStep(m, emulate=True)
    x, y = _batches(1)[0]
    ts(x, y, [1, 4, 0])
    first = [b.copy() for b in ts._rand.buffers]
    assert len(first) == N_DRAWS[draws]
    ts(x, y, [1, 4, 1])
    assert all(not np.array_equal(f, b) for f, b in zip(first, ts._rand.buffers))
    ts(x, y, [1, 4, 0])                             # the same seed gives the same numbers
    for f, b in zip(first, ts._rand.buffers):
        np.testing.assert_array_equal(f, b)


def test_returned_loss_is_a_copy():
    m = GPT(GPTConfig(**CFG), seed=0, dtype="float64")
    ts = TrainStep(m, emulate=True)
    (x1, y1), (x2, y2) = _batches(2)
    ts(x1, y1)                                      # recorded
    l2 = ts(x2, y2)                                 # replayed
    ts(x1, y1)                                      # replayed again: must not change l2
    assert ts.replays == 2
    _, ref = GPT(GPTConfig(**CFG), seed=0, dtype="float64").forward(x2, y2)
    assert float(l2) == float(ref)


def test_other_shapes_and_modes_take_the_ordinary_path():
    m = GPT(GPTConfig(**CFG), seed=0, dtype="float64")
    ts = TrainStep(m, emulate=True)
    x, y = _batches(1)[0]
    ts(x, y)
    ts(x[:, :5], y[:, :5])                          # another shape: not replayed
    assert ts.replays == 0
    m.eval()
    ts(x, y)                                        # eval mode: not replayed
    m.train()
    ts(x, y)
    assert ts.replays == 1


def test_not_used_on_cpu_with_ignore_index_or_when_off():
    x, y = _batches(1)[0]
    for model, kw, reason in [
            (GPT(GPTConfig(**CFG)), {}, "CPU"),
            (GPT(GPTConfig(**CFG, ignore_index=-1)), {"emulate": True}, "ignore_index"),
            (GPT(GPTConfig(**CFG)), {"emulate": True, "use_graph": False}, "off")]:
        ts = TrainStep(model, **kw)
        ref = GPT(model.config, seed=0)
        _, l_ref = ref.forward(x, y)
        assert float(ts(x, y)) == pytest.approx(float(l_ref))
        assert not ts.active and reason in ts.reason


def test_replay_random_checks_the_recorded_sequence():
    rr = ReplayRandom(np, np.random.default_rng(0))
    a = rr.random((2, 3), dtype=np.float32)
    rr.replay()
    assert rr.random((2, 3), dtype=np.float32) is a
    with pytest.raises(RuntimeError, match="more random arrays"):
        rr.random((2, 3), dtype=np.float32)
    rr.replay()
    with pytest.raises(RuntimeError, match="recorded"):
        rr.random((3, 2), dtype=np.float32)
    # refill draws what the generator itself would give, in order
    rr.refill(np.random.default_rng(5))
    np.testing.assert_array_equal(a, np.random.default_rng(5).random((2, 3), dtype=np.float32))


def test_failed_recording_falls_back_and_restores_the_generator(monkeypatch):
    cfg = GPTConfig(**CFG, dropout=0.3)
    a, b = GPT(cfg, seed=1, dtype="float64"), GPT(cfg, seed=1, dtype="float64")
    own_rng = b.rng
    ts = TrainStep(b, emulate=True)
    real = TrainStep._record_emulated

    def failing(self, *args):
        real(self, *args)                 # the model now draws from the replay buffers ...
        raise ZeroDivisionError("planted")   # ... and the recording fails at the very end

    monkeypatch.setattr(TrainStep, "_record_emulated", failing)
    batches, seeds = _batches(3), [[2, 4, s] for s in range(3)]
    la = _train(a, batches, _eager(a), seeds)
    lb = _train(b, batches, ts, seeds)
    assert not ts.active and "ZeroDivisionError: planted" in ts.reason
    assert not isinstance(b.rng, ReplayRandom)
    assert la == lb                        # every step ran the ordinary path
    np.testing.assert_array_equal(a.flat, b.flat)
    ts2 = TrainStep(GPT(cfg, seed=1, dtype="float64"), emulate=True)
    rng2 = ts2.model.rng
    ts2(*batches[0])      # unseeded, recording fails again: the model's own generator comes back
    assert ts2.model.rng is rng2 and own_rng is not rng2


def test_model_keeps_its_generator_and_can_be_moved():
    cfg = GPTConfig(**CFG, dropout=0.2)
    m = GPT(cfg, seed=0, dtype="float64")
    own = m.rng
    ts = TrainStep(m, emulate=True)
    x, y = _batches(1)[0]
    ts(x, y)
    ts(x, y)
    assert m.rng is own and ts.replays == 1
    m.forward(x, y)                       # an ordinary unseeded forward still draws its masks
    ts(x[:, :5], y[:, :5])                # another shape: the ordinary path, no error
    m._set_buffers(m.flat.copy())         # new parameter buffers (as after a device move):
    ts(x, y)                              # the recording is dropped and made again
    assert ts.active and ts._flat is m.flat and ts.replays == 1
    ts(x, y)
    assert ts.replays == 2


def test_trainer_with_the_emulated_graph_step(tmp_path, monkeypatch, capsys):
    """The trainer's graph path (batch buffers, per-step dropout seeds, loss logging, resume)
    on the CPU: with the capture emulated, training is bit-identical to the ordinary loop."""
    from _train_helpers import tiny_config, weights

    import nanograd_llm.train as train_mod
    from nanograd_llm import checkpoint as ckpt
    plain = train_mod.train(tiny_config(tmp_path, "plain"), quiet=True)
    made = []

    def emulated(cfg, model):
        made.append(TrainStep(model, emulate=True))
        return made[-1]
    monkeypatch.setattr(train_mod, "_graph_step", emulated)
    graphed = train_mod.train(tiny_config(tmp_path, "graph"), quiet=False, progress=False)
    assert "CUDA graph: forward+backward are replayed as one graph" in capsys.readouterr().err
    assert made[0].replays == 11 and made[0].reason is None     # 12 steps: 1 recorded
    np.testing.assert_array_equal(weights(graphed["model"]), weights(plain["model"]))
    # killed after step 6 and resumed with the graph: still the same weights
    part = tiny_config(tmp_path, "part")
    train_mod.train(part, quiet=True, stop_after=6)
    resumed = train_mod.train(part, resume=True, quiet=True)
    np.testing.assert_array_equal(weights(resumed["model"]), weights(plain["model"]))
    np.testing.assert_array_equal(ckpt.load_model(tmp_path / "part").flat,
                                  ckpt.load_model(tmp_path / "plain").flat)


def test_unseeded_steps_draw_from_the_models_current_generator(draws):
    """Without a seed the step draws its dropout numbers from the model's generator as it is at
    that step, as the ordinary path does: after a model.set_dropout_seed between steps, and after
    seeded steps (the ordinary path leaves the seeded generator in the model)."""
    cfg = GPTConfig(**CFG, dropout=0.3)
    a, b = GPT(cfg, seed=3, dtype="float64"), GPT(cfg, seed=3, dtype="float64")
    ts = TrainStep(b, emulate=True)
    run_a = _eager(a)
    seeds = [None, None, None, [5, 4, 3], None, None]
    for i, ((x, y), sd) in enumerate(zip(_batches(6), seeds)):
        if i == 2:
            a.set_dropout_seed(11)
            b.set_dropout_seed(11)
        la, lb = run_a(x, y, sd), ts(x, y, sd)
        assert float(la) == float(lb), i
        np.testing.assert_array_equal(a.grad_flat, b.grad_flat)
    assert ts.replays == 5 and not isinstance(b.rng, ReplayRandom)
