"""Atomic writes (nanograd_llm/atomic.py): the old file survives a failed write, no temporary
files are left behind, and new files get the mode a plain open() gives (not mkstemp's 0600)."""
import os
import stat

import numpy as np
import pytest

from nanograd_llm.atomic import (atomic_write, atomic_write_bytes, atomic_write_files,
                                 atomic_write_text)

from _platform import MODES, SIGKILL, SIGNALS, SYMLINKS, posix_only


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only(MODES)
def test_write_replaces_and_uses_the_umask(tmp_path, umask022):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "ğüşiöç\nx\n")
    assert p.read_bytes() == "ğüşiöç\nx\n".encode("utf-8")
    assert _mode(p) == 0o644
    atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


@posix_only(MODES)
def test_other_umask(tmp_path):
    old = os.umask(0o077)
    try:
        atomic_write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "b.txt") == 0o600


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file(tmp_path, exc):
    p = tmp_path / "keep.bin"
    p.write_bytes(b"old")

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise exc
    with pytest.raises(type(exc)):
        atomic_write(p, write)
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.bin"]


@posix_only(MODES)
def test_outputs_of_the_package_are_readable_by_others(tmp_path, umask022):
    """Tokenizer files, checkpoints and Hugging Face folders: 0644 under umask 022."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.checkpoint import save_checkpoint
    from nanograd_llm.tokenizers import CharTokenizer
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    tok = CharTokenizer.from_text("abcde")
    save_checkpoint(tmp_path / "run", model, None, tok, 0)
    files = [f for f in (tmp_path / "run").rglob("*") if f.is_file()]
    pytest.importorskip("safetensors")
    model.save_hf(tmp_path / "hf")
    files += [f for f in (tmp_path / "hf").rglob("*") if f.is_file()]
    assert len(files) >= 5
    for f in files:
        assert _mode(f) == 0o644, f
        assert not f.name.endswith(".tmp"), f
    assert np.isfinite(model.flat).all()


def _writer(data, fail=None):
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
        if fail is not None:
            raise fail
    return write


@posix_only(MODES)
def test_files_in_a_new_folder_appear_together(tmp_path, umask022):
    out = tmp_path / "deep" / "hf"
    atomic_write_files(out, {"a.json": _writer(b"A"), "b.bin": _writer(b"B")})
    assert (out / "a.json").read_bytes() == b"A" and (out / "b.bin").read_bytes() == b"B"
    assert _mode(out) == 0o755 and _mode(out / "b.bin") == 0o644
    assert os.listdir(tmp_path / "deep") == ["hf"]


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_second_file_leaves_no_new_folder(tmp_path, exc):
    out = tmp_path / "hf"
    with pytest.raises(type(exc)):
        atomic_write_files(out, {"a.json": _writer(b"A"), "b.bin": _writer(b"B", exc)})
    assert not out.exists()
    assert os.listdir(tmp_path) == []            # the hidden staging folder is gone too


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_second_file_keeps_both_old_files(tmp_path, exc):
    out = tmp_path / "hf"
    out.mkdir()
    (out / "a.json").write_bytes(b"old A")
    (out / "b.bin").write_bytes(b"old B")
    (out / "tokenizer.json").write_bytes(b"T")   # other files of the folder are untouched
    with pytest.raises(type(exc)):
        atomic_write_files(out, {"a.json": _writer(b"new A"), "b.bin": _writer(b"B", exc)})
    assert (out / "a.json").read_bytes() == b"old A"
    assert (out / "b.bin").read_bytes() == b"old B"
    assert sorted(os.listdir(out)) == ["a.json", "b.bin", "tokenizer.json"]
    atomic_write_files(out, {"a.json": _writer(b"new A"), "b.bin": _writer(b"new B")})
    assert (out / "a.json").read_bytes() == b"new A" and (out / "b.bin").read_bytes() == b"new B"
    assert sorted(os.listdir(out)) == ["a.json", "b.bin", "tokenizer.json"]


def test_save_hf_failing_config_keeps_the_old_pair(tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    import json
    from nanograd_llm import GPT, GPTConfig
    small = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    big = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=2, n_head=1, n_embd=8), seed=0)
    small.save_hf(tmp_path / "hf")
    before = {f: (tmp_path / "hf" / f).read_bytes() for f in os.listdir(tmp_path / "hf")}
    from nanograd_llm import hf

    def broken(text):
        def write(tmp):
            raise OSError("disk full")
        return write
    monkeypatch.setattr(hf, "text_writer", broken)    # config.json is written with it
    with pytest.raises(OSError, match="disk full"):
        big.save_hf(tmp_path / "hf")
    with pytest.raises(OSError, match="disk full"):
        big.save_hf(tmp_path / "new")
    monkeypatch.undo()
    assert {f: (tmp_path / "hf" / f).read_bytes() for f in os.listdir(tmp_path / "hf")} == before
    assert sorted(os.listdir(tmp_path)) == ["hf"]
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["n_layer"] == 1


@posix_only(MODES)
def test_a_writer_that_replaces_its_file_still_gets_the_umask_mode(tmp_path, umask022):
    """The mode is set after write(): a writer that puts a new file of its own under the
    temporary name (here one made with mkstemp's 0600, then renamed) must not leave the output
    readable only by its owner."""
    import tempfile

    def write(tmp):
        fd, own = tempfile.mkstemp(dir=os.path.dirname(tmp))
        with os.fdopen(fd, "wb") as f:
            f.write(b"data")
        os.replace(own, tmp)
    p = atomic_write(tmp_path / "out.bin", write)
    assert p.read_bytes() == b"data" and _mode(p) == 0o644


def test_the_temporary_file_is_hidden_beside_the_target(tmp_path):
    """The temporary file lives in the target's folder (the same file system: the final rename
    is a rename, not a copy that a crash could leave half-done), under a hidden name."""
    seen = []

    def write(tmp):
        seen.append(tmp)
        with open(tmp, "wb") as f:
            f.write(b"x")
    target = tmp_path / "sub" / "file.npz"
    target.parent.mkdir()
    atomic_write(target, write)
    tmp = seen[0]
    assert os.path.dirname(tmp) == str(target.parent)
    assert os.path.basename(tmp).startswith(".file.npz.") and tmp.endswith(".tmp")
    assert os.listdir(target.parent) == ["file.npz"]


def test_text_writer_writes_utf8_with_lf_line_ends(tmp_path):
    """text_writer (the tokenizers' save: merges.txt, vocab.json) writes the text's UTF-8 bytes
    as they are, '\\n' line ends on every platform."""
    from nanograd_llm.atomic import text_writer
    text = "#version: 0.2\nĠ ş\nı İ\n"
    atomic_write_files(tmp_path / "tok", {"merges.txt": text_writer(text)})
    assert (tmp_path / "tok" / "merges.txt").read_bytes() == text.encode("utf-8")


def _folder_writers():
    """Every writer of a folder in the package: (name, write(folder))."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm import checkpoint as ckpt
    from nanograd_llm.data import encode_corpus
    from nanograd_llm.tokenizers import CharTokenizer
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    char = CharTokenizer("abcde")
    writers = [
        ("atomic_write", lambda d: atomic_write_bytes(d / "a.bin", b"x")),
        ("atomic_write_files", lambda d: atomic_write_files(d, {"a": _writer(b"x")})),
        ("CharTokenizer.save", lambda d: char.save(str(d))),
        ("save_checkpoint", lambda d: ckpt.save_checkpoint(d, model, None, char, 1)),
        ("encode_corpus", lambda d: encode_corpus("abc", char, d / "ids.npy")),
    ]
    try:
        import safetensors  # noqa: F401
        writers.append(("GPT.save_hf", lambda d: model.save_hf(d)))
    except ImportError:
        pass
    try:
        from nanograd_llm.tokenizers.bpe import BPETokenizer
        bpe = BPETokenizer.train("merhaba dünya " * 10, 258)
        writers.append(("BPETokenizer.save", lambda d: bpe.save(str(d))))
    except ImportError:
        pass
    try:
        import matplotlib  # noqa: F401
        from nanograd_llm.viz import plot_positional_encoding
        writers.append(("a picture", lambda d: plot_positional_encoding(d / "pe.png", 8, 8)))
    except ImportError:
        pass
    return writers


@posix_only(SYMLINKS)
def test_every_folder_writer_names_a_symlink_to_nothing(tmp_path):
    """GPT.save_hf into a folder that is a symbolic link to a missing target said "could not
    save the GPT-2 copy to LINK (Not a directory)", a tokenizer's save "[Errno 20] Not a
    directory", save_checkpoint and the others "[Errno 17] File exists": none named the link.
    Each writer now refuses it as --out does, writes nothing and does not create the target."""
    if not hasattr(os, "symlink"):
        pytest.skip("no symbolic links here")
    gone = tmp_path / "disk" / "gone"
    (tmp_path / "link").symlink_to(gone)
    link = tmp_path / "link"
    for name, write in _folder_writers():
        for folder, says in (
                (link, f"folder {link} is a symbolic link to {gone}, which does not exist; "
                       f"create that folder first, or remove the link (nothing was written)"),
                (link / "sub", f"folder {link / 'sub'} goes through the symbolic link {link}, "
                               f"whose target {gone} does not exist; create that folder first, "
                               f"or remove the link (nothing was written)")):
            with pytest.raises(ValueError) as e:
                write(folder)
            assert says in str(e.value), (name, str(e.value))
            assert sorted(os.listdir(tmp_path)) == ["link"], name
    gone.mkdir(parents=True)                     # the disk is back: each writes through the link
    for name, write in _folder_writers():
        folder = link / name.replace(" ", "_")
        if name == "atomic_write":               # it writes a file into a folder that exists
            folder.mkdir()
        write(folder)
    assert len(os.listdir(gone)) == len(_folder_writers()) and link.is_symlink()


@posix_only(SYMLINKS)
def test_a_file_that_is_a_symbolic_link_is_written_through_the_link(tmp_path):
    """os.replace over a link replaced the link itself with a regular file: the file it led
    to kept its old bytes and the link was gone. Every write now goes through the link, its
    temporary file beside the real file (a rename, not a copy); a link to nothing (or a loop)
    is refused as a folder link to nothing is, and nothing is written anywhere."""
    if not hasattr(os, "symlink"):
        pytest.skip("no symbolic links here")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "vocab.json").write_bytes(b"old")
    (shared / "b.bin").write_bytes(b"old B")
    out = tmp_path / "out"
    out.mkdir()
    (out / "vocab.json").symlink_to(shared / "vocab.json")
    (out / "chain").symlink_to(out / "vocab.json")           # a link to a link
    (out / "b.bin").symlink_to("../shared/b.bin")            # a relative link
    seen = []

    def write(data):
        def w(tmp):
            seen.append(tmp)
            _writer(data)(tmp)
        return w
    atomic_write(out / "vocab.json", write(b"new"))
    assert (shared / "vocab.json").read_bytes() == b"new"
    assert os.path.dirname(seen[-1]) == str(shared)
    atomic_write(out / "chain", write(b"newer"))
    assert (shared / "vocab.json").read_bytes() == b"newer"
    atomic_write_files(out, {"vocab.json": write(b"V"), "b.bin": write(b"B"),
                             "c.txt": write(b"C")})
    assert (shared / "vocab.json").read_bytes() == b"V" and (shared / "b.bin").read_bytes() == b"B"
    assert [os.path.dirname(t) for t in seen[-3:]] == [str(shared), str(shared), str(out)]
    for name in ("vocab.json", "chain", "b.bin"):
        assert (out / name).is_symlink(), name
    assert sorted(os.listdir(shared)) == ["b.bin", "vocab.json"]
    assert sorted(os.listdir(out)) == ["b.bin", "c.txt", "chain", "vocab.json"]

    gone = tmp_path / "disk" / "merges.txt"
    (out / "merges.txt").symlink_to(gone)
    (out / "loop").symlink_to(out / "loop")
    before = sorted(os.listdir(tmp_path)), sorted(os.listdir(out)), sorted(os.listdir(shared))
    for name, says in (
            ("merges.txt", f"cannot write {out / 'merges.txt'}: it is a symbolic link to {gone}, "
                           f"which does not exist; create that file first, or remove the link "
                           f"(nothing was written)"),
            ("loop", f"cannot write {out / 'loop'}: it is a symbolic link that loops back on "
                     f"itself; remove the link (nothing was written)")):
        with pytest.raises(ValueError) as e:
            atomic_write_bytes(out / name, b"x")
        assert str(e.value) == says
        with pytest.raises(ValueError) as e:             # the other files are not written
            atomic_write_files(out, {"vocab.json": _writer(b"no"), name: _writer(b"x")})
        assert str(e.value) == says
        assert (sorted(os.listdir(tmp_path)), sorted(os.listdir(out)),
                sorted(os.listdir(shared))) == before
        assert (shared / "vocab.json").read_bytes() == b"V"
    assert (out / "merges.txt").is_symlink() and not gone.parent.exists()


