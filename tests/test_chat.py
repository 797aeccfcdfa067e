"""The chat loop (in-process, with io.StringIO) and the chat/sample command line."""
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanograd_llm import GPT, GPTConfig
from nanograd_llm.chat import _Encoder, _StopFilter, chat_loop, help_line

CHARS = sorted(set("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?'\n"))
ROOT = Path(__file__).resolve().parents[1]


class TinyCharTokenizer:
    """A character tokenizer without an `errors` option: unknown characters raise KeyError."""

    def __init__(self, chars=CHARS):
        self.chars = list(chars)
        self._stoi = {c: i for i, c in enumerate(self.chars)}

    def encode(self, text):
        return [self._stoi[c] for c in text]

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)


class StrictOptionTokenizer(TinyCharTokenizer):
    """Like the project's char tokenizer: encode(text, errors='strict'|'skip'|'replace')."""

    def encode(self, text, errors="replace"):
        out = []
        for c in text:
            if c in self._stoi:
                out.append(self._stoi[c])
            elif errors == "strict":
                raise ValueError(f"unknown character {c!r}")
            elif errors == "replace":
                out.append(self._stoi["?"])
        return out


def tiny_model(block=24, vocab=len(CHARS), seed=0):
    cfg = GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=16)
    m = GPT(cfg, seed=seed, dtype="float64")
    m.flat[:] = np.random.default_rng(seed).standard_normal(m.flat.size) * 0.3
    return m


def run_chat(text, model=None, tok=None, **kw):
    out = io.StringIO()
    kw.setdefault("max_new_tokens", 10)
    kw.setdefault("seed", 0)
    rc = chat_loop(model or tiny_model(), tok or TinyCharTokenizer(), io.StringIO(text), out,
                   **kw)
    return rc, out.getvalue()


def answers(out: str) -> list[str]:
    """What follows each line a piped chat echoed ('> LINE\\n'), up to the next echoed line:
    its reply (or notes), with the line break after it."""
    return [part.split("\n", 1)[1] for part in out.split("> ")[1:]]


def test_chat_replies_to_each_line_and_exits_on_eof():
    rc, out = run_chat("hello there\nhow are you\n", max_new_tokens=7)
    assert rc == 0
    assert out.startswith("Type a line")
    assert out.count("> ") == 2                      # two lines answered; EOF adds nothing
    assert "> hello there\n" in out and "> how are you\n" in out
    for r in answers(out):
        assert r.endswith("\n") and len(r) == 8      # 7 generated characters + newline


@pytest.mark.parametrize("tok", [TinyCharTokenizer(), StrictOptionTokenizer()])
def test_unknown_characters_are_skipped_and_reported(tok):
    rc, out = run_chat("merhaba dünya ş😀\n", tok=tok)
    assert rc == 0
    assert "3 characters the model does not know were skipped" in out
    assert "'ü'" in out and "'ş'" in out and "'😀'" in out


def test_unknown_characters_replaced():
    rc, out = run_chat("dünya\n", unknown="replace")
    assert rc == 0 and "replaced with '?'" in out


def test_only_unknown_characters():
    rc, out = run_chat("ğüş\nok\n")
    assert rc == 0 and "nothing left to send" in out and out.count("> ") == 2


def prompt_lengths(monkeypatch) -> list:
    """The length of each prompt chat hands to iter_generate, appended as the turns run."""
    import nanograd_llm.chat as chat
    seen = []
    real = chat.iter_generate

    def spy(model, idx, *a, **k):
        seen.append(len(idx))
        return real(model, idx, *a, **k)
    monkeypatch.setattr(chat, "iter_generate", spy)
    return seen


def test_context_is_kept_within_block_size(monkeypatch):
    seen = prompt_lengths(monkeypatch)
    model = tiny_model(block=16)
    lines = "".join(f"line number {i} is rather long\n" for i in range(5))
    rc, out = run_chat(lines, model=model, max_new_tokens=20)
    assert rc == 0 and len(seen) == 5
    assert max(seen) == 16 and all(n <= 16 for n in seen)


def test_a_bigram_chat_keeps_only_the_token_the_model_sees(monkeypatch):
    # A bigram has no block_size: the history grew by every line and reply, never cut
    from nanograd_llm.models.bigram import BigramLM
    seen = prompt_lengths(monkeypatch)
    lines = "".join(f"line number {i} is rather long\n" for i in range(4))
    rc, out = run_chat(lines, model=BigramLM(len(CHARS), seed=0), max_new_tokens=10)
    assert rc == 0 and seen == [1] * 4


def test_reset_quit_and_blank_lines():
    rc, out = run_chat("\n   \nhi\n/reset\n/quit\nnever answered\n")
    assert rc == 0
    assert "(context cleared)" in out
    # blank lines and /quit echo nothing; /reset's note follows its echoed line
    assert out.count("> ") == 2 and "> /reset\n(context cleared)\n" in out
    assert out.endswith("> /reset\n(context cleared)\n")


class _Interrupting(io.StringIO):
    def readline(self, *a):
        raise KeyboardInterrupt


def test_ctrl_c_at_the_prompt_exits_cleanly():
    out = io.StringIO()
    rc = chat_loop(tiny_model(), TinyCharTokenizer(), _Interrupting(), out)
    assert rc == 0 and out.getvalue().endswith("\n")


