"""Helpers of the hand-run benchmark scripts that later sessions rely on (no GPU needed)."""
import sys
from pathlib import Path

import pytest

from _platform import posix_only

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench_module(name):
    """Import benchmarks/<name>.py (the folder is on sys.path only for the import; so is the
    checkout, which the scripts put there themselves to run from it)."""
    import importlib
    saved = sys.path[:]
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = saved


@pytest.fixture(scope="module")
def gpu_profile():
    return _bench_module("gpu_profile")


# kernel names as CUDA reported them in the session-12 profile (H200), with their kinds
KERNELS = [
    ("sm80_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize128x64x8_stage3", "matrix products"),
    ("void cutlass::Kernel2<cutlass_80_simt_sgemm_256x128_8x4_nn_align1>", "matrix products"),
    ("std::enable_if<!(false), void>::type internal::gemvx::kernel<int, int, float>",
     "matrix products"),
    ("fmha_cutlassB_f32_aligned_64x64_k64_sm80(PyTorchMemEffAttention::AttentionBackwardKernel",
     "fused attention"),
    ("causal_softmax_fwd_f32", "softmax"),
    ("softmax_bwd_f32", "softmax"),
    ("nanograd_gelu_fwd", "GELU"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::GeluBackwardCUDAKernelImpl",
     "GELU"),
    ("void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernelTemplate<float>",
     "layer norm"),
    ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float>",
     "layer norm"),
    ("cupy_add__float32_float32_float32", "adds"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>",
     "adds"),
    ("cupy_copy__float32_float32", "copies"),
    ("void at::native::(anonymous namespace)::CatArrayBatchedCopy_vectorized", "copies"),
    ("void at::native::reduce_kernel<128, 4, at::native::ReduceOp<float>", "reductions"),
    ("nanograd_adamw", "AdamW"),
    ("cupy_scatter_add_float32", "adds"),            # not a copy: "scatter" holds "cat"
    ("cupy_multiply__float32_float32_float32", "other"),
    # not in the session-12 top list: recent cuBLAS names on Hopper, our layer-norm kernels
    ("nvjet_tst_128x64_64x6_1x2_h_bz_coopA_NNT", "matrix products"),   # cuBLAS on Hopper
    ("void splitKreduce_kernel<32, 16, int, float, float, float, float, true, false>",
     "matrix products"),
    ("ln_fwd_f32", "layer norm"),                  # ours (cuda_kernels.py)
    ("ln_bwd_dx_f64", "layer norm"),
]


@pytest.mark.parametrize("name,kind", KERNELS)
def test_kernel_kinds(gpu_profile, name, kind):
    assert gpu_profile.kernel_kind(name) == kind


def test_kind_sums_add_every_kernel_once_in_kind_order(gpu_profile):
    times = {name: float(i + 1) for i, (name, _) in enumerate(KERNELS)}
    sums = gpu_profile.kind_sums(times)
    assert sum(sums.values()) == pytest.approx(sum(times.values()))
    order = [k for k, _ in gpu_profile.KINDS] + ["other"]
    assert list(sums) == [k for k in order if k in sums]
    assert sums["softmax"] == pytest.approx(5.0 + 6.0)


SUITE = BENCH / "gpu_suite.sh"


def _stage_files(stage):
    """The names a gpu_suite.sh stage writes under $OUT (its own lines and the functions it
    calls; `log` writes summary.log)."""
    import re
    text = SUITE.read_text()
    funcs = dict(re.findall(r"^(\w+)\(\) \{\n(.*?)^\}", text, re.S | re.M))
    funcs.update(re.findall(r"^(\w+)\(\) \{(.*)\}$", text, re.M))
    body = re.search(rf'^if \[ "\$STAGE" = {stage} \]; then\n(.*?)^fi$', text, re.S | re.M).group(1)
    for _ in range(2):                                   # functions that call functions
        body += "".join(f for name, f in funcs.items() if re.search(rf"^\s*{name}\b", body, re.M))
    return set(re.findall(r'\$OUT/([^"\s]+)"', body))


@pytest.mark.parametrize("stage", ["check", "quick", "train"])
def test_gpu_suite_stage_writes_what_a_device_call_hands_back(stage):
    """A device call returns at most 8 files, no more than 2 folders down: a ninth log would
    be left behind on the machine."""
    files = _stage_files(stage)
    assert "summary.log" in files and 2 <= len(files) <= 8, sorted(files)
    assert all(f.count("/") <= 1 for f in files), sorted(files)


@posix_only("bash and the POSIX tools benchmarks/gpu_suite.sh runs")
def test_gpu_suite_stops_at_once_without_a_gpu(tmp_path):
    """No CuPy GPU: every stage stops after the environment step with exit 3 (instead of
    skipped GPU tests reported as passed and failing benchmarks); an unknown stage is exit 2."""
    import subprocess
    from nanograd_llm.backend import cuda_available
    if cuda_available():
        pytest.skip("a GPU is present: the suite would really run")
    root = BENCH.parent
    for stage, code in (("check", 3), ("quick", 3), ("train", 3), ("bogus", 2)):
        out = tmp_path / stage
        r = subprocess.run(["bash", str(SUITE)], cwd=root, capture_output=True, text=True,
                           timeout=120, env={**__import__("os").environ, "OUT": str(out),
                                             "STAGE": stage, "DATA": str(SUITE)})
        assert r.returncode == code, (stage, r.stdout, r.stderr)
        if code == 3:
            assert "CuPy cannot use a GPU here" in (out / "summary.log").read_text()