@posix_only(SYMLINKS)
def test_a_tokenizer_saved_over_linked_files_writes_through_the_links(tmp_path):
    """What the user sees: a run folder whose tokenizer file is a link to a shared copy."""
    if not hasattr(os, "symlink"):
        pytest.skip("no symbolic links here")
    from nanograd_llm.tokenizers import CharTokenizer
    CharTokenizer("abc").save(str(tmp_path / "shared"))
    (tmp_path / "run").mkdir()
    for f in os.listdir(tmp_path / "shared"):
        (tmp_path / "run" / f).symlink_to(tmp_path / "shared" / f)
    CharTokenizer("abcd").save(str(tmp_path / "run"))
    assert CharTokenizer.load(str(tmp_path / "shared")).vocab_size == 4
    assert all((tmp_path / "run" / f).is_symlink() for f in os.listdir(tmp_path / "run"))


@posix_only(SYMLINKS)
def test_a_token_file_that_is_a_symbolic_link_is_written_through_it(tmp_path, monkeypatch):
    """encode_corpus renamed its own temporary file over the path with os.replace: a run's
    tokens.npy linked to a larger disk became a regular file on the run's disk (both temporary
    files, each the size of the corpus, were made there too), the link was gone and its target
    kept the old ids; nor was the file fsync'ed. It now goes through atomic_write: the link is
    kept, the file it leads to gets the new ids, the temporary files are made beside it, and
    the file is fsync'ed before the rename."""
    if not hasattr(os, "symlink"):
        pytest.skip("no symbolic links here")
    from nanograd_llm.data import encode_corpus
    from nanograd_llm.tokenizers import CharTokenizer
    big = tmp_path / "big"
    big.mkdir()
    np.save(big / "tokens.npy", np.array([9, 9], dtype=np.uint16))
    run = tmp_path / "run"
    run.mkdir()
    (run / "tokens.npy").symlink_to(big / "tokens.npy")
    text = "abc cab\n" * 50
    tok = CharTokenizer.from_text(text)
    made, synced = [], []
    real_open, real_fsync = open, os.fsync
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: (made.append(str(f)),
                                                             real_open(f, *a, **k))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    ids = encode_corpus(text, tok, path=run / "tokens.npy", chunk_chars=16)
    assert (run / "tokens.npy").is_symlink()
    np.testing.assert_array_equal(np.load(big / "tokens.npy"), tok.encode(text))
    np.testing.assert_array_equal(ids, tok.encode(text))
    temps = [f for f in made if f.endswith(".tmp")]
    assert temps and all(os.path.dirname(f) == str(big) for f in temps), made
    assert synced
    assert sorted(os.listdir(big)) == ["tokens.npy"] and os.listdir(run) == ["tokens.npy"]