def test_ctrl_c_during_a_reply_exits_cleanly_and_restores_the_model():
    class InterruptingDecode(TinyCharTokenizer):
        calls = 0

        def decode(self, ids):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().decode(ids)
    model = tiny_model().train()
    rc, out = run_chat("hello\n", model=model, tok=InterruptingDecode())
    assert rc == 0 and model.training


def test_seeded_chat_is_reproducible():
    a = run_chat("to be or not\nthat is\n", seed=5, temperature=1.0)[1]
    b = run_chat("to be or not\nthat is\n", seed=5, temperature=1.0)[1]
    c = run_chat("to be or not\nthat is\n", seed=6, temperature=1.0)[1]
    assert a == b and a != c


def test_stop_string_ends_the_reply():
    # greedy reply of the tiny model; the stop text is one of its characters
    _, full = run_chat("abc\n", temperature=0, max_new_tokens=12, banner=False)
    [reply] = answers(full)
    stop = reply[3]
    _, cut = run_chat("abc\n", temperature=0, max_new_tokens=12, banner=False, stop=stop)
    assert answers(cut) == [reply[:reply.index(stop)] + "\n"]


def test_stop_filter_holds_back_partial_matches():
    got = []
    f = _StopFilter("\n\n", got.append)
    for piece in ["ab", "\n", "c", "\n", "\n", "never"]:
        f(piece)
    f.flush()
    assert "".join(got) == "ab\nc" and f.done
    got2 = []
    g = _StopFilter("END", got2.append)
    for piece in "xxEN":
        g(piece)
    g.flush()
    assert "".join(got2) == "xxEN" and not g.done


def test_invalid_settings_are_errors():
    with pytest.raises(ValueError, match="top_p"):
        run_chat("hi\n", top_p=0)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_chat_checks_its_seed_as_generate_does(seed):
    # The seed only seeded the turns' seeds (numpy's own errors, or True taken as 1)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0 \(or None\), got "):
        run_chat("hi\n", seed=seed)
    with pytest.raises(ValueError, match="unknown"):
        _Encoder(TinyCharTokenizer(), "ignore")


# -- command line -------------------------------------------------------------------------
def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def write_tiny_checkpoint(run_dir: Path) -> None:
    """A tiny run directory written through the trainer's checkpoint module."""
    from nanograd_llm import checkpoint, tokenizers
    tok = tokenizers.CharTokenizer.from_text("".join(CHARS))
    model = tiny_model(vocab=tok.vocab_size)
    checkpoint.save_checkpoint(run_dir, model, None, tok, 0)


def test_chat_subprocess_with_piped_input(tmp_path):
    write_tiny_checkpoint(tmp_path / "run")
    r = subprocess.run([sys.executable, "-m", "nanograd_llm", "chat", "--ckpt",
                        str(tmp_path / "run"), "--max-new-tokens", "8", "--seed", "1"],
                       input="hello\nçalışkan\n", capture_output=True, text=True,
                       timeout=120, env=_env(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "does not know" in r.stdout and "'ç'" in r.stdout
    assert r.stdout.count("> ") == 2 and r.stdout.endswith("\n")


def test_chat_subprocess_bad_checkpoint_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nanograd_llm", "chat", "--hf", str(tmp_path)],
                       input="", capture_output=True, text=True, timeout=120, env=_env())
    assert r.returncode == 1
    assert r.stderr.startswith("error:") and "config.json" in r.stderr
    assert "Traceback" not in r.stderr


def test_sample_main_from_checkpoint(tmp_path, capsys):
    write_tiny_checkpoint(tmp_path / "run")
    import argparse

    from nanograd_llm.cli_generate import add_sampling_args, sample_main
    p = argparse.ArgumentParser()
    add_sampling_args(p)
    args = p.parse_args(["--ckpt", str(tmp_path / "run"), "--prompt", "to be", "--seed", "3",
                         "--max-new-tokens", "12", "--top-k", "5", "--top-p", "0.9"])
    assert sample_main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("to be") and len(first) == len("to be") + 12 + 1
    assert sample_main(args) == 0
    assert capsys.readouterr().out == first


def hf_folder(tmp_path):
    """A random tiny GPT-2 with a byte-level BPE vocabulary trained by `tokenizers`."""
    pytest.importorskip("regex")                 # the `bpe` extra; the module itself must import
    import nanograd_llm.tokenizers.bpe  # noqa: F401
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tk = pytest.importorskip("tokenizers")
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["hello world, merhaba dünya! " * 20], vocab_size=300,
                            min_frequency=1, show_progress=False)
    bpe.save_model(str(tmp_path))
    torch.manual_seed(0)
    # transformers' GPT2Tokenizer appends <|endoftext|> (its default bos/eos/unk token, which
    # this vocabulary lacks) as id 300: the model has a row for it, as len(tokenizer) gives
    cfg = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=32,
                                  vocab_size=bpe.get_vocab_size() + 1)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    return tmp_path


def test_sample_main_from_hf_folder(tmp_path, capsys):
    d = hf_folder(tmp_path)
    import argparse

    from nanograd_llm.cli_generate import add_sampling_args, sample_main
    p = argparse.ArgumentParser()
    add_sampling_args(p)
    args = p.parse_args(["--hf", str(d), "--prompt", "merhaba", "--seed", "0",
                         "--max-new-tokens", "40", "--temperature", "0"])
    assert sample_main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("merhaba")
    # the greedy continuation equals transformers' greedy generate on the same ids
    from nanograd_llm.hf import init_from_hf
    model, tok = init_from_hf(d)
    ids = tok.encode("merhaba")
    ours = model.generate(ids, 40, temperature=0)[0]
    assert out == "merhaba" + tok.decode(ours[len(ids):].tolist()) + "\n"