@posix_only("bash and the POSIX tools benchmarks/gpu_suite.sh runs")
@pytest.mark.parametrize("stage", ["check", "quick", "train"])
def test_gpu_suite_stops_at_once_without_its_data(tmp_path, stage):
    """Every stage trains on DATA (check: its last step, the smoke run): a missing file stops
    the suite before the GPU tests and benchmarks spend the lease's minutes (exit 2, with the
    advice to copy it and carry .device_data)."""
    import os
    import subprocess
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(SUITE)], cwd=BENCH.parent, capture_output=True, text=True,
                       timeout=60, env={**os.environ, "OUT": str(out), "STAGE": stage,
                                        "DATA": str(tmp_path / "missing.txt")})
    assert r.returncode == 2, (r.stdout, r.stderr)
    summary = (out / "summary.log").read_text()
    assert "missing.txt: copy tinyshakespeare.txt there" in summary
    assert "GPU tests" not in summary and "CuPy" not in summary


@posix_only("bash and the POSIX tools benchmarks/gpu_suite.sh runs")
def test_gpu_suite_names_the_sources_that_ran_without_git(tmp_path):
    """The environment step writes one sha256 over the package's, tests' and benchmarks' .py
    and .sh files (path order) into summary.log: what ran, where the copied tree's .git is stale
    or missing. Python and nvidia-smi are stubs here (CuPy 'sees no GPU': exit 3 after it)."""
    import hashlib
    import os
    import subprocess
    root = BENCH.parent
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("python3", "nvidia-smi", "git"):
        (stubs / name).write_text("#!/bin/sh\nexit 1\n")
        (stubs / name).chmod(0o755)
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(SUITE)], cwd=root, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
                            "OUT": str(out), "STAGE": "check", "DATA": str(SUITE)})
    assert r.returncode == 3, (r.stdout, r.stderr)
    files = sorted((p for d in ("nanograd_llm", "tests", "benchmarks")
                    for p in (root / d).rglob("*") if p.is_file() and p.suffix in (".py", ".sh")),
                   key=lambda p: str(p.relative_to(root)).encode())
    want = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
    assert f"sources sha256 {want}\n" in (out / "summary.log").read_text()


@posix_only("bash and the POSIX tools benchmarks/gpu_suite.sh runs")
def test_gpu_suite_says_which_step_timed_out_or_failed(tmp_path):
    """Every timed command of the suite goes through limit(), which notes in summary.log (once,
    past the step's pipe) a command that ran out of its time or failed; one that succeeds
    leaves no note."""
    import re
    import subprocess
    text = SUITE.read_text()
    defs = [re.search(r"^log\(\) \{.*\}$", text, re.M).group(0),
            re.search(r"^limit\(\) \{\n.*?^\}", text, re.S | re.M).group(0)]
    outside = text.replace(defs[1], "")
    assert not re.findall(r"^[^#\n]*\btimeout [\"\d$]", outside, re.M)    # all through limit
    out = tmp_path / "out"
    out.mkdir()
    script = "\n".join(["exec 3>&2", *defs,
                        'limit 0.3 sleep 5 2>&1 | tail -3 > "$OUT/step.log"',
                        'limit 5 sh -c "echo hi; exit 4" > "$OUT/other.log" 2>&1',
                        'limit 5 true | cat'])
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                       env={"OUT": str(out), "PATH": "/usr/bin:/bin"})
    summary = (out / "summary.log").read_text().splitlines()
    assert len(summary) == 2, summary
    assert summary[0].endswith("timed out after 0.3 s: sleep 5"), summary
    assert summary[1].endswith("exit 4: sh -c echo hi; exit 4"), summary
    assert (out / "step.log").read_text() == "" and (out / "other.log").read_text() == "hi\n"
    assert "timed out after 0.3 s" in r.stderr and r.stdout == ""


