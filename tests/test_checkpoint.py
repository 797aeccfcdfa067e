"""Checkpoint files: atomic writes, loading, clear errors for corrupt or foreign files."""
import json
from pathlib import Path

import numpy as np
import pytest

from nanograd_llm import GPT, BigramLM, checkpoint as ckpt
from nanograd_llm.models.gpt import GPTConfig
from nanograd_llm.optim import AdamW
from nanograd_llm.tokenizers import CharTokenizer


def _save(tmp_path, model=None, step=3):
    model = model or GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8),
                         seed=1)
    opt = AdamW(model)
    model.grad_flat[...] = 0.01
    opt.step()
    tok = CharTokenizer.from_text("abcdefg")
    ckpt.save_checkpoint(tmp_path, model, opt, tok, step, train_config={"seed": 1},
                         sampler_state={"x": 1}, dropout_seed=[1, step])
    return model, opt


def test_roundtrip_gpt_and_bigram(tmp_path):
    model, opt = _save(tmp_path / "g")
    loaded = GPT.load(tmp_path / "g")
    np.testing.assert_array_equal(loaded.flat, model.flat)
    assert loaded.config == model.config and not loaded.training
    state = ckpt.load_checkpoint(tmp_path / "g")
    assert state["step"] == 3
    np.testing.assert_array_equal(state["optimizer_state"]["m"]["flat"], opt.m)
    assert state["manifest"]["dropout_seed"] == [1, 3]
    # the bigram goes through the same files; GPT.load refuses it clearly
    bigram = BigramLM(7, seed=2)
    _save(tmp_path / "b", bigram)
    b = ckpt.load_model(tmp_path / "b")
    assert isinstance(b, BigramLM)
    np.testing.assert_array_equal(b.flat, bigram.flat)
    with pytest.raises(ValueError, match="BigramLM, not a GPT"):
        GPT.load(tmp_path / "b")


def test_old_files_removed_and_only_one_set_kept(tmp_path):
    model, opt = _save(tmp_path, step=1)
    _save(tmp_path, model, step=2)
    assert len(list(tmp_path.glob("model-*.npz"))) == 1
    assert len(list(tmp_path.glob("optim-*.npz"))) == 1
    assert not list(tmp_path.glob(".*tmp*"))
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == 2


def _savez_failing_at(monkeypatch, call, partial=b""):
    """np.savez fails with 'disk full' at its call-th call (the first is the weights' file, the
    second the optimizer's), after writing `partial`; the other calls write as usual."""
    real = np.savez
    calls = {"n": 0}

    def dying_savez(f, **arrays):
        calls["n"] += 1
        if calls["n"] == call:
            f.write(partial)
            raise OSError("disk full")
        return real(f, **arrays)
    monkeypatch.setattr(np, "savez", dying_savez)


def test_failure_while_writing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, _ = _save(tmp_path, step=1)
    good = model.flat.copy()
    _savez_failing_at(monkeypatch, 2, b"PK\x03\x04 partial")    # weights written, moments half
    model.flat[...] += 1.0
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, model, step=2)
    monkeypatch.undo()
    state = ckpt.load_checkpoint(tmp_path)
    assert state["step"] == 1
    np.testing.assert_array_equal(state["model"].flat, good)