# -- what a killed write leaves: removed by the next write of the same target --------------------

def _leftovers(parent, name):
    """What a write of parent/name killed mid-way leaves: atomic_write_files' staging folder
    (with a partly written file in it) and atomic_write's temporary file, named as they are."""
    import tempfile
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{name}.", suffix=".tmp")
    with open(os.path.join(staging, "model.safetensors"), "wb") as f:
        f.write(b"\0" * 4096)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    return {os.path.basename(staging), os.path.basename(tmp)}


def _not_ours(parent, name):
    """Files and a folder of the user's whose names are close to the package's temporary
    names, or that are the package's names for another target: never deleted."""
    keep = {f".{name}.tmp", f".{name}.ab12cd34.tmp.bak", f"{name}.ab12cd34.tmp",
            f".{name}x.ab12cd34.tmp", f".{name}.ab12cd3.tmp", f".other.ab12cd34.tmp"}
    for k in keep:
        (parent / k).write_bytes(b"user")
    (parent / f".{name}.AB12CD34.tmp").mkdir()
    (parent / f".{name}.AB12CD34.tmp" / "x").write_bytes(b"user")
    return keep | {f".{name}.AB12CD34.tmp"}


@posix_only(SIGKILL)
def test_a_save_hf_killed_while_writing_leaves_nothing_after_the_next_save(tmp_path):
    """A save_hf into a new folder killed while it wrote the weights (SIGKILL, a crash) left its
    hidden staging folder ('.gpt2.ab12cd_3.tmp', hundreds of MB for a real model) beside the
    target for good. The next save of the same folder removes it; names that are not the
    package's temporary names for that folder stay."""
    import signal
    import subprocess
    import sys
    import textwrap
    pytest.importorskip("safetensors")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = textwrap.dedent("""
        import os, signal, sys
        import safetensors.numpy as stn
        from nanograd_llm import GPT, GPTConfig
        def save_file(tensors, path, metadata=None):
            with open(path, "wb") as f:
                f.write(b"\\0" * 100000)
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        stn.save_file = save_file
        GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)).save_hf(
            sys.argv[1])
    """)
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    target = tmp_path / "gpt2"
    p = subprocess.run([sys.executable, "-c", script, str(target)], env=env, cwd=root,
                       capture_output=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    left = [n for n in os.listdir(tmp_path) if n.startswith(".gpt2.")]
    assert len(left) == 1 and (tmp_path / left[0]).is_dir()          # the killed save's
    keep = _not_ours(tmp_path, "gpt2")
    from nanograd_llm import GPT, GPTConfig
    GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)).save_hf(target)
    assert set(os.listdir(tmp_path)) == keep | {"gpt2"}
    assert sorted(os.listdir(target)) == ["config.json", "model.safetensors"]