def test_gpu_suite_summary_names_the_failed_gpu_tests(tmp_path):
    """gpu_tests() copies the end of pytest's output into summary.log: with the suite's pytest
    options (and the checkout's setup.cfg, as on the device) that end names every failed test,
    not only the last lines of the last traceback."""
    import re
    import shlex
    import subprocess
    body = re.search(r"^gpu_tests\(\) \{\n(.*?)^\}", SUITE.read_text(), re.S | re.M).group(1)
    opts = shlex.split(re.search(r"\$PY -m pytest (.*?) (?=tests/)", body).group(1))
    lines = int(re.search(r'tail -(\d+) "\$OUT/gpu_tests.log"', body).group(1))
    (tmp_path / "test_two_failures.py").write_text(
        "import pytest\n"
        + "".join(f"def f{i}(n):\n    return f{i + 1}(n)\n" for i in range(40))
        + "def f40(n):\n    assert n == 0\n"       # a deep traceback, as an import error gives
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_fails(n):\n    f0(n)\n"
        "def test_skipped():\n    pytest.skip('no GPU here')\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-c", str(BENCH.parent / "setup.cfg"),
                        "--rootdir", str(tmp_path), *opts, str(tmp_path / "test_two_failures.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    tail = "\n".join((r.stdout + r.stderr).splitlines()[-lines:])
    assert "2 failed" in tail, r.stdout
    for name in ("test_fails[1]", "test_fails[2]"):
        assert name in tail, tail
    assert "no GPU here" in tail, tail                  # skip reasons stay in the summary


@pytest.fixture(scope="module")
def attention_products():
    return _bench_module("attention_products")


@pytest.mark.parametrize("n,other,small", [(256, 4096, 1_000_000), (192, 4096, 1_000_000),
                                           (256, 64, 1_000_000), (7, 3, 10), (5, 100, 10),
                                           (5, 3, 4), (1, 1, 1), (10, 1, 3)])
def test_attention_products_pieces_cover_the_range_within_the_limit(attention_products,
                                                                    n, other, small):
    pieces = attention_products._pieces(n, other, small)
    assert [j for a, b in pieces for j in range(a, b)] == list(range(n))
    longest = max(1, small // other)         # a piece of one row if even that is too much
    assert all(b - a <= longest for a, b in pieces), pieces
    assert len(pieces) == -(-n // longest)   # no more pieces than needed


def test_attention_products_nn_rewrite_equals_the_causal_tiles(attention_products):
    """The benchmark's NN-only variant computes the same attention and gradients as
    layers/causal_tiles.py (else its timing would compare different work)."""
    import numpy as np
    from nanograd_llm.layers.causal_tiles import (tiled_attention_backward,
                                                  tiled_attention_forward)
    q, k, v = attention_products._qkv(3, 2, 128, 16, seed=5)
    dy = np.random.default_rng(2).standard_normal(q.shape, dtype=np.float32)
    y1, c1 = tiled_attention_forward(q, k, v)
    g1 = tiled_attention_backward(dy, c1)
    for pad, small in ((0, 1_000_000), (16, 20_000)):     # 20 000: every tile split
        y2, c2 = attention_products._nn_forward(q, k, v, pad, small)
        g2 = attention_products._nn_backward(dy, c2)
        np.testing.assert_allclose(y2, y1, rtol=1e-5, atol=1e-6)
        for a, b in zip(g2, g1):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_step_products_times_every_product_of_a_step():
    """benchmarks/step_products.py runs a real baby step with its timer and accounts for the
    products of every kind (run in its own process: it replaces matmul_t in the modules)."""
    import json
    import subprocess
    r = subprocess.run([sys.executable, str(BENCH / "step_products.py"), "--config", "baby",
                        "--steps", "1", "--top", "3"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(res["kinds"]) == {"2d", "batched", "gemv"}
    assert 0 < res["products_ms"] < res["step_ms"]
    assert "OPENBLAS_CORETYPE" in res and "OPENBLAS_L2_SIZE" in res   # set or not, reported


@pytest.fixture(scope="module")
def train_step():
    return _bench_module("train_step")


def _bench_args(**kw):
    from types import SimpleNamespace
    return SimpleNamespace(**{"threads": 2, "no_fused": False, "device": "cpu", "tf32": False,
                              **kw})


def test_train_step_workers_get_the_same_thread_count(train_step):
    """Both workers run on --threads: a NANOGRAD_LLM_THREADS left in the shell (read first by
    the data-parallel split) must not give our side another count than torch's."""
    envs = train_step.worker_envs(_bench_args(threads=2),
                                  {"NANOGRAD_LLM_THREADS": "1", "OMP_NUM_THREADS": "8"})
    for env in envs.values():
        for var in ("NANOGRAD_LLM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS"):
            assert env[var] == "2", (var, env[var])
    assert "NANOGRAD_LLM_FUSED" not in envs["numpy"]
    envs = train_step.worker_envs(_bench_args(no_fused=True), {})
    assert envs["numpy"]["NANOGRAD_LLM_FUSED"] == "0" and "NANOGRAD_LLM_FUSED" not in envs["torch"]
    # settings left in the shell do not reach our side: only the flags choose them
    envs = train_step.worker_envs(_bench_args(), {"NANOGRAD_LLM_FUSED": "0",
                                                  "NANOGRAD_LLM_MALLOC_TUNING": "0"})
    assert "NANOGRAD_LLM_FUSED" not in envs["numpy"]
    assert "NANOGRAD_LLM_MALLOC_TUNING" not in envs["numpy"]


def test_train_step_torch_worker_runs_with_glibc_defaults(train_step):
    """The torch worker builds a nanograd_llm GPT for its weights; the allocator tuning that a
    model build applies to its process must not reach torch's side (ours keeps it)."""
    envs = train_step.worker_envs(_bench_args(), {})
    assert envs["torch"]["NANOGRAD_LLM_MALLOC_TUNING"] == "0"
    assert "NANOGRAD_LLM_MALLOC_TUNING" not in envs["numpy"]


@pytest.mark.parametrize("tf32", [False, True])
def test_train_step_pins_both_sides_precision(train_step, tf32):
    """float32 means float32 on both sides and --tf32 means TF32 for ours, whatever the shell
    holds: CUPY_TF32 (read by our cuBLAS calls) is set either way, and the variables that
    override what each library asks for are removed."""
    shell = {"CUPY_TF32": "0" if tf32 else "1", "NVIDIA_TF32_OVERRIDE": "0",
             "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1"}
    envs = train_step.worker_envs(_bench_args(tf32=tf32, device="cuda"), shell)
    assert envs["numpy"]["CUPY_TF32"] == ("1" if tf32 else "0")
    for env in envs.values():
        assert "NVIDIA_TF32_OVERRIDE" not in env and "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE" not in env


def test_train_step_layer_timer_leaves_out_a_warm_up_call(train_step):
    """The per-layer table times every layer after one untimed call, on both sides."""
    import time
    calls, syncs = [], []

    def fn():
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.2)             # a first call's compilation / allocation
    ms = train_step._time_fn(fn, lambda: syncs.append(1), reps=1)
    assert len(calls) == 2 and ms < 100, (calls, ms)
    assert len(syncs) >= 2              # the device is idle before the timer and after each call


def test_train_step_torch_layer_calls_write_fresh_gradients(train_step):
    """Each timed torch layer call computes its gradients anew, as our layer functions do,
    instead of adding them to the previous call's (an extra pass per parameter)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(5, 4, requires_grad=True)
    run = train_step._torch_fwd_bwd(lambda: lin(x), (x,), lin)
    run()
    first = [t.grad.clone() for t in (x, lin.weight, lin.bias)]
    run()
    for a, t in zip(first, (x, lin.weight, lin.bias)):
        torch.testing.assert_close(t.grad, a)


def test_train_step_attention_row_times_what_the_model_runs(train_step):
    """The per-layer 'attention core' row runs the code multi-head attention runs at that
    length: the causal tiles on the CPU from T = 128 (`shakespeare`), the dense code below."""
    import numpy as np
    from nanograd_llm.layers import attention, causal_tiles
    for T in (64, 128, 256):
        fwd, bwd = train_step._attention_core(np, T)
        tiled = causal_tiles.use_causal_tiles(T, T, np)
        assert (fwd, bwd) == ((causal_tiles.tiled_attention_forward,
                               causal_tiles.tiled_attention_backward) if tiled else
                              (attention.attention_forward, attention.attention_backward))
    assert train_step._attention_core(np, 256)[0] is causal_tiles.tiled_attention_forward
    assert train_step._attention_core(np, 64)[0] is attention.attention_forward


def test_step_products_wraps_every_module_that_calls_matmul_t():
    """step_products.py replaces matmul_t in the modules of CALLERS: a module that imported it
    and is missing there (the learned positions' gradient GEMV) would go untimed."""
    import importlib
    import pkgutil

    import nanograd_llm
    from nanograd_llm import backend
    step_products = _bench_module("step_products")
    users = set()
    for m in pkgutil.walk_packages(nanograd_llm.__path__, "nanograd_llm."):
        if m.name.endswith("__main__") or m.name == "nanograd_llm.backend":
            continue
        try:
            mod = importlib.import_module(m.name)
        except Exception:               # optional extras (Numba, CuPy, matplotlib ...) missing
            continue
        if getattr(mod, "matmul_t", None) is backend.matmul_t:
            users.add(m.name)
    assert users and users <= set(step_products.CALLERS), sorted(users - set(step_products.CALLERS))


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--round", "0"], ["--steps", "-1"],
                                  ["--layer-reps", "0"], ["--pause", "-1"]])
def test_train_step_refuses_counts_below_one(train_step, argv, capsys):
    """--round 0, --threads 0 and the like started the workers and failed deep in the run (or
    never ended); they are refused at once with argparse's usage error."""
    with pytest.raises(SystemExit) as e:
        train_step.main(argv)
    assert e.value.code == 2 and "must" in capsys.readouterr().err


@pytest.mark.parametrize("tokenizer", ["bpe", "char"])
def test_char_vs_bpe_measures_characters_per_token_on_the_runs_own_val_part(tokenizer, tmp_path):
    """bits_per_char turns the run's val loss per token into bits per character with the val
    part's characters per token. It took the last 10% of the whole text's ids, the val part of
    a BPE run before extra.split_by; a new BPE run's val part is the last 10% of the
    characters encoded on its own (data.encode_split_corpus), so the ratio was measured on
    other text than the loss. A character run's val part is the last 10% of its ids."""
    import math

    from nanograd_llm.data import encode_corpus, load_text, split_point
    from nanograd_llm.tokenizers import CharTokenizer
    if tokenizer == "bpe":
        pytest.importorskip("regex")
        from nanograd_llm.tokenizers.bpe import BPETokenizer
    from _train_helpers import TEXT
    char_vs_bpe = _bench_module("char_vs_bpe")
    text = TEXT + "zzqxv zzqxv zzqxv vxqzz qxvzz zzqxv. " * 4
    c = split_point(len(text), 0.1)
    tok = (BPETokenizer.train(text[:c], 300) if tokenizer == "bpe"
           else CharTokenizer.from_text(text))
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    assert load_text(str(path))[0] == text
    bpc, chars_per_token = char_vs_bpe.bits_per_char({"tokenizer": tok, "val_loss": 1.0},
                                                     str(path))
    if tokenizer == "bpe":
        val = encode_corpus(text[c:], tok)
        old = encode_corpus(text, tok)
        assert val.size != old.size - split_point(old.size, 0.1)   # the two rules differ here
    else:
        val = encode_corpus(text, tok)[split_point(len(text), 0.1):]
    assert chars_per_token == (len(text) - c) / val.size
    assert bpc == pytest.approx(val.size / (len(text) - c) / math.log(2))


@pytest.mark.parametrize("recorded", [True, False])
def test_eval_ckpt_cuts_the_val_part_with_the_runs_recorded_val_fraction(recorded, tmp_path,
                                                                         capsys):
    """eval_ckpt.py split the text with val_fraction 0.1 whatever the run had trained with: a
    run with val_fraction 0.3 was scored on the last 10% of its ids, a part of its training
    text. It now takes the run's recorded val_fraction and split rule (as `nanograd-llm eval`
    finds them, evaluate.resolve_eval_data); a run that records neither falls back to 0.1 and
    the ids, and says so on stderr."""
    import json

    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.checkpoint import save_checkpoint
    from nanograd_llm.data import split_point, text_sha256
    from nanograd_llm.tokenizers import CharTokenizer
    from _train_helpers import TEXT
    eval_ckpt = _bench_module("eval_ckpt")
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    tok = CharTokenizer.from_text(TEXT)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1,
                          n_embd=8), seed=0)
    cfg, extra = {"data": str(path)}, {}
    if recorded:
        cfg["val_fraction"] = 0.3
        extra = {"data_sha256": text_sha256(TEXT), "split_by": "tokens"}
    save_checkpoint(tmp_path / "run", model, None, tok, 1, train_config=cfg, extra=extra)
    eval_ckpt.main([str(tmp_path / "run"), str(path), "--repeats", "2", "--eval-iters", "1",
                    "--batch-size", "2"])
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    f = 0.3 if recorded else 0.1
    n = len(tok.encode(TEXT))
    assert out["val_positions"] == n - split_point(n, f) - 1
    assert (out["val_fraction"], out["split_by"]) == (f, "tokens")
    if recorded:
        assert "note:" not in captured.err
    else:
        assert "records no val_fraction; using 0.1, the trainer's default" in captured.err
        assert "records no split_by (saved before it was recorded); its val part is cut by " \
               "tokens" in captured.err


@pytest.mark.parametrize("sha", [True, False])
def test_eval_ckpts_note_on_another_file_says_what_it_could_compare(sha, tmp_path, capsys):
    """A DATA that is not the run's corpus was noted as "'copy.txt' is not the text RUN was
    trained on" also for a run that records no data_sha256, where only the file is compared
    and a copy of the corpus is the very same text. Such a run is now told apart: "is not the
    file RUN was trained on (the run records no sha256 to tell whether it is the same text)";
    a run with a sha256 and another text keeps "is not the text"."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.checkpoint import save_checkpoint
    from nanograd_llm.data import text_sha256
    from nanograd_llm.tokenizers import CharTokenizer
    from _train_helpers import TEXT
    eval_ckpt = _bench_module("eval_ckpt")
    corpus, other = tmp_path / "corpus.txt", tmp_path / "copy.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    other.write_text(TEXT if not sha else TEXT[::-1], encoding="utf-8")
    tok = CharTokenizer.from_text(TEXT)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1,
                          n_embd=8), seed=0)
    extra = {"data_sha256": text_sha256(TEXT)} if sha else {}
    save_checkpoint(tmp_path / "run", model, None, tok, 1,
                    train_config={"data": str(corpus), "val_fraction": 0.1}, extra=extra)
    eval_ckpt.main([str(tmp_path / "run"), str(other), "--repeats", "2", "--eval-iters", "1",
                    "--batch-size", "2"])
    err = capsys.readouterr().err
    if sha:
        assert f"is not the text {tmp_path / 'run'} was trained on; its val part" in err
    else:
        assert "is not the text" not in err
        assert (f"is not the file {tmp_path / 'run'} was trained on (the run records no sha256 "
                f"to tell whether it is the same text); its val part is cut by tokens") in err


def _tiny_run(tmp_path, text):
    """A one-layer character run saved in tmp_path/run, trained (nominally) on
    tmp_path/corpus.txt."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.checkpoint import save_checkpoint
    from nanograd_llm.tokenizers import CharTokenizer
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    tok = CharTokenizer.from_text(text)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=1,
                          n_embd=8), seed=0)
    save_checkpoint(tmp_path / "run", model, None, tok, 1,
                    train_config={"data": str(corpus), "val_fraction": 0.1},
                    extra={"split_by": "tokens"})
    return tmp_path / "run", corpus


