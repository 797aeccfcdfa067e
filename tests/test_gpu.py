"""CPU vs GPU parity. These tests run only where CuPy and an NVIDIA GPU are present."""
import numpy as np
import pytest

from nanograd_llm import GPT, BigramLM, GPTConfig
from nanograd_llm.backend import cuda_available, to_numpy

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cuda_available(), reason="needs CuPy and an NVIDIA GPU")]

CFG = dict(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64)


@pytest.mark.parametrize("kw", [dict(), dict(tie_weights=False, bias=False),
                                dict(positional="sinusoidal", activation="relu")])
def test_cpu_gpu_forward_and_gradients_agree_float32(kw):
    cfg = GPTConfig(**CFG, **kw)
    cpu = GPT(cfg, seed=0)
    gpu = GPT(cfg, seed=0, device="cuda")
    np.testing.assert_array_equal(cpu.flat, to_numpy(gpu.flat))   # same seed, same weights
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 65, (4, 32))
    tgt = rng.integers(0, 65, (4, 32))
    lc, loss_c = cpu.forward(idx, tgt)
    lg, loss_g = gpu.forward(idx, tgt)
    assert type(lg).__module__.startswith("cupy")
    np.testing.assert_allclose(to_numpy(lg), lc, atol=1e-5)
    assert abs(float(loss_c) - float(loss_g)) < 1e-5
    gc = cpu.backward()
    gg = gpu.backward()
    for k in gc:
        np.testing.assert_allclose(to_numpy(gg[k]), gc[k], atol=1e-4, err_msg=k)


def test_gpu_gradcheck_float64():
    from nanograd_llm.gradcheck import TOLERANCE, check_model, model_cases
    for label, model, idx, tgt in model_cases():
        model.to("cuda")
        r = check_model(model, idx, tgt)
        assert r.max_rel_error <= TOLERANCE, (label, r)


def test_gpu_layers_gradcheck_float64():
    import cupy as cp
    from nanograd_llm.gradcheck import LAYERS, TOLERANCE, check_case, layer_case
    for name in LAYERS:
        inputs, f, g = layer_case(name, np.random.default_rng(0), xp=cp)
        r = check_case(name, inputs, f, g)
        assert r.max_rel_error <= TOLERANCE, r


def test_gpu_kv_cache_matches_full_forward():
    model = GPT(GPTConfig(**CFG), seed=0, dtype="float64", device="cuda")
    idx = np.random.default_rng(0).integers(0, 65, (2, 12))
    full, _ = model.forward(idx)
    cache = model.new_kv_cache(batch=2)
    outs = [model.forward(idx[:, :4], kv_cache=cache)[0]]
    for t in range(4, 12):
        outs.append(model.forward(idx[:, t:t + 1], kv_cache=cache)[0])
    import cupy as cp
    np.testing.assert_allclose(to_numpy(cp.concatenate(outs, 1)), to_numpy(full), rtol=1e-10, atol=1e-12)


def test_bigram_on_gpu():
    m = BigramLM(10, seed=0, device="cuda")
    idx = np.random.default_rng(0).integers(0, 10, (2, 5))
    _, loss = m.forward(idx, idx)
    g = m.backward()
    assert np.isfinite(float(loss)) and g["token_embedding.weight"].shape == (10, 10)