def test_every_write_removes_its_own_stale_temporaries_only(tmp_path, monkeypatch):
    """A tokenizer saved into a new folder, a file written in place (the corpus download into
    the cache) and the files of an existing folder (a tokenizer saved again): each write
    removes what a killed write of the same target left, nothing else."""
    import hashlib

    from nanograd_llm import data as D
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text("abc")
    leftovers = _leftovers(tmp_path, "tok")
    keep = _not_ours(tmp_path, "tok")
    tok.save(tmp_path / "tok")                                  # a new folder
    assert set(os.listdir(tmp_path)) == keep | {"tok"}
    for name in ("tokenizer.json", "tokenizer_meta.json"):      # its existing files
        leftovers = _leftovers(tmp_path / "tok", name)
    tok.save(tmp_path / "tok")
    assert not leftovers & set(os.listdir(tmp_path / "tok"))
    assert sorted(os.listdir(tmp_path / "tok")) == ["tokenizer.json", "tokenizer_meta.json"]

    blob = b"small corpus\n"
    digest = hashlib.sha256(blob).hexdigest()
    monkeypatch.setitem(D.CORPORA, "tiny", D.Corpus("tiny", "tiny.txt", digest,
                                                    (("http://x/tiny.txt", digest),), "t"))
    monkeypatch.setattr(D, "_fetch", lambda url, timeout=60.0: blob)
    cache = tmp_path / "cache"
    cache.mkdir()
    _leftovers(cache, "tiny.txt")
    keep = _not_ours(cache, "tiny.txt")
    D.download_corpus("tiny", cache)
    assert set(os.listdir(cache)) == keep | {"tiny.txt"}


