"""Paths a user can reach that no test executed (found by a line-coverage run of the whole
suite): the clear error of each bad input, and the results of a few feature paths."""
import io
import json

import numpy as np
import pytest

from nanograd_llm import cli

from _platform import SIGNALS, posix_only
from _train_helpers import tiny_config, tiny_gpt2_folder, trained_tiny_run


def _error_of(argv, capsys):
    """(exit status, stderr) of the command line in-process."""
    rc = cli.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# -- train: settings ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, text, says", [
    ("null.json", '{"lr": null}', "bad value for lr: null is not allowed"),
    ("list.json", "[1, 2]", "must hold a table of key = value pairs"),
    ("word.json", '{"lr": "abc"}', "bad value for lr: 'abc' is not a number"),
    ("half.json", '{"max_iters": 1.5}', "bad value for max_iters: 1.5 is not an integer"),
    ("true.json", '{"lr": true}', "bad value for lr: True is not a number"),
])
def test_a_bad_config_file_value_is_a_clear_error(tmp_path, capsys, name, text, says):
    (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "c.txt").write_text("abc " * 50, encoding="utf-8")
    rc, err = _error_of(["train", "--data", tmp_path / "c.txt", "--out", tmp_path / "run",
                         "--config", tmp_path / name, "--quiet"], capsys)
    assert rc == 1 and says in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("word", ["maxiters", "=5"])
def test_a_train_word_that_is_not_key_value_is_a_clear_error(tmp_path, capsys, word):
    rc, err = _error_of(["train", "--out", tmp_path / "run", "--quiet", word], capsys)
    assert rc == 1 and f"expected key=value, got '{word}'" in err, err
    assert not (tmp_path / "run").exists()


def test_init_from_with_a_block_size_beyond_the_folders_is_a_clear_error(tmp_path, capsys):
    tiny_gpt2_folder(tmp_path / "g", 290)                   # n_positions 16
    (tmp_path / "c.txt").write_text("merhaba dünya " * 80, encoding="utf-8")
    rc, err = _error_of(["train", "--init-from", tmp_path / "g", "--data", tmp_path / "c.txt",
                         "--out", tmp_path / "run", "--quiet", "block_size=64"], capsys)
    assert rc == 1, err
    assert "block_size must be an integer in [1, 16]" in err and "give block_size=N" in err
    assert not (tmp_path / "run").exists()


# -- sample / attention: model and prompt -----------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return trained_tiny_run(tmp_path_factory, "reached")


def test_a_prompt_of_only_unknown_characters_is_refused_after_skipping(run_dir, capsys):
    rc, err = _error_of(["sample", "--ckpt", run_dir, "--prompt", "☃☃", "--unknown", "skip",
                         "--max-new-tokens", "2"], capsys)
    assert rc == 1, err
    assert "was skipped: '☃'" in err
    assert "error: the prompt has no characters the tokenizer knows" in err


