"""Robustness of the file side: tokenizer files checked against the manifest, readers racing a
writer, corpus temp files cleaned up, data-size hints, malformed tokenizer files."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from nanograd_llm import GPT, BigramLM, checkpoint as ckpt, data as D
from nanograd_llm.models.gpt import GPTConfig
from nanograd_llm.optim import AdamW
from nanograd_llm.tokenizers import CharTokenizer, load_tokenizer

from _platform import SIGNALS, SYMLINKS, posix_only
from _corpora import offline_tiny_corpus


def _gpt(vocab=10, seed=1):
    return GPT(GPTConfig(vocab_size=vocab, block_size=8, n_layer=1, n_head=2, n_embd=8),
               seed=seed)


def _save(d, tok, model=None, step=1, optimizer=True):
    model = model or _gpt(tok.vocab_size)
    opt = None
    if optimizer:
        opt = AdamW(model)
        model.grad_flat[...] = 0.01
        opt.step()
    ckpt.save_checkpoint(d, model, opt, tok, step, train_config={"seed": 1})
    return model


def _bpe(text="hello world, merhaba dünya! "):
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    return BPETokenizer.train(text * 20, 270)


# -- 1. tokenizer files are checked against checkpoint.json ------------------------------------

@pytest.mark.parametrize("optimizer", [True, False], ids=["run", "best"])
def test_swapped_char_tokenizer_file_is_refused(tmp_path, optimizer):
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    _save(r1, CharTokenizer.from_text("abcdefghij .,"), optimizer=optimizer)
    _save(r2, CharTokenizer.from_text("abcdefghij"), optimizer=optimizer)
    m = json.loads((r1 / ckpt.MANIFEST).read_text())
    assert set(m["tokenizer_sha256"]) == {"tokenizer.json", "tokenizer_meta.json"}
    assert ckpt.load_run_tokenizer(r1).vocab_size == 13
    shutil.copy(r2 / "tokenizer.json", r1 / "tokenizer.json")
    with pytest.raises(ckpt.CheckpointError,
                       match=r"tokenizer\.json does not match checkpoint\.json: the tokenizer "
                             r"files were changed or belong to another run"):
        ckpt.load_run_tokenizer(r1)


def test_swapped_bpe_files_are_refused(tmp_path):
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    _save(r1, _bpe())
    _save(r2, _bpe("the quick brown fox jumps over the lazy dog "))
    m = json.loads((r1 / ckpt.MANIFEST).read_text())
    assert set(m["tokenizer_sha256"]) == {"vocab.json", "merges.txt", "tokenizer_meta.json"}
    assert ckpt.load_run_tokenizer(r1).vocab_size == 270
    shutil.copy(r2 / "merges.txt", r1 / "merges.txt")
    with pytest.raises(ckpt.CheckpointError, match=r"merges\.txt does not match"):
        ckpt.load_run_tokenizer(r1)
    (r1 / "merges.txt").unlink()
    with pytest.raises(ckpt.CheckpointError, match=r"tokenizer file missing: .*merges\.txt"):
        ckpt.load_run_tokenizer(r1)


def test_old_checkpoint_without_tokenizer_digests_still_loads(tmp_path):
    tok = CharTokenizer.from_text("abcdefghij")
    _save(tmp_path, tok)
    m = json.loads((tmp_path / ckpt.MANIFEST).read_text())
    del m["tokenizer_sha256"]
    (tmp_path / ckpt.MANIFEST).write_text(json.dumps(m))
    assert ckpt.load_run_tokenizer(tmp_path).chars == tok.chars
    assert ckpt.load_checkpoint(tmp_path)["step"] == 1


def test_old_checkpoint_with_a_tokenizer_of_another_type_is_refused(tmp_path):
    _save(tmp_path / "bpe", _bpe())
    m = json.loads((tmp_path / "bpe" / ckpt.MANIFEST).read_text())
    del m["tokenizer_sha256"]                        # as an older version wrote it
    (tmp_path / "bpe" / ckpt.MANIFEST).write_text(json.dumps(m))
    CharTokenizer.from_text("abc").save(tmp_path / "bpe")   # overwrites tokenizer_meta.json
    with pytest.raises(ckpt.CheckpointError, match="hold a CharTokenizer but checkpoint.json "
                                                   "was saved with a BPETokenizer"):
        ckpt.load_run_tokenizer(tmp_path / "bpe")


def test_tokenizer_digest_table_is_type_checked(tmp_path):
    _save(tmp_path, CharTokenizer.from_text("abcdefghij"))
    m = json.loads((tmp_path / ckpt.MANIFEST).read_text())
    for bad in (["tokenizer.json"], {"../tokenizer.json": "00"}, {"tokenizer.json": 3}):
        m["tokenizer_sha256"] = bad
        (tmp_path / ckpt.MANIFEST).write_text(json.dumps(m))
        with pytest.raises(ckpt.CheckpointError, match="'tokenizer_sha256' must be a table"):
            ckpt.load_run_tokenizer(tmp_path)


def test_tokenizer_larger_than_the_model_vocabulary_is_refused(tmp_path):
    tok = CharTokenizer.from_text("abcdefghij")
    ckpt.check_tokenizer_fits(_gpt(10), tok, "x")           # equal: fine
    ckpt.check_tokenizer_fits(_gpt(12), tok, "x")           # smaller (padded vocab): fine
    with pytest.raises(ckpt.CheckpointError, match=r"^src: the tokenizer has 10 tokens but the "
                                                   r"model's vocabulary has only 7"):
        ckpt.check_tokenizer_fits(_gpt(7), tok, "src")
    with pytest.raises(ckpt.CheckpointError, match="has only 4"):
        ckpt.check_tokenizer_fits(BigramLM(4), tok, "src")
    # through load_run_tokenizer(model=...): the repro of a tokenizer.json copied from a run
    # with a larger vocabulary (the old manifest has no digests, so only the size catches it)
    small = CharTokenizer.from_text("abcdef")
    model = _save(tmp_path / "run", small)
    m = json.loads((tmp_path / "run" / ckpt.MANIFEST).read_text())
    del m["tokenizer_sha256"]
    (tmp_path / "run" / ckpt.MANIFEST).write_text(json.dumps(m))
    assert ckpt.load_run_tokenizer(tmp_path / "run", model=model).vocab_size == 6
    tok.save(tmp_path / "run")
    with pytest.raises(ckpt.CheckpointError, match="the tokenizer has 10 tokens"):
        ckpt.load_run_tokenizer(tmp_path / "run", model=ckpt.load_model(tmp_path / "run"))


def test_unchanged_tokenizer_files_are_not_rewritten_each_save(tmp_path):
    tok = CharTokenizer.from_text("abcdefghij")
    model = _save(tmp_path, tok, step=1)
    before = (tmp_path / "tokenizer.json").stat().st_ino
    _save(tmp_path, tok, model, step=2)
    assert (tmp_path / "tokenizer.json").stat().st_ino == before
    (tmp_path / "tokenizer.json").write_text("damaged")        # a changed file is rewritten
    _save(tmp_path, tok, model, step=3)
    assert ckpt.load_run_tokenizer(tmp_path).chars == tok.chars


# -- 2. a reader racing a writer ---------------------------------------------------------------

@pytest.mark.parametrize("at_call", [1, 2], ids=["model-file", "optim-file"])
def test_reader_retries_when_a_save_lands_between_manifest_and_files(tmp_path, monkeypatch,
                                                                    at_call):
    tok = CharTokenizer.from_text("abcdefghij")
    _save(tmp_path, tok, step=1)
    newer = _gpt(10, seed=7)
    real = ckpt._open_npz
    calls = {"n": 0}

    def racing_load(path, sha, stack):
        calls["n"] += 1
        if calls["n"] == at_call:
            # the trainer saves (and deletes the old files) right after the reader's
            # manifest read
            _save(tmp_path, tok, newer, step=2)
        return real(path, sha, stack)
    monkeypatch.setattr(ckpt, "_open_npz", racing_load)
    state = ckpt.load_checkpoint(tmp_path)
    assert state["step"] == 2
    np.testing.assert_array_equal(state["model"].flat, newer.flat)
    assert "optimizer_state" in state


def test_a_save_after_the_files_were_opened_does_not_mix_two_saves(tmp_path, monkeypatch):
    """The weights and moments are read after the model is built, from the files opened (and
    checked) under one manifest: a save that lands in between, and deletes those files, gives
    neither the new weights nor the new moments, only the opened save's."""
    from nanograd_llm.optim import AdamW
    tok = CharTokenizer.from_text("abcdefghij")
    old = _gpt(10, seed=1)
    opt = AdamW(old)
    idx = np.random.default_rng(0).integers(0, 10, (1, 9))
    old.forward(idx[:, :-1], idx[:, 1:])
    old.backward()
    opt.step()
    ckpt.save_checkpoint(tmp_path, old, opt, tok, 1)
    newer = _gpt(10, seed=7)
    new_opt = AdamW(newer)
    new_opt.step()
    real = ckpt.build_model
    saved = []

    def racing_build(*a, **kw):
        ckpt.save_checkpoint(tmp_path, newer, new_opt, tok, 2)   # deletes the opened files
        saved.append(sorted(p.name for p in tmp_path.glob("*.npz")))
        return real(*a, **kw)
    monkeypatch.setattr(ckpt, "build_model", racing_build)
    state = ckpt.load_checkpoint(tmp_path)
    assert saved and not any(n.startswith("model-0000001") for n in saved[0]) or os.name == "nt"
    assert state["step"] == 1
    np.testing.assert_array_equal(state["model"].flat, old.flat)
    np.testing.assert_array_equal(state["optimizer_state"]["m"]["flat"], opt.m)
    np.testing.assert_array_equal(state["optimizer_state"]["v"]["flat"], opt.v)