def test_corrupt_truncated_and_foreign_files(tmp_path):
    _save(tmp_path)
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    wfile = tmp_path / man["model_file"]
    blob = wfile.read_bytes()
    wfile.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=f"{man['model_file']}.*corrupt or truncated"):
        ckpt.load_model(tmp_path)
    # a foreign npz (object array, would need pickle) with a matching hash is still refused
    with open(wfile, "wb") as f:
        np.savez(f, x=np.array([{"a": 1}], dtype=object))
    man["sha256"][man["model_file"]] = ckpt._sha256(wfile)
    (tmp_path / "checkpoint.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match=f"cannot read checkpoint file .*{man['model_file']}"):
        ckpt.load_model(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{ truncated")
    with pytest.raises(ValueError, match="checkpoint.json is corrupt"):
        ckpt.load_model(tmp_path)
    (tmp_path / "checkpoint.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a nanograd_llm checkpoint"):
        ckpt.load_model(tmp_path)
    with pytest.raises(FileNotFoundError):
        ckpt.load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="checkpoint.json is missing"):
        ckpt.load_model(tmp_path / "empty")


@pytest.mark.parametrize("which", ["model_file", "optim_file"])
@pytest.mark.parametrize("value, what", [("a", "text"), (1j, "complex128 values"),
                                         (True, "bool values")])
def test_arrays_that_are_not_numbers_name_the_file_and_the_array(tmp_path, which, value, what):
    """A text array with a matching sha256 used to fail with numpy's 'could not convert string
    to float: np.str_('a')', naming neither the file nor the array."""
    _save(tmp_path)
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    f = tmp_path / man[which]
    with np.load(f) as z:
        arrays = {k: z[k] for k in z.files}
    name = sorted(arrays)[0]
    arrays[name] = np.full(arrays[name].shape, value)
    with open(f, "wb") as fh:
        np.savez(fh, **arrays)
    man["sha256"][man[which]] = ckpt._sha256(f)
    (tmp_path / "checkpoint.json").write_text(json.dumps(man))
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_checkpoint(tmp_path)
    assert str(e.value).startswith(f"checkpoint file {f}: array {name!r} holds {what}, not "
                                   f"numbers")


@pytest.mark.parametrize("which", ["model_file", "optim_file"])
def test_a_single_npy_array_in_place_of_the_npz_names_the_file(tmp_path, which):
    """A file written by np.save (one .npy array) under the manifest's name and digest: np.load
    returns the array itself, and the loader stopped with a traceback ('numpy.ndarray' object
    does not support the context manager protocol)."""
    _save(tmp_path)
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    f = tmp_path / man[which]
    with open(f, "wb") as fh:
        np.save(fh, np.zeros(3, np.float32))
    man["sha256"][man[which]] = ckpt._sha256(f)
    (tmp_path / "checkpoint.json").write_text(json.dumps(man))
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_checkpoint(tmp_path)
    assert str(e.value) == (f"cannot read checkpoint file {f}: it holds a single .npy array, "
                            f"not an .npz archive of named arrays")


@pytest.mark.parametrize("how", ["garbage", "cut short", "empty", "start overwritten"])
def test_a_file_that_is_no_npz_archive_is_named_without_pickle_advice(tmp_path, how):
    """A weights file that is neither a zip archive nor a .npy file, read without a digest to
    compare (a manifest whose sha256 table lacks it; the structure check of a large file before
    a new run's advice): numpy took it for a pickle and the error said 'This file contains
    pickled (object) data. If you trust the file you can load it unsafely using the
    `allow_pickle=` keyword argument or `pickle.load()`' (advice to unpickle a corrupt file),
    'File is not a zip file' or 'No data left in file' → 'it is not an .npz archive (...)'.
    numpy tells a zip archive by its first four bytes: an archive whose start was overwritten
    keeps its directory at the end, and was still taken for a pickle."""
    _save(tmp_path)
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    f = tmp_path / man["model_file"]
    raw = f.read_bytes()
    f.write_bytes({"garbage": bytes(range(256)) * 8, "cut short": raw[:len(raw) // 2],
                   "empty": b"", "start overwritten": bytes(16) + raw[16:]}[how])
    del man["sha256"][man["model_file"]]
    (tmp_path / "checkpoint.json").write_text(json.dumps(man))
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_model(tmp_path)
    assert str(e.value) == (f"cannot read checkpoint file {f}: it is not an .npz archive (not "
                            f"a whole zip archive: the file was cut short, overwritten or is "
                            f"of another kind)")


def test_loading_a_checkpoint_opens_each_npz_file_as_before(tmp_path, monkeypatch):
    """The archive check above reads the file's first bytes and its zip directory through the
    open file np.load then reads: a load opens each .npz file twice (its sha256, then the
    arrays), not once more for the check and again for zipfile.is_zipfile."""
    import builtins
    import collections
    import io
    _save(tmp_path)
    opens = collections.Counter()
    real_open = builtins.open

    def counting_open(file, *a, **k):
        if not isinstance(file, int) and str(file).endswith(".npz"):
            opens[Path(file).name] += 1
        return real_open(file, *a, **k)
    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    ckpt.load_model(tmp_path)
    monkeypatch.undo()
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    assert opens == {man["model_file"]: 2}, opens


@pytest.mark.parametrize("which", ["model_file", "optim_file"])
def test_a_member_that_is_not_an_npy_array_names_the_file(tmp_path, which, capsys):
    """An .npz archive with another member beside its arrays (a text file added with zip,
    under the manifest's digest): numpy gives that member as raw bytes, and the loader stopped
    with an AttributeError traceback ('bytes' object has no attribute 'dtype'). It is refused
    with the file's and the member's names; the command says so and exits with 1."""
    import zipfile
    from nanograd_llm.cli import main
    _save(tmp_path)
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    f = tmp_path / man[which]
    with zipfile.ZipFile(f, "a") as z:
        z.writestr("notes.txt", "my notes")
    man["sha256"][man[which]] = ckpt._sha256(f)
    (tmp_path / "checkpoint.json").write_text(json.dumps(man))
    want = (f"cannot read checkpoint file {f}: its member 'notes.txt' is not a .npy array (an "
            f".npz archive of named arrays holds only .npy members)")
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_checkpoint(tmp_path)
    assert str(e.value) == want
    if which == "model_file":
        capsys.readouterr()
        assert main(["sample", "--ckpt", str(tmp_path), "--max-new-tokens", "2"]) == 1
        err = capsys.readouterr().err
        assert want in err and "Traceback" not in err


def _unclosed_npy_header() -> bytes:
    """A .npy whose header dict never closes its shape's parenthesis."""
    import struct
    h = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,"
    h += b" " * (64 - 10 - len(h) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + bytes(12)


@pytest.mark.parametrize("how, why", [
    ("no .npy header", "is not a .npy array (it does not start with the .npy header)"),
    # tokenize's own words differ between Pythons ("unexpected EOF …" on 3.12)
    ("unclosed .npy header", "a .npy header is malformed ("),
    ("compression method 99", "That compression method is not supported"),
    ("corrupt deflate data", "invalid block type"),
    ("encrypted flag", "is encrypted, password required for extraction"),
])
def test_a_corrupt_npz_member_names_the_file(tmp_path, how, why, capsys):
    """Found by fuzzing the checkpoint's .npz (scripts/fuzz/fuzz_checkpoint_npz.py), under the
    manifest's digest. A member named .npy without the .npy header came back as raw bytes
    (AttributeError: 'bytes' object has no attribute 'dtype'); a header whose parenthesis never
    closes raised tokenize.TokenError from numpy; a member compressed with a method zipfile
    lacks (NotImplementedError) or with corrupt deflate data (zlib.error) gave a traceback or
    `error: That compression method is not supported`, which names no file. Each is now a
    CheckpointError with the file's name, and `sample` says so in one line. (Round 2: a
    member whose flags say it is encrypted gave zipfile's RuntimeError, `error: File
    'wte.weight.npy' is encrypted, password required for extraction`, naming no file.)"""
    import struct
    import zipfile
    from nanograd_llm.cli import main
    _save(tmp_path)
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    f = tmp_path / man["model_file"]
    with zipfile.ZipFile(f) as z:
        members = {n: z.read(n) for n in z.namelist()}
    first = sorted(members)[0]
    if how == "no .npy header":
        members[first] = bytes(16)
    elif how == "unclosed .npy header":
        members[first] = _unclosed_npy_header()
    with zipfile.ZipFile(f, "w") as z:           # `first` is the archive's first member
        for n in [first] + [n for n in members if n != first]:
            z.writestr(n, members[n])
    raw = bytearray(f.read_bytes())
    if how in ("compression method 99", "corrupt deflate data"):
        method = 99 if how == "compression method 99" else zipfile.ZIP_DEFLATED
        local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
        raw[local + 8:local + 10] = raw[central + 10:central + 12] = struct.pack("<H", method)
        name_len, extra_len = struct.unpack("<HH", raw[local + 26:local + 30])
        raw[local + 30 + name_len + extra_len] = 0x07     # deflate block type 3: reserved
        f.write_bytes(raw)
    if how == "encrypted flag":                  # bit 0 of the general purpose flags
        for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = -1
            while (i := raw.find(sig, i + 1)) >= 0:
                raw[i + at] |= 1
        f.write_bytes(raw)
    man["sha256"][man["model_file"]] = ckpt._sha256(f)
    (tmp_path / "checkpoint.json").write_text(json.dumps(man))
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_checkpoint(tmp_path)
    assert str(e.value).startswith(f"cannot read checkpoint file {f}: ")
    assert why in str(e.value)
    capsys.readouterr()
    assert main(["sample", "--ckpt", str(tmp_path), "--max-new-tokens", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read checkpoint file {f}: ") and "Traceback" not in err


def test_weights_with_wrong_shape_rejected(tmp_path):
    _save(tmp_path)
    man = json.loads((tmp_path / "checkpoint.json").read_text())
    man["model"]["n_embd"] = 16
    (tmp_path / "checkpoint.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="shape"):
        ckpt.load_model(tmp_path)


@pytest.mark.parametrize("model, key, value, says", [
    ("gpt", "n_embd", 16, "{f}: tensor 'wte.weight' has shape (7, 8), the model expects (7, 16)"),
    ("gpt", "n_layer", 2, "{f} does not match the model: missing ['h.1.ln_1.weight', "),
    ("gpt", "tie_weights", False, "{f} does not match the model: missing ['lm_head.weight'], "
                                  "unexpected [])"),
    ("gpt", "bias", False, "{f} does not match the model: missing [], unexpected "
                           "['h.0.ln_1.bias', "),
    ("bigram", "vocab_size", 9, "{f}: tensor 'token_embedding.weight' has shape (7, 7), the "
                                "model expects (9, 9))"),
], ids=["n_embd", "n_layer", "tie_weights", "bias", "bigram-vocab_size"])
def test_model_settings_that_do_not_fit_the_weights_name_the_checkpoint(
        tmp_path, monkeypatch, capsys, model, key, value, says):
    """checkpoint.json's model settings changed (by hand, or by another program) so that they
    no longer fit the weights file its digest names: the loader built the zero model and then
    load_state_dict refused it with a plain ValueError ('FILE does not match the model'), not
    the CheckpointError naming the manifest that the other refusals give. The names and shapes
    are now checked against the file's headers before any model is built: a CheckpointError
    naming checkpoint.json and the file; sample --ckpt and eval --ckpt print it, exit 1."""
    from nanograd_llm.cli import main
    _save(tmp_path, model=BigramLM(7, seed=1) if model == "bigram" else None)
    man = json.loads((tmp_path / ckpt.MANIFEST).read_text())
    man["model"][key] = value
    (tmp_path / ckpt.MANIFEST).write_text(json.dumps(man))
    f = tmp_path / man["model_file"]
    lead = (f"{tmp_path / ckpt.MANIFEST}: its 'model' settings do not fit the weights it names "
            f"(")
    built = []
    real = ckpt.build_model
    monkeypatch.setattr(ckpt, "build_model", lambda *a, **k: built.append(a) or real(*a, **k))
    for load in (ckpt.load_model, ckpt.load_checkpoint):
        with pytest.raises(ckpt.CheckpointError) as e:
            load(tmp_path)
        msg = str(e.value)
        assert msg.startswith(lead) and says.format(f=f) in msg, msg
    assert not built                                    # refused before any model is built
    data = tmp_path / "text.txt"
    data.write_text("abcdefg" * 20, encoding="utf-8")
    for argv in (["sample", "--ckpt", str(tmp_path), "--max-new-tokens", "2"],
                 ["eval", "--ckpt", str(tmp_path), "--data", str(data)]):
        capsys.readouterr()
        assert main(argv) == 1, argv
        assert capsys.readouterr().err == f"error: {msg}\n", argv


@pytest.mark.parametrize("key, value, message", [
    ("step", None, "'step' must be a non-negative integer"),
    ("step", "abc", "'step' must be a non-negative integer"),
    ("step", -1, "'step' must be a non-negative integer"),
    ("step", True, "'step' must be a non-negative integer"),
    ("model", [1], "'model' must be a table"),
    ("model_file", 5, "'model_file' must be a file name"),
    ("model_file", "../../etc/passwd", "'model_file' must be a file name"),
    ("optim_file", "..", "'optim_file' must be a file name"),
    ("sha256", [1], "'sha256' must be a table"),
    ("sha256", {"model.npz": 3}, "'sha256' must be a table"),
    ("train_config", "x", "'train_config' must be a table"),
    ("dtype", 32, "'dtype' must be a dtype name"),
])
def test_hand_edited_manifest_gets_a_clear_error(tmp_path, key, value, message):
    _save(tmp_path)
    d = tmp_path
    m = json.loads((d / ckpt.MANIFEST).read_text())
    m[key] = value
    (d / ckpt.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ckpt.CheckpointError, match=message):
        ckpt.load_checkpoint(d)


_LONG = "x" * 3000
_LONG_SHOWN = "'" + "x" * 79 + "…" + "x" * 19 + "' (3,002 characters)"


@pytest.mark.parametrize("where, key, value, says", [
    ("", "version", _LONG, f"has checkpoint version {_LONG_SHOWN}; this nanograd_llm reads"),
    ("", "step", _LONG, f"'step' must be a non-negative integer, not {_LONG_SHOWN}"),
    ("", "train_config", _LONG, f"'train_config' must be a table, not {_LONG_SHOWN}"),
    ("", "model_file", _LONG, f"'model_file' must be a file name in the checkpoint folder, "
                              f"not {_LONG_SHOWN}"),
    ("", "dtype", _LONG, f"bad model configuration (unknown dtype {_LONG_SHOWN}: use"),
    ("model", "model", _LONG, f"bad model configuration (unknown model type {_LONG_SHOWN} ("),
    ("model", "n_layer", _LONG, f"n_layer must be a positive integer, got {_LONG_SHOWN})"),
    ("model", "n_layer", -10 ** 3000, "n_layer must be a positive integer, got -1" + "0" * 78
                                      + "…" + "0" * 20 + " (3,002 characters))"),
    ("model", "activation", _LONG, f"unknown activation {_LONG_SHOWN}: expected one of"),
    ("model", "positional", _LONG, f"unknown positional encoding {_LONG_SHOWN}: expected"),
    ("model", "dropout", _LONG, f"dropout must be a number in [0, 1), got {_LONG_SHOWN})"),
    ("model", _LONG, 1, "unknown GPTConfig field(s): " + "x" * 80 + "…" + "x" * 20
                        + " (3,000 characters))"),
], ids=["version", "step", "train_config", "model_file", "dtype", "model-type", "n_layer",
        "n_layer-integer", "activation", "positional", "dropout", "unknown-field"])
def test_a_long_value_in_a_hand_edited_manifest_is_shortened_in_the_error(
        tmp_path, where, key, value, says):
    """A 3000-character value (or a 3000-digit integer) in checkpoint.json was echoed whole in
    the error, thousands of characters on one line (a too-long model_file even gave the
    system's "File name too long" with the whole path); it goes through config.shown now, as
    a bad training setting does."""
    _save(tmp_path)
    m = json.loads((tmp_path / ckpt.MANIFEST).read_text())
    (m[where] if where else m)[key] = value
    (tmp_path / ckpt.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_model(tmp_path)
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / ckpt.MANIFEST)) and says in msg, msg[:400]
    assert len(msg) < 400 and "\n" not in msg


@pytest.mark.parametrize("key, value, message", [
    ("bias", "yes", "bias must be true or false, got 'yes'"),
    ("bias", 1, "bias must be true or false, got 1"),
    ("tie_weights", "no", "tie_weights must be true or false, got 'no'"),
    ("ignore_index", "x", "ignore_index must be an integer or null, got 'x'"),
    ("ignore_index", 1.5, "ignore_index must be an integer or null, got 1.5"),
    ("ignore_index", True, "ignore_index must be an integer or null, got True"),
    ("dropout", "0.1", "dropout must be a number in [0, 1), got '0.1'"),
    ("layer_norm_epsilon", 10 ** 400, "layer_norm_epsilon must be a finite number > 0, got "
                                      "1" + "0" * 79 + "…" + "0" * 20 + " (401 characters)"),
])
def test_hand_edited_model_settings_are_type_checked(tmp_path, key, value, message):
    """"bias": "yes" or "ignore_index": "x" in checkpoint.json used to load, sample and
    evaluate as if nothing were wrong; "layer_norm_epsilon": 10**400 (an integer no float
    holds; found by fuzz_checkpoint_manifest.py --sweep) stopped them with an OverflowError
    traceback from GPTConfig's math.isfinite."""
    _save(tmp_path)
    m = json.loads((tmp_path / ckpt.MANIFEST).read_text())
    m["model"][key] = value
    (tmp_path / ckpt.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_model(tmp_path)
    assert str(e.value) == f"{tmp_path / ckpt.MANIFEST}: bad model configuration ({message})"


@pytest.mark.parametrize("key, value", [("bias", False), ("tie_weights", False),
                                        ("ignore_index", -100), ("ignore_index", None),
                                        ("dropout", 0), ("dropout", 0.5)])
def test_model_settings_of_the_right_type_are_accepted(key, value):
    cfg = GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8, **{key: value})
    assert getattr(cfg, key) == value


def test_every_file_of_a_checkpoint_is_fsynced(tmp_path, monkeypatch):
    """Every file of the run (weights, moments, manifest, config, tokenizer) is fsync'ed before
    it takes its name: a power cut must not leave the manifest, or a file it names, unwritten
    on disk. Checked by inode: a rename keeps it."""
    import os
    synced = set()
    real = os.fsync

    def record(fd):
        st = os.fstat(fd)
        synced.add((st.st_dev, st.st_ino))
        return real(fd)
    monkeypatch.setattr(os, "fsync", record)
    _save(tmp_path)
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert {"checkpoint.json", "config.json"} <= {p.name for p in files}
    for p in files:
        st = p.stat()
        assert (st.st_dev, st.st_ino) in synced, p.name


def test_the_folder_is_synced_after_the_new_manifest_is_in_place(tmp_path, monkeypatch):
    """The rename of checkpoint.json only survives a crash once the folder itself is fsync'ed:
    the last fsync_dir of a save comes after the new manifest took its name."""
    from pathlib import Path
    model, _ = _save(tmp_path, step=1)
    steps = []
    real = ckpt.fsync_dir

    def record(d):
        steps.append(json.loads((Path(d) / ckpt.MANIFEST).read_text())["step"])
        real(d)
    monkeypatch.setattr(ckpt, "fsync_dir", record)
    _save(tmp_path, model, step=2)
    assert steps and steps[-1] == 2


def test_another_tokenizer_is_refused_before_anything_is_written(tmp_path):
    """The tokenizer files keep fixed names and are written before the manifest: replacing them
    with another tokenizer's and then failing would leave the folder's checkpoint unloadable.
    Such a save is refused up front; the same tokenizer (every trainer save) is accepted."""
    model, _ = _save(tmp_path, step=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = CharTokenizer.from_text("gfedcbaxyz")
    with pytest.raises(ckpt.CheckpointError, match="another tokenizer"):
        ckpt.save_checkpoint(tmp_path, model, None, other, 2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert ckpt.load_run_tokenizer(tmp_path, model).decode([0, 1]) == "ab"
    _save(tmp_path, model, step=3)                              # the same tokenizer: fine
    assert ckpt.read_manifest(tmp_path)["step"] == 3
    # a folder without a checkpoint takes any tokenizer
    ckpt.save_checkpoint(tmp_path / "new", model, None, other, 1)
    assert ckpt.load_run_tokenizer(tmp_path / "new").vocab_size == 10


def test_tokenizer_without_file_texts_is_saved_through_its_own_save(tmp_path):
    class Foreign:
        vocab_size = 7

        def __init__(self, tok):
            self._tok = tok

        def save(self, directory):
            self._tok.save(directory)

    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=1)
    tok = CharTokenizer.from_text("abcdefg")
    ckpt.save_checkpoint(tmp_path, model, None, Foreign(tok), 1)
    m = ckpt.read_manifest(tmp_path)
    assert set(m["tokenizer_sha256"]) == set(tok.file_texts())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp")]
    ckpt.save_checkpoint(tmp_path, model, None, Foreign(tok), 2)  # same files: accepted
    with pytest.raises(ckpt.CheckpointError, match="another tokenizer"):
        ckpt.save_checkpoint(tmp_path, model, None, Foreign(CharTokenizer.from_text("xyzabcd")), 3)


@pytest.mark.parametrize("weights", ["model.safetensors", "model.safetensors.index.json"])
def test_a_hugging_face_folder_given_as_ckpt_points_to_hf(tmp_path, weights):
    """A GPT-2 folder (one safetensors file or a sharded one with its index) named as a
    training run gets the advice to use --hf, not 'train with --out first'."""
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / weights).write_text("{}")
    with pytest.raises(ckpt.CheckpointError, match="Hugging Face GPT-2 folder") as e:
        ckpt.find_run_dir(tmp_path)
    assert "--hf" in e.value.command_line_message


def test_a_hugging_face_folder_given_to_gpt_load_names_the_python_api(tmp_path, capsys):
    """GPT.load / load_model on a GPT-2 folder name GPT.from_hf (a Python caller has no --hf
    option); the command that reads the same folder as --ckpt still names --hf."""
    from nanograd_llm import GPT
    from nanograd_llm.cli import main
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_text("{}")
    for load in (GPT.load, ckpt.load_model):
        with pytest.raises(ckpt.CheckpointError, match=r"GPT\.from_hf\(") as e:
            load(tmp_path)
        assert "--hf" not in str(e.value) and "init_from=" in str(e.value)
    assert main(["sample", "--ckpt", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"--hf {tmp_path}" in err and "from_hf" not in err


def test_the_same_tokenizer_saved_by_an_older_version_is_not_another_one(tmp_path):
    """Resuming a run whose tokenizer files an older version wrote in other bytes (here: the
    same JSON, indented otherwise) is not refused as 'another tokenizer': the files are read
    and written again in today's form. A really different tokenizer is still refused."""
    model, _ = _save(tmp_path, step=1)
    meta = tmp_path / "tokenizer_meta.json"
    meta.write_text(json.dumps(json.loads(meta.read_text()), indent=7), encoding="utf-8")
    m = json.loads((tmp_path / "checkpoint.json").read_text())
    m["tokenizer_sha256"]["tokenizer_meta.json"] = ckpt._sha256(meta)
    (tmp_path / "checkpoint.json").write_text(json.dumps(m))
    assert ckpt.load_run_tokenizer(tmp_path).decode([0, 1]) == "ab"        # a valid old run
    _save(tmp_path, model, step=2)
    assert ckpt.read_manifest(tmp_path)["step"] == 2
    assert ckpt.load_run_tokenizer(tmp_path).decode([0, 1]) == "ab"
    with pytest.raises(ckpt.CheckpointError, match="another tokenizer"):
        ckpt.save_checkpoint(tmp_path, model, None, CharTokenizer.from_text("gfedcbaxyz"), 3)


def test_a_checkpoint_whose_tokenizer_files_were_already_changed_is_not_protected(tmp_path):
    """The refusal of another tokenizer protects a loadable checkpoint. When one of the files
    the manifest records no longer matches its digest (here: replaced by a third tokenizer's),
    that checkpoint cannot be loaded anyway, and a save with another tokenizer goes ahead."""
    model, _ = _save(tmp_path, step=1)
    third = tmp_path / "third"
    CharTokenizer.from_text("xyzabcd").save(third)
    (tmp_path / "tokenizer.json").write_bytes((third / "tokenizer.json").read_bytes())
    other = CharTokenizer.from_text("gfedcbaxyz")
    ckpt.save_checkpoint(tmp_path, model, None, other, 2)
    assert ckpt.read_manifest(tmp_path)["step"] == 2
    assert ckpt.load_run_tokenizer(tmp_path).chars == other.chars


def test_the_folder_is_synced_before_the_manifest_names_the_new_files(tmp_path, monkeypatch):
    """A crash right after checkpoint.json took its new name must not leave it naming weight
    files whose own renames were lost: the folder is fsync'ed after the new weight and moment
    files took their names and before the manifest is replaced."""
    import os
    model, _ = _save(tmp_path, step=1)
    events = []
    real_replace, real_sync = os.replace, ckpt.fsync_dir

    def replace(src, dst, *a, **k):
        events.append(("replace", os.path.basename(dst)))
        return real_replace(src, dst, *a, **k)

    def sync(d):
        events.append(("fsync_dir", None))
        return real_sync(d)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(ckpt, "fsync_dir", sync)
    _save(tmp_path, model, step=2)
    names = [n for kind, n in events if kind == "replace"]
    last_npz = max(i for i, (kind, n) in enumerate(events)
                   if kind == "replace" and n.endswith(".npz"))
    manifest = events.index(("replace", ckpt.MANIFEST))
    assert names[-1] == ckpt.MANIFEST
    assert ("fsync_dir", None) in events[last_npz + 1:manifest]


def test_the_optimizer_state_round_trips_with_its_settings(tmp_path):
    """load_checkpoint gives back everything AdamW.state_dict holds (step count, moments and the
    settings lr, betas, eps, weight_decay): an optimizer loaded from it is the saved one."""
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=1)
    opt = AdamW(model, lr=3e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05)
    model.grad_flat[...] = 0.01
    opt.step()
    ckpt.save_checkpoint(tmp_path, model, opt, CharTokenizer.from_text("abcdefg"), 1)
    state = ckpt.load_checkpoint(tmp_path)["optimizer_state"]
    want = opt.state_dict()
    assert {k: state[k] for k in ("t", "lr", "betas", "eps", "weight_decay")} == \
        {k: want[k] for k in ("t", "lr", "betas", "eps", "weight_decay")}
    fresh = AdamW(model)
    fresh.load_state_dict(state)
    assert (fresh.t, fresh.lr, fresh.betas, fresh.eps, fresh.weight_decay) == \
        (opt.t, opt.lr, opt.betas, opt.eps, opt.weight_decay)
    np.testing.assert_array_equal(fresh.v, opt.v)


def test_a_failed_second_save_at_the_same_step_keeps_the_checkpoint(tmp_path, monkeypatch):
    """Each save writes weight files under new names (step + a random tag), also when a run
    saves twice at one step: writing over the files the manifest names would leave it pointing
    at other weights, or at half-written ones, if the save then failed."""
    model, _ = _save(tmp_path, step=5)
    good = model.flat.copy()
    _savez_failing_at(monkeypatch, 2)                 # weights written, moments not
    model.flat[...] += 1.0
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, model, step=5)
    monkeypatch.undo()
    state = ckpt.load_checkpoint(tmp_path)
    np.testing.assert_array_equal(state["model"].flat, good)


@pytest.mark.parametrize("key", ["step", "model", "model_file", "sha256", "dtype"])
def test_a_manifest_without_a_required_entry_names_it(tmp_path, key):
    _save(tmp_path)
    m = json.loads((tmp_path / ckpt.MANIFEST).read_text())
    del m[key]
    (tmp_path / ckpt.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ckpt.CheckpointError, match=f"incomplete: no '{key}' entry"):
        ckpt.load_checkpoint(tmp_path)


@pytest.mark.parametrize("step", [-1, 1.5, "3", True])
def test_a_step_the_loader_would_refuse_is_not_saved(tmp_path, step):
    """save_checkpoint(..., step=-1) wrote a checkpoint that load_model then refused ("'step'
    must be a non-negative integer"), and step=1.5 was saved as 1."""
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        ckpt.save_checkpoint(tmp_path / "r", model, AdamW(model), CharTokenizer.from_text("abcdefg"),
                             step)
    assert not (tmp_path / "r").exists()
    ckpt.save_checkpoint(tmp_path / "r", model, AdamW(model), CharTokenizer.from_text("abcdefg"),
                         np.int64(0))
    assert ckpt.load_checkpoint(tmp_path / "r")["step"] == 0


def test_another_models_optimizer_is_not_saved_with_this_model(tmp_path):
    """save_checkpoint(dir, model, AdamW(other_model), ...) (an optimizer left from an earlier
    notebook cell) saved moments of another size; only a later --resume refused them."""
    cfg = dict(vocab_size=7, block_size=8, n_head=2, n_embd=8)
    model, other = GPT(GPTConfig(n_layer=1, **cfg)), GPT(GPTConfig(n_layer=2, **cfg))
    tok = CharTokenizer.from_text("abcdefg")
    with pytest.raises(ValueError, match="the optimizer belongs to another model"):
        ckpt.save_checkpoint(tmp_path / "r", model, AdamW(other), tok, 0)
    assert not (tmp_path / "r").exists()
    # a dict optimizer over the model's parameters, or none, still saves
    ckpt.save_checkpoint(tmp_path / "r", model, AdamW(dict(model.params)), tok, 0)
    ckpt.save_checkpoint(tmp_path / "r", model, None, tok, 1)


def test_a_bad_device_is_blamed_on_the_argument_not_the_checkpoint(tmp_path):
    """GPT.load(run, device="gpu") said "<run>/checkpoint.json: bad model configuration
    (unknown device 'gpu' ...)", sending the user to a checkpoint that is fine."""
    _save(tmp_path / "r")
    with pytest.raises(ValueError) as e:
        GPT.load(tmp_path / "r", device="gpu")
    assert "unknown device 'gpu'" in str(e.value) and "checkpoint.json" not in str(e.value)
    assert not isinstance(e.value, ckpt.CheckpointError)


def test_a_folder_of_other_files_is_not_told_to_train_there(tmp_path, capsys):
    """`sample --ckpt DIR` on a folder of unrelated files said "train with `nanograd-llm train
    --out DIR` first", and that command refuses such a folder ("not empty and holds no
    training run"): the error names what the folder holds instead. An empty folder keeps the
    advice to train there."""
    from nanograd_llm.cli import main
    junk, empty = tmp_path / "junk", tmp_path / "empty"
    junk.mkdir(), empty.mkdir()
    (junk / "notes.txt").write_text("hi\n", encoding="utf-8")
    for command in ("sample", "eval"):
        assert main([command, "--ckpt", str(junk)]) == 1
        err = capsys.readouterr().err
        assert err == (f"error: no checkpoint in {junk}: it holds no training run (notes.txt); "
                       f"give a folder that `nanograd-llm train` wrote\n")
        assert main(["train", "--out", str(junk)]) == 1     # the advice it no longer gives
        assert "holds no training run" in capsys.readouterr().err
    assert main(["sample", "--ckpt", str(empty)]) == 1
    assert "train with `nanograd-llm train --out" in capsys.readouterr().err


def test_a_folder_without_a_checkpoint_is_told_in_the_readers_words(tmp_path, capsys):
    """GPT.load, load_model and train(cfg, resume=True) on a folder without a checkpoint (an
    empty one, one a run killed before its first checkpoint left, one of other files) were told
    "train with `nanograd-llm train --out DIR` first" / "start it again with `nanograd-llm train
    --out DIR --overwrite`", a command a Python caller is not running: str(e) now names
    train(cfg), and the commands print what they printed before (command_line_message)."""
    from nanograd_llm.cli import main
    from nanograd_llm.train import train
    from _train_helpers import tiny_config
    empty, killed, junk = tmp_path / "empty", tmp_path / "killed", tmp_path / "junk"
    for folder in (empty, killed, junk):
        folder.mkdir()
    (killed / "best").mkdir()
    (killed / "metrics.jsonl").write_text('{"step": 0, "train_loss": 9, "val_loss": 9}\n')
    (junk / "notes.txt").write_text("hi\n", encoding="utf-8")
    q = ckpt.shell_quote
    for folder, python, command_line in (
            (empty, f"checkpoint.json is missing (train a run there first: train(cfg) with "
                    f"out_dir={str(empty)!r})",
             f"checkpoint.json is missing (train with `nanograd-llm train --out {q(empty)}` "
             f"first{ckpt.shell_note(empty)})"),
            (killed, "the run there stopped before saving its first one (best, metrics.jsonl); "
                     "start it again with train(cfg, overwrite=True) and its settings",
             f"the run there stopped before saving its first one (best, metrics.jsonl); start "
             f"it again with `nanograd-llm train --out {q(killed)} --overwrite`"
             f"{ckpt.shell_note(killed)} and its settings"),
            (junk, "it holds no training run (notes.txt); give a folder that train() wrote",
             "it holds no training run (notes.txt); give a folder that `nanograd-llm train` "
             "wrote")):
        for load in (GPT.load, ckpt.load_model):
            with pytest.raises(ckpt.CheckpointError) as e:
                load(folder)
            assert str(e.value) == f"no checkpoint in {folder}: {python}"
        for command in (["sample", "--ckpt"], ["eval", "--ckpt"], ["chat", "--ckpt"],
                        ["attention", "--prompt", "ab", "--out", str(tmp_path / "a.png"),
                         "--ckpt"]):
            capsys.readouterr()
            assert main([*command, str(folder)]) == 1
            assert capsys.readouterr().err == f"error: no checkpoint in {folder}: " \
                                              f"{command_line}\n", command
    # train(cfg, resume=True) on an empty folder reads it the same way (the command line's
    # train --resume gets there through resume_config)
    with pytest.raises(ckpt.CheckpointError) as e:
        train(tiny_config(tmp_path, "empty"), resume=True, quiet=True)
    assert "(train a run there first: train(cfg) with out_dir=" in str(e.value), str(e.value)
    assert main(["train", "--resume", "--out", str(empty)]) == 1
    assert capsys.readouterr().err == f"error: no checkpoint in {empty}: " \
                                      f"checkpoint.json is missing (train with `nanograd-llm " \
                                      f"train --out {q(empty)}` first{ckpt.shell_note(empty)})\n"


def test_load_checkpoint_docstring_names_the_keys_it_returns(tmp_path):
    """load_checkpoint's docstring said it returns the model, optimizer state, manifest and
    "tokenizer": there is no tokenizer key (load_run_tokenizer reads it), and "step" and "dir"
    went unnamed. Its docstring now names exactly the keys it returns, and the model's mode."""
    import inspect
    import re
    tok = CharTokenizer.from_text("abc")
    model = GPT(GPTConfig(vocab_size=3, block_size=4, n_layer=1, n_head=1, n_embd=4), seed=0)
    ckpt.save_checkpoint(tmp_path, model, AdamW(model), tok, 0)
    doc = inspect.getdoc(ckpt.load_checkpoint)
    named = set(re.findall(r'"(\w+)"', doc))
    state = ckpt.load_checkpoint(tmp_path)
    assert named == set(state), (named, set(state))
    assert state["model"].training and "in train mode" in doc
    assert "optimizer_state" not in ckpt.load_checkpoint(tmp_path, with_optimizer=False)
    assert not ckpt.load_model(tmp_path).training
    assert "in eval mode" in inspect.getdoc(ckpt.load_model)