def test_a_file_given_as_a_run_folder_is_named(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x", encoding="utf-8")
    rc, err = _error_of(["attention", "--ckpt", tmp_path / "f.txt", "--prompt", "ab",
                         "--out", tmp_path / "a.png"], capsys)
    assert rc == 1 and "is not a checkpoint directory (expected a folder with" in err, err
    assert not (tmp_path / "a.png").exists()


def test_generation_can_be_started_from_a_prompt(run_dir):
    """train.sample_text with a prompt (examples/sample_checkpoint.py --prompt): the text after
    the prompt; a prompt that skipping empties is refused."""
    from nanograd_llm.checkpoint import load_model, load_run_tokenizer
    from nanograd_llm.generate import generate
    from nanograd_llm.train import sample_text
    model = load_model(run_dir)
    tok = load_run_tokenizer(run_dir, model=model)
    text = sample_text(model, tok, "Dikkat", 6, temperature=0.0)
    ids = tok.encode("Dikkat")
    want = generate(model, np.asarray(ids), 6, temperature=0.0)[0, len(ids):]
    assert text == tok.decode(want) and len(tok.encode(text)) == 6
    with pytest.raises(ValueError, match="empty after tokenization"):
        sample_text(model, tok, "☃", 3, errors="skip")


# -- --hf folders -------------------------------------------------------------------------------

def _bad_bytes(d):
    (d / "merges.txt").write_bytes(b"#version: 0.2\n\xff\xfe\n")


def _bad_index(text):
    def edit(d):
        (d / "model.safetensors").rename(d / "model-00001-of-00001.safetensors")
        (d / "model.safetensors.index.json").write_text(text, encoding="utf-8")
    return edit


def _config(**kw):
    def edit(d):
        f = d / "config.json"
        f.write_text(json.dumps({**json.loads(f.read_text(encoding="utf-8")), **kw}),
                     encoding="utf-8")
    return edit


def _write(name, text):
    return lambda d: (d / name).write_text(text, encoding="utf-8")


def _vocab(d):
    return json.loads((d / "vocab.json").read_text(encoding="utf-8"))


def _vocab_edit(edit):
    def write(d):
        v = _vocab(d)
        edit(v)
        (d / "vocab.json").write_text(json.dumps(v), encoding="utf-8")
    return write


def _added_beside_a_broken_merge(d):
    (d / "added_tokens.json").write_text(json.dumps({"<x>": len(_vocab(d))}), encoding="utf-8")
    with open(d / "merges.txt", "a", encoding="utf-8") as f:
        f.write("zzq qqz\n")


def _added_in_two_files(d):
    n = len(_vocab(d))
    (d / "added_tokens.json").write_text(json.dumps({"<x>": n}), encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps(
        {"added_tokens_decoder": {str(n + 1): {"content": "<x>"}}}), encoding="utf-8")


@pytest.mark.parametrize("edit, says", [
    (_write("config.json", "{not json"), "config.json is not valid JSON"),
    (_write("config.json", "[1]"), "config.json must hold a JSON object"),
    (_config(layer_norm_epsilon=-1), "layer_norm_epsilon must be a positive number, got -1"),
    (_config(n_layer=0), "n_layer must be a positive integer, got 0"),
    (_bad_index('{"nope": 1}'), "is not a valid safetensors index (no 'weight_map')"),
    # a download cut short is malformed JSON, not an index without 'weight_map'
    (_bad_index('{"metadata": {}, "weight_map": {"wte.weight": "model-00001-of-0'),
     "model.safetensors.index.json is not valid JSON: Unterminated string"),
    (_bad_index('{"weight_map": {"wte.weight": "model-00002-of-00002.safetensors"}}'),
     "model-00002-of-00002.safetensors (listed in model.safetensors.index.json) not found"),
    (_write("added_tokens.json", "[1]"), "added_tokens.json must hold a JSON object token -> id"),
    (_write("tokenizer_config.json", "[1]"), "tokenizer_config.json must hold a JSON object"),
    (_write("tokenizer_config.json", '{"added_tokens_decoder": [1]}'),
     "added_tokens_decoder must map ids to token objects"),
    (_write("tokenizer_config.json", '{"bos_token": 5}'),
     "bos_token must be a token (a string, or an object with its 'content'), got int"),
    (_write("tokenizer_config.json", '{"additional_special_tokens": 5}'),
     "additional_special_tokens must be a list of tokens, got int"),
    (_write("special_tokens_map.json", "{not json"), "special_tokens_map.json is not valid JSON"),
    (_write("tokenizer.json", '{"model": {"type": "WordPiece", "vocab": {}}}'),
     "tokenizer.json is not a tokenizer.json with a BPE model"),
    (_write("tokenizer.json", '{"model": {"type": "Unigram", "vocab": [], "merges": []}}'),
     "tokenizer.json does not hold a BPE model"),
    (_write("tokenizer.json", '{"model": {"type": "BPE", "vocab": {"a": 0'),
     "tokenizer.json is not valid JSON: Expecting"),
    (_bad_bytes, "merges.txt: not valid UTF-8 text"),
    (_write("vocab.json", "{not json"), "vocab.json: corrupt JSON"),
    (_write("vocab.json", "[1]"), "vocab.json: expected a non-empty JSON object token -> id"),
    (_write("added_tokens.json", '{"m": 5}'), "added token 'm' has id 5 but "),
    (_vocab_edit(lambda v: v.update(m=-1)), "id of token 'm' must be a non-negative integer"),
    (_added_beside_a_broken_merge, "token 'zzq' is not in "),
    (_vocab_edit(lambda v: (v.pop("<|endoftext|>"), v.update({"Ġmerhaba": 295}))),
     "the ids of vocab.json leave gaps, so which id it gets cannot be told"),
    (_added_in_two_files, "lists the added token '<x>' (id 290), but transformers reads only"),
    (_write("tokenizer_config.json", '{"eos_token": {"content": "<|endoftext|>", '
                                     '"lstrip": true}}'), "has lstrip true"),
])
def test_a_damaged_hf_folder_is_a_clear_error(tmp_path, capsys, edit, says):
    d = tmp_path / "g"
    tiny_gpt2_folder(d, 290)
    (d / "tokenizer_meta.json").unlink()          # a folder as Hugging Face writes it
    assert cli.main(["sample", "--hf", str(d), "--prompt", "merhaba",
                     "--max-new-tokens", "1"]) == 0
    capsys.readouterr()
    edit(d)
    rc, err = _error_of(["sample", "--hf", d, "--prompt", "merhaba", "--max-new-tokens", "1"],
                        capsys)
    assert rc == 1, err
    assert err.startswith("error: ") and says in err, err


@pytest.mark.parametrize("text, says", [
    ("[]", "(expected a JSON object with a 'type' entry)"),
    ('{"vocab_size": 290}', "(expected a JSON object with a 'type' entry)"),
    ('{"type": "bpe"', "(not valid JSON: Expecting ',' delimiter"),
])
def test_a_damaged_tokenizer_meta_json_says_what_is_wrong(tmp_path, capsys, text, says):
    """A folder this package wrote has tokenizer_meta.json; a damaged one used to be reported
    with Python's own exception reprs (TypeError('list indices must be integers or slices, not
    str'), KeyError('type'), JSONNestedTooDeep(...))."""
    d = tmp_path / "g"
    tiny_gpt2_folder(d, 290)
    (d / "tokenizer_meta.json").write_text(text, encoding="utf-8")
    rc, err = _error_of(["sample", "--hf", d, "--prompt", "merhaba", "--max-new-tokens", "1"],
                        capsys)
    assert rc == 1, err
    assert err.startswith(f"error: {d / 'tokenizer_meta.json'} is not a valid tokenizer "
                          f"metadata file ") and says in err, err
    assert "Error(" not in err, err


@pytest.mark.parametrize("what, says", [("missing", "Hugging Face model folder not found"),
                                        ("file", "is not a directory (expected a Hugging Face")])
def test_an_hf_path_that_is_not_a_folder_is_named(tmp_path, capsys, what, says):
    p = tmp_path / "g"
    if what == "file":
        p.write_text("x", encoding="utf-8")
    rc, err = _error_of(["sample", "--hf", p], capsys)
    assert rc == 1 and says in err, err


# -- chat at a terminal ------------------------------------------------------------------------

def test_chat_at_a_terminal_reads_with_input_and_ends_at_ctrl_d(monkeypatch):
    """With no input stream (a terminal) each line comes from input(prompt); Ctrl-D (EOFError)
    ends the session with 0. The replies are those of the same lines piped in."""
    from test_chat import TinyCharTokenizer, answers, run_chat, tiny_model
    from nanograd_llm.chat import chat_loop
    lines = iter(["hello there", "how are you"])
    prompts = []

    def fake_input(prompt):
        prompts.append(prompt)
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None
    monkeypatch.setattr("builtins.input", fake_input)
    out = io.StringIO()
    rc = chat_loop(tiny_model(), TinyCharTokenizer(), None, out, max_new_tokens=7, seed=0,
                   banner=False)
    assert rc == 0 and prompts == ["> ", "> ", "> "]
    _, piped = run_chat("hello there\nhow are you\n", max_new_tokens=7, banner=False)
    # Ctrl-D leaves the terminal on the prompt's line: the loop ends that line
    assert out.getvalue() == "".join(answers(piped)) + "\n"


# -- generation past the first buffer of a model without a window ------------------------------

def test_generation_from_a_model_without_a_window_grows_its_buffer(monkeypatch):
    """A model with neither block_size nor context_window sees the whole text: the buffer
    doubles past BUFFER_MIN tokens and the tokens stay those of the windowed model (a bigram
    looks only at the last token)."""
    from nanograd_llm import generate as gen
    from nanograd_llm.models.bigram import BigramLM
    monkeypatch.setattr(gen, "BUFFER_MIN", 8)
    windowed = BigramLM(11, seed=3, dtype="float64")
    whole = BigramLM(11, seed=3, dtype="float64")
    whole.context_window = None
    seen = []
    real = whole.forward
    whole.forward = lambda idx, *a, **k: (seen.append(idx.shape[1]), real(idx, *a, **k))[1]
    for temperature in (0.0, 1.0):
        a = gen.generate(windowed, [1, 2], 30, temperature=temperature, seed=5)
        b = gen.generate(whole, [1, 2], 30, temperature=temperature, seed=5)
        np.testing.assert_array_equal(a, b)
    assert max(seen) == 31                           # the whole text, past 2 buffer doublings


# -- gradcheck's table --------------------------------------------------------------------------

def test_gradcheck_table_has_a_row_per_model(monkeypatch):
    from nanograd_llm import gradcheck as gc
    monkeypatch.setattr(gc, "LAYERS", ["relu"])
    monkeypatch.setattr(gc, "DROPOUT_LAYERS", [])
    out = io.StringIO()
    assert gc.run_all(out=out) is True
    rows = [line.split()[0] for line in out.getvalue().splitlines()[2:] if line.strip()]
    assert rows[:3] == ["relu", "BigramLM", "GPT"]
    assert out.getvalue().count("PASS") == 1 + len(list(gc.model_cases()))


# -- run folders and checkpoints that cannot be read or written --------------------------------

@pytest.mark.parametrize("existing", [False, True])
def test_an_out_folder_without_write_permission_is_named(tmp_path, capsys, monkeypatch,
                                                         existing):
    """The lock file cannot be opened (a read-only folder or file system): a clear error; a
    folder this start made is removed, one that was there is left as it was."""
    import builtins
    import errno
    from nanograd_llm import run_folder
    real_open = builtins.open

    def fake_open(p, *a, **k):
        if str(p).endswith(run_folder.LOCK_FILE):
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_open(p, *a, **k)
    monkeypatch.setattr(run_folder, "open", fake_open, raising=False)
    out = tmp_path / "run"
    if existing:
        out.mkdir()
    (tmp_path / "c.txt").write_text("abc " * 50, encoding="utf-8")
    rc, err = _error_of(["train", "--data", tmp_path / "c.txt", "--out", out, "--quiet",
                         "max_iters=1"], capsys)
    assert rc == 1 and f"error: cannot write in --out {out} (Permission denied)" in err, err
    assert (out.is_dir() and not any(out.iterdir())) if existing else not out.exists()


def test_a_run_whose_manifest_cannot_be_read_is_still_not_overwritten(run_dir, tmp_path,
                                                                      capsys):
    import shutil
    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    (out / "checkpoint.json").write_text("{bad", encoding="utf-8")
    before = sorted(p.name for p in out.iterdir())
    rc, err = _error_of(["train", "--out", out, "--quiet"], capsys)
    assert rc == 1 and "already holds a training run whose checkpoint manifest cannot be " \
        f"read ({out / 'checkpoint.json'} is corrupt or not a checkpoint manifest (" in err, err
    assert sorted(p.name for p in out.iterdir()) == before
    # only advice that works: --resume stops at the same file, so it is not suggested (nor a
    # "step ?"); --overwrite starts a new run there
    assert "step ?" not in err and "--resume to continue" not in err and \
        "--overwrite to start a new run there" in err, err
    rc, err = _error_of(["train", "--out", out, "--quiet", "--resume"], capsys)
    assert rc == 1 and "is corrupt" in err, err
    rc, err = _error_of(["train", "--data", run_dir.parent / "corpus.txt", "--out", out,
                         "--quiet", "--overwrite", "max_iters=1", "n_layer=1", "n_head=2",
                         "n_embd=16", "block_size=16", "batch_size=2", "eval_iters=1"], capsys)
    assert rc == 0, err
    from nanograd_llm import checkpoint as ckpt
    assert ckpt.read_manifest(out)["step"] == 1


def test_a_folder_named_checkpoint_json_is_not_answered_with_overwrite(tmp_path, capsys):
    """A folder named checkpoint.json in --out: a new run advised --overwrite, which then failed
    with "[Errno 21] Is a directory", and --resume said the manifest is missing → every
    command says it is a folder to move out of the way; nothing is deleted."""
    out = tmp_path / "run"
    (out / "checkpoint.json").mkdir(parents=True)
    (out / "checkpoint.json" / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "c.txt").write_text("abc " * 50, encoding="utf-8")
    says = f"{out / 'checkpoint.json'} is a folder, not a checkpoint manifest"
    for extra in ([], ["--overwrite"], ["--resume"]):
        rc, err = _error_of(["train", "--data", tmp_path / "c.txt", "--out", out, "--quiet",
                             "max_iters=1", *extra], capsys)
        assert rc == 1 and says in err and "move it" in err, (extra, err)
        assert "use --overwrite" not in err and "Errno" not in err, err
    rc, err = _error_of(["sample", "--ckpt", out, "--max-new-tokens", "2"], capsys)
    assert rc == 1 and says in err, err
    assert (out / "checkpoint.json" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_a_manifest_without_read_permission_is_answered_with_resume(run_dir, tmp_path, capsys,
                                                                    monkeypatch):
    """A run whose checkpoint.json cannot be read for lack of permission (chmod 000) is intact:
    a new start there advised --overwrite (delete the run) → it says to make the file readable
    and --resume, or --out DIR; the run is left as it was."""
    import errno
    import shutil
    from pathlib import Path
    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    real = Path.read_bytes

    def read_bytes(self):                 # the tests run as root, where chmod 000 reads anyway
        if self.name == "checkpoint.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    before = sorted(p.name for p in out.iterdir())
    rc, err = _error_of(["train", "--out", out, "--quiet"], capsys)
    assert rc == 1 and f"{out / 'checkpoint.json'}: Permission denied" in err, err
    assert "--resume to continue it" in err and "permission" in err.split("denied")[1] and \
        "--overwrite" not in err, err
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.parametrize("suffix, says", [(".npz", "cannot read checkpoint file"),
                                          ("tokenizer.json", "cannot read tokenizer file")])
def test_a_checkpoint_file_that_cannot_be_read_is_named(run_dir, capsys, monkeypatch, suffix,
                                                        says):
    """An I/O error reading a file the manifest names (a failing disk): one clear line naming
    the file, not a traceback (and no endless retry: the manifest has not changed)."""
    import errno
    from pathlib import Path
    from nanograd_llm import checkpoint as ck
    real, real_read = ck._sha256, Path.read_bytes

    def failing(path, read=real):
        name = Path(path).name
        if name.endswith(suffix) and (suffix != ".npz" or name.startswith("model-")):
            raise OSError(errno.EIO, "Input/output error")
        return read(path)
    monkeypatch.setattr(ck, "_sha256", failing)
    # the tokenizer's files are read whole (their bytes are hashed, then parsed)
    monkeypatch.setattr(Path, "read_bytes", lambda self: failing(self, real_read))
    rc, err = _error_of(["sample", "--ckpt", run_dir, "--max-new-tokens", "1"], capsys)
    assert rc == 1, err
    assert err.startswith(f"error: {says} {run_dir}/") and "Input/output error" in err, err
    assert err.count("\n") == 1


def test_hf_folders_without_safetensors_installed_name_the_package(tmp_path, capsys,
                                                                   monkeypatch):
    import sys
    tiny_gpt2_folder(tmp_path / "g", 290)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    rc, err = _error_of(["sample", "--hf", tmp_path / "g"], capsys)
    assert rc == 1 and "needs the 'safetensors' package" in err and "pip install" in err, err


@posix_only(SIGNALS)
def test_the_summary_of_a_run_whose_last_step_was_not_evaluated(tmp_path, monkeypatch, capsys):
    """A run stopped by Ctrl-C at step 6 (evaluated at 4) and resumed with max_iters=6 has
    nothing left to train: the summary gives the step and says the losses are step 4's."""
    import os
    import signal
    from nanograd_llm.optim import AdamW
    from nanograd_llm.train import train
    real_step = AdamW.step

    def interrupted(self, grads=None, lr=None):
        real_step(self, grads, lr)
        if self.t == 6:
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(AdamW, "step", interrupted)
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:                  # a suite started in the background
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        r = train(tiny_config(tmp_path, "part", eval_interval=4), quiet=True)
    finally:
        signal.signal(signal.SIGINT, before)
    monkeypatch.undo()
    assert r["interrupted"] and r["step"] == 6
    rows = [json.loads(line) for line in (tmp_path / "part" / "metrics.jsonl").open()]
    assert rows[-1]["step"] == 4
    capsys.readouterr()
    assert cli.main(["train", "--out", str(tmp_path / "part"), "--resume", "--quiet",
                     "max_iters=6"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"step 6; last evaluation (step 4): train loss "
                          f"{rows[-1]['train_loss']:.4f}, val loss {rows[-1]['val_loss']:.4f};")


# -- the library's public functions: bad inputs are named ----------------------------------------

def _gpt(**kw):
    from nanograd_llm import GPT, GPTConfig
    return GPT(GPTConfig(**{**dict(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8),
                            **kw}), seed=0, dtype="float64")


def _char_tok():
    from nanograd_llm.tokenizers import CharTokenizer
    return CharTokenizer.from_text("abc")


def _bad_api_calls(tmp_path=None):
    """(call, message) pairs; tmp_path is the test's own folder (a tempfile.mkdtemp() here
    left an empty tmpXXXXXXXX folder in the system's /tmp at each run)."""
    from nanograd_llm import GPT, GPTConfig, evaluate as ev, generate as gen, gradcheck as gc
    from nanograd_llm.hf import save_hf
    from nanograd_llm.layers.dropout import dropout_forward
    from nanograd_llm.layers.kv_cache import KVCache
    from nanograd_llm.layers.multihead_attention import mha_forward
    from nanograd_llm.layers.positional import (learned_positional_forward,
                                                sinusoidal_forward)
    from nanograd_llm.models.bigram import BigramLM
    from nanograd_llm.optim import AdamW
    from nanograd_llm.tokenizers import CharTokenizer
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    x = np.zeros((1, 9, 8))
    cache = KVCache(1, 1, 2, 4, 4, np, np.float64)
    return [
        (lambda: ev.evaluate_ids(_gpt(), np.arange(20) % 11, batch_size=0),
         "batch_size must be an integer >= 1, got 0"),
        (lambda: ev.encode_for_eval("ab", _char_tok(), unknown="replace"),
         "unknown must be strict or skip, got 'replace'"),
        (lambda: ev.evaluate_text(_gpt(vocab_size=3), _char_tok(), "abc" * 20, max_tokens=0),
         "max_tokens must be >= 1, got 0"),
        (lambda: gen.sample_next(np.zeros(5)), r"logits must have shape \(B, V\), got \(5,\)"),
        (lambda: gen.generate(_gpt(), [], 3), "the prompt is empty: need at least one token"),
        (lambda: gen.generate(_gpt(), np.zeros((1, 0), dtype=np.int64), 3),
         "the prompt is empty: need at least one token"),
        (lambda: dropout_forward(x, 1.0, np.random.default_rng(0)),
         r"dropout probability must be in \[0, 1\), got 1.0"),
        (lambda: dropout_forward(x, 0.5, None), "needs a random generator"),
        (lambda: dropout_forward(x, -0.1, mask=np.ones_like(x)),
         r"dropout probability must be in \[0, 1\), got -0.1"),
        (lambda: cache.append(0, np.zeros((1, 2, 5, 4)), np.zeros((1, 2, 5, 4))),
         "KV cache is full: 5 positions > block_size=4"),
        (lambda: mha_forward(np.zeros((1, 2, 9)), {}, 2),
         "n_embd=9 is not divisible by n_head=2"),
        (lambda: learned_positional_forward(x, np.zeros((8, 8))),
         "sequence of 9 positions is longer than block_size=8"),
        (lambda: sinusoidal_forward(x, 0, 8), "sequence of 9 positions is longer than block_size=8"),
        (lambda: _gpt().forward(np.ones((1, 3), dtype=np.int64), np.ones((1, 2), dtype=np.int64)),
         r"targets shape \(1, 2\) != idx shape \(1, 3\)"),
        (lambda: _gpt().forward(np.ones((1, 0), dtype=np.int64)),
         "idx is empty: need at least one token"),
        (lambda: _gpt().forward("abc"), "idx must hold integer token ids, got dtype <U3"),
        (lambda: BigramLM(5).forward(np.ones((1, 3), dtype=np.int64),
                                     np.ones((1, 2), dtype=np.int64)),
         r"targets shape \(1, 2\) != idx shape \(1, 3\)"),
        (lambda: BigramLM(5).backward(), r"needs a forward\(idx, targets\) with targets first"),
        (lambda: BigramLM(5).generate([[1]], -1), "max_new_tokens must be an integer >= 0, got -1"),
        (lambda: AdamW({}), "AdamW got no parameters"),
        (lambda: AdamW({"w": np.zeros(3)}).load_state_dict({"m": {}}, "optim.npz"),
         r"optim.npz is incomplete \(KeyError\('t'\)\)"),
        (lambda: AdamW({"w": np.zeros(3)}).load_state_dict(
            {"t": 1, "m": {"u": np.zeros(3)}, "v": {"w": np.zeros(3)}}, "optim.npz"),
         "optim.npz: moment 'm' does not match the parameters"),
        (lambda: AdamW({"w": np.zeros(3)}).step([np.zeros(3)]),
         r"step\(grads\) expects a dict with the parameters' names"),
        (lambda: save_hf(BigramLM(5), str(tmp_path)),
         "only a GPT can be saved as GPT-2, not a BigramLM"),
        (lambda: save_hf(_gpt(), __file__), "exists and is not a directory"),
        (lambda: CharTokenizer.from_text(""), "cannot build a character vocabulary from empty"),
        (lambda: BPETokenizer.train("abc abc", 260, special_tokens=[""]),
         "special tokens must be non-empty strings"),
        (lambda: gc.layer_case("no_such_layer", np.random.default_rng(0)),
         "unknown layer 'no_such_layer'"),
        (lambda: gc.check_model(GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1,
                                              n_head=2, n_embd=8)), None, None),
         "gradient checks need a float64 model"),
        (lambda: gc.numerical_gradient(lambda: 0.0, np.zeros((3, 3))[:, ::2]),
         "needs a C-contiguous array"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_api_calls())))