def test_a_temporary_file_another_process_is_writing_is_left_alone(tmp_path):
    """Two processes may write the same target at once (two runs downloading the same corpus
    on first use): the one that starts second must not delete the first one's temporary
    file or staging folder (its rename would fail). A writer holds a lock on them while it
    writes; a locked one is not stale."""
    fcntl = pytest.importorskip("fcntl")
    import tempfile
    held = []
    for make in (tempfile.mkstemp, tempfile.mkdtemp):
        made = make(dir=tmp_path, prefix=".tiny.txt.", suffix=".tmp")
        path = made[1] if isinstance(made, tuple) else made
        if isinstance(made, tuple):
            os.close(made[0])
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.append((fd, os.path.basename(path)))
    try:
        atomic_write_bytes(tmp_path / "tiny.txt", b"x")
        atomic_write_files(tmp_path / "tiny.txt2", {"a": lambda t: open(t, "wb").close()})
        assert {n for _, n in held} <= set(os.listdir(tmp_path))
    finally:
        for fd, _ in held:
            os.close(fd)
    atomic_write_bytes(tmp_path / "tiny.txt", b"y")             # the writers are gone now
    assert sorted(os.listdir(tmp_path)) == ["tiny.txt", "tiny.txt2"]


def test_a_write_in_progress_holds_its_temporaries_against_the_clean_up(tmp_path):
    """The clean-up another process runs while this one writes (here called from inside the
    writer) leaves this write's temporary file and staging folder alone."""
    pytest.importorskip("fcntl")
    from nanograd_llm.atomic import remove_stale_temporaries

    def write(target):
        def w(tmp):
            with open(tmp, "wb") as f:
                f.write(b"z")
            remove_stale_temporaries(target)
            assert os.path.exists(tmp)
        return w
    atomic_write(tmp_path / "t.bin", write(tmp_path / "t.bin"))
    atomic_write_files(tmp_path / "new", {"a": write(tmp_path / "new")})
    atomic_write_files(tmp_path / "new", {"a": write(tmp_path / "new" / "a")})
    assert sorted(os.listdir(tmp_path)) == ["new", "t.bin"]
    assert os.listdir(tmp_path / "new") == ["a"]


def test_a_data_preparation_killed_while_encoding_leaves_nothing_after_the_next(tmp_path):
    """encode_corpus killed in its first pass (SIGKILL, the OOM killer on a large corpus) left
    its corpus-sized raw file '.tokens.npy.ab12cd_3.raw.tmp', a name no clean-up knew: where
    tokens.npy is a link to a file on another disk, nothing ever removed it. It now has the
    package's temporary name for tokens.npy: the next encoding removes it."""
    import signal
    import subprocess
    import sys
    import textwrap
    pytest.importorskip("fcntl")
    from nanograd_llm.data import encode_corpus
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = textwrap.dedent("""
        import os, signal, sys
        from nanograd_llm.data import encode_corpus
        class Tok:
            vocab_size = 10
            calls = 0
            def encode(self, s):
                Tok.calls += 1
                if Tok.calls == 3:      # two pieces are in the raw file
                    os.kill(os.getpid(), signal.SIGKILL)
                return [1] * len(s)
        encode_corpus("abc def ghi jkl mno\\n" * 20, Tok(), path=sys.argv[1], chunk_chars=20)
    """)
    elsewhere = tmp_path / "disk"
    elsewhere.mkdir()
    (elsewhere / "tokens.npy").write_bytes(b"old")
    (elsewhere / "notes.tmp").write_bytes(b"not ours")
    run = tmp_path / "run"
    run.mkdir()
    (run / "tokens.npy").symlink_to(elsewhere / "tokens.npy")
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", script, str(run / "tokens.npy")], env=env,
                       cwd=root, capture_output=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    # the killed encoding's .npy and raw temporary files
    assert len([n for n in os.listdir(elsewhere) if n.startswith(".tokens.npy.")]) == 2

    class Tok:
        vocab_size = 10

        def encode(self, s):
            return [2] * len(s)
    ids = encode_corpus("xyz", Tok(), path=run / "tokens.npy")
    assert ids.tolist() == [2, 2, 2]
    assert sorted(os.listdir(elsewhere)) == ["notes.tmp", "tokens.npy"]
    assert os.listdir(run) == ["tokens.npy"] and (run / "tokens.npy").is_symlink()


