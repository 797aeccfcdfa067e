import numpy as np
import pytest

from nanograd_llm import backend
from nanograd_llm.backend import DeviceError, check_device, get_array_module, scatter_add, to_device


def test_numpy_backend():
    x = np.zeros(3)
    assert get_array_module(x) is np
    assert get_array_module(x, 1.0) is np
    assert to_device(x, "cpu") is x or np.shares_memory(to_device(x, "cpu"), x)


def test_a_cupy_array_after_numpy_ones_selects_cupy(monkeypatch):
    """Every argument is looked at, not only the first (matmul_t(host_a, device_b))."""
    import sys
    import types
    fake = types.ModuleType("cupy")
    monkeypatch.setitem(sys.modules, "cupy", fake)
    dev = type("ndarray", (), {"__module__": "cupy._core.core"})()
    assert get_array_module(np.zeros(1), dev) is fake
    assert get_array_module(np.zeros(1), 2.0, dev) is fake
    assert backend.device_of(dev) == "cuda" and get_array_module(np.zeros(1), np.ones(2)) is np


def test_to_device_moves_to_the_gpu_and_back(monkeypatch):
    import sys
    import types
    x = np.arange(3.0)
    fake = types.ModuleType("cupy")
    fake.asarray = lambda a: ("on the gpu", a)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "cuda_available", lambda: True)
    moved = to_device(x, "cuda")
    assert isinstance(moved, tuple) and moved[0] == "on the gpu" and moved[1] is x
    dev = type("ndarray", (), {"__module__": "cupy._core.core", "get": lambda self: x})()
    assert to_device(dev, "cpu") is x


def test_as_float_dtype_refuses_other_dtypes_with_a_value_error():
    assert backend.as_float_dtype("float64") == np.float64
    with pytest.raises(ValueError, match="unknown dtype 'float23'"):
        backend.as_float_dtype("float23")
    with pytest.raises(ValueError, match="unsupported dtype float16"):
        backend.as_float_dtype(np.float16)


def test_scatter_add_sums_repeats():
    t = np.zeros(3)
    scatter_add(t, np.array([0, 0, 2, 0]), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(t, [7.0, 0.0, 3.0])


def test_unknown_device():
    with pytest.raises(ValueError, match="unknown device"):
        check_device("gpu")


def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setattr(backend, "cuda_available", lambda: False)
    with pytest.raises(DeviceError, match=r"\[gpu\]"):
        check_device("cuda")


def test_core_imports_numpy_only():
    """The math core (backend, layers, models, gradcheck) must not import optional libraries."""
    import subprocess
    import sys
    code = ("import sys, nanograd_llm, nanograd_llm.gradcheck, nanograd_llm.layers;"
            "bad=[m for m in ('torch','tqdm','cupy','matplotlib','safetensors','regex') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_thread_count_order(monkeypatch):
    """NANOGRAD_LLM_THREADS, else OMP_NUM_THREADS, else OPENBLAS_NUM_THREADS, else the cores;
    empty, zero or non-numeric values are skipped."""
    for var in ("NANOGRAD_LLM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    assert backend.num_threads() == backend._usable_cores()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "5")
    assert backend.num_threads() == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert backend.num_threads() == 3
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "0")          # not a thread count: skipped
    assert backend.num_threads() == 3
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "7")
    assert backend.num_threads() == 7


def test_device_rng_derives_cupy_seed_from_a_sequence():
    """CuPy's generator takes one int: a seed sequence (the trainer's [seed, stream, step]) is
    turned into a non-negative int below 2**63, the same on NumPy 1.x and 2.x (a uint64 shifted
    by a Python int is a TypeError on NumPy 1.x)."""
    import types
    fake = types.SimpleNamespace(random=types.SimpleNamespace(default_rng=lambda seed: seed))
    seed = backend.device_rng(fake, [1, 4, 7])
    state = np.random.SeedSequence([1, 4, 7]).generate_state(1, dtype=np.uint64)[0]
    assert type(seed) is int and seed == int(state) // 2 and 0 <= seed < 2 ** 63
    assert backend.device_rng(fake, 5) == 5                  # an int passes unchanged
    assert backend.device_rng(fake, [1, 4, 8]) != seed


def test_shown_items_cuts_a_long_list_after_its_limit():
    """backend.shown_items: the one list-shortening helper of the messages (run_folder's file
    names, train's and chat's unknown characters)."""
    assert backend.shown_items(["a", "b"], 6) == "a, b"
    assert backend.shown_items([f"f{i}" for i in range(8)], 6) == "f0, f1, f2, f3, f4, f5, …"
    assert backend.shown_items(iter("xyz"), 2, " ") == "x y …"
    assert backend.shown_items("xy", 2, " ") == "x y"


def test_cuda_is_unavailable_when_cupy_sees_no_gpu(monkeypatch):
    import sys
    import types
    fake = types.ModuleType("cupy")
    count = {"n": 0}
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=lambda: count["n"]))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert backend.cuda_available() is False
    count["n"] = 1
    assert backend.cuda_available() is True


def test_cpu_kernels_that_fail_to_load_fall_back_with_a_warning(monkeypatch):
    """Not only a missing Numba: any error while loading cpu_kernels.py (e.g. no writable
    cache folder) gives the generic NumPy code and one warning, not a crash."""
    import importlib
    real = importlib.import_module

    def broken(name, *a, **k):
        if name == "nanograd_llm.cpu_kernels":
            raise OSError("no writable cache folder")
        return real(name, *a, **k)
    monkeypatch.setattr(backend, "_CPU_KERNELS", [])
    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.warns(RuntimeWarning, match="no writable cache folder"):
        assert backend.cpu_kernels() is None
    assert backend.cpu_kernels() is None                    # tried once, remembered


def test_shard_workers_know_they_are_inside_a_shard(monkeypatch):
    """run_shards' workers see in_shard() (so the row-block helper does not start threads of
    its own inside them); the flag is cleared afterwards."""
    if backend._blas_controller() is None:
        pytest.skip("threadpoolctl is not installed: the parts run one after another")
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "2")
    assert backend.run_shards(lambda i: backend.in_shard(), 2) == [True, True]
    assert not backend.in_shard()