def test_missing_file_with_an_unchanged_manifest_is_an_error_at_once(tmp_path, monkeypatch):
    _save(tmp_path, CharTokenizer.from_text("abcdefghij"))
    reads = {"n": 0}
    real = ckpt._read_manifest

    def counting(d):
        reads["n"] += 1
        return real(d)
    monkeypatch.setattr(ckpt, "_read_manifest", counting)
    next(tmp_path.glob("optim-*.npz")).unlink()
    with pytest.raises(ckpt.CheckpointError, match=r"checkpoint file missing: .*optim-"):
        ckpt.load_checkpoint(tmp_path)
    assert reads["n"] == 1
    # truncated file, manifest unchanged: corrupt, also without retrying
    reads["n"] = 0
    p = next(tmp_path.glob("model-*.npz"))
    p.write_bytes(p.read_bytes()[:50])
    with pytest.raises(ckpt.CheckpointError, match="corrupt or truncated"):
        ckpt.load_checkpoint(tmp_path, with_optimizer=False)
    assert reads["n"] == 1


def test_reader_gives_up_after_a_few_retries(tmp_path, monkeypatch):
    tok = CharTokenizer.from_text("abcdefghij")
    model = _save(tmp_path, tok, step=1)
    monkeypatch.setattr(ckpt, "RETRY_PAUSE_S", 0.0)
    real = ckpt._open_npz
    calls = {"n": 0}

    def always_racing(path, sha, stack):
        calls["n"] += 1
        _save(tmp_path, tok, model, step=calls["n"] + 1)
        return real(path, sha, stack)
    monkeypatch.setattr(ckpt, "_open_npz", always_racing)
    with pytest.raises(ckpt.CheckpointError, match="checkpoint file missing"):
        ckpt.load_checkpoint(tmp_path)
    assert calls["n"] == ckpt.READ_RETRIES + 1


def test_tokenizer_reader_retries_when_the_run_is_replaced(tmp_path, monkeypatch):
    _save(tmp_path, CharTokenizer.from_text("abcdefghij"))
    new_tok = CharTokenizer.from_text("xyz")
    real = ckpt._check_tokenizer_files
    calls = {"n": 0}

    def racing(d, m):
        calls["n"] += 1
        if calls["n"] == 1:                       # a new run saves after the manifest read
            (tmp_path / ckpt.MANIFEST).unlink()   # (--overwrite deletes the old run first)
            _save(tmp_path, new_tok)
        return real(d, m)
    monkeypatch.setattr(ckpt, "_check_tokenizer_files", racing)
    assert ckpt.load_run_tokenizer(tmp_path).chars == new_tok.chars
    assert calls["n"] == 2


# -- 3. corpus temp files ----------------------------------------------------------------------

class _DyingTokenizer(CharTokenizer):
    def __init__(self, chars, die_at, exc):
        super().__init__(chars)
        self.calls, self.die_at, self.exc = 0, die_at, exc

    def encode(self, text, errors="strict"):
        self.calls += 1
        if self.calls == self.die_at:
            raise self.exc
        return super().encode(text, errors)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), ValueError("boom")])
def test_interrupted_encode_corpus_leaves_no_temp_files(tmp_path, exc):
    text = "abc def\n" * 200
    tok = _DyingTokenizer(sorted(set(text)), die_at=3, exc=exc)
    with pytest.raises(type(exc)):
        D.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=64)
    assert os.listdir(tmp_path) == []


def test_failure_in_the_copy_pass_leaves_no_temp_files(tmp_path, monkeypatch):
    text = "abc def\n" * 200
    tok = CharTokenizer.from_text(text)
    (tmp_path / "tokens.npy").write_bytes(b"old")

    def full_disk(src, dst, *a):
        dst.write(src.read(10))
        raise OSError("No space left on device")
    monkeypatch.setattr(D.shutil, "copyfileobj", full_disk)
    with pytest.raises(OSError, match="No space"):
        D.encode_corpus(text, tok, path=tmp_path / "tokens.npy", chunk_chars=64)
    assert os.listdir(tmp_path) == ["tokens.npy"]
    assert (tmp_path / "tokens.npy").read_bytes() == b"old"


def test_save_removes_corpus_temp_files_left_by_a_killed_process(tmp_path):
    tmp_path.joinpath("tokens.npy").write_bytes(b"keep")
    tmp_path.joinpath("tokens.npy.tmp").write_bytes(b"x" * 100)
    tmp_path.joinpath("tokens.npy.tmp4242").write_bytes(b"x" * 100)
    tmp_path.joinpath("notes.txt").write_text("mine")
    _save(tmp_path, CharTokenizer.from_text("abcdefghij"))
    assert not list(tmp_path.glob("tokens.npy.tmp*"))
    assert (tmp_path / "tokens.npy").read_bytes() == b"keep"
    assert (tmp_path / "notes.txt").read_text() == "mine"


# -- 4. data messages --------------------------------------------------------------------------

def _least(msg):
    import re
    m = re.search(r"a text of at least (\d+) tokens", msg)
    assert m, msg
    return int(m.group(1))


@pytest.mark.parametrize("block_size,val_fraction",
                         [(16, 0.1), (1, 0.1), (64, 0.1), (16, 0.05), (7, 0.3), (5, 0.5),
                          (100, 0.123), (3, 0.9)])
def test_split_hint_names_the_true_minimum_at_once(block_size, val_fraction):
    for n in (2, block_size + 5, 21):
        ids = np.arange(n, dtype=np.uint32)
        try:
            D.split_ids(ids, block_size, val_fraction)
            continue
        except ValueError as e:
            least = _least(str(e))
        # the length named works on the first try, one token fewer does not
        D.split_ids(np.arange(least, dtype=np.uint32), block_size, val_fraction)
        with pytest.raises(ValueError):
            D.split_ids(np.arange(least - 1, dtype=np.uint32), block_size, val_fraction)


def test_split_hint_examples_from_the_report():
    with pytest.raises(ValueError, match=r"has 2 tokens.*at least 161 tokens$"):
        D.split_ids(np.arange(2), 16)
    with pytest.raises(ValueError, match=r"validation part has 3 .*at least 161 tokens or "
                                         r"block_size=2 at most$"):
        D.split_ids(np.arange(21), 16)
    assert D.min_tokens(16, 0.1) == 161
    assert D.min_tokens(16, 0.0) is None


@pytest.mark.parametrize("n,block_size,val_fraction",
                         [(100000, 64, 1e-20), (100000, 64, 1e-12), (1000, 64, 0.05),
                          (1000, 64, 0.9999999), (130, 64, 1e-20), (777, 100, 0.95),
                          (10**9, 1023, 1e-20)])