def test_sample_main_unknown_prompt_characters(tmp_path, capsys):
    write_tiny_checkpoint(tmp_path / "run")
    import argparse

    from nanograd_llm.cli_generate import add_sampling_args, sample_main
    p = argparse.ArgumentParser()
    add_sampling_args(p)
    base = ["--ckpt", str(tmp_path / "run"), "--prompt", "çay time", "--max-new-tokens", "3"]
    with pytest.raises(ValueError, match="'ç'.*not in the tokenizer's vocabulary"):
        sample_main(p.parse_args(base))
    assert sample_main(p.parse_args(base + ["--unknown", "skip"])) == 0
    cap = capsys.readouterr()
    # the echoed prompt is what the model saw: without the skipped character
    assert "'ç'" in cap.err and "skipped" in cap.err and cap.out.startswith("ay time")


def test_train_init_from_hf_folder_fine_tunes_its_weights(tmp_path, capsys):
    """`train --init-from DIR` starts from the folder's weights and BPE, and resumes."""
    (tmp_path / "hf").mkdir()
    d = hf_folder(tmp_path / "hf")
    text = tmp_path / "data.txt"
    text.write_text("hello world, merhaba dünya! " * 40, encoding="utf-8")
    from nanograd_llm.checkpoint import load_model, load_run_tokenizer
    from nanograd_llm.hf import load_hf
    from nanograd_llm.train import make_config, train
    run = tmp_path / "run"
    cfg = make_config("default", data=str(text), out_dir=str(run), init_from=str(d),
                      overrides={"max_iters": "2", "lr": "0", "min_lr": "0", "block_size": "16",
                                 "batch_size": "2", "eval_interval": "1", "eval_iters": "1",
                                 "sample_tokens": "0"})
    # make_config gives the folder's architecture, not the preset's n_layer=3, n_head=4,
    # n_embd=96; a TrainConfig built with other values is told they do not apply
    assert (cfg.n_layer, cfg.n_embd, cfg.tokenizer) == (1, 16, "bpe")
    train(dataclasses.replace(cfg, n_layer=3, n_head=4, n_embd=96), quiet=False,
          progress=False)
    assert "n_layer=3, n_head=4, n_embd=96 from the config do not apply" in capsys.readouterr().err
    ref = load_hf(d, block_size=16).state_dict()
    model = load_model(run)
    assert model.config.n_embd == 16 and model.config.n_layer == 1
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, ref[k], err_msg=k)   # lr = 0: still GPT-2's weights
    assert type(load_run_tokenizer(run)).__name__ == "BPETokenizer"
    saved = json.loads((run / "config.json").read_text())["train"]
    assert saved["tokenizer"] == "bpe"                    # what was used, not the preset's "char"
    assert saved["vocab_size"] == load_run_tokenizer(run).vocab_size
    cfg = make_config("default", data=str(text), out_dir=str(run), init_from=str(d),
                      overrides={"max_iters": "4", "lr": "1e-3", "block_size": "16",
                                 "batch_size": "2", "eval_interval": "2", "eval_iters": "1",
                                 "sample_tokens": "0"})
    out = train(cfg, resume=True, quiet=True)
    assert out["step"] == 4


def test_chat_survives_bytes_that_are_not_utf8(tmp_path):
    """Strict stdin decoding (en_US.UTF-8 and similar locales): a bad byte is reported as an
    unknown character and the remaining lines are still answered."""
    write_tiny_checkpoint(tmp_path / "run")
    env = _env()
    env["PYTHONIOENCODING"] = "utf-8:strict"
    r = subprocess.run([sys.executable, "-m", "nanograd_llm", "chat", "--ckpt",
                        str(tmp_path / "run"), "--max-new-tokens", "4", "--seed", "1"],
                       input=b"ab\xffc\nhello\n", capture_output=True, timeout=120, env=env)
    out = r.stdout.decode("utf-8", errors="replace")
    assert r.returncode == 0, r.stderr
    assert "does not know" in out and out.count("> ") == 2
    assert "byte 0xff (not UTF-8)" in out and "udcff" not in out


def _bpe_with_eot():
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    return BPETokenizer.train("hello world, merhaba dünya! " * 20, 280,
                              special_tokens=["<|endoftext|>"])


def test_typed_special_token_text_is_plain_text():
    tok = _bpe_with_eot()
    eot = tok.special_tokens["<|endoftext|>"]
    ids, dropped = _Encoder(tok, "skip")("hello<|endoftext|>world")
    assert eot not in ids and not dropped
    assert tok.decode(ids) == "hello<|endoftext|>world"


def test_sample_and_chat_stop_at_end_of_text(tmp_path, monkeypatch, capsys):
    import argparse

    import nanograd_llm.chat as chat
    import nanograd_llm.generate as G
    from nanograd_llm import checkpoint
    from nanograd_llm.cli_generate import add_sampling_args, sample_main
    tok = _bpe_with_eot()
    eot = tok.special_tokens["<|endoftext|>"]
    a, b = tok.encode("hello"), tok.encode(" world")
    model = tiny_model(vocab=tok.vocab_size)
    checkpoint.save_checkpoint(tmp_path / "run", model, None, tok, 0)

    def fake(*args, **kw):                        # the model "writes" hello, EOT, then more
        for i in a + [eot] + b:
            yield np.array([i])
    monkeypatch.setattr(G, "iter_generate", fake)
    monkeypatch.setattr(chat, "iter_generate", fake)
    p = argparse.ArgumentParser()
    add_sampling_args(p)
    assert sample_main(p.parse_args(["--ckpt", str(tmp_path / "run"), "--prompt", "x",
                                     "--max-new-tokens", "10"])) == 0
    assert capsys.readouterr().out == "xhello\n"
    out = io.StringIO()
    chat_loop(model, tok, io.StringIO("hi\n"), out, banner=False)
    assert "hello" in out.getvalue() and "world" not in out.getvalue()


