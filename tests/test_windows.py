"""Windows, simulated on Linux: what differs there (text-mode line ends, missing POSIX modules,
file locking) and what the package does about it."""
import builtins
import io
import json

import pytest

from _train_helpers import tiny_config


@pytest.fixture
def windows_text_mode(monkeypatch):
    """open() / Path.write_text() in text mode translate '\\n' to '\\r\\n' when written, as on
    Windows (newline=None means os.linesep there)."""
    real = builtins.open

    def open_(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, *a, **k):
        if "b" not in mode and newline is None and any(c in mode for c in "wax+"):
            newline = "\r\n"
        return real(file, mode, buffering, encoding, errors, newline, *a, **k)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)


def test_text_files_keep_lf_line_ends_on_windows(tmp_path, windows_text_mode):
    """metrics.jsonl (appended in text mode) and a GPT-2 copy's config.json (Path.write_text)
    got '\\r\\n' line ends on Windows, while every other file the package writes has '\\n' (and
    --resume rewrites metrics.jsonl with '\\n': a log of mixed line ends). Both are written
    with '\\n' everywhere now."""
    from nanograd_llm.train import train
    cfg = tiny_config(tmp_path, max_iters=4, eval_interval=2)
    train(cfg, quiet=True)
    log = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    assert log.count(b"\n") == 3 and b"\r" not in log
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0).save_hf(
        tmp_path / "hf")
    config = (tmp_path / "hf" / "config.json").read_bytes()
    assert b"\r" not in config and json.loads(config)["n_layer"] == 1


def _strings_outside_docstrings(tree):
    """Every str constant of a module (f-strings' parts too), docstrings left out."""
    import ast
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docs:
            yield node