def test_the_raw_file_of_an_encoding_in_progress_is_held_against_the_clean_up(tmp_path):
    """The clean-up another process runs (here from inside the encoder) leaves the raw file of
    an encoding in progress alone."""
    pytest.importorskip("fcntl")
    from nanograd_llm.atomic import remove_stale_temporaries
    from nanograd_llm.data import encode_corpus
    target = tmp_path / "tokens.npy"

    class Tok:
        vocab_size = 10

        def encode(self, s):
            remove_stale_temporaries(target)
            return [3] * len(s)
    assert encode_corpus("ab cd\n" * 10, Tok(), path=target, chunk_chars=4).size == 60
    assert os.listdir(tmp_path) == ["tokens.npy"]


def test_a_clean_up_between_creating_and_locking_a_temporary_does_not_break_the_write(
        tmp_path, monkeypatch):
    """The clean-up of another process writing the same target could run in the moment between
    mkstemp / mkdtemp and the lock: it found the new temporary file or staging folder unlocked
    and removed it. A save into a new folder then stopped ('No such file or directory'), a file
    was written unlocked, so that the next clean-up removed it mid-write. The writer now takes
    the lock waiting for it and makes a new one where the first is gone."""
    pytest.importorskip("fcntl")
    import tempfile

    from nanograd_llm import atomic
    from nanograd_llm.atomic import remove_stale_temporaries
    for name in ("mkstemp", "mkdtemp"):
        real = getattr(tempfile, name)
        cleaned = []

        def created_then_cleaned(*a, real=real, cleaned=cleaned, **k):
            made = real(*a, **k)
            if not cleaned:                 # another process's clean-up, in that moment
                cleaned.append(made)
                remove_stale_temporaries(tmp_path / "t")
            return made
        monkeypatch.setattr(atomic.tempfile, name, created_then_cleaned)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"new")
        remove_stale_temporaries(tmp_path / "t")    # and once more, while it writes
        assert os.path.exists(tmp)
        with open(tmp, "rb") as f:
            assert f.read() == b"new"
    atomic_write(tmp_path / "t", write)
    assert os.listdir(tmp_path) == ["t"] and (tmp_path / "t").read_bytes() == b"new"
    os.unlink(tmp_path / "t")
    atomic_write_files(tmp_path / "t", {"a": write})
    assert os.listdir(tmp_path) == ["t"] and os.listdir(tmp_path / "t") == ["a"]


# -- the renames at the end of atomic_write_files into an existing folder ------------------------

def _two_models():
    from nanograd_llm import GPT, GPTConfig
    small = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    big = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=2, n_head=1, n_embd=8), seed=0)
    return small, big


def _replace_failing_for(monkeypatch, name, exc=None, then=None):
    """os.replace (as atomic.py calls it) fails, once, when it renames the temporary file of
    `name` over it; `then` runs right after the first rename (a signal that lands there)."""
    import errno

    from nanograd_llm import atomic
    real = os.replace
    calls = []

    def replace(src, dst, *a, **k):
        calls.append(os.path.basename(str(dst)))
        if exc is not None and os.path.basename(str(dst)) == name and \
                os.path.basename(str(src)).startswith(f".{name}.") and exc not in calls:
            calls.append(exc)
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst, *a, **k)
        if then is not None and len(calls) == 1:
            then()
    monkeypatch.setattr(atomic.os, "replace", replace)
    return calls


def test_a_rename_that_fails_after_the_first_puts_the_old_file_back(tmp_path, monkeypatch):
    """The second os.replace of save_hf into an existing folder failing left the new
    model.safetensors beside the old config.json, while the error said 'its old files are
    kept'. The replaced file now gets its old version back (kept under a second name, a hard
    link, during the renames): the message is true, and no file is left over."""
    pytest.importorskip("safetensors")
    small, big = _two_models()
    small.save_hf(tmp_path / "hf")
    before = {f: (tmp_path / "hf" / f).read_bytes() for f in os.listdir(tmp_path / "hf")}
    calls = _replace_failing_for(monkeypatch, "config.json", exc="failed")
    with pytest.raises(OSError, match=r"could not save the GPT-2 copy to .*hf \(Input/output "
                                      r"error\); its old files are kept"):
        big.save_hf(tmp_path / "hf")
    assert calls[0] == "model.safetensors" and "failed" in calls      # it failed second
    monkeypatch.undo()
    assert {f: (tmp_path / "hf" / f).read_bytes() for f in os.listdir(tmp_path / "hf")} == before
    assert os.listdir(tmp_path) == ["hf"]


def test_a_failed_rename_that_cannot_be_undone_says_which_files_are_new(tmp_path, monkeypatch):
    """Where the old file cannot be kept under a second name (a file system without hard
    links), the error says which file is new and which is old, instead of 'its old files are
    kept'."""
    pytest.importorskip("safetensors")
    import errno
    import json

    from nanograd_llm import atomic
    small, big = _two_models()
    small.save_hf(tmp_path / "hf")
    old_config = (tmp_path / "hf" / "config.json").read_bytes()

    def no_link(*a, **k):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(atomic.os, "link", no_link)
    _replace_failing_for(monkeypatch, "config.json", exc="failed")
    with pytest.raises(OSError) as e:
        big.save_hf(tmp_path / "hf")
    monkeypatch.undo()
    assert str(e.value) == (
        f"could not save the GPT-2 copy to {tmp_path / 'hf'} (Input/output error); "
        f"model.safetensors is new, config.json is still the old one: the folder holds a "
        f"mismatched pair, save it again")
    assert (tmp_path / "hf" / "config.json").read_bytes() == old_config      # as it says
    from nanograd_llm.hf import _safetensors_numpy
    weights = _safetensors_numpy().load_file(str(tmp_path / "hf" / "model.safetensors"))
    assert any(".h.1." in k for k in weights)                                # the new model
    assert json.loads(old_config)["n_layer"] == 1
    assert sorted(os.listdir(tmp_path / "hf")) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@posix_only(SIGNALS)