def test_a_val_fraction_that_leaves_a_part_short_is_named_with_the_values_that_fit(
        n, block_size, val_fraction):
    """val_fraction=1e-20 with a text long enough for both parts ended with 'use a longer text'
    (1e-12: 'a text of at least 64005322157824 tokens'): the text was not the problem. The
    message names val_fraction and the values that work with this text, which do."""
    import re
    ids = np.broadcast_to(np.uint16(0), (n,))
    with pytest.raises(ValueError) as e:
        D.split_ids(ids, block_size, val_fraction)
    msg = str(e.value)
    assert "longer text" not in msg
    m = re.search(r"; use val_fraction(?:=(\S+?)| between (\S+) and (\S+?))(,| or|$)", msg)
    assert m, msg
    for value in filter(None, m.groups()[:3]):
        D.split_ids(ids, block_size, float(value))
    if m.group(2):                          # close to the true bounds (two digits)
        share = (block_size + 1) / n
        assert share <= float(m.group(2)) < 1.1 * share + 0.01
        assert 1 - 1.1 * share - 0.01 < float(m.group(3)) <= 1 - share


def test_a_val_fraction_no_text_fits_is_named_with_a_length_that_fits():
    """A text too short for any val_fraction, and a val_fraction no text fits: the message says
    the val_fraction leaves no room and names a length that fits with 0.1."""
    import re
    for val_fraction, side, part, block_size in ((1e-20, "larger", "validation", 64),
                                                 (1 - 1e-16, "smaller", "training", 1000)):
        with pytest.raises(ValueError, match=re.escape(
                f"use a {side} val_fraction than {val_fraction!r}, which leaves no room for "
                f"the {part} part")) as e:
            D.split_ids(np.arange(100), block_size, val_fraction)
        assert "longer text" not in str(e.value)
        least = int(re.search(r"with 0.1, a text of at least (\d+) tokens", str(e.value))[1])
        assert least == D.min_tokens(block_size, 0.1)


@pytest.mark.parametrize("n", [3, 10, 21, 40, 100])
@pytest.mark.parametrize("val_fraction", [0.1, 0.25, 0.5])
def test_split_suggested_block_size_is_the_largest_that_fits(n, val_fraction):
    import re
    try:
        D.split_ids(np.arange(n), 64, val_fraction)
        return
    except ValueError as e:
        m = re.search(r"block_size=(\d+) at most", str(e))
    if m is None:
        with pytest.raises(ValueError):
            D.split_ids(np.arange(n), 1, val_fraction)
        return
    k = int(m.group(1))
    D.split_ids(np.arange(n), k, val_fraction)
    with pytest.raises(ValueError):
        D.split_ids(np.arange(n), k + 1, val_fraction)


def test_offline_download_says_the_cached_file_failed_its_check(tmp_path, monkeypatch):
    blob = b"the corpus\n"
    offline_tiny_corpus(monkeypatch, blob)
    with pytest.raises(OSError) as e:
        D.download_corpus("tiny", tmp_path)
    assert "failed the sha256 check" not in str(e.value)
    assert f"can also be placed by hand at {tmp_path / 'tiny.txt'}" in str(e.value)
    (tmp_path / "tiny.txt").write_bytes(b"the corpu")          # truncated copy
    with pytest.raises(OSError) as e:
        D.download_corpus("tiny", tmp_path)
    msg = str(e.value)
    assert f"file already at {tmp_path / 'tiny.txt'} failed the sha256 check" in msg
    assert hashlib.sha256(b"the corpu").hexdigest()[:12] in msg and "\n" not in msg
    (tmp_path / "tiny.txt").write_bytes(blob)
    assert D.download_corpus("tiny", tmp_path) == tmp_path / "tiny.txt"


# -- 5. malformed tokenizer files --------------------------------------------------------------

def _char_file(d, obj):
    d.mkdir(exist_ok=True)
    (d / "tokenizer_meta.json").write_text(json.dumps({"type": "char"}))
    (d / "tokenizer.json").write_text(json.dumps(obj))


@pytest.mark.parametrize("chars,message", [
    ([1, 2], r"'chars' must be a list of single characters, but entry 0 is 1 \(int\)"),
    (["a", None], r"entry 1 is None"),
    (["a", ["b"]], r"entry 1 is \['b'\]"),
    (["ab"], "single characters"),
    ([], "at least one character"),
    (["a", "a"], "duplicate"),
    (["a", "\ud800"], r"characters UTF-8 can encode, got '\\ud800' \(a lone surrogate\)"),
])
def test_char_tokenizer_file_with_bad_entries(tmp_path, chars, message):
    _char_file(tmp_path / "t", {"format": "nanograd_llm.char_tokenizer", "version": 1,
                                "chars": chars})
    with pytest.raises(ValueError, match=message) as e:
        load_tokenizer(tmp_path / "t")
    assert str(e.value).startswith(str(tmp_path / "t" / "tokenizer.json"))
    assert "normalize()" not in str(e.value)


def test_a_lone_surrogate_in_a_char_tokenizer_file_is_refused_before_sampling(tmp_path,
                                                                             capsys):
    """Found by fuzzing the character tokenizer's files (scripts/fuzz/fuzz_tokenizer_char.py
    --sweep): tokenizer.json's "\\ud800" (JSON's escape of a lone surrogate) was taken as a
    character, and `sample --hf` of a folder with that tokenizer stopped when it printed the
    generated text, with `error: 'utf-8' codec can't encode character '\\ud800' ...:
    surrogates not allowed`, naming no file. The file is refused when it is read."""
    pytest.importorskip("safetensors")
    from nanograd_llm.cli import main
    from nanograd_llm.hf import save_hf
    save_hf(_gpt(vocab=3), tmp_path)
    _char_file(tmp_path, {"format": "nanograd_llm.char_tokenizer", "version": 1,
                          "chars": ["\ud800", "\n", "a"]})
    capsys.readouterr()
    assert main(["sample", "--hf", str(tmp_path), "--max-new-tokens", "20", "--seed", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'tokenizer.json'}: vocabulary entries must be "
                          f"characters UTF-8 can encode") and "Traceback" not in err


def test_char_tokenizer_constructor_names_a_non_string_entry():
    with pytest.raises(TypeError, match="vocabulary entries must be strings, got 3"):
        CharTokenizer(["a", 3])


@pytest.mark.parametrize("meta", [[], "char", {"kind": "char"}, {"type": ["char"]}])
def test_malformed_tokenizer_meta_names_the_file(tmp_path, meta):
    (tmp_path / "tokenizer_meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="tokenizer_meta.json"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("file,content,message", [
    ("tokenizer_meta.json", {"type": "bpe", "special_tokens": [1]}, "'special_tokens' must"),
    ("tokenizer_meta.json", {"type": "bpe", "special_tokens": [""]}, "'special_tokens' must"),
    ("tokenizer_meta.json", {"type": "bpe", "special_tokens": "x"}, "'special_tokens' must"),
    ("tokenizer_meta.json", {"type": "bpe", "pattern": 5}, "'pattern' must be a string"),
    ("tokenizer_meta.json", {"type": "bpe", "pattern": "(unclosed"}, "invalid pre-token"),
    # found while fuzzing the BPE files: regex's parser recursed past Python's limit (the
    # command line said only "error: maximum recursion depth exceeded ...")
    ("tokenizer_meta.json", {"type": "bpe", "pattern": "(?:" * 3000 + "a" + ")" * 3000},
     "invalid pre-tokenisation pattern .*: its groups nest too deeply"),
    # found while fuzzing: it said "cannot encode text: … (clean the text first …)"
    ("tokenizer_meta.json", {"type": "bpe", "special_tokens": ["\ud800"]},
     r"special token '\\ud800' holds a lone surrogate, which is not valid Unicode"),
    ("vocab.json", ["a", "b"], "expected a non-empty JSON object"),
    ("vocab.json", {"a": "0"}, "must be a non-negative integer"),
    ("vocab.json", {"a": 1.5}, "must be a non-negative integer"),
    ("vocab.json", {"a": 10 ** 12}, "larger than any vocabulary"),
])
def test_malformed_bpe_files_name_the_file(tmp_path, file, content, message):
    _bpe().save(tmp_path)
    (tmp_path / file).write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message) as e:
        load_tokenizer(tmp_path)
    assert str(e.value).startswith(str(tmp_path / file))