def test_a_bad_argument_to_a_public_function_is_named(case, tmp_path):
    call, says = _bad_api_calls(tmp_path)[case]
    with pytest.raises((ValueError, RuntimeError, TypeError), match=says):
        call()


def test_idx_may_be_a_list_or_a_single_sequence():
    m = _gpt()
    want = m.forward(np.array([[1, 2, 3]]))[0]
    for idx in ([1, 2, 3], [[1, 2, 3]], np.array([1, 2, 3])):
        np.testing.assert_array_equal(m.forward(idx)[0], want)
    with pytest.raises(TypeError, match="expects a GPTConfig"):
        type(m)({"vocab_size": 11})
    with pytest.raises(FileNotFoundError, match="no tokenizer file"):
        _char_tok().load("/nonexistent-folder")


def test_bpe_special_tokens_may_be_one_string_or_none():
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    text = "merhaba dünya " * 20
    one = BPETokenizer.train(text, 265, special_tokens="<|son|>")
    listed = BPETokenizer.train(text, 265, special_tokens=["<|son|>"])
    assert one.encode("a<|son|>", allowed_special="all") == \
        listed.encode("a<|son|>", allowed_special="all")
    assert len(one.encode("<|son|>", allowed_special="all")) == 1
    assert BPETokenizer.train(text, 265, special_tokens=None).encode("ab") == \
        BPETokenizer.train(text, 265).encode("ab")


def test_moving_a_model_to_the_cpu_keeps_its_weights_and_resets_the_gradients():
    m = _gpt()
    w = m.flat.copy()
    m.grad_flat[...] = 1
    assert m.to("cpu") is m and m.device == "cpu"
    np.testing.assert_array_equal(m.flat, w)
    assert not m.grad_flat.any() and all(not g.any() for g in m.grads.values())
    name = next(iter(m.params))
    m.params[name][...] = 7                       # the views are the new buffer's
    assert (m.flat == 7).sum() == m.params[name].size


def test_a_bad_setting_given_to_resume_is_named_and_the_run_is_left(run_dir, tmp_path, capsys):
    import shutil
    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    rc, err = _error_of(["train", "--out", out, "--resume", "--quiet", "max_iters=-5"], capsys)
    assert rc == 1 and err == "error: max_iters must be >= 1, got -5\n", err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