def test_install_commands_in_messages_work_in_cmd_exe():
    """The messages that tell a user which extra to install said `pip install -e '.[bpe]'`:
    Windows' cmd.exe does not take single quotes as quotes, so pip got the quotes too and
    refused the requirement. They say `pip install -e ".[bpe]"`, which every shell (bash, zsh,
    PowerShell, cmd.exe) reads the same way."""
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    bad = []
    for path in sorted([*(root / "nanograd_llm").rglob("*.py"), *(root / "examples").glob("*.py"),
                        *(root / "benchmarks").glob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += [f"{path.relative_to(root)}:{n.lineno}" for n in _strings_outside_docstrings(tree)
                if "'.[" in n.value]
        # Açıklamalar (modül belgeleri) da okurun kopyalayacağı komutu gösterir.
        bad += [f"{path.relative_to(root)}: docstring" for _ in [0]
                if "pip install -e '.[" in (ast.get_docstring(tree) or "")]
    assert not bad, bad
    from nanograd_llm import backend, hf, viz
    assert 'pip install -e ".[gpu]"' in backend._GPU_HELP
    assert 'pip install -e ".[hf]"' in hf._HF_EXTRA and '".[plot]"' in viz._PLOT_HELP


def test_commands_the_cli_prints_quote_paths_for_windows_shells(tmp_path, monkeypatch, capsys):
    """The commands `train` prints (sample more, eval, chat, the --resume of a stopped run)
    quoted the run folder with shlex.quote: single quotes, and around every path with a
    backslash, so on Windows even the default run read `--ckpt 'out\\default'`, which cmd.exe
    passes on with its quotes ('no checkpoint'). On Windows they are double quotes now, and
    only where needed."""
    import sys

    from nanograd_llm import cli
    monkeypatch.setattr(sys, "platform", "win32")
    assert cli.shell_quote("out\\default") == "out\\default"
    assert cli.shell_quote("C:\\Users\\Ahmet Yılmaz\\run") == '"C:\\Users\\Ahmet Yılmaz\\run"'
    assert cli.shell_quote("a b\\") == '"a b\\\\"' and cli.shell_quote("") == '""'
    cfg = tiny_config(tmp_path, max_iters=2, eval_interval=2)
    out = tmp_path / "my run"
    assert cli.main(["train", "--out", str(out), "--data", cfg.data, "--quiet", "n_layer=1",
                     "n_head=2", "n_embd=16", "block_size=16", "batch_size=4", "max_iters=2",
                     "eval_interval=2", "eval_iters=1", "sample_tokens=0"]) == 0
    printed = capsys.readouterr().out
    assert f'nanograd-llm sample --ckpt "{out}"' in printed and "'" not in printed
    monkeypatch.setattr(sys, "platform", "linux")
    assert cli.shell_quote("my run") == "'my run'"


@pytest.mark.parametrize("readme", ["README.md", "README.tr.md"])
def test_the_readmes_give_windows_users_commands_that_work_there(readme):
    """The READMEs showed bash only: no way to make and activate a virtual environment on
    Windows, extras in single quotes (`pip install -e '.[test]'`, which cmd.exe passes on with
    its quotes), Ctrl-D to end `chat`. They now say how on Windows."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / readme).read_text(encoding="utf-8")
    for needed in ("py -m venv .venv", ".venv\\Scripts\\activate", ".venv\\Scripts\\Activate.ps1",
                   "set NANOGRAD_LLM_THREADS=1", '$env:NANOGRAD_LLM_THREADS = "1"', "Ctrl-Z",
                   "PYTHONUTF8=1", 'pip install -e ".[test]"'):
        assert needed in text, f"{readme}: {needed}"
    assert not re.search(r"'\.\[|--stop '", text), f"{readme}: single quotes cmd.exe keeps"


def test_shell_scripts_keep_lf_line_ends_in_a_windows_checkout():
    """Git for Windows checks text files out with CRLF line ends (core.autocrlf=true), and
    `bash scripts/check_oldest_deps.sh` (README) then fails with "$'\\r': command not found".
    .gitattributes keeps the shell scripts LF everywhere."""
    import shutil
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    scripts = [".ci/run", *(str(p.relative_to(root)) for p in root.glob("scripts/*.sh"))]
    out = subprocess.run(["git", "check-attr", "eol", "--", *scripts], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    assert out.count(": eol: lf") == len(scripts) >= 3, out


def test_a_reader_that_left_a_pipe_on_windows_is_not_an_error(monkeypatch, capsys):
    """Windows reports a write to a pipe whose reader has gone (`sample ... | more`, quit
    early) as OSError EINVAL, not BrokenPipeError (CPython issue 79935): the command said
    'error: [Errno 22] Invalid argument' and exited 1. It is the closed pipe there: no message,
    141, as on POSIX. Only the EINVAL of stdout's own write or flush counts: any other EINVAL
    while stdout is a pipe (an invalid path, a bad seek) was taken for it too, and the command
    ended with 141 and no word about its error; it is an error again."""
    import errno
    import io
    import os
    import sys

    from nanograd_llm import cli
    fds, left = [], [True]

    def pipe_whose_reader_left():
        """A stdout on a pipe (a new one: a closed pipe's fd is pointed at os.devnull) that
        fails each write as Windows does once the reader has gone."""
        r, w = os.pipe()
        fds.extend((r, w))

        class ReaderGone(io.RawIOBase):
            def writable(self):
                return True

            def fileno(self):
                return w

            def write(self, b):
                if left:
                    raise OSError(errno.EINVAL, "Invalid argument")
                return len(b)           # after the test: a quiet flush when collected
        return io.TextIOWrapper(io.BufferedWriter(ReaderGone()))

    def printing():
        print("merhaba " * 10_000)          # more than the buffer: written at once
        return 0
    try:
        monkeypatch.setattr(sys, "platform", "win32")
        gone = pipe_whose_reader_left()
        monkeypatch.setattr(sys, "stdout", gone)
        assert cli.report_errors(printing) == 141
        assert capsys.readouterr().err == ""
        assert sys.stdout is gone
        monkeypatch.setattr(sys, "stdout", pipe_whose_reader_left())
        assert cli.report_errors(lambda: print("merhaba") or 0) == 141   # found at the flush
        assert capsys.readouterr().err == ""
        r, w = os.pipe()
        fds.extend((r, w))
        monkeypatch.setattr(sys, "stdout", os.fdopen(w, "w", closefd=False))

        def elsewhere():
            raise OSError(errno.EINVAL, "Invalid argument")
        assert cli.report_errors(elsewhere) == 1
        assert capsys.readouterr().err == "error: [Errno 22] Invalid argument\n"

        def bad_path():
            raise OSError(errno.EINVAL, "Invalid argument", "C:\\a:b")
        assert cli.report_errors(bad_path) == 1
        assert "error: [Errno 22] Invalid argument: 'C:\\\\a:b'" in capsys.readouterr().err
        monkeypatch.setattr(sys, "stdout", pipe_whose_reader_left())
        monkeypatch.setattr(sys, "platform", "linux")
        assert cli.report_errors(printing) == 1               # POSIX says EPIPE for that
        assert capsys.readouterr().err == "error: [Errno 22] Invalid argument\n"
    finally:
        monkeypatch.undo()
        left.clear()
        for fd in fds:
            os.close(fd)


class _WindowsOs:
    """The os module as atomic.py sees it on Windows: os.name is 'nt', and os.unlink of a file
    some process holds open raises PermissionError (Python opens files without
    FILE_SHARE_DELETE there); `held` names those files."""
    name = "nt"

    def __init__(self, held=()):
        import os
        self._os = os
        self.held = {os.path.abspath(p) for p in held}

    def __getattr__(self, attr):
        return getattr(self._os, attr)

    def unlink(self, path, *a, **k):
        if self._os.path.abspath(path) in self.held:
            raise PermissionError(13, "The process cannot access the file because it is being "
                                      "used by another process", str(path))
        return self._os.unlink(path, *a, **k)


@pytest.fixture
def windows_files(monkeypatch):
    """Windows for atomic.py: no fcntl (as if `import fcntl` failed), os.name 'nt', open files
    cannot be unlinked. -> the set of paths held open (add to it)."""
    from nanograd_llm import atomic
    fake = _WindowsOs()
    monkeypatch.setattr(atomic, "fcntl", None)
    monkeypatch.setattr(atomic, "os", fake)
    return fake.held


def test_stale_temporary_files_are_removed_on_windows_unless_held_open(tmp_path, windows_files):
    """Without fcntl (Windows) atomic.remove_stale_temporaries deleted nothing, so a killed
    write's temporary file ('.model-….npz.XXXXXXXX.tmp', as large as the weights) stayed for
    good. There a file a process holds open cannot be unlinked: a temporary file is now deleted
    unless that fails (a write still in progress); a staging folder is still left, and so is
    every other name."""
    import os
    from nanograd_llm.atomic import atomic_write_bytes
    stale = tmp_path / ".t.bin.ab12cd34.tmp"
    stale.write_bytes(b"left by a killed write")
    writing = tmp_path / ".t.bin.zz99yy88.tmp"
    writing.write_bytes(b"being written")
    windows_files.add(os.path.abspath(writing))
    staging = tmp_path / ".t.bin.k3j2x1ab.tmp"
    staging.mkdir()
    (staging / "a").write_bytes(b"x")
    (tmp_path / ".t.bin.tmp").write_bytes(b"someone's")
    atomic_write_bytes(tmp_path / "t.bin", b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        [".t.bin.k3j2x1ab.tmp", ".t.bin.tmp", ".t.bin.zz99yy88.tmp", "t.bin"]
    assert (tmp_path / "t.bin").read_bytes() == b"new"


def test_without_fcntl_elsewhere_no_temporary_file_is_removed(tmp_path, monkeypatch):
    """On a platform with neither fcntl nor Windows' rule for open files, which temporary file
    is still being written cannot be known: nothing is deleted, as before."""
    from nanograd_llm import atomic
    monkeypatch.setattr(atomic, "fcntl", None)
    stale = tmp_path / ".t.bin.ab12cd34.tmp"
    stale.write_bytes(b"maybe someone's write")
    atomic.atomic_write_bytes(tmp_path / "t.bin", b"new")
    assert stale.is_file()


def test_overwrite_and_a_save_remove_a_killed_checkpoint_write_on_windows(tmp_path,
                                                                          windows_files):
    """A checkpoint write killed on Windows left its '.model-….npz.XXXXXXXX.tmp' in the run
    folder for good: neither --overwrite nor the next save removed it. Both remove it now, and
    leave one a process still holds open."""
    import os
    from nanograd_llm.train import train
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    out = tmp_path / "run"
    killed = out / ".model-0000002-0123456789ab.npz.ab12cd34.tmp"
    held = out / ".optim-0000002-0123456789ab.npz.zz99yy88.tmp"
    for p in (killed, held):
        p.write_bytes(b"\0" * 4096)
    windows_files.add(os.path.abspath(held))
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True, overwrite=True)
    assert not killed.exists() and held.exists()
    killed.write_bytes(b"\0" * 4096)                            # and the next save
    train(tiny_config(tmp_path, max_iters=2, eval_interval=1), quiet=True, resume=True)
    assert not killed.exists() and held.exists()


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_commands_in_error_messages_quote_paths(tmp_path, monkeypatch, platform):
    """The commands the error messages suggest (checkpoint.py: `nanograd-llm train --out X`
    first, --hf X / --init-from X for a GPT-2 folder; hf.py: --ckpt X, `train --out X --resume`
    for a run folder; run_folder.py: `train --out X --overwrite`) put the path in bare, so one
    with a space (C:\\Users\\Ahmet Yılmaz\\..., ~/my runs/...) pasted as two words on every OS.
    They quote it as the commands `train` prints do (atomic.shell_quote; cli re-exports it)."""
    import sys

    from nanograd_llm import atomic, checkpoint, cli, hf, run_folder
    assert cli.shell_quote is atomic.shell_quote
    monkeypatch.setattr(sys, "platform", platform)
    folder = tmp_path / "my runs" / "a"
    folder.mkdir(parents=True)
    q = f'"{folder}"' if platform == "win32" else f"'{folder}'"
    with pytest.raises(checkpoint.CheckpointError) as e:
        checkpoint.find_run_dir(folder)
    assert f"`nanograd-llm train --out {q}` first" in e.value.command_line_message
    (folder / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(ValueError) as e:
        run_folder.refuse_resuming_unsaved_run(folder)
    assert f"`nanograd-llm train --out {q} --overwrite`" in e.value.command_line_message
    (folder / "checkpoint.json").write_text("{}")
    with pytest.raises(ValueError) as e:
        hf.read_hf_config(folder)
    assert f"--ckpt {q}," in str(e.value) and f"`nanograd-llm train --out {q} --resume`" in \
        str(e.value)
    gpt2 = tmp_path / "my models" / "gpt2"
    gpt2.mkdir(parents=True)
    (gpt2 / "config.json").write_text("{}")
    (gpt2 / "model.safetensors").write_bytes(b"")
    with pytest.raises(checkpoint.HuggingFaceFolderError) as e:
        checkpoint.find_run_dir(gpt2)
    q = f'"{gpt2}"' if platform == "win32" else f"'{gpt2}'"
    assert f"--hf {q}, fine-tune with `nanograd-llm train --init-from {q}`" in \
        e.value.command_line_message


def test_the_not_utf8_hint_is_a_command_every_os_has(tmp_path):
    """A corpus that is not UTF-8 was met with "convert it to UTF-8 first, e.g. `iconv -f
    latin1 -t utf-8`": Windows has no iconv (and latin-1 turns a Turkish Windows file's ş, ğ,
    ı into þ, ð, ý). The hint is a Python one-liner, in double quotes with only single quotes
    inside (bash, cmd.exe and PowerShell read it alike), from cp1254; run here, it converts."""
    import re
    import shlex
    import subprocess
    import sys

    from nanograd_llm import data
    src = tmp_path / "derlem.txt"
    src.write_bytes("Şu ağaç\r\nçok güzel, ıhlamur\n".encode("cp1254"))
    with pytest.raises(ValueError) as e:
        data.read_text_file(src)
    msg = str(e.value)
    assert "iconv" not in msg and "cp1254" in msg
    command = re.search(r"`(python -c [^`]*)`", msg).group(1)
    words = shlex.split(command)
    assert words[:2] == ["python", "-c"] and words[3:] == ["IN", "OUT"]
    assert command.count('"') == 2 and "$" not in command and "%" not in command
    subprocess.run([sys.executable, "-c", words[2], str(src), str(tmp_path / "out.txt")],
                   check=True)
    assert (tmp_path / "out.txt").read_bytes() == "Şu ağaç\r\nçok güzel, ıhlamur\n".encode()
    assert data.read_text_file(tmp_path / "out.txt") == "Şu ağaç\nçok güzel, ıhlamur\n"


@pytest.fixture
def windows_mapped_files(monkeypatch):
    """Windows' rule, simulated: a file that a live memory map (np.memmap) shows cannot be
    deleted (PermissionError, 'being used by another process'); os.name is 'nt' for atomic.py.
    -> the list of paths whose deletion was refused."""
    import os
    import weakref

    import numpy as np

    from nanograd_llm import atomic
    monkeypatch.setattr(atomic, "os", _WindowsOs())
    maps = []
    refused = []
    real_new, real_unlink = np.memmap.__new__, os.unlink

    def identity(st):
        return st.st_dev, st.st_ino

    def new(subtype, *a, **k):
        m = real_new(subtype, *a, **k)
        if getattr(m, "filename", None) and getattr(m, "_mmap", None) is not None:
            maps.append((identity(os.stat(m.filename)), weakref.ref(m._mmap)))
        return m

    def unlink(path, *, dir_fd=None):
        # shutil.rmtree names the files relative to a folder's fd (dir_fd): the file is known by
        # its identity, not its name
        try:
            st = os.stat(path, dir_fd=dir_fd) if dir_fd is not None else os.stat(path)
        except OSError:
            st = None
        if st is not None and any(f == identity(st) and r() is not None for f, r in maps):
            refused.append(os.fsdecode(path))
            raise PermissionError(13, "The process cannot access the file because it is being "
                                      "used by another process", path)
        return (real_unlink(path, dir_fd=dir_fd) if dir_fd is not None else real_unlink(path))
    monkeypatch.setattr(np.memmap, "__new__", new)
    monkeypatch.setattr(os, "unlink", unlink)
    monkeypatch.setattr(os, "remove", unlink)
    return refused


def test_an_interrupted_encoding_removes_its_mapped_files_on_windows(
        tmp_path, monkeypatch, windows_mapped_files):
    """encode_corpus copies a raw temporary file into the temporary .npy through two memory
    maps; a Ctrl-C during the copy left both maps alive while the clean-up deleted their
    files, which Windows refuses: the user saw a PermissionError instead of the interruption,
    and two corpus-sized temporary files stayed. The copy maps nothing now, and a clean-up
    that fails never hides the error."""
    import os

    from nanograd_llm import data
    from nanograd_llm.tokenizers.char import CharTokenizer
    text = "merhaba dünya\n" * 50
    tok = CharTokenizer.from_text(text)

    def copy(src, dst, *a):
        dst.write(src.read(10))
        raise KeyboardInterrupt
    monkeypatch.setattr(data.shutil, "copyfileobj", copy)
    with pytest.raises(KeyboardInterrupt):
        data.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=64)
    assert os.listdir(tmp_path) == [] and windows_mapped_files == []
    monkeypatch.undo()


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_start_removes_its_mapped_token_file_on_windows(
        tmp_path, monkeypatch, windows_mapped_files, existing):
    """A start that stopped (Ctrl-C, an error) after it encoded the corpus into tokens.npy
    still had the file mapped (the training's locals, kept by the traceback) when its clean-up
    deleted it: on Windows the deletion failed silently, and the same command then refused the
    folder ('holds files of a run that never saved a checkpoint ... --overwrite'). The start's
    frames are cleared before the clean-up, so the maps are gone and the file is removed."""
    import os

    from nanograd_llm import train as T
    cfg = tiny_config(tmp_path, mmap_threshold=10)
    if existing:
        (tmp_path / "run").mkdir()

    def sampler(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(T, "BatchSampler", sampler)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg, quiet=True)
    assert windows_mapped_files == []
    if existing:            # the lock file stays (none where there is no fcntl: Windows)
        assert set(os.listdir(tmp_path / "run")) <= {".lock"}
    else:
        assert not (tmp_path / "run").exists()


def test_a_clean_up_that_cannot_delete_never_hides_the_error(tmp_path, monkeypatch):
    """atomic_write and temporary_beside delete their temporary files when the write fails or
    is interrupted; where that deletion failed (Windows: a file still open or mapped), its
    PermissionError took the place of the Ctrl-C or the write's own error."""
    import os

    from nanograd_llm import atomic

    def write(tmp):
        with atomic.temporary_beside(tmp):
            raise KeyboardInterrupt

    def unlink(path, *, dir_fd=None):
        raise PermissionError(13, "The process cannot access the file", path)
    monkeypatch.setattr(os, "unlink", unlink)
    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(tmp_path / "a.bin", write)
    monkeypatch.undo()
    assert not (tmp_path / "a.bin").exists()


def test_the_tests_that_need_posix_are_skipped_on_windows():
    """About sixty tests send signals with os.kill (on Windows that ends the process at once,
    pytest with it), kill with SIGKILL, check umask mode bits, make symbolic links or run bash:
    a Windows user running the README's pytest command saw them fail. Each carries the shared
    marker (tests/_platform.posix_only, which names what it needs) or skips without fcntl."""
    import ast
    import re
    from pathlib import Path
    # os.kill or `from os import kill` (not Popen.kill()), killpg, SIGKILL, symlink_to or
    # symlink, umask, a preexec_fn the test gives (_run's `preexec_fn=kw.get(...)` passes
    # None), bash; in a test, a test method, or a helper or fixture it uses (at any depth)
    needs = re.compile(r"\bkill\((?!\))|killpg\(|\bSIGKILL\b|symlink_to\(|\bsymlink\(|\bumask\(|"
                       r"preexec_fn=(?!kw\.)[a-z]|\[\"bash\"|\['bash'")

    def names(node):
        """The names `node` uses, its arguments (fixtures) too."""
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        return used | {a.arg for a in node.args.args}
    bad = []
    for path in sorted(Path(__file__).resolve().parent.glob("test_*.py")):
        src = path.read_text(encoding="utf-8")
        if path.name == "test_windows.py" or re.search(r"^pytestmark = posix_only", src, re.M):
            continue
        tree = ast.parse(src)
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        functions += [m for c in tree.body if isinstance(c, ast.ClassDef) for m in c.body
                      if isinstance(m, ast.FunctionDef)]
        # helpers and fixtures that need POSIX, and those that use them (umask022, ...)
        helpers, grown = set(), True
        while grown:
            grown = False
            for node in functions:
                if node.name.startswith("test_") or node.name in helpers:
                    continue
                if needs.search(ast.unparse(node)) or names(node) & helpers:
                    helpers.add(node.name)
                    grown = True
        for node in functions:
            if not node.name.startswith("test_"):
                continue
            body = ast.unparse(node)          # the code, without its comments
            marked = any("posix_only" in ast.unparse(d) for d in node.decorator_list)
            uses = needs.search(body) or names(node) & helpers
            if uses and not marked and "importorskip('fcntl')" not in body:
                bad.append(f"{path.name}:{node.lineno} {node.name}")
    assert not bad, bad


def test_build_corpus_writes_lf_line_ends_on_windows(tmp_path, monkeypatch, windows_text_mode):
    """scripts/build_corpus.py wrote the embedded corpus with Path.write_text, which on
    Windows turns every '\\n' into '\\r\\n': a file unlike the committed one. It writes '\\n'
    everywhere (the script's main() is run here on a small text, into a temporary path)."""
    import importlib.util
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "scripts" / "build_corpus.py"
    spec = importlib.util.spec_from_file_location("_build_corpus_under_test", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    monkeypatch.setattr(build, "OUT", tmp_path / "corpus" / "turkce.txt")
    monkeypatch.setattr(build, "gather", lambda: "Birinci satır\n\nikinci satır\n")
    assert build.main([]) == 0
    assert (tmp_path / "corpus" / "turkce.txt").read_bytes() == \
        "Birinci satır\n\nikinci satır\n".encode("utf-8")
    assert build.main(["--check"]) == 0


def test_a_failed_start_keeps_the_locals_of_its_traceback_where_mapped_files_can_be_deleted(
        tmp_path, monkeypatch):
    """hold_run_folder cleared the local names of every finished frame of a failed start's
    traceback (atomic.release_frames) on every OS, though only Windows refuses to delete a
    mapped file: on Linux and macOS a start that failed before its first checkpoint left a
    post-mortem debugger (pdb.pm(), %debug) and the tracebacks that show locals (pytest -l,
    IPython's Verbose mode) with empty frames. The frames are cleared on Windows only."""
    from nanograd_llm import atomic
    from nanograd_llm import train as T
    cfg = tiny_config(tmp_path, mmap_threshold=10)

    def sampler(*a, **k):
        marker = "the sampler's local"     # noqa: F841 -- what a debugger would show
        raise ValueError("bad batch")
    monkeypatch.setattr(T, "BatchSampler", sampler)
    with pytest.raises(ValueError) as e:
        T.train(cfg, quiet=True)
    tb = e.value.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_locals.get("marker") == "the sampler's local"
    assert not (tmp_path / "run").exists()
    # on Windows (simulated) the frames are still released, so the mapped file can go
    monkeypatch.setattr(atomic, "os", _WindowsOs())
    with pytest.raises(ValueError) as e:
        T.train(cfg, quiet=True)
    tb = e.value.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert "marker" not in tb.tb_frame.f_locals


def test_encoding_to_a_file_maps_nothing_but_the_array_it_returns(tmp_path, monkeypatch):
    """encode_corpus copied its raw temporary file into the .npy through two memory maps, so
    that on Windows (a mapped file cannot be deleted) an interruption needed every frame of its
    traceback cleared (atomic.release_frames) before the clean-up. The .npy is now its header
    and the raw file's bytes, copied through plain files: the only map is the one returned,
    and the file is the one np.save writes."""
    import numpy as np

    from nanograd_llm import data
    from nanograd_llm.tokenizers.char import CharTokenizer
    text = "merhaba dünya\n" * 50
    tok = CharTokenizer.from_text(text)
    maps = []
    real_new = np.memmap.__new__

    def new(subtype, *a, **k):
        maps.append(a[0] if a else k.get("filename"))
        return real_new(subtype, *a, **k)
    monkeypatch.setattr(np.memmap, "__new__", new)
    ids = data.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=64)
    monkeypatch.undo()
    assert len(maps) == 1 and isinstance(ids, np.memmap)
    np.save(tmp_path / "saved.npy", np.asarray(tok.encode(text), dtype=ids.dtype))
    assert (tmp_path / "tokens.npy").read_bytes() == (tmp_path / "saved.npy").read_bytes()
    del ids
    empty = data.encode_corpus("", tok, path=tmp_path / "empty.npy")
    assert empty.shape == (0,) and empty.dtype == np.uint16


def test_paths_with_a_comma_or_a_leading_at_sign_are_quoted_for_powershell(monkeypatch):
    """shell_quote left 'run,v2' and '@runs' bare on Windows: PowerShell reads a bare comma as
    its array operator (the program gets 'run' and 'v2', two words) and a leading @ as
    splatting (@runs is the variable $runs: the word is gone). Both are double-quoted there
    now; cmd.exe reads those quotes too."""
    import sys

    from nanograd_llm import atomic
    monkeypatch.setattr(sys, "platform", "win32")
    assert atomic.shell_quote("run,v2") == '"run,v2"'
    assert atomic.shell_quote("@runs") == '"@runs"'
    assert atomic.shell_quote("C:\\runs\\@old") == "C:\\runs\\@old"      # @ inside: a word
    assert atomic.shell_quote("out\\default") == "out\\default"


@pytest.mark.skipif(not hasattr(__import__("os"), "symlink"), reason="needs symbolic links")
def test_a_link_with_a_temporary_name_is_left_on_windows(tmp_path, windows_files):
    """Without fcntl (Windows) only a temporary file no process holds open is deleted: a
    symbolic link with a temporary file's name (never one this module makes) is left, as the
    lock-based clean-up leaves it."""
    import os
    from nanograd_llm.atomic import atomic_write_bytes
    (tmp_path / "elsewhere").write_bytes(b"someone's")
    link = tmp_path / ".t.bin.ab12cd34.tmp"
    os.symlink(tmp_path / "elsewhere", link)
    atomic_write_bytes(tmp_path / "t.bin", b"new")
    assert link.is_symlink()


@pytest.mark.parametrize("name, shell", [("my $runs", "PowerShell"), ("run`1", "PowerShell"),
                                         ("a\u201cb\u201d", "PowerShell"),
                                         ("%USERNAME%", "cmd.exe")])
def test_a_path_that_no_windows_quoting_keeps_is_noted_beside_the_command(tmp_path, monkeypatch,
                                                                          name, shell):
    """shell_quote puts such a path in double quotes on Windows, where PowerShell replaces $NAME
    with a variable's value (` is its escape character, curly double quotes its quotes) and
    cmd.exe replaces %NAME% even inside quotes: the suggested command, pasted, named another
    folder, while looking safe. No quoting keeps such a path in both shells (cmd.exe passes
    PowerShell's single quotes on), so the commands and messages now say which shell would
    change it and what to do there; other paths, and other systems, get no note."""
    import sys

    from nanograd_llm import atomic, checkpoint, hf, run_folder
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("USERNAME", "ahmet")             # always set on Windows
    folder = tmp_path / name
    folder.mkdir()
    note = f" (note: {shell} "
    assert atomic.shell_note(folder).startswith(note)
    with pytest.raises(checkpoint.CheckpointError) as e:
        checkpoint.find_run_dir(folder)
    assert f"`nanograd-llm train --out {atomic.shell_quote(folder)}` first{note}" in \
        e.value.command_line_message
    (folder / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(ValueError) as e:
        run_folder.refuse_resuming_unsaved_run(folder)
    assert f" --overwrite`{note}" in e.value.command_line_message
    (folder / "checkpoint.json").write_text("{}")
    with pytest.raises(ValueError) as e:
        hf.read_hf_config(folder)
    assert f" --resume`{note}" in str(e.value)
    for p in (folder / "checkpoint.json", folder / "metrics.jsonl"):
        p.unlink()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(checkpoint.HuggingFaceFolderError) as e:
        checkpoint.find_run_dir(folder)
    assert f"--init-from {atomic.shell_quote(folder)}`{note}" in e.value.command_line_message
    for plain in ("C:\\runs\\100%", "C:\\Users\\Ahmet Yılmaz\\run", "out\\default"):
        assert atomic.shell_note(plain) == ""
    monkeypatch.setattr(sys, "platform", "linux")
    assert atomic.shell_note(folder) == ""


def test_the_commands_train_prints_note_a_path_windows_shells_would_change(tmp_path,
                                                                          monkeypatch, capsys):
    """As above, for the commands `train` prints after a run (sample, eval, chat) and the
    --resume command of a stopped run."""
    import sys

    from nanograd_llm import cli
    monkeypatch.setattr(sys, "platform", "win32")
    cfg = tiny_config(tmp_path, max_iters=2, eval_interval=2)
    out = tmp_path / "run $1"
    assert cli.main(["train", "--out", str(out), "--data", cfg.data, "--quiet", "n_layer=1",
                     "n_head=2", "n_embd=16", "block_size=16", "batch_size=4", "max_iters=2",
                     "eval_interval=2", "eval_iters=1", "sample_tokens=0"]) == 0
    printed = capsys.readouterr().out
    assert f'nanograd-llm chat --ckpt "{out}"\n(note: PowerShell changes $' in printed
    assert cli.report_stopped_run({"step": 2, "out_dir": str(out)}, "nanograd-llm train") == 130
    assert "continue with `nanograd-llm train` (note: PowerShell changes $" in \
        capsys.readouterr().err


@pytest.mark.parametrize("name, doubled", [
    ("Ay\u015fe\u2019nin $runs", "each ' and each curly single quote in it doubled"),
    ("Ay\u015fe\u2019nin %USERNAME%", "each ' and each curly single quote in it doubled"),
    ("Ay\u015fe'nin %USERNAME%", "each ' in it doubled"),
])
def test_the_single_quotes_a_windows_note_advises_keep_the_path(monkeypatch, name, doubled):
    """The note sends the user to PowerShell's single quotes, which end at a curly single quote
    too (U+2018-U+201B, common in Turkish folder names: "Ayşe’nin"); it told them to double
    only the straight ' (and the cmd.exe note nothing), so the pasted path was cut at the
    apostrophe. It now says which quotes to double, for both notes."""
    import sys

    from nanograd_llm.atomic import shell_note
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("USERNAME", "ahmet")             # always set on Windows
    note = shell_note("C:\\Users\\" + name)
    assert f"in single quotes{' instead' if '$' in name else ''} (with {doubled})" in note, note
    assert shell_note("C:\\runs\\$1").endswith("single quotes instead)")


def test_the_cmd_note_is_given_only_for_a_variable_cmd_would_replace(monkeypatch):
    """At its prompt cmd.exe replaces %NAME% only when NAME is a defined variable (or one of its
    own: %CD%, %DATE%, %RANDOM%…, any case, also as %NAME:~0,3%); an undefined one is left as
    it is, and its closing % can open the next name. The note came for any two % signs
    ("50% of 100%"), sending the user to PowerShell for a path cmd.exe keeps."""
    import sys

    from nanograd_llm.atomic import shell_note
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("USERNAME", "ahmet")
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    for kept in ("C:\\runs\\lr 50% of 100%", "C:\\runs\\%NOT_SET_HERE%", "C:\\runs\\%%",
                 "C:\\a%b\\100%"):
        assert shell_note(kept) == "", kept
    for changed in ("C:\\%USERNAME%", "C:\\%username%\\run", "C:\\x %a %USERNAME%",
                    "C:\\runs\\%CD%", "C:\\runs\\%random%", "C:\\%USERNAME:~0,3%"):
        assert shell_note(changed).startswith(" (note: cmd.exe replaces %"), changed
