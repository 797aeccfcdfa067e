"""SIGTERM to every command (a real process, signalled from outside): the clean-up a Ctrl-C runs,
exit status 143 and a `terminated` line; ignored where the command was started with SIGTERM
ignored. (The trainer's own SIGTERM handling is tested in test_train.py.)"""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _platform import posix_only
from _train_helpers import trained_tiny_run

# Her sınama bir sürece SIGTERM gönderir (ya da os.kill ile kendine bir sinyal): Windows'ta
# sinyal işleyicisi çalışmaz, süreç hemen biter
pytestmark = posix_only("SIGTERM sent to a process (its handler runs)")

ROOT = Path(__file__).resolve().parent.parent

# Runs the command after wrapping MODULE:NAME so that its first call says "ready" on stdout
# and then waits PAUSE seconds: the test sends SIGTERM while the command stands there.
# The wait is made of short sleeps, not one time.sleep(PAUSE): CPython runs a Python signal
# handler only between bytecodes, and a sleep is cut short (EINTR) only when the signal lands
# in the main thread while it is inside the sleep. A SIGTERM that came after "ready" was
# written but just before the sleep began (the child preempted there, on a loaded machine),
# or that was taken by another thread (NumPy's BLAS thread), was only handled when the whole
# PAUSE was over: the command said `terminated` 60 s later, after communicate(timeout=60)
# below had given up (TimeoutExpired, seen in about 1 of 200 runs under load). A short
# sleep's end lets the pending handler run, as a running command's next bytecode does.
_PAUSED = textwrap.dedent("""
    import importlib, os, sys, time
    module, name = sys.argv.pop(1).split(":")
    m = importlib.import_module(module)
    real = getattr(m, name)
    calls = []
    def paused(*a, **k):
        if not calls:
            calls.append(1)
            print("ready", flush=True)
            end = time.monotonic() + float(os.environ["PAUSE"])
            while time.monotonic() < end:
                time.sleep(0.05)
        return real(*a, **k)
    setattr(m, name, paused)
    from nanograd_llm.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _signalled(where, args, pause=60, ignore=False, stdin=""):
    """Run `nanograd-llm ARGS` paused at `where`, send it SIGTERM there; -> (status, stderr)."""
    env = dict(os.environ, PAUSE=str(pause),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def start():
        if ignore:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    p = subprocess.Popen([sys.executable, "-c", _PAUSED, where, *args], cwd=ROOT, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=start)
    try:
        p.stdin.write(stdin)
        p.stdin.close()
        p.stdin = None                  # communicate() below must not flush it again
        lines = []
        for line in p.stdout:
            lines.append(line)
            if line.endswith("ready\n"):
                break
        else:
            p.wait(30)
            pytest.fail(f"never paused at {where}: {p.returncode} {''.join(lines)} "
                        f"{p.stderr.read()}")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return trained_tiny_run(tmp_path_factory, "signals")


def test_a_sigterm_to_docs_removes_its_half_built_folder_as_ctrl_c_does(tmp_path):
    """A SIGTERM'd `docs` (kill, a closed CI job, timeout) ended where it stood: the new --out
    folder stayed, half built (the marker, style.css, some pages), where a Ctrl-C removes it.
    It now runs the same clean-up, says `terminated` and exits 143."""
    pytest.importorskip("pygments")
    pytest.importorskip("markdown")
    status, err = _signalled("nanograd_llm.docs:_page_html",
                             ["docs", "--no-images", "--out", str(tmp_path / "new" / "site")])
    assert status == 143, err
    assert err.endswith("\nterminated\n") and "Traceback" not in err, err
    assert not (tmp_path / "new").exists()


def test_a_sigterm_to_attention_removes_the_folders_it_made(tmp_path, run_dir):
    pytest.importorskip("matplotlib")
    status, err = _signalled("nanograd_llm.viz:atomic_write",
                             ["attention", "--ckpt", str(run_dir), "--prompt", "Dikkat",
                              "--out", str(tmp_path / "pics" / "deeper" / "a.png")])
    assert status == 143, err
    assert err.endswith("\nterminated\n") and "Traceback" not in err, err
    assert not (tmp_path / "pics").exists()


@pytest.mark.parametrize("command", ["sample", "eval", "chat", "gradcheck"])
def test_a_sigterm_to_any_command_says_terminated_and_exits_143(command, run_dir):
    """Also chat, where a Ctrl-C is the usual way out (0): a SIGTERM is no success."""
    where, args = {
        "sample": ("nanograd_llm.checkpoint:load_model", ["--max-new-tokens", "5"]),
        "eval": ("nanograd_llm.checkpoint:load_model", ["--max-tokens", "8"]),
        "chat": ("nanograd_llm.chat:iter_generate", ["--max-new-tokens", "5"]),
        "gradcheck": ("nanograd_llm.gradcheck:run_all", []),
    }[command]
    ckpt = [] if command == "gradcheck" else ["--ckpt", str(run_dir)]
    status, err = _signalled(where, [command, *ckpt, *args], stdin="Dikkat\n")
    assert status == 143, err
    assert err.endswith("\nterminated\n") and "Traceback" not in err, err


def test_a_command_started_with_sigterm_ignored_keeps_ignoring_it(tmp_path):
    """nohup-like launchers start a process with SIGTERM ignored: it stays ignored (the course
    is built to its end), as the trainer leaves it (test_train)."""
    pytest.importorskip("pygments")
    pytest.importorskip("markdown")
    out = tmp_path / "site"
    status, err = _signalled("nanograd_llm.docs:_page_html",
                             ["docs", "--no-images", "--out", str(out)], pause=1, ignore=True)
    assert status == 0, err
    assert "terminated" not in err and (out / "index.html").is_file()


class _Signalled(Exception):
    pass


def _second_signal_during(monkeypatch, module, name, sig):
    """Make module.NAME send `sig` to this process (a second Ctrl-C or SIGTERM) before it does
    its work; the signal's handler raises _Signalled. -> the handler installed."""
    real = getattr(module, name)

    def signalled_first(*a, **k):
        os.kill(os.getpid(), sig)
        return real(*a, **k)
    monkeypatch.setattr(module, name, signalled_first)

    def handler(signum, frame):
        raise _Signalled(signal.Signals(signum).name)
    return handler


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_second_signal_during_docs_clean_up_waits_until_the_folder_is_gone(tmp_path,
                                                                            monkeypatch, name):
    """A second Ctrl-C or SIGTERM in the middle of docs' rmtree of its half-built new --out
    folder stopped it halfway (the marker gone, some pages left: the same command then refused
    the folder as holding other files). It is held back until the folder is removed, as in
    train's clean-up, then reaches the handler that was there."""
    from nanograd_llm import docs
    sig = getattr(signal, name)

    def half_built(out, *a):
        (out / docs.DOCS_MARKER).write_text("x")
        for i in range(20):
            (out / f"page{i}.html").write_text("x")
        raise KeyboardInterrupt                 # the first signal stopped the build
    monkeypatch.setattr(docs, "_require_docs_libs", lambda: None)
    monkeypatch.setattr(docs, "_render_course", half_built)
    handler = _second_signal_during(monkeypatch, docs.shutil, "rmtree", sig)
    previous = signal.signal(sig, handler)
    try:
        with pytest.raises(_Signalled, match=name):
            docs.build_docs(tmp_path / "new" / "site", images=False, log=lambda m: None)
        assert signal.getsignal(sig) is handler
    finally:
        signal.signal(sig, previous)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_second_signal_during_attentions_clean_up_waits_until_the_folders_are_gone(
        tmp_path, monkeypatch, name):
    pytest.importorskip("matplotlib")
    from nanograd_llm import viz
    sig = getattr(signal, name)

    def interrupted(path, write):
        raise KeyboardInterrupt
    monkeypatch.setattr(viz, "atomic_write", interrupted)
    handler = _second_signal_during(monkeypatch, viz, "remove_empty_folders", sig)
    previous = signal.signal(sig, handler)
    try:
        with pytest.raises(_Signalled, match=name):
            viz.plot_positional_encoding(tmp_path / "pics" / "deeper" / "a.png", 4, 4)
        assert signal.getsignal(sig) is handler
    finally:
        signal.signal(sig, previous)
    assert not (tmp_path / "pics").exists()