@pytest.mark.parametrize("case", ["corrupt manifest", "no run", "no data", "unknown character"])
def test_eval_ckpt_refuses_bad_input_with_one_error_line(case, tmp_path, capsys):
    """eval_ckpt.py ended with a traceback on a corrupt checkpoint manifest, a missing run
    directory or DATA file, and on a DATA with a character the run's tokenizer lacks (whose
    message pointed to `--unknown skip`, an option the script does not have). Each now ends
    with one `error:` line (SystemExit with exit status 1); the unknown character's line says
    that the script measures only fully encodable texts and names `nanograd-llm eval`."""
    from _train_helpers import TEXT
    eval_ckpt = _bench_module("eval_ckpt")
    run, data = _tiny_run(tmp_path, TEXT)
    if case == "corrupt manifest":
        (run / "checkpoint.json").write_text("{", encoding="utf-8")
    elif case == "no run":
        run = tmp_path / "missing-run"
    elif case == "no data":
        data = tmp_path / "missing.txt"
    else:
        data = tmp_path / "other.txt"
        data.write_text(TEXT + "Æ", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        eval_ckpt.main([str(run), str(data), "--repeats", "2", "--eval-iters", "1",
                        "--batch-size", "2"])
    msg = str(e.value.code)
    assert msg.startswith("error: ") and "\n" not in msg
    if case == "unknown character":
        assert "--unknown replace" not in msg and "nanograd-llm eval --unknown skip" in msg


@pytest.mark.parametrize("argv", [["--repeats", "1"], ["--repeats", "0"], ["--eval-iters", "0"],
                                  ["--batch-size", "0"]])
def test_eval_ckpt_refuses_counts_below_their_minimum(argv, tmp_path, capsys):
    """--repeats 1 printed eval20_std NaN, --repeats 0 and --batch-size 0 ended in tracebacks,
    --eval-iters 0 printed NaN means; all are refused with argparse's usage error."""
    from _train_helpers import TEXT
    eval_ckpt = _bench_module("eval_ckpt")
    run, data = _tiny_run(tmp_path, TEXT)
    with pytest.raises(SystemExit) as e:
        eval_ckpt.main([str(run), str(data)] + argv)
    assert e.value.code == 2 and "must be at least" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--steps", "-2"], ["--top", "0"]])
def test_step_products_refuses_counts_below_one(argv, capsys):
    """--steps 0 ran the warm-up step and then ended in a ZeroDivisionError traceback; it is
    refused at once with argparse's usage error (as --top 0, which listed nothing)."""
    step_products = _bench_module("step_products")
    with pytest.raises(SystemExit) as e:
        step_products.main(["--config", "baby"] + argv)
    assert e.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_gpu_profile_refuses_bad_counts_and_a_missing_cupy(gpu_profile, monkeypatch, capsys):
    """--steps 0 was taken (on a GPU it divided by zero after the warm-up) and, without CuPy,
    the script ended in a ModuleNotFoundError traceback. --steps 0 is now argparse's usage
    error, and a missing CuPy or PyTorch one `error:` line."""
    with pytest.raises(SystemExit) as e:
        gpu_profile.main(["--config", "baby", "--steps", "0"])
    assert e.value.code == 2 and "--steps >= 1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "cupy", None)         # import cupy fails, GPU or not
    monkeypatch.setenv("CUPY_TF32", "0")                   # main pins these; restored after
    for var in ("NVIDIA_TF32_OVERRIDE", "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SystemExit) as e:
        gpu_profile.main(["--config", "baby", "--steps", "1"])
    assert str(e.value.code).startswith("error: gpu_profile.py needs CuPy")


@pytest.mark.parametrize("argv", [["--contexts", "1026", "--new-tokens", "2"],
                                  ["--contexts", "64", "--new-tokens", "1"],
                                  ["--contexts", "64", "--repeats", "0"],
                                  ["--contexts", "8", "--new-tokens", "8"],
                                  ["--contexts", "64,x"]])
def test_kv_cache_refuses_what_it_cannot_measure(argv, capsys):
    """kv_cache.py's model has block_size 1024: a --contexts above it was run with the context
    cropped to 1024 and printed under its own label. --new-tokens 1 (no step after the first
    token) and --repeats 0 ended in a ZeroDivisionError, a context without a prompt token in a
    traceback. All are refused with argparse's usage error before the model is built."""
    kv_cache = _bench_module("kv_cache")
    with pytest.raises(SystemExit) as e:
        kv_cache.main(argv + ["--repeats", "1"] if "--repeats" not in argv else argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and ("--contexts" in err or "--new-tokens >= 2" in err), err


def test_kv_cache_measures_a_context_of_block_size_plus_one_whole(monkeypatch, capsys):
    """The last new token is predicted from the L - 1 tokens before it, so a context of
    block_size + 1 = 1025 still fits the model's window: no forward pass sees more than 1024
    tokens and the cache is never rebuilt (its row measures its label). kv_cache.py refused
    it as "cropped" (it allowed only L <= block_size)."""
    from nanograd_llm.layers.kv_cache import KVCache
    from nanograd_llm.models.gpt import GPT
    kv_cache = _bench_module("kv_cache")
    widths, resets = [], []
    forward, reset = GPT.forward, KVCache.reset

    def spy_forward(self, idx, *a, **k):
        widths.append(idx.shape[1])
        return forward(self, idx, *a, **k)

    def spy_reset(self):
        resets.append(self.length)
        return reset(self)
    monkeypatch.setattr(GPT, "forward", spy_forward)
    monkeypatch.setattr(KVCache, "reset", spy_reset)
    small = kv_cache.GPTConfig                      # the script's block_size, a smaller model
    monkeypatch.setattr(kv_cache, "GPTConfig",
                        lambda **kw: small(**{**kw, "n_layer": 1, "n_head": 1, "n_embd": 8}))
    rows = kv_cache.main(["--contexts", "1025", "--new-tokens", "2", "--repeats", "1"])
    assert [r[0] for r in rows] == [1025] and "(tokens differ!)" not in capsys.readouterr().out
    assert max(widths) == 1024 and resets == []     # the whole window, never cropped


@pytest.mark.parametrize("argv", [["layouts", "--rounds", "0"], ["scores", "--reps", "0"],
                                  ["rewrite", "--batch", "0"], ["rewrite", "--pad", "-1"],
                                  ["rewrite", "--small", "0"]])
def test_attention_products_refuses_counts_below_their_minimum(attention_products, argv,
                                                               capsys):
    """--rounds 0 ran every variant's warm-up and ended in "no median for empty data",
    --reps 0 in a ZeroDivisionError, --batch 0 / --pad -1 / --small 0 deep in NumPy; they are
    refused with argparse's usage error before anything runs."""
    with pytest.raises(SystemExit) as e:
        attention_products.main(argv)
    assert e.value.code == 2 and "must be at least" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["foo"], ["torch"]])
def test_matmul_shapes_takes_only_its_two_libraries(argv, monkeypatch, capsys):
    """matmul_shapes.py read sys.argv[1] at import: no argument was an IndexError traceback and
    any word but `torch` (`torhc`, `foo`) silently timed NumPy under that label. It now takes
    `numpy` or `torch` through argparse, and `torch` without PyTorch is one `error:` line."""
    monkeypatch.setitem(sys.modules, "torch", None)        # import torch fails
    matmul_shapes = _bench_module("matmul_shapes")
    with pytest.raises(SystemExit) as e:
        matmul_shapes.main(argv)
    if argv == ["torch"]:
        assert str(e.value.code).startswith("error: matmul_shapes.py torch needs PyTorch")
    else:
        assert e.value.code == 2 and "lib" in capsys.readouterr().err


def test_bpe_patterns_refuses_a_missing_file_and_a_too_small_vocabulary(tmp_path, capsys):
    """bpe_patterns.py ended in a FileNotFoundError traceback for a missing --data and in
    BPETokenizer.train's ValueError traceback for a --vocab-sizes below 257; now one `error:`
    line (exit 1) and argparse's usage error (exit 2)."""
    pytest.importorskip("regex")
    bpe_patterns = _bench_module("bpe_patterns")
    with pytest.raises(SystemExit) as e:
        bpe_patterns.main(["--data", str(tmp_path / "missing.txt")])
    assert str(e.value.code).startswith("error: cannot read --data")
    text = tmp_path / "t.txt"
    text.write_text("Gelibolu'da bir gün. " * 20, encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        bpe_patterns.main(["--data", str(text), "--vocab-sizes", "100"])
    assert e.value.code == 2 and "at least 257" in capsys.readouterr().err


def test_bpe_patterns_refuses_an_empty_file(tmp_path):
    """An empty --data was read, a BPE trained on nothing, and the characters per token of its
    empty held-out part ended in a ZeroDivisionError traceback; now one `error:` line."""
    pytest.importorskip("regex")
    bpe_patterns = _bench_module("bpe_patterns")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        bpe_patterns.main(["--data", str(empty), "--vocab-sizes", "260"])
    assert str(e.value.code) == f"error: --data {empty} is empty"


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--vocab-sizes", "1024", "200"], []])
def test_bpe_bench_refuses_bad_counts_and_a_missing_tokenizers(argv, tmp_path, monkeypatch,
                                                               capsys):
    """bpe_bench.py with --repeat 0 or a --vocab-sizes value below 257 ended in a traceback
    inside the first corpus (after the 4,096-token training), and without the `tokenizers`
    library in a ModuleNotFoundError traceback. Now argparse's usage error, or one `error:`
    line that names the missing library."""
    bpe_bench = _bench_module("bpe_bench")
    monkeypatch.setitem(sys.modules, "tokenizers", None)    # import tokenizers fails
    with pytest.raises(SystemExit) as e:
        bpe_bench.main(["--data-dir", str(tmp_path)] + argv)
    if argv:
        assert e.value.code == 2 and ">= 257" in capsys.readouterr().err
    else:
        assert str(e.value.code).startswith("error: bpe_bench.py compares with the `tokenizers`")


def test_char_vs_bpe_runs_on_one_thread_whatever_the_shell_holds():
    """char_vs_bpe.py promises one thread, but only did os.environ.setdefault(
    "OPENBLAS_NUM_THREADS", "1"): a shell's OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or
    NANOGRAD_LLM_THREADS (the data-parallel split reads those first) gave the runs two or
    more threads, unreported. Run as a script it now sets all of them to 1 before NumPy loads
    (checked in a child process: the script's top runs, --help stops it before training)."""
    import os
    import subprocess
    code = ("import os, runpy, sys\n"
            f"sys.argv = ['char_vs_bpe.py', '--help']\n"
            "try:\n"
            f"    runpy.run_path({str(BENCH / 'char_vs_bpe.py')!r}, run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            "from nanograd_llm.backend import num_threads\n"
            "from threadpoolctl import threadpool_info\n"
            "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
            "print(num_threads(), max(blas or [1]))\n")
    env = dict(os.environ, NANOGRAD_LLM_THREADS="2", OMP_NUM_THREADS="2",
               OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["1", "1"], r.stdout


@pytest.mark.parametrize("argv", [["--data", "MISSING"], ["--seconds", "0"],
                                  ["--vocab-size", "100"]])
def test_char_vs_bpe_refuses_bad_input_before_training(argv, tmp_path, capsys):
    """A missing --data ended in a FileNotFoundError traceback from the trainer; --vocab-size
    100 failed only in the BPE run, after the character model's calibration and training;
    --seconds 0 trained 30 steps, a budget of no seconds. Now one `error:` line or argparse's
    usage error, before anything is trained."""
    char_vs_bpe = _bench_module("char_vs_bpe")
    data = tmp_path / "corpus.txt"
    data.write_text("abc " * 100, encoding="utf-8")
    argv = [a.replace("MISSING", str(tmp_path / "missing.txt")) for a in argv]
    with pytest.raises(SystemExit) as e:
        char_vs_bpe.main(["--data", str(data)] + argv if argv[0] != "--data" else argv)
    if argv[0] == "--data":
        assert str(e.value.code).startswith("error: ") and "missing.txt" in str(e.value.code)
    else:
        assert e.value.code == 2 and "need --seconds > 0" in capsys.readouterr().err


def test_char_vs_bpe_refuses_a_text_too_short_for_its_model(tmp_path):
    """A text with fewer tokens than the model needs (block_size 128 in a 10 % val part)
    passed the file check and ended in the trainer's ValueError traceback from the first
    calibration run; it is now one `error:` line that names the model and keeps the
    trainer's reason."""
    char_vs_bpe = _bench_module("char_vs_bpe")
    data = tmp_path / "short.txt"
    data.write_text("abc abc abc\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        char_vs_bpe.main(["--data", str(data), "--seconds", "1", "--vocab-size", "260"])
    msg = str(e.value.code)
    assert msg.startswith("error: the char model cannot be trained on") and "\n" not in msg
    assert "shorter than block_size + 1" in msg


def test_train_step_says_so_when_torch_is_missing(train_step, monkeypatch):
    """Without torch the torch worker died at its import and the driver ended in a
    RuntimeError traceback ("benchmark worker died") after starting both workers; it now
    stops first with one `error:` line that names PyTorch."""
    monkeypatch.setitem(sys.modules, "torch", None)        # find_spec and import both fail
    with pytest.raises(SystemExit) as e:
        train_step.main(["--config", "baby", "--steps", "1", "--round", "1", "--warmup", "0",
                         "--no-layers", "--pause", "0"])
    assert str(e.value.code).startswith("error: train_step.py needs PyTorch")


def test_gemm_rates_says_so_when_torch_is_missing(monkeypatch):
    """Without torch the torch worker process failed and gemm_rates.py ended in a
    CalledProcessError traceback (the worker's own error hidden in its captured stderr); it
    now stops before the first round with one `error:` line that names PyTorch."""
    gemm_rates = _bench_module("gemm_rates")
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setattr(sys, "path", sys.path[:])          # main puts benchmarks/ on it
    with pytest.raises(SystemExit) as e:
        gemm_rates.main(["--config", "baby", "--rounds", "1", "--reps", "1"])
    assert str(e.value.code).startswith("error: gemm_rates.py compares with PyTorch")


def test_cpu_kernels_warms_the_kernel_side_up_with_the_kernel(monkeypatch, capsys):
    """Each layer's kernel side was warmed up by a call made under the shell's
    NANOGRAD_LLM_FUSED: with 0 left there, the warm-up ran the generic NumPy code and the
    first timed kernel call paid for the kernel's first use. Every kernel-side call, warm-up
    included, now runs with NANOGRAD_LLM_FUSED=1 (and every generic one with 0)."""
    import os
    pytest.importorskip("numba")
    from nanograd_llm import backend
    from nanograd_llm.layers import gelu
    cpu_kernels = _bench_module("cpu_kernels")
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "0")
    monkeypatch.setattr(backend._LOCAL, "in_shard", getattr(backend._LOCAL, "in_shard", False),
                        raising=False)
    seen = []
    inner = gelu.gelu_forward

    def spy(*a, **k):
        seen.append(os.environ.get("NANOGRAD_LLM_FUSED"))
        return inner(*a, **k)
    monkeypatch.setattr(gelu, "gelu_forward", spy)
    cpu_kernels.main(["--config", "baby", "--rounds", "1", "--calls", "1"])
    # warm-up kernel, warm-up generic, then one timed call of each, alternated
    assert seen == ["1", "0", "1", "0"]
    assert "GELU forward" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["MISSING"], ["DATA", "--threads", "0"]])
def test_baby_torch_reference_refuses_bad_input_with_one_line(argv, tmp_path, capsys):
    """A missing DATA ended in a FileNotFoundError traceback from the data preparation (in
    --nanogpt-rng mode from open()), --threads 0 in torch.set_num_threads's RuntimeError
    traceback; now one `error:` line and argparse's usage error."""
    pytest.importorskip("torch")
    ref = _bench_module("baby_torch_reference")
    data = tmp_path / "corpus.txt"
    data.write_text("abc " * 100, encoding="utf-8")
    argv = [str(tmp_path / "missing.txt") if a == "MISSING" else str(data) if a == "DATA"
            else a for a in argv]
    with pytest.raises(SystemExit) as e:
        ref.main(argv)
    if "--threads" in argv:
        assert e.value.code == 2 and "--threads must be at least 1" in capsys.readouterr().err
    else:
        assert str(e.value.code).startswith("error: ") and "missing.txt" in str(e.value.code)
