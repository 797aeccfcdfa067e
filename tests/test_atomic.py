"""Atomic writes (nanograd_llm/atomic.py): the old file survives a failed write, no temporary
files are left behind, and new files get the mode a plain open() gives (not mkstemp's 0600)."""
import os
import stat

import numpy as np
import pytest

from nanograd_llm.atomic import atomic_write, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_replaces_and_uses_the_umask(tmp_path, umask022):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "ğüşiöç\nx\n")
    assert p.read_bytes() == "ğüşiöç\nx\n".encode("utf-8")
    assert _mode(p) == 0o644
    atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


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