def test_commands_refuse_a_tokenizer_larger_than_the_model(tmp_path, capsys):
    """sample, eval, attention and --resume load the run's tokenizer with the model check."""
    import json as _json
    from _train_helpers import tiny_config
    from nanograd_llm.cli import main
    from nanograd_llm.train import train
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2, dropout=0.0), quiet=True)
    run = tmp_path / "run"
    man = _json.loads((run / "checkpoint.json").read_text())
    man.pop("tokenizer_sha256", None)                # an old run: no file digests to catch it
    (run / "checkpoint.json").write_text(_json.dumps(man))
    tok = _json.loads((run / "tokenizer.json").read_text())
    tok["chars"] = tok["chars"] + [chr(0x4e00 + i) for i in range(50)]   # 50 more tokens
    (run / "tokenizer.json").write_text(_json.dumps(tok))
    for argv in (["sample", "--ckpt", str(run), "--max-new-tokens", "2"],
                 ["eval", "--ckpt", str(run)],
                 ["train", "--out", str(run), "--resume", "max_iters=4"]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "tokens" in err and "Traceback" not in err, (argv, err)


# -- found by a mutation audit ------------------------------------------------------------------

def test_a_tokenizer_one_larger_than_the_model_is_refused():
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.checkpoint import check_tokenizer_fits
    from nanograd_llm.tokenizers import CharTokenizer
    model = GPT(GPTConfig(vocab_size=9, block_size=4, n_layer=1, n_head=1, n_embd=4))
    with pytest.raises(ValueError, match="has only 9"):
        check_tokenizer_fits(model, CharTokenizer.from_text("abcdefghij"), "s")
    check_tokenizer_fits(model, CharTokenizer.from_text("abcdefghi"), "s")


def test_a_tokenizer_without_file_texts_is_still_protected(tmp_path):
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.checkpoint import load_run_tokenizer, read_manifest, save_checkpoint
    from nanograd_llm.tokenizers import CharTokenizer

    class SaveOnly:                                  # a tokenizer with only save()
        def __init__(self, tok):
            self.tok = tok
            self.vocab_size = tok.vocab_size

        def save(self, d):
            self.tok.save(d)
    SaveOnly.__name__ = "CharTokenizer"             # the type the manifest records
    tok = CharTokenizer.from_text("abcd")
    model = GPT(GPTConfig(vocab_size=4, block_size=4, n_layer=1, n_head=1, n_embd=4))
    save_checkpoint(tmp_path, model, None, SaveOnly(tok), 0)
    assert "tokenizer.json" in read_manifest(tmp_path)["tokenizer_sha256"]
    CharTokenizer.from_text("wxyz").save(tmp_path)   # same size, other characters
    with pytest.raises(ValueError, match="does not match"):
        load_run_tokenizer(tmp_path)


@posix_only(SYMLINKS)
def test_same_source_compares_files_not_names(tmp_path):
    from nanograd_llm.data import same_source
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "corpus.txt").write_text("one", encoding="utf-8")
    (tmp_path / "b" / "corpus.txt").write_text("two", encoding="utf-8")
    assert not same_source(str(tmp_path / "a" / "corpus.txt"), str(tmp_path / "b" / "corpus.txt"))
    (tmp_path / "link.txt").symlink_to(tmp_path / "a" / "corpus.txt")
    assert same_source(str(tmp_path / "a" / "corpus.txt"), str(tmp_path / "link.txt"))
    assert same_source(str(tmp_path / "a" / ".." / "a" / "corpus.txt"),
                       str(tmp_path / "a" / "corpus.txt"))


# -- disk full / unwritable targets: the error names the file, nothing partial stays --------------

def _enospc(*a, **k):
    import errno
    raise OSError(errno.ENOSPC, "No space left on device")


def _tiny_corpus(monkeypatch, blob=b"small corpus\n"):
    digest = hashlib.sha256(blob).hexdigest()
    monkeypatch.setitem(D.CORPORA, "tiny", D.Corpus("tiny", "tiny.txt", digest,
                                                    (("http://x/tiny.txt", digest),), "t"))
    monkeypatch.setattr(D, "_fetch", lambda url, timeout=60.0: blob)


def test_download_that_cannot_be_saved_names_the_file_and_leaves_no_part(tmp_path,
                                                                         monkeypatch):
    _tiny_corpus(monkeypatch)
    (tmp_path / "tiny.txt").write_bytes(b"old, damaged copy")
    monkeypatch.setattr(D.os, "fsync", _enospc)
    with pytest.raises(OSError, match="could not save it to .*tiny.txt .*No space") as e:
        D.download_corpus("tiny", tmp_path)
    assert "Errno" not in str(e.value)
    assert os.listdir(tmp_path) == ["tiny.txt"]
    assert (tmp_path / "tiny.txt").read_bytes() == b"old, damaged copy"