@pytest.mark.parametrize("flag, value", [("--max-new-tokens", "-1"), ("--temperature", "-2"),
                                         ("--top-k", "0"), ("--top-p", "1.5")])
def test_sampling_errors_name_the_flag(tmp_path, capsys, flag, value):
    write_tiny_checkpoint(tmp_path / "run")
    from nanograd_llm.cli import main
    assert main(["sample", "--ckpt", str(tmp_path / "run"), flag, value]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} must"), err


TOO_LARGE = "is too large for a number (a float holds at most about 1.8e308)"
BELOW = "is below the lowest number a float holds (about -1.8e308)"
TINY = "is too close to 0 for a number: a float would hold it as 0"


@pytest.mark.parametrize("command", ["sample", "chat"])
@pytest.mark.parametrize("flag, value, says", [
    ("--temperature", "1e999", TOO_LARGE), ("--temperature", "-1e999", BELOW),
    ("--temperature", "1e-999", TINY), ("--top-p", "1e999", TOO_LARGE),
    ("--top-p", "-1e999", BELOW), ("--top-p", "1e-999", TINY), ("--top-p", "1_0e999", TOO_LARGE)])
def test_a_float_flag_no_float_holds_is_named_as_typed(tmp_path, capsys, command, flag, value,
                                                        says):
    """float() reads 1e999 as inf and 1e-999 as 0: `--temperature 1e999` was refused as
    '--temperature must be a finite number >= 0 (0 = greedy), got inf' and `--top-p 1e-999`
    as '… got 0.0', without what was typed. The message names the flag and the typed text as
    the trainer's settings do (config._float_from_text)."""
    write_tiny_checkpoint(tmp_path / "run")
    from nanograd_llm.cli import main
    assert main([command, "--ckpt", str(tmp_path / "run"), f"{flag}={value}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: bad value for {flag}: {value!r} {says}"), err
    assert err.count("\n") == 1


def test_sampler_flags_are_not_offered_none(tmp_path, capsys):
    """`--top-k 0` / `--top-p 2` were told '… (or None)', Python's keyword value, which the
    command line cannot take (`--top-k None` is a usage error): the option is left out
    instead, so the message does not offer it. Python's check_sampler keeps it."""
    from nanograd_llm.cli import main
    from nanograd_llm.generate import check_sampler
    write_tiny_checkpoint(tmp_path / "run")
    run = str(tmp_path / "run")
    for command in ("sample", "chat"):
        assert main([command, "--ckpt", run, "--top-k", "0"]) == 1
        assert capsys.readouterr().err == "error: --top-k must be an integer >= 1, got 0\n"
        assert main([command, "--ckpt", run, "--top-p", "2"]) == 1
        assert capsys.readouterr().err == "error: --top-p must be in (0, 1], got 2.0\n"
    with pytest.raises(ValueError, match=r"^top_k must be an integer >= 1 \(or None\), got 0$"):
        check_sampler(top_k=0)


def test_float_flags_keep_their_other_messages(tmp_path, capsys):
    """A written inf, a number out of range and a text that is no number are reported as
    before."""
    write_tiny_checkpoint(tmp_path / "run")
    from nanograd_llm.cli import main
    run = str(tmp_path / "run")
    assert main(["sample", "--ckpt", run, "--temperature", "inf"]) == 1
    assert capsys.readouterr().err == \
        "error: --temperature must be a finite number >= 0 (0 = greedy), got inf\n"
    assert main(["sample", "--ckpt", run, "--top-p", "1.5"]) == 1
    assert capsys.readouterr().err == "error: --top-p must be in (0, 1], got 1.5\n"
    with pytest.raises(SystemExit):
        main(["sample", "--ckpt", run, "--top-p", "abc"])
    assert "argument --top-p: invalid float value: 'abc'" in capsys.readouterr().err


def test_sample_without_prompt_shows_the_start_token(tmp_path, capsys):
    write_tiny_checkpoint(tmp_path / "run")
    from nanograd_llm.cli import main
    assert main(["sample", "--ckpt", str(tmp_path / "run"), "--max-new-tokens", "5",
                 "--seed", "0", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\n") and len(out) == 1 + 5 + 1   # the start token: a newline


def test_each_turn_sees_the_latest_context_and_its_own_seed(monkeypatch):
    """The context passed to the generator, turn by turn: the user's line and a newline are
    appended to the history (previous lines and replies), the oldest tokens are dropped to
    fit block_size, and each turn draws its own seed from the chat's seeded stream."""
    import nanograd_llm.chat as chat
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text("abcxyzç\n")
    calls, pulled = [], []

    def fake_generate(model, context, n, temperature, top_k, top_p, seed, use_cache, **kw):
        calls.append((list(context), seed))
        for ch in "xyz"[:n]:
            pulled.append(ch)
            yield np.array([tok.encode(ch)[0]])
    monkeypatch.setattr(chat, "iter_generate", fake_generate)

    class Model:
        block_size = 6
    out = io.StringIO()
    # "c\u0327" is ç written as c + combining cedilla: NFC makes it the known character ç
    rc = chat_loop(Model(), tok, io.StringIO("ab\nc\u0327a\n"), out, max_new_tokens=2,
                   seed=5, banner=False)
    assert rc == 0
    e = tok.encode
    assert calls[0][0] == e("ab\n")
    # the reply "xy" is followed by the line break the screen showed after it
    assert calls[1][0] == (e("ab\n") + e("xy\n") + e("ça\n"))[-6:]    # == e("xy\nça\n")
    rng = np.random.default_rng(5)
    assert [c[1] for c in calls] == [int(rng.integers(2**63)), int(rng.integers(2**63))]
    assert "(note" not in out.getvalue()
    # a stop text ends the reply at once: no token is pulled after it
    calls.clear(), pulled.clear()
    out = io.StringIO()
    chat_loop(Model(), tok, io.StringIO("ab\n"), out, max_new_tokens=3, stop="y", banner=False)
    assert pulled == ["x", "y"] and "y" not in out.getvalue().split("> ")[-1]


def test_each_unknown_character_is_reported_once(monkeypatch):
    import nanograd_llm.chat as chat
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text("ab\n")

    def nothing(*a, **k):
        yield from ()
    monkeypatch.setattr(chat, "iter_generate", nothing)

    class Model:
        block_size = 8
    out = io.StringIO()
    chat_loop(Model(), tok, io.StringIO("aQQbQ\n"), out, max_new_tokens=0, banner=False)
    assert "(note: 1 character the model does not know was skipped: 'Q')" in out.getvalue()


def test_replace_mode_adds_no_replacement_for_a_missing_newline(monkeypatch):
    """A vocabulary without a newline (a one-line corpus): the line is sent as typed. With
    unknown="replace" the line end used to be replaced too, so every line gained a '?'."""
    import nanograd_llm.chat as chat
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text("abc ?")
    seen = []

    def fake_generate(model, context, *a, **k):
        seen.append(tok.decode(context))
        yield from ()
    monkeypatch.setattr(chat, "iter_generate", fake_generate)

    class Model:
        block_size = 8
    out = io.StringIO()
    for unknown in ("skip", "replace"):
        chat_loop(Model(), tok, io.StringIO("abc\n"), out, unknown=unknown, banner=False)
    assert seen == ["abc", "abc"]
    assert "(note" not in out.getvalue()


def test_chat_with_closed_stdin_ends_as_at_end_of_input(tmp_path, monkeypatch, capsys):
    """`nanograd-llm chat ... <&-`: Python sets sys.stdin to None; that is an input with no
    lines (exit 0), not an AttributeError traceback."""
    write_tiny_checkpoint(tmp_path / "run")
    from nanograd_llm.cli import main
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["chat", "--ckpt", str(tmp_path / "run"), "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("command", ["sample", "chat"])
def test_closed_stdout_is_a_clear_error(tmp_path, monkeypatch, capsys, command):
    """`nanograd-llm sample ... >&-`: Python sets sys.stdout to None; a one-line error and
    exit status 1, not an AttributeError traceback."""
    write_tiny_checkpoint(tmp_path / "run")
    from nanograd_llm.cli import main
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    monkeypatch.setattr(sys, "stdout", None)
    assert main([command, "--ckpt", str(tmp_path / "run"), "--max-new-tokens", "3"]) == 1
    err = capsys.readouterr().err
    assert err == "error: standard output is closed\n", err


def test_resume_accepts_the_runs_own_init_from_in_its_config_file(tmp_path):
    """A fine-tuning run started with `--config ft.json` (init_from inside) resumes with the same
    file; only another init_from is refused."""
    (tmp_path / "hf").mkdir()
    d = hf_folder(tmp_path / "hf")
    text = tmp_path / "data.txt"
    text.write_text("hello world, merhaba dünya! " * 40, encoding="utf-8")
    from nanograd_llm.train import make_config, resume_config, train
    conf = tmp_path / "ft.json"
    conf.write_text(json.dumps({"init_from": str(d), "max_iters": 2, "block_size": 16,
                                "batch_size": 2, "eval_interval": 1, "eval_iters": 1,
                                "sample_tokens": 0}))
    run = str(tmp_path / "run")
    train(make_config("default", config_file=str(conf), data=str(text), out_dir=run),
          quiet=True)
    cfg = resume_config("default", config_file=str(conf), out_dir=run,
                        overrides={"max_iters": "3"})
    assert cfg.max_iters == 3 and train(cfg, resume=True, quiet=True)["step"] == 3
    with pytest.raises(ValueError, match="init_from starts a new run"):
        resume_config("default", config_file=str(conf), out_dir=run,
                      overrides={"init_from": str(tmp_path)})


def _contexts(monkeypatch, text, tok=None, **kw):
    """The context of each generated reply of a chat fed `text` (the generator is a stub)."""
    import nanograd_llm.chat as chat
    from nanograd_llm.tokenizers import CharTokenizer
    tok = tok or CharTokenizer.from_text("abhi \n")
    calls = []

    def fake_generate(model, context, n, *a, **k):
        calls.append(tok.decode(context))
        yield np.array([tok.encode("a")[0]])
    monkeypatch.setattr(chat, "iter_generate", fake_generate)

    class Model:
        block_size = 64
    out = io.StringIO()
    rc = chat_loop(Model(), tok, io.StringIO(text), out, max_new_tokens=1, banner=False, **kw)
    return rc, calls, out.getvalue()


def test_reset_empties_the_context(monkeypatch):
    rc, calls, _ = _contexts(monkeypatch, "ab\n/reset\nhi\n")
    assert rc == 0 and calls == ["ab\n", "hi\n"]


def test_exit_quits_like_quit(monkeypatch):
    rc, calls, _ = _contexts(monkeypatch, "/exit\nhi\n")
    assert rc == 0 and calls == []


def test_a_line_of_only_spaces_is_not_sent(monkeypatch):
    rc, calls, out = _contexts(monkeypatch, "   \n \t \nhi\n")
    assert rc == 0 and calls == ["hi\n"]
    assert "(note" not in out                      # the tab was never looked at


def test_crlf_input_lines_lose_their_carriage_return(monkeypatch):
    """Input piped from a Windows file ends its lines with \\r\\n: the \\r is part of the line
    end, not a character to send (or to report as unknown)."""
    rc, calls, out = _contexts(monkeypatch, "ab\r\nhi\r\n")
    assert rc == 0 and calls == ["ab\n", "ab\na\nhi\n"]
    assert "(note" not in out


def test_chat_never_samples_the_padding_ids_of_a_larger_model():
    """A model whose vocabulary is larger than its tokenizer's (padded): the extra ids have no
    text and must not be sampled (decoding one is an error)."""
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer(CHARS)
    model = tiny_model(vocab=len(CHARS) + 40)
    rc, out = run_chat("hello\nagain\n", model=model, tok=tok, temperature=50.0,
                       max_new_tokens=40)
    assert rc == 0 and out.count("> ") == 2


class _BrokenPipe(io.StringIO):
    def write(self, s):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_is_left_to_the_caller():
    """`nanograd-llm chat < lines | head -1`: the reader goes away; chat_loop does not take
    that for a normal end (status 0) but raises BrokenPipeError, which the command line turns
    into 141 as for every command (tests/test_train.py::test_cli_into_a_closed_pipe)."""
    with pytest.raises(BrokenPipeError):
        chat_loop(tiny_model(), TinyCharTokenizer(), io.StringIO("hi\n"), _BrokenPipe())


def test_show_chars_names_every_byte_that_is_not_utf8():
    from nanograd_llm.chat import show_chars
    assert show_chars(["\udc80", "\udcff", "a"]) == \
        "byte 0x80 (not UTF-8) byte 0xff (not UTF-8) 'a'"


def test_show_chars_marks_a_list_cut_after_20():
    from nanograd_llm.chat import show_chars
    twenty = [chr(0x61 + i) for i in range(20)]
    assert not show_chars(twenty).endswith("…")
    assert show_chars(twenty + ["z"]).endswith(" …")


def test_the_banner_names_the_end_of_input_key_of_windows(monkeypatch):
    """On a Windows console end of input is Ctrl-Z then Enter; Ctrl-D, which the banner named,
    only types a '\\x04' there. The banner names the key of the platform."""
    _, out = run_chat("")
    assert out.startswith("Type a line") and "Ctrl-D or Ctrl-C quits" in out
    monkeypatch.setattr(sys, "platform", "win32")
    _, out = run_chat("")
    assert "Ctrl-Z Enter or Ctrl-C quits" in out and "Ctrl-D" not in out


def test_help_and_unknown_commands_are_answered_not_sent(monkeypatch):
    """`/help` was sent to the model as text, and so was a command that does not exist
    (`/temperature 0`): the user saw a meaningless reply and no hint. /help prints the help
    line, an unknown slash word is named, and `//` sends a line that begins with a slash."""
    from nanograd_llm.chat import help_line
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text("abhi /1\n")
    rc, calls, out = _contexts(monkeypatch, "/help\n/temperature 0\n  /Quit\n//ab\n/ 1\n/1a\nhi\n",
                               tok=tok)
    assert rc == 0
    # only the text lines reached the model, `//ab` as `/ab`
    assert [c.splitlines()[-1] for c in calls] == ["/ab", "/ 1", "/1a", "hi"]
    assert out.count(help_line()) == 1
    assert "unknown command /temperature: the commands are /help, /reset, /quit" in out
    assert "unknown command /Quit: the commands are /help, /reset, /quit (did you mean /quit?); " \
           "start a line with //" in out


@pytest.mark.parametrize("typed, close", [("/qiut", "/quit"), ("/HELP", "/help"),
                                          ("/rest", "/reset"), ("/exti", "/exit")])
def test_an_unknown_chat_command_suggests_the_closest_one(typed, close, monkeypatch):
    """A mistyped command (/qiut, /HELP) was named unknown with the list of commands but no
    pointer to the one meant; nothing is sent to the model and the chat goes on."""
    rc, calls, out = _contexts(monkeypatch, f"{typed}\n/zzz\n")
    assert rc == 0 and calls == []
    assert f"(unknown command {typed}: the commands are /help, /reset, /quit (did you mean " \
           f"{close}?); start a line with // to send text that begins with /)" in out
    assert "(unknown command /zzz: the commands are /help, /reset, /quit; start" in out


@pytest.mark.parametrize("stop, shown", [("\n", " there!!!"), ("!", " there"),
                                         ("her", " t")])
def test_the_next_turn_sees_the_reply_as_shown_up_to_the_stop_text(monkeypatch, stop, shown):
    """A BPE token can hold the end of the stop text and more (the token '\\n\\n' completes
    --stop '\\n', '!!!' completes '!', ' there' completes 'her'): the reply shown is cut at the
    stop text, but the history kept for the next turn held every generated token, so text the
    user never saw ('\\n', '!!', 'e') went into the next turn's context. The history holds
    the reply as shown followed by the stop text itself."""
    pytest.importorskip("regex")
    import warnings

    import nanograd_llm.chat as chat
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # "ran out of pairs to merge"
        tok = BPETokenizer.train("hello world.\n\nhello there!!!\n\n" * 20, 290)
    reply = tok.encode(" there!!!\n\n")
    assert [tok.decode([i]) for i in reply] == [" there", "!!!", "\n\n"]
    contexts = []

    def fake_generate(model, context, *a, **k):
        contexts.append(list(context))
        for i in reply:
            yield np.array([i])
    monkeypatch.setattr(chat, "iter_generate", fake_generate)

    class Model:
        block_size = 64
    out = io.StringIO()
    assert chat_loop(Model(), tok, io.StringIO("hello\nhello\n"), out, stop=stop,
                     banner=False) == 0
    assert answers(out.getvalue())[0] == shown + "\n"
    # and, when the stop text is not a line break, the line break the screen showed
    assert tok.decode(contexts[1]) == "hello\n" + shown + stop + "\n" * (stop != "\n") + \
        "hello\n"
    # the ids the model produced are kept up to the token that completed the stop text
    kept = contexts[1][len(tok.encode("hello\n")):]
    done = next(j for j in range(1, len(reply) + 1) if stop in tok.decode(reply[:j]))
    assert kept[:done - 1] == reply[:done - 1]


def test_a_command_with_words_after_it_is_not_called_unknown(monkeypatch):
    """`/help me` or `/quit now` was answered '(unknown command /help: the commands are /help,
    /reset, /quit…)', naming a command that exists as unknown; the line is not sent, and the
    message says the command takes nothing after it."""
    rc, calls, out = _contexts(monkeypatch, "/help me\n/reset now\n/quit now\nhi\n")
    assert rc == 0 and calls == ["hi\n"]
    assert "unknown command" not in out
    for c in ("/help", "/reset", "/quit"):
        assert f"({c} takes nothing after it: type {c} alone)" in out


def test_a_reply_cut_inside_a_character_by_a_strict_decoder_does_not_crash(monkeypatch):
    """A decoder that raises on a partial character (the streamers accept one) made chat end
    with a UnicodeDecodeError traceback when a reply stopped inside a character (the token
    limit): the check for the line break after the reply decoded the reply as it was. The
    reply is shown as U+FFFD and the next turn's context has the line break after it."""
    import nanograd_llm.chat as chat

    class ByteTokenizer:
        vocab_size = 256

        def encode(self, text):
            return list(text.encode("utf-8"))

        def decode(self, ids):                      # strict: raises on a partial character
            return bytes(ids).decode("utf-8")
    contexts = []

    def fake_generate(model, context, *a, **k):
        contexts.append(list(context))
        for b in "ağ".encode("utf-8")[:2]:          # 'a' and the first byte of 'ğ'
            yield np.array([b])
    monkeypatch.setattr(chat, "iter_generate", fake_generate)

    class Model:
        block_size = 64
    out = io.StringIO()
    assert chat_loop(Model(), ByteTokenizer(), io.StringIO("hi\nhi\n"), out, max_new_tokens=2,
                     banner=False) == 0
    assert out.getvalue() == "> hi\na\ufffd\n> hi\na\ufffd\n"
    assert contexts[1] == list(b"hi\na\xc4\nhi\n")


# -- the stop text -------------------------------------------------------------------------------
def test_an_empty_stop_text_is_refused(tmp_path, monkeypatch, capsys):
    """`chat --stop ''` was taken as no stop text at all: the option did nothing, silently. An
    empty text would match everywhere; it is refused before the model is loaded, and by
    chat_loop."""
    from nanograd_llm import cli
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    # no checkpoint there: the refusal comes first
    assert cli.main(["chat", "--ckpt", str(tmp_path / "none"), "--stop", ""]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == ("error: --stop is empty: give the text a reply ends at (e.g. "
                                 "--stop '\\n\\n'), or leave --stop out (a reply then ends "
                                 "after --max-new-tokens tokens)\n")
    with pytest.raises(ValueError, match=r"^stop is empty: .* or None "):
        run_chat("hello\n", stop="")


@pytest.mark.parametrize("stop, says", [("ğ", "'ğ'"), ("a\\tb", "'\\t'"),
                                        ("\udcff", "byte 0xff (not UTF-8)")])
def test_a_stop_text_the_tokenizer_cannot_write_is_refused(tmp_path, monkeypatch, capsys, stop,
                                                           says):
    """A stop text with a character the model's tokenizer does not know (an English character
    model and 'ğ', a tab, a byte that was not UTF-8 on the command line) can never be written
    by the model: the option silently did nothing."""
    from nanograd_llm import cli
    write_tiny_checkpoint(tmp_path / "run")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    assert cli.main(["chat", "--ckpt", str(tmp_path / "run"), "--stop", stop]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: --stop ") and \
        f"has character(s) the tokenizer does not know ({says}): the model never writes them" \
        in err, err
    with pytest.raises(ValueError, match=r"^stop .* has character\(s\) the tokenizer does not"):
        run_chat("hello\n", tok=StrictOptionTokenizer(), stop=stop.replace("\\t", "\t"))


@pytest.mark.parametrize("stop, shown", [
    ("a\udcffb", "'a\\xffb'"),                 # the byte 0xff, typed in a shell as $'a\xffb'
    ("\udc80\udcfe", "'\\x80\\xfe'"),
    ("\\udcff", "'\\\\udcff'"),               # a backslash typed before 'udcff': as it is
    ("\\\udcff", "'\\\\\\xff'"),            # a backslash, then the byte 0xff
])
def test_a_stop_text_with_bytes_that_were_not_utf8_is_shown_as_typed(tmp_path, monkeypatch,
                                                                      capsys, stop, shown):
    """A byte that was not UTF-8 in --stop (Python reads it as a surrogate, U+DCFF for 0xff)
    was shown in the refusal as Python's '\\udcff', an escape the user never typed, while the
    rest of the message (and chat's notes) say 'byte 0xff (not UTF-8)' → the text is shown
    with the byte as '\\xff'; a backslash the user typed stays as repr shows it."""
    from nanograd_llm import cli
    write_tiny_checkpoint(tmp_path / "run")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    assert cli.main(["chat", "--ckpt", str(tmp_path / "run"), "--stop", stop]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --stop {shown} has character(s) the tokenizer does not "
                          f"know ("), err
    assert ("udcff" in err) == (stop == "\\udcff") and "udc80" not in err, err


@pytest.mark.parametrize("stop", [" ", "\\n", "\\n\\n", "a b"])
def test_a_stop_text_of_whitespace_the_tokenizer_knows_is_taken(tmp_path, monkeypatch, capsys,
                                                                stop):
    """A space or line breaks are a stop text like any other (README: --stop '\\n\\n')."""
    from nanograd_llm import cli
    import nanograd_llm.chat as chat
    write_tiny_checkpoint(tmp_path / "run")
    seen = {}

    def fake_loop(*a, **kw):
        seen.update(kw)
        return 0
    monkeypatch.setattr(chat, "chat_loop", fake_loop)
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    assert cli.main(["chat", "--ckpt", str(tmp_path / "run"), "--stop", stop]) == 0
    assert seen["stop"] == stop.replace("\\n", "\n")


def test_a_stop_text_written_decomposed_stops_a_character_model(monkeypatch):
    """A character tokenizer's vocabulary and the text its model writes are NFC: a stop text
    typed decomposed ('s' + U+0327 for 'ş') was never found in a reply."""
    import nanograd_llm.chat as chat
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer(list("abşc \n"))

    def fake_generate(model, context, *a, **k):
        for ch in "abşcab":
            yield np.array([tok.stoi[ch]])
    monkeypatch.setattr(chat, "iter_generate", fake_generate)

    class Model:
        block_size = 64
    out = io.StringIO()
    assert chat_loop(Model(), tok, io.StringIO("ab\n"), out, stop="s\u0327c",
                     banner=False) == 0
    assert answers(out.getvalue()) == ["ab\n"]


# -- piped input: a transcript -------------------------------------------------------------------
def test_piped_chat_echoes_each_line_and_ends_with_its_last_answer(tmp_path, monkeypatch,
                                                                   capsys):
    """`printf 'hello\\n/quit\\n' | nanograd-llm chat ...` wrote the prompt '> ' before each
    line was read: the reply followed the prompt as if the user had typed it, and the output
    ended with a '> ' left after /quit, or '> ' and a line break at the end of the input. From
    a stream that is not a terminal each line is echoed after it is read, as a transcript:
    '> hello\\n', then the reply; nothing after /quit or at the end of the input."""
    write_tiny_checkpoint(tmp_path / "run")
    argv = ["chat", "--ckpt", str(tmp_path / "run"), "--max-new-tokens", "6", "--seed", "1"]
    r = subprocess.run([sys.executable, "-m", "nanograd_llm", *argv], input="hello\n/quit\n",
                       capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    reply = r.stdout[len("> hello\n"):-1]
    assert r.stdout == f"> hello\n{reply}\n" and len(reply) == 6, r.stdout  # no '>' in CHARS
    from nanograd_llm.cli import main
    for text in ("hello\n", "hello", "\n  \nhello\n\n/quit\nnever sent\n"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert main(argv) == 0
        assert capsys.readouterr() == (r.stdout, ""), text
    for text in ("", "/quit\n", "\n\n"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert main(argv) == 0
        assert capsys.readouterr() == ("", ""), text
    # a command's output follows its echoed line
    monkeypatch.setattr(sys, "stdin", io.StringIO("/reset\n/help\n"))
    assert main(argv) == 0
    assert capsys.readouterr().out == f"> /reset\n(context cleared)\n> /help\n{help_line()}\n"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_stream_still_gets_its_prompt_before_each_line():
    """A stream that is a terminal shows the prompt before the user types (the terminal
    echoes the line itself); the end of its input ends the prompt's line."""
    out = io.StringIO()
    assert chat_loop(tiny_model(), TinyCharTokenizer(), _Terminal("hi\n"), out, banner=False,
                     max_new_tokens=4, seed=0) == 0
    _, piped = run_chat("hi\n", max_new_tokens=4, banner=False)
    assert out.getvalue() == "> " + answers(piped)[0] + "> \n"