def test_a_signal_between_the_renames_takes_effect_after_them(tmp_path, monkeypatch, sig):
    """A Ctrl-C (or, through the command, SIGTERM) that landed between the two renames left
    the new weights beside the old config.json. It now takes effect once both are renamed:
    the command still stops, the folder holds the new pair."""
    pytest.importorskip("safetensors")
    import json
    import signal

    from nanograd_llm.cli import _terminate
    small, big = _two_models()
    small.save_hf(tmp_path / "hf")
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate)}   # as the command
    try:
        _replace_failing_for(monkeypatch, "config.json",
                             then=lambda: os.kill(os.getpid(), getattr(signal, sig)))
        with pytest.raises(KeyboardInterrupt):
            big.save_hf(tmp_path / "hf")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    monkeypatch.undo()
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["n_layer"] == 2
    from nanograd_llm.hf import load_hf
    load_hf(tmp_path / "hf")                               # a pair that goes together
    assert sorted(os.listdir(tmp_path / "hf")) == ["config.json", "model.safetensors"]


_BOTH_HELD = """
import os, signal, sys
from nanograd_llm.atomic import signals_deferred
try:
    with signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(3)
"""


@posix_only(SIGNALS)
def test_a_sigterm_held_with_a_ctrl_c_is_not_lost():
    """A Ctrl-C and a SIGTERM that both came during signals_deferred's body were sent again in
    the order they came: the Ctrl-C's KeyboardInterrupt was raised first and the SIGTERM was
    never sent (the command exited 130, a process with SIGTERM's default action went on). The
    SIGTERM, the stronger request, is now sent first: 143 from the command, and a process
    without a handler is ended by it."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from nanograd_llm.atomic import signals_deferred
    from nanograd_llm.cli import report_errors

    def body():
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
    assert report_errors(body) == 143
    root = Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-c", _BOTH_HELD], cwd=root, capture_output=True,
                       text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(root)))
    assert p.returncode == -signal.SIGTERM, (p.returncode, p.stdout, p.stderr)


_HELD_THEN_FAILED = """
import os, signal, sys
from nanograd_llm.atomic import signals_deferred
with signals_deferred():
    os.kill(os.getpid(), signal.SIGTERM)
    if sys.argv[1] == "fail":
        raise ValueError("a.json is new, b.json is still the old one")
print("not reached", flush=True)
"""


@pytest.mark.parametrize("body", ["fail", "succeed"])
@posix_only(SIGNALS)
def test_a_sigterm_held_during_a_body_that_fails_does_not_lose_the_error(body):
    """Library use (no sigterm_raises: SIGTERM has its default action): a SIGTERM held during a
    body that then raised was sent again from the `finally` and ended the process at once,
    silently: the body's error (which files are new, which old) was never reported. It is now
    printed, as Python prints an uncaught error, before the SIGTERM ends the process; a body
    that succeeds is still ended by the SIGTERM without a word."""
    import signal
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-c", _HELD_THEN_FAILED, body], cwd=root,
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(root)))
    assert p.returncode == -signal.SIGTERM and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    if body == "succeed":
        assert p.stderr == ""
    else:
        assert p.stderr.startswith("Traceback (most recent call last):"), p.stderr
        assert p.stderr.endswith("ValueError: a.json is new, b.json is still the old one\n"
                                 "SIGTERM came while this ran; its default action now ends "
                                 "the process\n"), p.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@posix_only(SIGNALS)
def test_a_signal_during_renames_that_fail_keeps_their_error(tmp_path, monkeypatch, capsys, sig):
    """A Ctrl-C or SIGTERM that landed during renames which then failed (MixedFiles: one file
    new, one old) was sent again from signals_deferred's `finally`, and its KeyboardInterrupt
    replaced the error: the command said only 'interrupted', not that the folder held a
    mismatched pair. The signal's exception is now raised from the error, and the command
    prints both, with the signal's status."""
    import errno
    import signal

    from nanograd_llm import atomic
    from nanograd_llm.atomic import text_writer
    from nanograd_llm.cli import report_errors
    folder = tmp_path / "pair"
    atomic_write_files(folder, {"a.json": text_writer("old"), "b.json": text_writer("old")})

    def no_link(*a, **k):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(atomic.os, "link", no_link)
    _replace_failing_for(monkeypatch, "b.json", exc="failed",
                         then=lambda: os.kill(os.getpid(), getattr(signal, sig)))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = report_errors(lambda: atomic_write_files(
            folder, {"a.json": text_writer("new"), "b.json": text_writer("new")}))
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert status == (130 if sig == "SIGINT" else 143)
    said = "interrupted" if sig == "SIGINT" else "terminated"
    assert err == (f"\nerror: [Errno 5] Input/output error; a.json is new, b.json is still "
                   f"the old one in {folder}\n{said}\n")
    assert (folder / "a.json").read_text() == "new" and (folder / "b.json").read_text() == "old"