def test_an_out_folder_that_cannot_be_created_gives_the_usual_message(tmp_path, monkeypatch,
                                                                     capsys):
    """Creating --out on a full disk printed the raw 'error: [Errno 28] No space left on device:
    '…'' and left the parents mkdir -p had made; now 'could not write --out …', and nothing
    the start created stays."""
    import errno
    from pathlib import Path

    from nanograd_llm.cli import main
    from _train_helpers import fail_mkdir_after_parents
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc " * 200, encoding="utf-8")
    out = tmp_path / "new" / "deeper" / "run"
    real_mkdir = Path.mkdir
    fail_mkdir_after_parents(monkeypatch, out)
    assert main(["train", "--data", str(corpus), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: could not write --out {out} (No space left on device); nothing was "
                   f"written\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]
    # a parent that cannot be made is named
    out = tmp_path / "ro" / "run"

    def refuse(self, *a, **k):
        if self == out.parent:
            raise OSError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)
    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["train", "--data", str(corpus), "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err == (f"error: could not write --out {out} (Permission denied: "
                                       f"{out.parent}); nothing was written\n")


def test_download_over_a_folder_named_like_the_cache_file(tmp_path, monkeypatch):
    _tiny_corpus(monkeypatch)
    (tmp_path / "tiny.txt").mkdir()
    # refused before the download (test_data's test_a_folder_where_the_cached_corpus_goes_...)
    with pytest.raises(OSError) as e:
        D.download_corpus("tiny", tmp_path)
    assert f"but {tmp_path / 'tiny.txt'} is a folder" in str(e.value), e.value
    assert os.listdir(tmp_path) == ["tiny.txt"]


def test_token_file_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    text = "abc def\n" * 50
    monkeypatch.setattr(D.os, "replace", _enospc)
    with pytest.raises(OSError, match="token file .*tokens.npy .*No space"):
        D.encode_corpus(text, CharTokenizer.from_text(text), path=tmp_path / "tokens.npy")
    assert os.listdir(tmp_path) == []


def test_best_copy_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    from nanograd_llm.train import train
    from _train_helpers import tiny_config
    real = ckpt.save_checkpoint

    def save(out_dir, *a, **k):
        if os.path.basename(out_dir) == "best":
            _enospc()
        return real(out_dir, *a, **k)
    monkeypatch.setattr(ckpt, "save_checkpoint", save)
    with pytest.raises(OSError, match=r"best-weights copy of step 0 in .*best "
                                      r"\(No space left on device\); no checkpoint") as e:
        train(tiny_config(tmp_path, max_iters=4), quiet=True)
    assert "Errno" not in str(e.value)


def test_a_corpus_and_run_folder_whose_names_are_not_utf8(tmp_path):
    """A file name in another encoding (Latin-5 'şiir' is b'\\xfeiir'; Python holds the byte as
    the lone surrogate '\\udcfe'): the run failed writing config.json ('surrogates not
    allowed'); now it trains, resumes and finds its corpus under the same names."""
    import dataclasses
    import sys

    from nanograd_llm.evaluate import resolve_eval_data
    from nanograd_llm.train import train
    from _train_helpers import TEXT, tiny_config
    if sys.getfilesystemencoding().lower().replace("-", "") != "utf8":
        pytest.skip("the file-system encoding is not UTF-8")
    name = os.fsdecode(b"\xfeiir")
    corpus = tmp_path / (name + ".txt")
    try:
        corpus.write_text(TEXT, encoding="utf-8")
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    cfg = dataclasses.replace(tiny_config(tmp_path, name, max_iters=2, eval_interval=2),
                              data=str(corpus))
    train(cfg, quiet=True)
    r = train(dataclasses.replace(cfg, max_iters=4), quiet=True, resume=True)
    assert r["step"] == 4
    run = tmp_path / name
    assert ckpt.read_manifest(run)["train_config"]["data"] == str(corpus)
    assert json.loads((run / "config.json").read_bytes())["train"]["out_dir"] == str(run)
    assert resolve_eval_data(str(run), None, None, None)[0] == TEXT


def test_losses_that_cannot_be_appended_name_metrics_jsonl(tmp_path, monkeypatch):
    """Disk full while appending a row to metrics.jsonl: the message names the file and says
    which checkpoint is intact (the step-4 row fails after step 0's checkpoint was saved)."""
    import builtins

    import nanograd_llm.train as T
    from _train_helpers import tiny_config

    appended = []

    def open_(path, mode="r", *a, **k):
        if str(path).endswith("metrics.jsonl") and "a" in mode:
            if appended:                         # step 0's row goes in, step 4's does not
                _enospc()
            appended.append(path)
        return builtins.open(path, mode, *a, **k)
    monkeypatch.setattr(T, "open", open_, raising=False)
    with pytest.raises(OSError, match=r"could not append the step-4 losses to .*metrics\.jsonl "
                                      r"\(No space left on device\); the checkpoint of step 0 "
                                      r"in .*run is intact") as e:
        T.train(tiny_config(tmp_path, keep_best=False), quiet=True)
    assert "Errno" not in str(e.value)
    assert ckpt.load_checkpoint(tmp_path / "run")["step"] == 0


def test_a_row_cut_by_a_full_disk_is_taken_out_of_metrics_jsonl(tmp_path, monkeypatch):
    """A full disk lets part of a row reach metrics.jsonl (the kernel writes what fits, then
    ENOSPC): the torn row stayed as the file's last line, which `docs --run`, jq or pandas
    then refused. Now the failed append is undone: the file holds whole rows only."""
    import builtins

    import nanograd_llm.train as T
    from _train_helpers import tiny_config

    class Torn:
        """A file whose first write puts half of its text on disk and then fails."""
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __getattr__(self, name):
            return getattr(self.f, name)

        def write(self, text):
            self.f.write(text[:len(text) // 2])
            self.f.flush()
            _enospc()

    def open_(path, mode="r", *a, **k):
        f = builtins.open(path, mode, *a, **k)
        if str(path).endswith("metrics.jsonl") and "a" in mode and os.path.getsize(path):
            return Torn(f)                       # step 0's row goes in, step 4's is cut
        return f
    monkeypatch.setattr(T, "open", open_, raising=False)
    with pytest.raises(OSError, match="could not append the step-4 losses"):
        T.train(tiny_config(tmp_path, keep_best=False), quiet=True)
    raw = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    assert [json.loads(line)["step"] for line in raw.splitlines()] == [0]


def test_metrics_that_cannot_be_rewritten_on_resume_name_the_file(tmp_path, monkeypatch):
    """Disk full when --resume rewrites metrics.jsonl (dropping the rows after the checkpoint):
    the error was a bare '[Errno 28] No space left on device', naming nothing."""
    import nanograd_llm.atomic as atomic
    import nanograd_llm.train as T
    from _train_helpers import tiny_config

    T.train(tiny_config(tmp_path, max_iters=4), quiet=True)
    monkeypatch.setattr(atomic.tempfile, "mkstemp", _enospc)
    with pytest.raises(OSError, match=r"could not rewrite .*metrics\.jsonl for the resumed run "
                                      r"\(No space left on device\); the checkpoint of step 4 "
                                      r"in .*run is intact") as e:
        T.train(tiny_config(tmp_path, max_iters=8), resume=True, quiet=True)
    assert "Errno" not in str(e.value)
    monkeypatch.undo()
    assert ckpt.load_checkpoint(tmp_path / "run")["step"] == 4


def _saved_run(tmp_path):
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    opt = AdamW.from_model(model, lr=1e-3)
    ckpt.save_checkpoint(tmp_path, model, opt, None, 0)
    return model, opt, sorted(p.name for p in tmp_path.glob("*.npz"))


@pytest.mark.parametrize("fail", ["optim", "manifest"])
def test_failed_save_leaves_no_weight_file_that_no_manifest_names(tmp_path, monkeypatch, fail):
    model, opt, before = _saved_run(tmp_path)
    manifest = (tmp_path / ckpt.MANIFEST).read_bytes()
    if fail == "optim":
        real = ckpt._write_npz
        monkeypatch.setattr(ckpt, "_write_npz", lambda path, arrays: (
            _enospc() if path.name.startswith("optim-") else real(path, arrays)))
    else:
        real = ckpt.atomic_write_json
        monkeypatch.setattr(ckpt, "atomic_write_json", lambda path, obj: (
            _enospc() if path.name == ckpt.MANIFEST else real(path, obj)))
    with pytest.raises(OSError, match="No space"):
        ckpt.save_checkpoint(tmp_path, model, opt, None, 1)
    # the new model file was written, then removed: only the step-0 files remain
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == before
    assert (tmp_path / ckpt.MANIFEST).read_bytes() == manifest
    assert ckpt.read_manifest(tmp_path)["step"] == 0


def test_failed_save_keeps_files_that_the_new_manifest_names(tmp_path, monkeypatch):
    # Ctrl-C right after the new manifest was renamed into place: the save counts, and the
    # files it names must stay
    model, opt, _ = _saved_run(tmp_path)
    real = ckpt.atomic_write_json

    def write_then_interrupt(path, obj):
        real(path, obj)
        if path.name == ckpt.MANIFEST:
            raise KeyboardInterrupt
    monkeypatch.setattr(ckpt, "atomic_write_json", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, model, opt, None, 1)
    m = ckpt.read_manifest(tmp_path)
    assert m["step"] == 1
    assert (tmp_path / m["model_file"]).is_file() and (tmp_path / m["optim_file"]).is_file()
    monkeypatch.undo()
    assert ckpt.load_checkpoint(tmp_path) is not None


def test_save_hf_that_cannot_be_written_names_the_folder(tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    import safetensors
    import safetensors.numpy as stn
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))

    def full(*a, **k):
        raise safetensors.SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)")
    monkeypatch.setattr(stn, "save_file", full)
    target = tmp_path / "gpt2"
    with pytest.raises(OSError, match=r"could not save the GPT-2 copy to .*gpt2 \(No space left "
                                      r"on device \(os error 28\)\); nothing was written") as e:
        model.save_hf(target)
    assert "Error while serializing" not in str(e.value)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    model.save_hf(target)
    old = {p.name: p.read_bytes() for p in target.iterdir()}
    monkeypatch.setattr("nanograd_llm.atomic.os.fsync", _enospc)
    with pytest.raises(OSError, match=r"gpt2 \(No space left on device\); its old files are kept"):
        model.save_hf(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == old


# -- a model too large for the machine fails at once, with the sizes in the message ------------

@pytest.mark.parametrize("make", [
    lambda: GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=10**30)),
    lambda: GPT(GPTConfig(vocab_size=10**30, block_size=8, n_layer=1, n_head=1, n_embd=8)),
    lambda: GPT(GPTConfig(vocab_size=10, block_size=10**30, n_layer=1, n_head=1, n_embd=8)),
    lambda: BigramLM(10**30),
], ids=["n_embd", "vocab_size", "block_size", "bigram"])
def test_a_model_larger_than_memory_is_a_memory_error(make):
    # not numpy's "Maximum allowed dimension exceeded" (a ValueError) from deep inside
    with pytest.raises(MemoryError, match=r"parameters, which need over [\d,.e+]+ GiB to build; "
                                          r"this machine has"):
        make()


def test_a_model_whose_weights_fit_is_built_though_its_gradients_would_not(monkeypatch):
    """The gradient buffer is made at the first backward (a model that only samples never
    holds it), but the build-time check still counted weights + gradients and refused a model
    that fits for sampling."""
    from nanograd_llm.models import base
    cfg = GPTConfig(vocab_size=10, block_size=8, n_layer=2, n_head=2, n_embd=64)
    weights = GPT(cfg).flat.nbytes
    monkeypatch.setattr(base, "physical_memory", lambda: int(1.5 * weights))
    model = GPT(cfg)
    assert model.grad_flat_if_made() is None
    monkeypatch.setattr(base, "physical_memory", lambda: int(0.9 * weights))
    with pytest.raises(MemoryError, match="which need over"):
        GPT(cfg)


def test_training_a_model_whose_weights_fit_but_not_four_times_is_refused_at_once(
        tmp_path, monkeypatch, capsys):
    """Building needs the weights only (the gradients are made at the first backward, the
    moments at the first step), but training needs four times that: a model whose weights fit
    and whose training state does not was built, then died at its first step (on Linux killed
    without a word) → the trainer refuses it before the first step, with the figures."""
    from nanograd_llm import cli
    from nanograd_llm.models import base
    corpus = tmp_path / "c.txt"
    corpus.write_text("ab cd ef gh\n" * 60, encoding="utf-8")
    keys = ["n_layer=2", "n_head=2", "n_embd=32", "block_size=8", "batch_size=2", "max_iters=2",
            "eval_interval=1", "eval_iters=1"]
    weights = GPT(GPTConfig(vocab_size=len(set(corpus.read_text())), block_size=8, n_layer=2,
                            n_head=2, n_embd=32)).flat.nbytes
    monkeypatch.setattr(base, "physical_memory", lambda: int(3.5 * weights))
    assert cli.main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--quiet",
                     *keys]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (the gpt model has about ") and \
        "to train (weights, gradients and AdamW's two moments)" in err, err
    # a smaller batch or context does not shrink the weights: only a smaller model helps (and
    # not a smaller vocab_size, which a character tokenizer ignores: it named vocab_size too)
    assert err.rstrip().endswith("; use a smaller model (n_layer, n_embd)") and \
        "batch_size" not in err and "block_size" not in err, err
    assert not (tmp_path / "run").exists()
    # a bigram's size is its vocabulary's square: it has no n_layer or n_embd to make smaller
    monkeypatch.setattr(base, "physical_memory", lambda: 1000)
    assert cli.main(["train", "--preset", "bigram", "--data", str(corpus), "--out",
                     str(tmp_path / "run"), "--quiet", "block_size=8"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (") and err.rstrip().endswith(
        "; use a smaller model (tokenizer=bpe with a small vocab_size: a bigram's table has a "
        "row and a column per character of the text)") and "n_layer" not in err, err
    monkeypatch.setattr(base, "physical_memory", lambda: int(4.5 * weights))
    assert cli.main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--quiet",
                     *keys]) == 0


def test_many_layers_are_refused_before_any_is_built(tmp_path, monkeypatch, capsys):
    """n_layer=1e30 (from key=value, a config file, a hand-edited checkpoint.json or a GPT-2
    config.json) used to build layer after layer until the machine ran out of memory."""
    from nanograd_llm import cli
    from nanograd_llm.models import base
    monkeypatch.setattr(base, "physical_memory", lambda: 64 << 20)      # a 64 MiB machine
    with pytest.raises(MemoryError, match=r"a GPT with n_layer=400, n_embd=64, vocab_size=10 "
                                          r"has about [\d,]+ parameters"):
        GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=400, n_head=2, n_embd=64))
    _gpt()                                                              # small ones still fit
    corpus = tmp_path / "c.txt"
    corpus.write_text("ab cd ef gh\n" * 60, encoding="utf-8")
    assert cli.main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--quiet",
                     "n_layer=1e15", "block_size=8"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (a GPT with n_layer=") and "Traceback" not in err
    assert err.rstrip().endswith("; use a smaller model (n_layer, n_embd)") and \
        "batch_size" not in err, err                     # (vocab_size: a char tokenizer's own)
    assert not (tmp_path / "run").exists()


def test_a_gpt2_folder_with_too_many_layers_is_a_memory_error_before_any_name_is_listed(
        tmp_path, monkeypatch):
    """load_hf checks the folder's tensor names against the model's before building it; the
    list of names grows with n_layer, and a config.json with n_layer=1e7 exhausted the memory
    listing them (the process was killed) instead of GPT's clear MemoryError."""
    pytest.importorskip("safetensors")
    from nanograd_llm import hf
    from nanograd_llm.models import base, gpt
    _gpt(10).save_hf(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.update(n_layer=400, n_embd=64, n_head=2)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    monkeypatch.setattr(base, "physical_memory", lambda: 64 << 20)      # a 64 MiB machine
    listed = []
    real = gpt._param_specs
    monkeypatch.setattr(gpt, "_param_specs", lambda c: listed.append(c) or real(c))
    with pytest.raises(MemoryError, match=r"a GPT with n_layer=400, n_embd=64"):
        hf.load_hf(tmp_path)
    assert listed == []


# -- the run folder (run_folder.py) ---------------------------------------------------------------

def test_a_failed_start_removes_only_the_folders_it_created(tmp_path):
    from nanograd_llm.atomic import remove_empty_folders
    from nanograd_llm.run_folder import prepare_run_folder
    (tmp_path / "keep").mkdir()
    out, top, created = prepare_run_folder(str(tmp_path / "keep" / "a" / "b"), False, False)
    assert created and top == tmp_path / "keep" / "a"
    remove_empty_folders(out, top)
    assert not top.exists() and (tmp_path / "keep").is_dir()


def test_a_failed_start_cleans_up_while_it_still_holds_the_lock(tmp_path, monkeypatch):
    """hold_run_folder let go of the lock before its clean-up: a second trainer could take the
    folder in that gap and have its new files deleted. The clean-up now runs under the lock (a
    second trainer is refused throughout), which is let go afterwards."""
    pytest.importorskip("fcntl")
    from nanograd_llm import run_folder
    seen = []

    def refused(out):
        with pytest.raises(ValueError, match="another process is training"):
            run_folder._lock_run(out)
        seen.append(out)
    real_rmtree, real_remove = shutil.rmtree, run_folder._remove_added_run_files
    monkeypatch.setattr(run_folder.shutil, "rmtree",
                        lambda p, **k: (refused(p / "run"), real_rmtree(p, **k)))
    monkeypatch.setattr(run_folder, "_remove_added_run_files",
                        lambda out, before: (refused(out), real_remove(out, before)))
    new = tmp_path / "new"
    had = tmp_path / "had"
    had.mkdir()
    for out_dir in (new / "run", had):
        out, top, created = run_folder.prepare_run_folder(str(out_dir), False, False)
        with pytest.raises(KeyboardInterrupt), run_folder.hold_run_folder(out, top, created):
            (out / "metrics.jsonl").write_text("")
            raise KeyboardInterrupt
    monkeypatch.undo()
    assert seen == [new / "run", had]
    assert not new.exists() and [p.name for p in had.iterdir()] == [".lock"]
    run_folder._lock_run(had).close()                       # let go after the clean-up


@posix_only(SIGNALS)
def test_a_signal_during_the_clean_up_of_a_failed_start_waits_until_it_is_done(tmp_path,
                                                                              monkeypatch):
    """A second Ctrl-C or SIGTERM in the middle of hold_run_folder's clean-up stopped it
    halfway: the new --out folder stayed, and the same command then asked for --overwrite. A
    signal is held back while it runs: the folder is removed, then the signal reaches the
    handler that was there (put back)."""
    import signal
    from nanograd_llm import run_folder

    class Signalled(Exception):
        pass

    def raise_signalled(signum, frame):
        raise Signalled(signal.Signals(signum).name)
    real_rmtree = shutil.rmtree
    for name in ("SIGINT", "SIGTERM"):
        sig = getattr(signal, name)

        def rmtree(p, **k):
            os.kill(os.getpid(), sig)           # a second signal, in the middle of the clean-up
            real_rmtree(p, **k)
        previous = signal.signal(sig, raise_signalled)
        try:
            monkeypatch.setattr(run_folder.shutil, "rmtree", rmtree)
            out, top, created = run_folder.prepare_run_folder(str(tmp_path / name / "run"),
                                                              False, False)
            with pytest.raises(Signalled, match=name), \
                    run_folder.hold_run_folder(out, top, created):
                (out / "tokens.npy").write_bytes(b"")
                raise KeyboardInterrupt                 # the first signal stopped the start
            monkeypatch.undo()
            assert signal.getsignal(sig) is raise_signalled
        finally:
            signal.signal(sig, previous)
        assert not (tmp_path / name).exists()


def test_overwrite_deletes_the_old_runs_loss_curve(tmp_path):
    """--overwrite: the old loss.png is the old run's curve, not this one's."""
    import time
    from nanograd_llm.run_folder import _clear_run
    for name in ("checkpoint.json", "metrics.jsonl", "loss.png", "notes.txt"):
        (tmp_path / name).write_text("old")
    _clear_run(tmp_path, time.time())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_overwrite_keeps_the_token_file_this_run_just_wrote(tmp_path):
    import time
    from nanograd_llm.run_folder import _clear_run
    tokens = tmp_path / "tokens.npy"
    np.save(tokens, np.arange(3))
    old = time.time() - 100
    os.utime(tokens, (old, old))
    _clear_run(tmp_path, old + 50)                  # written before this run started: old
    assert not tokens.exists()
    np.save(tokens, np.arange(3))
    _clear_run(tmp_path, time.time() - 50)          # written after this run started: kept
    assert tokens.exists()


def test_overwrite_accepts_a_folder_left_by_a_run_killed_while_encoding(tmp_path):
    """A run killed while encoding its corpus leaves tokens.npy.tmp<pid> (and nothing else):
    these are the run's own files, which --overwrite deletes; without it the folder is refused
    as a run that never saved a checkpoint, not as someone else's folder."""
    import time
    from nanograd_llm.run_folder import _clear_run, prepare_run_folder
    (tmp_path / "tokens.npy.tmp4242").write_bytes(b"\0" * 8)
    (tmp_path / "tokens.npy.tmp").write_bytes(b"\0" * 8)
    with pytest.raises(ValueError, match="never saved a checkpoint"):
        prepare_run_folder(str(tmp_path), False, False)
    out, _, _ = prepare_run_folder(str(tmp_path), False, True)
    _clear_run(out, time.time())
    assert list(tmp_path.iterdir()) == []


def test_a_moved_corpus_is_followed_by_the_best_copy(tmp_path):
    """A run resumed with --data NEWPATH: best/'s manifest is pointed at the new path too."""
    from nanograd_llm.run_folder import _follow_moved_corpus
    model = BigramLM(5)
    best = tmp_path / "best"
    ckpt.save_checkpoint(best, model, None, CharTokenizer.from_text("abcde"), 4,
                         train_config={"data": "/old/corpus.txt", "seed": 1})
    m = ckpt.read_manifest(best)
    _follow_moved_corpus(best, m, "/new/corpus.txt")
    again = ckpt.read_manifest(best)
    assert again["train_config"] == {"data": "/new/corpus.txt", "seed": 1}
    assert again["model_file"] == m["model_file"] and again["sha256"] == m["sha256"]
    ckpt.load_model(best)


# -- JSON nested deeper than the parser goes ("[[[[…", atomic.load_json) -------------------------

DEEP_JSON = "[" * 100_000


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from _train_helpers import trained_tiny_run
    return trained_tiny_run(tmp_path_factory, "deep")


def _without_tokenizer_digests(d):
    """A manifest as old versions wrote it (no tokenizer digests), so that the tokenizer files
    themselves are read rather than refused for not matching."""
    m = json.loads((d / ckpt.MANIFEST).read_text(encoding="utf-8"))
    m["tokenizer_sha256"] = None
    (d / ckpt.MANIFEST).write_text(json.dumps(m), encoding="utf-8")


@pytest.mark.parametrize("name, says", [
    ("checkpoint.json", "checkpoint.json is corrupt or not a checkpoint manifest (values nested "
                        "too deeply to read)"),
    ("tokenizer_meta.json", "tokenizer_meta.json is not a valid tokenizer metadata file (not "
                            "valid JSON: values nested too deeply to read)"),
    ("tokenizer.json", "tokenizer.json is not a valid tokenizer file (values nested too deeply"),
    ("metrics.jsonl", "metrics.jsonl:1: not valid JSON (values nested too deeply to read)"),
])
def test_a_run_file_nested_too_deeply_is_named_as_malformed_json_is(trained_run, tmp_path,
                                                                   monkeypatch, capsys, name,
                                                                   says):
    """json.loads raises RecursionError, not JSONDecodeError, on "[[[[…" deeper than its
    recursion limit: the readers' `except JSONDecodeError` missed it and the command said only
    "error: maximum recursion depth exceeded while decoding a JSON array", naming no file."""
    from nanograd_llm import cli, docs
    d = tmp_path / "run"
    shutil.copytree(trained_run, d)
    if name.startswith("tokenizer"):
        _without_tokenizer_digests(d)
    (d / name).write_text(DEEP_JSON + "\n", encoding="utf-8")
    if name == "metrics.jsonl":
        pytest.importorskip("markdown")
        pytest.importorskip("matplotlib")
        monkeypatch.setattr(docs, "PARTS", [("Deneme", ["nanograd_llm.course.gpt"])])
        argv = ["docs", "--run", str(d), "--out", str(tmp_path / "site")]
    else:
        argv = ["sample", "--ckpt", str(d), "--prompt", "a", "--max-new-tokens", "1"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{d / name}" in err and says in err, err
    assert "recursion" not in err


def _hf_file(name):
    return lambda d: (d / name).write_text(DEEP_JSON, encoding="utf-8")


def _hf_tokenizer_json(d):
    (d / "vocab.json").unlink()
    (d / "merges.txt").unlink()
    (d / "tokenizer.json").write_text(DEEP_JSON, encoding="utf-8")


def _hf_index(d):
    (d / "model.safetensors").rename(d / "model-00001-of-00001.safetensors")
    (d / "model.safetensors.index.json").write_text(DEEP_JSON, encoding="utf-8")


def _hf_header(d):
    (d / "model.safetensors").write_bytes(len(DEEP_JSON).to_bytes(8, "little") +
                                          DEEP_JSON.encode())


@pytest.mark.parametrize("edit, says", [
    (_hf_file("config.json"), "config.json is not valid JSON: values nested too deeply"),
    (_hf_file("vocab.json"), "vocab.json: corrupt JSON (values nested too deeply"),
    (_hf_file("added_tokens.json"), "added_tokens.json is not valid JSON: values nested too "
                                    "deeply"),
    (_hf_file("tokenizer_config.json"), "tokenizer_config.json is not valid JSON: values "
                                        "nested too deeply"),
    (_hf_tokenizer_json, "tokenizer.json is not valid JSON: values nested too deeply"),
    (_hf_index, "model.safetensors.index.json is not valid JSON: values nested too deeply"),
    (_hf_header, "cannot read "),
], ids=["config", "vocab", "added_tokens", "tokenizer_config", "tokenizer.json", "index",
        "safetensors_header"])
def test_an_hf_file_nested_too_deeply_is_named_as_malformed_json_is(tmp_path, capsys, edit,
                                                                     says):
    """As above for a Hugging Face folder: each file gets the message its malformed JSON gets
    (the safetensors header is then read by the safetensors package, which refuses it)."""
    from nanograd_llm import cli
    from _train_helpers import tiny_gpt2_folder
    d = tmp_path / "g"
    tiny_gpt2_folder(d, 290)
    (d / "tokenizer_meta.json").unlink()          # a folder as Hugging Face writes it
    edit(d)
    assert cli.main(["sample", "--hf", str(d), "--prompt", "merhaba",
                     "--max-new-tokens", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(d) in err and says in err, err
    assert "maximum recursion depth" not in err


def test_a_save_over_a_manifest_nested_too_deeply_reports_its_own_error(tmp_path, monkeypatch):
    """save_checkpoint reads the folder's manifest twice without reporting it: to refuse
    another run's tokenizer, and, after a failed save, to keep the files it names. A manifest
    nested too deeply counts as unreadable there, as a malformed one does; the
    RecursionError used to stop the save (or replace the disk-full error of a failed one)."""
    _saved_run(tmp_path)
    (tmp_path / ckpt.MANIFEST).write_text(DEEP_JSON, encoding="utf-8")
    before = sorted(p.name for p in tmp_path.glob("*.npz"))
    tok = CharTokenizer.from_text("abcde")
    ckpt.check_tokenizer(tmp_path, tok)                 # nothing readable to protect
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    real = ckpt.atomic_write_json
    monkeypatch.setattr(ckpt, "atomic_write_json", lambda path, obj: (
        _enospc() if path.name == ckpt.MANIFEST else real(path, obj)))
    with pytest.raises(OSError, match="No space"):
        ckpt.save_checkpoint(tmp_path, model, AdamW.from_model(model), tok, 1)
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == before


def test_a_metrics_line_nested_too_deeply_names_no_column(tmp_path):
    """read_metrics locates a malformed line by a 1-based column; for values nested too deeply
    the parser gives no place (JSONNestedTooDeep's pos is 0), so the message said "column 1"
    even where the line's nesting starts much later. It now names the line alone."""
    from nanograd_llm.viz import read_metrics
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1, "train_loss": 2.0}\n'
                       '{"step": 2, "train_loss": ' + DEEP_JSON + "\n"
                       '{"step": 3, "train_loss": 1.9}\n', encoding="utf-8")
    with pytest.raises(ValueError) as e:
        read_metrics(metrics)
    assert str(e.value) == f"{metrics}:2: not valid JSON (values nested too deeply to read)"


def test_the_four_times_check_advises_what_a_resume_or_init_from_run_can_change(
        tmp_path, monkeypatch, capsys):
    """The advice 'use a smaller model (n_layer, n_embd, vocab_size)' sent a --resume user to
    settings the resume refuses (the checkpoint fixes the model) and an --init-from user to
    settings that do not apply (the GPT-2 folder gives the architecture) → each is told what
    it can change."""
    from _train_helpers import tiny_gpt2_folder
    from nanograd_llm import cli
    from nanograd_llm.models import base
    corpus = tmp_path / "c.txt"
    corpus.write_text("merhaba dünya " * 80, encoding="utf-8")
    keys = ["n_layer=2", "n_head=2", "n_embd=32", "block_size=8", "batch_size=2",
            "eval_interval=1", "eval_iters=1"]
    run = ["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--quiet"]
    assert cli.main([*run, *keys, "max_iters=1"]) == 0
    capsys.readouterr()
    weights = ckpt.load_model(tmp_path / "run").flat.nbytes
    monkeypatch.setattr(base, "physical_memory", lambda: int(3.5 * weights))
    assert cli.main([*run, "--resume", "max_iters=2"]) == 1
    err = capsys.readouterr().err
    assert "to train (weights, gradients" in err and "fixed by its checkpoint" in err and \
        "--out DIR" in err, err
    gpt2, _ = tiny_gpt2_folder(tmp_path / "g", 290)
    monkeypatch.setattr(base, "physical_memory", lambda: int(3.5 * gpt2.flat.nbytes))
    assert cli.main(["train", "--init-from", str(tmp_path / "g"), "--data", str(corpus),
                     "--out", str(tmp_path / "ft"), "--quiet", *keys[3:], "max_iters=1"]) == 1
    err = capsys.readouterr().err
    assert "to train (weights, gradients" in err and "smaller pretrained model" in err and \
        "(n_layer, n_embd, vocab_size)" not in err, err


def test_the_four_times_check_of_a_float64_run_says_float32_needs_half(tmp_path, monkeypatch,
                                                                       capsys):
    """A float64 run refused by the 4x training-memory check was told only to use a smaller
    model (or pretrained model, or a new run), although dtype=float32 halves the memory, as
    `--hf`'s loader says → each advice (and the 1x build check's) adds dtype=float32 when the
    run's dtype is float64 (a new run for a resume: its dtype is fixed); a float32 run is not
    told so."""
    from _train_helpers import tiny_gpt2_folder
    from nanograd_llm import cli
    from nanograd_llm.models import base
    corpus = tmp_path / "c.txt"
    corpus.write_text("merhaba dünya " * 80, encoding="utf-8")
    keys = ["block_size=8", "batch_size=2", "eval_interval=1", "eval_iters=1"]
    small = ["n_layer=2", "n_head=2", "n_embd=32"]
    run = ["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--quiet", *keys]
    assert cli.main([*run, *small, "dtype=float64", "max_iters=1"]) == 0
    w32 = ckpt.load_model(tmp_path / "run").flat.nbytes // 2
    gpt2, _ = tiny_gpt2_folder(tmp_path / "g", 290)
    cases = [([*run, "--resume", "max_iters=2"], w32, "start a new run (--overwrite, or "
              "--out DIR) with a smaller model (n_layer, n_embd) or "
              "dtype=float32 (half the memory)"),
             ([*run[:4], str(tmp_path / "new"), *run[5:], *small, "dtype=float64"], w32,
              "use a smaller model (n_layer, n_embd) or dtype=float32 (half the "
              "memory)"),
             (["train", "--init-from", str(tmp_path / "g"), "--data", str(corpus), "--out",
               str(tmp_path / "ft"), "--quiet", *keys, "dtype=float64"], gpt2.flat.nbytes,
              "start from a smaller pretrained model, or train in dtype=float32 (half the "
              "memory)")]
    for argv, weights, says in cases:
        # float64: 8x the float32 weights to train; float32 needs 4x
        monkeypatch.setattr(base, "physical_memory", lambda: int(6 * weights))
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "to train (weights, gradients" in err and err.rstrip().endswith(says), err
    # the weights alone (1x) of a new float64 run: the build's refusal says it too
    monkeypatch.setattr(base, "physical_memory", lambda: int(1.5 * w32))
    assert cli.main([*run[:4], str(tmp_path / "new"), *run[5:], *small, "dtype=float64"]) == 1
    err = capsys.readouterr().err
    assert "to build" in err and err.rstrip().endswith(cases[1][2]), err
    monkeypatch.setattr(base, "physical_memory", lambda: int(3.5 * w32))
    assert cli.main([*run[:4], str(tmp_path / "new"), *run[5:], *small]) == 1
    assert "float32" not in capsys.readouterr().err.split(";")[-1]


def test_the_four_times_check_of_a_resumed_fine_tune_advises_a_smaller_pretrained_model(
        tmp_path, monkeypatch, capsys):
    """A resumed fine-tune refused by the 4x training-memory check was told to start a new run
    "with a smaller model (n_layer, n_embd, vocab_size)": a new fine-tune refuses n_layer
    (the GPT-2 folder gives the architecture), and one without --init-from trains from scratch
    → it is told to start a new run from a smaller pretrained model (or in float32)."""
    from _train_helpers import tiny_gpt2_folder
    from nanograd_llm import cli
    from nanograd_llm.models import base
    from nanograd_llm.train import resume_config, train
    corpus = tmp_path / "c.txt"
    corpus.write_text("merhaba dünya " * 80, encoding="utf-8")
    gpt2, _ = tiny_gpt2_folder(tmp_path / "g", 290)
    for dtype, extra in (("float32", ""), ("float64", ", or in dtype=float32 (half the memory)")):
        out = tmp_path / dtype
        run = ["train", "--data", str(corpus), "--out", str(out), "--quiet", "block_size=8",
               "batch_size=2", "eval_interval=1", "eval_iters=1", "sample_tokens=0"]
        assert cli.main([*run, "--init-from", str(tmp_path / "g"), f"dtype={dtype}",
                         "max_iters=1"]) == 0
        weights = ckpt.load_model(out).flat.nbytes
        monkeypatch.setattr(base, "physical_memory", lambda: int(3.5 * weights))
        assert cli.main([*run, "--resume", "max_iters=2"]) == 1
        err = capsys.readouterr().err
        assert "to train (weights, gradients" in err and "fixed by its checkpoint" in err, err
        assert "(n_layer, n_embd, vocab_size)" not in err, err
        assert err.rstrip().endswith(f"start a new run (--overwrite, or --out DIR) from a "
                                     f"smaller pretrained model (--init-from DIR){extra}"), err
        # a Python caller of train(cfg, resume=True) is told the settings, not the options
        with pytest.raises(base.ModelTooLargeError) as e:
            train(resume_config(None, out_dir=str(out), overrides={"max_iters": "2"}),
                  resume=True, quiet=True)
        assert e.value.advice.endswith(f"start a new run (overwrite=True, or another out_dir) "
                                       f"from a smaller pretrained model (init_from){extra}"), \
            e.value.advice
        monkeypatch.undo()


def test_a_model_too_large_to_load_is_not_answered_with_settings_the_user_cannot_change(
        tmp_path, monkeypatch, capsys):
    """`sample --ckpt` or `sample --hf` on a model whose weights do not fit the machine was told
    'use a smaller model (n_layer, n_embd, vocab_size)': settings a saved model does not have
    → the loaders say the machine is too small, and an --hf model asked for in float64 is told
    that float32 needs half."""
    from _train_helpers import tiny_gpt2_folder
    from nanograd_llm import cli
    from nanograd_llm.checkpoint import save_checkpoint
    from nanograd_llm.hf import load_hf
    from nanograd_llm.models import base
    gpt2, _ = tiny_gpt2_folder(tmp_path / "g", 290)
    save_checkpoint(tmp_path / "ck", gpt2, None, None, 1)
    weights = gpt2.flat.nbytes                                          # float32
    monkeypatch.setattr(base, "physical_memory", lambda: weights // 2)
    for argv, saved in ((["sample", "--ckpt", str(tmp_path / "ck")], "checkpoint's"),
                        (["sample", "--hf", str(tmp_path / "g")], "model's")):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: out of memory (") and \
            f"this machine cannot hold the {saved} weights: use one with more memory" in err \
            and "n_layer" not in err.split(";")[-1] and "Traceback" not in err, err
        assert "float32" not in err.split(";")[-1], err
    monkeypatch.setattr(base, "physical_memory", lambda: int(1.5 * weights))
    assert load_hf(tmp_path / "g").flat.nbytes == weights                # float32 fits
    with pytest.raises(MemoryError) as e:
        load_hf(tmp_path / "g", dtype="float64")
    assert "or load it in float32 (the default; half the memory)" in e.value.advice