# -- Windows: a rename onto a file another program holds open -----------------------------------

def _replace_held_open(monkeypatch, times):
    """os.replace / os.rename fail `times` times with the PermissionError Windows gives for a
    target another process holds open (a reader of checkpoint.json, an antivirus scan), as on
    Windows (sys.platform 'win32'); -> the list of failed calls."""
    import errno
    import sys

    from nanograd_llm import atomic
    monkeypatch.setattr(sys, "platform", "win32")
    failed = []

    def held(real):
        def move(src, dst, *a, **k):
            if len(failed) < times:
                failed.append(os.path.basename(str(dst)))
                raise PermissionError(errno.EACCES, "Access is denied", str(src), None, str(dst))
            return real(src, dst, *a, **k)
        return move
    monkeypatch.setattr(atomic.os, "replace", held(os.replace))
    monkeypatch.setattr(atomic.os, "rename", held(os.rename))
    return failed


def test_a_rename_onto_a_file_held_open_on_windows_is_retried(tmp_path, monkeypatch):
    """On Windows os.replace onto a file another process has open (`sample` reading
    checkpoint.json while the run saves, an antivirus scan of the new file) raises
    PermissionError; a training run stopped at that save with 'Access is denied'. The rename is
    now retried for a moment, and the write succeeds once the reader lets go."""
    p = tmp_path / "checkpoint.json"
    p.write_bytes(b"old")
    failed = _replace_held_open(monkeypatch, 3)
    atomic_write_text(p, "new")
    assert failed == ["checkpoint.json"] * 3
    assert p.read_bytes() == b"new" and os.listdir(tmp_path) == ["checkpoint.json"]
    failed.clear()                                   # a new folder, then an existing one
    atomic_write_files(tmp_path / "hf", {"a": lambda t: open(t, "wb").close()})
    atomic_write_files(tmp_path / "hf", {"a": lambda t: open(t, "wb").close()})
    assert len(failed) == 3 and sorted(os.listdir(tmp_path)) == ["checkpoint.json", "hf"]


def test_a_file_held_open_for_good_on_windows_is_a_clear_error(tmp_path, monkeypatch):
    """A file held open past the retries: the error says why (not only 'Access is denied')
    and the old file is left as it was."""
    import re

    from nanograd_llm import atomic
    from nanograd_llm.checkpoint import atomic_write_json
    monkeypatch.setattr(atomic, "RENAME_WAIT_S", 0.05, raising=False)
    p = tmp_path / "checkpoint.json"
    p.write_bytes(b"old")
    _replace_held_open(monkeypatch, 10 ** 6)
    with pytest.raises(PermissionError, match=re.escape(
            "Access is denied; another program (one reading the file, an antivirus scan, a "
            "sync tool) may hold it open: close it and try again")):
        atomic_write_json(p, {"step": 1})
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["checkpoint.json"]


def test_a_permission_error_off_windows_is_not_retried(tmp_path, monkeypatch):
    """POSIX renames over an open file: a PermissionError there is a real one (a read-only
    folder), raised at once."""
    import sys
    failed = _replace_held_open(monkeypatch, 10 ** 6)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(PermissionError, match=r"^\[Errno 13\] Access is denied"):
        atomic_write_text(tmp_path / "a", "x")
    assert len(failed) == 1


def test_release_frames_clears_the_frames_of_the_errors_raised_while_handling_others(
        monkeypatch):
    """release_frames follows the chain of errors (__context__): a memory map held by a frame
    of the error being handled when a second one came (the clean-up's own error, a Ctrl-C) is
    freed too, not only those of the last error's frames. (It acts on Windows only, where a
    mapped file cannot be deleted: os.name is 'nt' here.)"""
    import gc
    import types
    import weakref

    from nanograd_llm import atomic
    from nanograd_llm.atomic import release_frames
    monkeypatch.setattr(atomic, "os", types.SimpleNamespace(**{**vars(os), "name": "nt"}))

    class Held:
        pass
    refs = []

    def inner():
        x = Held()
        refs.append(weakref.ref(x))
        raise ValueError("first")

    def outer():
        try:
            inner()
        except ValueError:
            y = Held()
            refs.append(weakref.ref(y))
            raise RuntimeError("while handling it")
    try:
        outer()
    except RuntimeError as e:
        err = e
    release_frames(err)
    gc.collect()
    assert [r() for r in refs] == [None, None]
    # a chain that loops back on itself ends
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    release_frames(a)
