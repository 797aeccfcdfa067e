"""The CLI passes every flag through and exits with the documented status (found missing by a
hand mutation audit: these are the wires between argparse and the library)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from nanograd_llm import cli
from nanograd_llm.tokenizers import CharTokenizer

from _platform import SYMLINKS, posix_only

# Python's limit on the digits int() reads and repr() writes (4300) came in 3.10.7: 3.10.0-3.10.6,
# and any Python run with PYTHONINTMAXSTRDIGITS=0, read and write a 5000-digit number as any other
needs_digit_limit = pytest.mark.skipif(
    not 0 < getattr(sys, "get_int_max_str_digits", lambda: 0)() < 5000,
    reason="needs Python's limit on the digits of an integer string below 5000 (Python "
           "3.10.7 or newer, PYTHONINTMAXSTRDIGITS unset)")


def test_no_command_prints_the_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: nanograd-llm" in capsys.readouterr().out


def _optional_value_options(sub):
    """(flag, help) of every option of a subcommand's parser that takes a value and may be
    left out (not -h, not an on/off switch, not required alone or in a required group)."""
    import argparse
    in_required_group = {id(a) for g in sub._mutually_exclusive_groups if g.required
                         for a in g._group_actions}
    for a in sub._actions:
        if (not a.option_strings or a.required or id(a) in in_required_group
                or isinstance(a, (argparse._HelpAction, argparse._StoreTrueAction))):
            continue
        yield a.option_strings[-1], a.help or ""


@pytest.mark.parametrize("command", sorted(cli.build_parser().commands))
def test_help_gives_the_default_of_every_option_that_may_be_left_out(command, capsys):
    """`--help` says what each optional setting is when it is not given: `train --out` did not
    say out/PRESET (where --resume looks), `sample --max-new-tokens` not its 500, `--seed` not
    that the text changes from run to run, `--device` not cpu."""
    sub = cli.build_parser().commands[command]
    for flag, text in _optional_value_options(sub):
        assert "default" in text, f"{command} {flag}: no default in its help {text!r}"
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    if command == "train":
        assert "(default: out/PRESET, e.g. out/default)" in shown
    if command == "sample":
        assert "--max-new-tokens N tokens to generate (default 500)" in shown
    if command == "chat":
        assert "(default 200)" in shown


@pytest.mark.parametrize("command", sorted(cli.build_parser().commands))
def test_help_names_option_values_the_same_way_in_every_command(command):
    """The usage lines name what an option takes, the same way everywhere: a folder is DIR
    (`attention --ckpt CKPT` and `docs --out OUT` against `sample --ckpt DIR` before), a
    text TEXT, a picture FILE; no option falls back to its upper-cased name (PROMPT, SEED)."""
    sub = cli.build_parser().commands[command]
    folders = {"ckpt", "hf", "run", "init_from"} | ({"out"} if command in ("train", "docs")
                                                    else set())
    for a in sub._actions:
        if not a.option_strings or a.nargs == 0 or a.choices:
            continue
        flag = a.option_strings[-1]
        assert a.metavar is not None, f"{command} {flag}: shown as {a.dest.upper()}"
        if a.dest in folders:
            assert a.metavar == "DIR", f"{command} {flag} {a.metavar}"
        if a.dest in ("prompt", "stop"):
            assert a.metavar == "TEXT", f"{command} {flag} {a.metavar}"
    if command == "attention":
        assert sub.format_usage().split("--out ")[1].startswith("FILE")


def test_stray_words_after_train_options_are_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "max_iters=3", "--quiet", "lr=1e-3", "oops"])
    assert e.value.code == 2
    assert "unrecognized arguments: lr=1e-3 oops" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["sample", "--ckpt", "x", "max_iters=3"], "unrecognized arguments: max_iters=3"),
    (["eval", "--ckpt", "x", "split=val"], "unrecognized arguments: split=val"),
    (["sample"], "one of the arguments --ckpt --hf is required"),
    (["chat", "--ckpt", "x", "--unknown", "strict"], "invalid choice: 'strict'"),
])
def test_usage_errors_of_the_model_commands(argv, message, capsys):
    """key=value words belong to train only; --ckpt or --hf is required; chat has no
    --unknown strict (a typo would end the session)."""
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_model_commands_default_to_float32_on_the_cpu():
    parser = cli.build_parser()
    for command in ("sample", "chat", "eval"):
        args = parser.parse_args([command, "--hf", "x"])
        assert (args.dtype, args.device) == ("float32", "cpu"), command


def test_interrupted_training_exits_130(tmp_path, monkeypatch, capsys):
    import nanograd_llm.train as train_mod
    seen = {}

    def stopped(cfg, **kw):
        seen["device"] = cfg.device
        return {"interrupted": True, "step": 3, "out_dir": tmp_path / "run"}
    monkeypatch.setattr(train_mod, "train", stopped)
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--device", "cuda"]) == 130
    assert "checkpoint of step 3 saved" in capsys.readouterr().err
    assert seen["device"] == "cuda"                  # --device reaches the config

    def ctrl_c(cfg, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_mod, "train", ctrl_c)
    assert cli.main(["train", "--out", str(tmp_path / "run")]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_the_printed_next_commands_work_when_pasted(tmp_path, capsys):
    """A run folder with a space in its name, a corpus without '.': every command the trainer
    prints at the end runs as printed."""
    import shlex
    corpus = tmp_path / "nodots.txt"
    corpus.write_text("ab cd ef gh\n" * 60, encoding="utf-8")
    out = tmp_path / "my run"
    assert cli.main(["train", "--data", str(corpus), "--out", str(out), "--quiet",
                     "max_iters=2", "eval_interval=2", "eval_iters=1", "n_layer=1",
                     "n_embd=8", "n_head=2", "block_size=8", "batch_size=2",
                     "sample_tokens=5"]) == 0
    printed = capsys.readouterr().out
    commands = [line.split(":", 1)[1].split("(")[0].strip() for line in printed.splitlines()
                if line.startswith(("sample more:", "evaluate:", "chat:"))]
    assert len(commands) == 3 and all(shlex.quote(str(out)) in c for c in commands)
    for c in commands:
        words = shlex.split(c)
        assert words[0] == "nanograd-llm"
        if words[1] == "chat":
            continue                              # interactive; its --ckpt is checked below
        assert cli.main(words[1:] + (["--max-new-tokens", "3"] if words[1] == "sample"
                                     else ["--json"])) == 0
    assert shlex.split(commands[2])[-1] == str(out)


@pytest.fixture
def fake_model(monkeypatch):
    """sample/chat with a stub model: records what reaches the generator."""
    import nanograd_llm.cli_generate as cg
    tok = CharTokenizer.from_text("ab ?\n")
    monkeypatch.setattr(cg, "load_for_generation", lambda args: ("MODEL", tok))
    return tok


def test_sample_passes_every_flag_to_the_generator(fake_model, monkeypatch, capsys):
    import nanograd_llm.generate as gen
    calls = []

    def iter_generate(model, ids, *args, **kw):
        calls.append((model, list(ids), args, kw))
        yield np.array([fake_model.encode("b")[0]])
    monkeypatch.setattr(gen, "iter_generate", iter_generate)
    rc = cli.main(["sample", "--ckpt", "x", "--prompt", "aZb", "--unknown", "replace",
                   "--top-k", "5", "--top-p", "0.9", "--seed", "7", "--temperature", "0.5",
                   "--no-cache"])
    assert rc == 0
    model, ids, args, kw = calls[0]
    assert model == "MODEL" and ids == fake_model.encode("a?b")     # Z replaced by '?'
    assert args == (500, 0.5, 5, 0.9, 7, False)      # sample's default 500 … use_cache
    assert kw == {"vocab_limit": fake_model.vocab_size}
    assert capsys.readouterr().out == "a?bb\n"
    calls.clear()
    assert cli.main(["sample", "--ckpt", "x", "--prompt", "ab", "--max-new-tokens", "3"]) == 0
    assert calls[0][2][0] == 3 and calls[0][2][5] is True


def test_sample_writes_a_held_back_last_piece_with_or_without_streaming(monkeypatch, capsys):
    """A last token that decodes to U+FFFD (half a UTF-8 character) is held back by the
    streamer and written at the end; --no-stream prints the same text at once."""
    import nanograd_llm.cli_generate as cg
    import nanograd_llm.generate as gen
    tok = CharTokenizer.from_text("ab \n\ufffd")
    monkeypatch.setattr(cg, "load_for_generation", lambda args: ("MODEL", tok))

    def iter_generate(model, ids, *args, **kw):
        for c in "b\ufffd":
            yield np.array([tok.encode(c)[0]])
    monkeypatch.setattr(gen, "iter_generate", iter_generate)
    for extra in ([], ["--no-stream"]):
        assert cli.main(["sample", "--ckpt", "x", "--prompt", "ab", *extra]) == 0
        assert capsys.readouterr().out == "abb\ufffd\n"


def test_chat_passes_every_flag_to_the_loop(fake_model, monkeypatch):
    import nanograd_llm.chat as chat_mod
    seen = {}

    def chat_loop(model, tok, inp, out, **kw):
        seen.update(kw)
        return 0
    monkeypatch.setattr(chat_mod, "chat_loop", chat_loop)
    rc = cli.main(["chat", "--ckpt", "x", "--top-k", "4", "--top-p", "0.8", "--seed", "3",
                   "--temperature", "0.7", "--max-new-tokens", "9", "--stop", "\\n\\n",
                   "--no-cache", "--unknown", "replace"])
    assert rc == 0
    assert {k: seen[k] for k in ("top_k", "top_p", "seed", "temperature", "max_new_tokens",
                                 "use_cache", "stop", "unknown")} == {
        "top_k": 4, "top_p": 0.8, "seed": 3, "temperature": 0.7, "max_new_tokens": 9,
        "use_cache": False, "stop": "\n\n", "unknown": "replace"}
    seen.clear()
    assert cli.main(["chat", "--ckpt", "x"]) == 0
    assert seen["max_new_tokens"] == 200 and seen["use_cache"] is True      # chat's defaults
    assert seen["stop"] is None and seen["unknown"] == "skip"


def test_generate_without_cache_never_builds_one():
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.generate import generate
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    ref = generate(model, np.array([1, 2]), 5, temperature=0.0)

    def no_cache(*a, **k):
        raise AssertionError("use_cache=False built a KV cache")
    model.new_kv_cache = no_cache
    out = generate(model, np.array([1, 2]), 5, temperature=0.0, use_cache=False)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("bad", [True, False, 2.0, -1, "3"])
def test_max_new_tokens_must_be_a_real_integer(bad):
    from nanograd_llm.generate import check_sampling_args
    with pytest.raises(ValueError, match="max_new_tokens must be an integer"):
        check_sampling_args(bad)


def test_more_threads_than_rows_give_one_part_per_row(monkeypatch):
    from nanograd_llm import backend
    if backend._blas_controller() is None:
        pytest.skip("threadpoolctl is not installed: the batch is never split")
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "8")
    assert backend.shard_count(3, 1 << 30) == 3
    assert backend.shard_count(12, 1 << 30) == 8


def test_gradcheck_command_passes_the_device(monkeypatch):
    import nanograd_llm.gradcheck as gc
    seen = {}

    def run_all(**kw):
        seen.update(kw)
        return False
    monkeypatch.setattr(gc, "run_all", run_all)
    assert cli.main(["gradcheck", "--device", "cuda"]) == 1          # a failed check: exit 1
    assert seen == {"device": "cuda"}


def _tiny_run(tmp_path, name, *words):
    from _train_helpers import TEXT
    data = tmp_path / "corpus.txt"
    data.write_text(TEXT, encoding="utf-8")
    given = {w.split("=", 1)[0] for w in words if "=" in w}
    tiny = [w for w in ("n_layer=1", "n_head=2", "n_embd=16", "block_size=16", "batch_size=4",
                        "max_iters=2", "eval_interval=2", "eval_iters=1")
            if w.split("=", 1)[0] not in given]          # a setting is given once
    return cli.main(["train", "--data", str(data), "--out", str(tmp_path / name), "--quiet",
                     *tiny, *words])


def test_the_sample_after_training_is_reproducible(tmp_path, capsys):
    """The sample printed at the end is drawn with the run's seed: same run, same text."""
    samples = []
    for name in ("a", "b"):
        assert _tiny_run(tmp_path, name, "sample_tokens=40") == 0
        out = capsys.readouterr().out
        samples.append(out.split("--- sample ---")[1].split("----")[0])
    assert samples[0] == samples[1] and len(samples[0].strip()) > 0


@pytest.mark.parametrize("precision, shell", [("tf32", None), ("highest", "1")])
def test_the_sample_after_training_uses_the_run_s_precision(tmp_path, monkeypatch, capsys,
                                                             precision, shell):
    """The sample printed at the end ran after train() had put the shell's CUPY_TF32 back, so
    a precision=tf32 run sampled with full float32 products (and a precision=highest one with
    TF32 where the shell set CUPY_TF32=1). The sample belongs to the run: its precision."""
    import os

    import nanograd_llm.train as t
    if shell is None:
        monkeypatch.delenv("CUPY_TF32", raising=False)
    else:
        monkeypatch.setenv("CUPY_TF32", shell)
    seen = []
    real = t.sample_text

    def sample_text(*a, **k):
        seen.append(os.environ.get("CUPY_TF32"))
        return real(*a, **k)
    monkeypatch.setattr(t, "sample_text", sample_text)
    assert _tiny_run(tmp_path, "a", "sample_tokens=5", f"precision={precision}") == 0
    assert seen == ["1" if precision == "tf32" else "0"]
    assert os.environ.get("CUPY_TF32") == shell                 # and put back afterwards
    assert "--- sample ---" in capsys.readouterr().out


def test_train_summary_without_a_sample_or_a_separate_best(tmp_path, capsys):
    """sample_tokens=0 prints no sample block; when the last evaluation is also the lowest,
    no "lowest val loss ... kept in best/" line points elsewhere."""
    assert _tiny_run(tmp_path, "a", "sample_tokens=0") == 0
    out = capsys.readouterr().out
    from nanograd_llm import checkpoint as ckpt
    assert ckpt.read_manifest(tmp_path / "a" / "best")["step"] == 2      # best = the final step
    assert "--- sample ---" not in out and "lowest val loss" not in out
    assert "final (step 2): train loss" in out


def test_eval_json_never_shows_a_progress_bar(monkeypatch, capsys):
    """--json: progress=False (no bar even on a terminal); otherwise None (tqdm decides)."""
    import nanograd_llm.cli_generate as cg
    import nanograd_llm.evaluate as ev
    seen = []
    monkeypatch.setattr(cg, "load_for_generation", lambda args: ("MODEL", "TOK"))
    monkeypatch.setattr(ev, "resolve_eval_data", lambda *a: ("text", "label", "all", 0.1, None))

    def evaluate_text(model, tok, text, **kw):
        seen.append(kw["progress"])
        raise ValueError("stop here")
    monkeypatch.setattr(ev, "evaluate_text", evaluate_text)
    assert cli.main(["eval", "--ckpt", "x", "--json"]) == 1
    assert cli.main(["eval", "--ckpt", "x"]) == 1
    assert seen == [False, None] and "stop here" in capsys.readouterr().err


def test_a_huge_sample_tokens_is_refused_before_training(tmp_path, capsys):
    """sample_tokens=1e30 used to train and save, then fail on the sample with numpy's
    'Maximum allowed dimension exceeded' (exit 1 after a finished run)."""
    assert _tiny_run(tmp_path, "run", "sample_tokens=1e30") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: sample_tokens must be <= 100,000") and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    # the command it advises for a longer text works once pasted: it advised `nanograd-llm
    # sample --max-new-tokens N`, which `sample` refuses without --ckpt (or --hf)
    from nanograd_llm.atomic import shell_quote
    advised = f"`nanograd-llm sample --ckpt {shell_quote(tmp_path / 'run')} --max-new-tokens N`"
    assert f"for a longer text, once the run has trained, use {advised}" in err, err
    assert _tiny_run(tmp_path, "run", "sample_tokens=0") == 0
    capsys.readouterr()
    assert cli.main(["sample", "--ckpt", str(tmp_path / "run"), "--max-new-tokens", "7",
                     "--seed", "0", "--no-stream"]) == 0


def test_a_weight_decay_that_flips_the_weights_is_refused_before_training(tmp_path, capsys):
    """weight_decay=1e30 used to stop on a NaN loss with the advice 'try a lower lr'."""
    assert _tiny_run(tmp_path, "run", "weight_decay=1e30") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: weight_decay=1e+30 is too large") and "Traceback" not in err
    assert "lr*weight_decay must be < 1" in err
    assert not (tmp_path / "run").exists()


def test_an_empty_out_dir_is_refused_like_an_empty_out(tmp_path, monkeypatch, capsys):
    """out_dir= (a key=value word or a config file) used to train into the current folder,
    while --out "" is refused as empty."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.json").write_text('{"out_dir": ""}')
    (tmp_path / "corpus.txt").write_text("ab cd ef gh\n" * 60, encoding="utf-8")
    for words, where in ((["out_dir="], ""), (["--config", "cfg.json"], "config file cfg.json: ")):
        assert cli.main(["train", "--data", "corpus.txt", "--quiet", "max_iters=1",
                         "eval_iters=1", "sample_tokens=0", *words]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {where}out_dir is empty") and "Traceback" not in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json", "corpus.txt"]


def test_attention_command_refuses_unknown_prompt_characters(tmp_path, capsys):
    assert _tiny_run(tmp_path, "run", "sample_tokens=0") == 0
    capsys.readouterr()
    rc = cli.main(["attention", "--ckpt", str(tmp_path / "run"), "--prompt", "Dikkat QX",
                   "--out", str(tmp_path / "a.png")])
    assert rc == 1
    assert "prompt character(s) 'Q' 'X' not in the tokenizer's vocabulary" in \
        capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()


def test_attention_command_on_non_finite_weights_is_an_error(tmp_path, capsys):
    """A checkpoint whose weights hold NaN (here one attention weight, set by hand): the maps
    were NaN and `attention` wrote blank heatmaps with exit status 0. Now it stops with one
    line, as `sample` and `eval` do on such a checkpoint, and writes no picture."""
    from nanograd_llm import checkpoint as ckpt
    assert _tiny_run(tmp_path, "run", "sample_tokens=0") == 0
    model = ckpt.load_model(tmp_path / "run")
    tok = ckpt.load_run_tokenizer(tmp_path / "run")
    model.params["h.0.attn.c_attn.weight"][0, 0] = np.nan
    ckpt.save_checkpoint(tmp_path / "bad", model, None, tok, 2, train_config={})
    capsys.readouterr()
    rc = cli.main(["attention", "--ckpt", str(tmp_path / "bad"), "--prompt", "Dikkat",
                   "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err == ("error: the model produced non-finite attention weights (NaN or inf) in "
                   "layer 0; its weights may have diverged\n")
    assert not (tmp_path / "a.png").exists()
    # the same prompt on the run's own finite weights draws the maps
    assert cli.main(["attention", "--ckpt", str(tmp_path / "run"), "--prompt", "Dikkat",
                     "--out", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").is_file()

def test_a_prompt_byte_that_is_not_utf8_is_shown_as_a_byte(tmp_path, capsys):
    """A byte that is not UTF-8 reaches argv as '\\udcff' (surrogateescape): attention and the
    strict sample error used to print it so, instead of as the byte (as `sample --unknown skip`
    does)."""
    assert _tiny_run(tmp_path, "run", "sample_tokens=0") == 0
    capsys.readouterr()
    run, prompt = str(tmp_path / "run"), "Dikkat\udcff"
    for words in (["attention", "--ckpt", run, "--prompt", prompt, "--out",
                   str(tmp_path / "a.png")],
                  ["sample", "--ckpt", run, "--prompt", prompt, "--max-new-tokens", "2"]):
        assert cli.main(words) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: prompt character(s) byte 0xff (not UTF-8) not in the "
                              "tokenizer's vocabulary"), err
        assert "udcff" not in err
    assert not (tmp_path / "a.png").exists()


def test_paths_separator_memory_and_conflicting_flags(tmp_path, monkeypatch, capsys):
    import nanograd_llm.train as train_mod
    seen = {}

    def fake_train(cfg, **kw):
        seen["cfg"] = cfg
        return {"interrupted": True, "step": 0, "out_dir": cfg.out_dir}
    monkeypatch.setattr(train_mod, "train", fake_train)
    monkeypatch.setenv("HOME", str(tmp_path))
    # "--out=~/x": the shell leaves "~" alone after "="; the CLI expands it
    assert cli.main(["train", "--out=~/runs/a", "--", "max_iters=3", "lr=2e-3"]) == 130
    assert seen["cfg"].out_dir == str(tmp_path / "runs" / "a")
    assert (seen["cfg"].max_iters, seen["cfg"].lr) == (3, 2e-3)      # after the "--" too
    for empty in ("", "  "):
        with pytest.raises(SystemExit) as e:
            cli.main(["train", "--out", empty])
        assert e.value.code == 2 and "--out is empty" in capsys.readouterr().err
    # "--" after options and words (argparse itself only handles it right after the options)
    assert cli.main(["train", "max_iters=3", "--quiet", "--", "lr=2e-3"]) == 130
    assert (seen["cfg"].max_iters, seen["cfg"].lr) == (3, 2e-3)
    assert cli.main(["train", "--resume", "--init-from", "gpt2"]) == 1
    assert "--init-from starts a new run" in capsys.readouterr().err

    def no_memory(cfg, **kw):
        raise MemoryError("Unable to allocate 127. GiB")
    monkeypatch.setattr(train_mod, "train", no_memory)
    assert cli.main(["train", "batch_size=1000000000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (Unable to allocate 127. GiB)") and \
        "batch_size" in err and "Traceback" not in err


def test_ckpt_may_name_the_manifest_or_use_tilde(tmp_path, monkeypatch, capsys):
    from _train_helpers import tiny_config
    from nanograd_llm.train import train
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1, dropout=0.0), quiet=True)
    monkeypatch.setenv("HOME", str(tmp_path))
    for ckpt in (str(tmp_path / "run" / "checkpoint.json"), "~/run"):
        assert cli.main(["sample", f"--ckpt={ckpt}", "--max-new-tokens", "3", "--seed", "0",
                         "--no-stream"]) == 0
    capsys.readouterr()
    assert cli.main(["eval", "--ckpt=~/run/checkpoint.json", "--json"]) == 0


def test_init_from_with_a_tilde_in_a_key_value_word_or_config_file(tmp_path, monkeypatch, capsys):
    """init_from=~/gpt2 (a key=value word, or a --config file) is expanded like --init-from,
    data= and out_dir= (it failed with 'Hugging Face model folder not found: ~/gpt2')."""
    pytest.importorskip("safetensors")
    pytest.importorskip("regex")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    text = "merhaba dünya, nasılsın? güneş doğuyor. " * 30
    tok = BPETokenizer.train(text, 270)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "gpt2")
    tok.save(str(tmp_path / "gpt2"))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    (tmp_path / "c.toml").write_text('init_from = "~/gpt2"\n', encoding="utf-8")
    monkeypatch.setenv("HOME", str(tmp_path))
    words = ["--data", "~/t.txt", "--quiet", "max_iters=1", "eval_interval=1", "eval_iters=1",
             "block_size=8", "batch_size=2", "sample_tokens=0"]
    for i, how in enumerate((["init_from=~/gpt2"], ["--config", str(tmp_path / "c.toml")])):
        rc = cli.main(["train", "--out", f"~/run{i}", *how, *words])
        err = capsys.readouterr().err
        assert rc == 0, err
        saved = json.loads((tmp_path / f"run{i}" / "checkpoint.json").read_text())
        assert saved["train_config"]["init_from"] == str(tmp_path / "gpt2")


def test_init_from_with_the_bigram_model_is_refused(tmp_path, capsys):
    """--init-from loads a GPT; with --preset bigram (model=bigram) the run used to train the
    GPT anyway and save model='bigram' in its settings."""
    for words in (["--preset", "bigram"], ["model=bigram"]):
        rc = cli.main(["train", *words, "--init-from", str(tmp_path / "gpt2"),
                       "--out", str(tmp_path / "run"), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 1 and "Traceback" not in err
        assert "init_from fine-tunes a GPT-2 model; it cannot train model='bigram'" in err
        assert not (tmp_path / "run").exists()
        # the advice fits both ways of asking for a bigram (it said "use another preset than
        # bigram" to a default-preset command given model=bigram), and following it gets past
        # the refusal (to the folder, which does not exist here)
        assert "(leave out --init-from, or give model=gpt, which every preset but bigram " \
            "has)" in err and "another preset" not in err, err
        given = [w for w in words if w != "model=bigram"]
        assert cli.main(["train", *given, "--init-from", str(tmp_path / "gpt2"),
                         "--out", str(tmp_path / "run"), "--quiet", "model=gpt"]) == 1
        err = capsys.readouterr().err
        assert "cannot train model" not in err and str(tmp_path / "gpt2") in err, err


@pytest.mark.parametrize("encoding,errors", [("utf-8", "surrogateescape"), ("utf-16", "strict"),
                                             ("ascii", "nanograd_llm.escape")])
def test_stdout_error_handler_by_encoding(monkeypatch, encoding, errors):
    """A UTF-8 stdout writes a non-UTF-8 file name's bytes back (surrogateescape); a UTF-16
    one is left strict (raw bytes would corrupt it); others escape what they cannot show."""
    import io
    import sys

    from nanograd_llm import cli
    out = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")
    monkeypatch.setattr(sys, "stdout", out)
    cli._escape_what_stdout_cannot_encode()
    assert out.errors == errors


def test_main_puts_the_process_wide_settings_back_when_the_command_ends(monkeypatch, capsys):
    """main sets two things for the whole process while its command runs: one-line warnings
    (warnings.formatwarning) and stdout's error handler. They used to stay set after main
    returned, so a notebook or program calling main (or a second main in the same process,
    as in this suite) printed every later warning without its file and line."""
    import io
    import warnings
    from contextlib import nullcontext

    seen = []

    def command(args):
        seen.append((warnings.formatwarning("ran out of pairs", UserWarning, "f.py", 3),
                     sys.stdout.errors))
        print("ş")
        if len(seen) == 3:
            raise ValueError("the command failed")
        return 0
    monkeypatch.setattr(cli, "_cmd_gradcheck", command)
    before = warnings.formatwarning
    for encoding, during, rc in (("ascii", "nanograd_llm.escape", 0),
                                 ("utf-8", "surrogateescape", 0), ("ascii", "nanograd_llm.escape", 1)):
        out = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")
        monkeypatch.setattr(sys, "stdout", out)
        assert cli.main(["gradcheck"]) == rc
        assert seen[-1] == ("warning: ran out of pairs\n", during)
        assert warnings.formatwarning is before
        assert out.errors == "strict"
        with pytest.raises(UnicodeEncodeError) if encoding == "ascii" else nullcontext():
            print("ş", file=out)
    assert "the command failed" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["train_config", "extra"])
def test_resume_reads_a_null_manifest_table_as_empty(tmp_path, capsys, key):
    """checkpoint.json may hold null for train_config or extra (its type check allows it):
    --resume used to stop with a traceback ('NoneType' object has no attribute 'get')."""
    assert _tiny_run(tmp_path, "run", "sample_tokens=0") == 0
    manifest = tmp_path / "run" / "checkpoint.json"
    m = json.loads(manifest.read_text())
    m[key] = None
    manifest.write_text(json.dumps(m))
    capsys.readouterr()
    assert _tiny_run(tmp_path, "run", "sample_tokens=0", "--resume", "max_iters=3") == 0
    assert json.loads(manifest.read_text())["step"] == 3


def test_non_finite_starting_weights_are_not_blamed_on_the_lr(tmp_path, capsys):
    """A GPT-2 folder whose weights hold NaN: the step-0 evaluation used to end with 'The last
    good checkpoint in OUT (step None) is kept; try a lower lr', while no checkpoint existed
    (and OUT, just made, was removed again)."""
    from _train_helpers import GPT2_TEXT, tiny_gpt2_folder
    tiny_gpt2_folder(tmp_path / "gpt2", 270, fill=np.nan)
    (tmp_path / "t.txt").write_text(GPT2_TEXT, encoding="utf-8")
    rc = cli.main(["train", "--init-from", str(tmp_path / "gpt2"), "--data",
                   str(tmp_path / "t.txt"), "--out", str(tmp_path / "run"), "--quiet",
                   "max_iters=1", "eval_iters=1", "block_size=8", "batch_size=2",
                   "sample_tokens=0"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.startswith("error: training stopped: evaluation loss is nan (train) / nan (val) "
                          f"at step 0, before any training step: the weights loaded from "
                          f"{tmp_path / 'gpt2'} give a non-finite loss"), err
    assert err.rstrip().endswith("no checkpoint was saved")
    assert "None" not in err and "lower lr" not in err
    assert not (tmp_path / "run").exists()


def test_a_config_that_is_a_pipe_is_not_called_missing(tmp_path, capsys):
    """--config <(...) (a pipe such as /dev/fd/63) or /dev/null exists but is not a regular
    file: the error used to say 'config file not found'."""
    import os
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    fifo = tmp_path / "settings.json"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/null"):
        assert cli.main(["train", "--config", str(path), "--out", str(tmp_path / "run"),
                         "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: config file {path} is not a regular file (a pipe or a "
                              f"device"), err
        assert not (tmp_path / "run").exists()


@posix_only(SYMLINKS)
def test_an_out_that_is_a_symlink_to_nothing_is_named_and_nothing_is_written(tmp_path, capsys):
    """--out LINK, where LINK (or a folder above it) is a symbolic link whose target is gone
    (deleted, or on a disk that is not mounted), said only "[Errno 17] File exists: 'LINK'".
    The target is not created behind the user's back; a link to a folder still trains there."""
    import os
    if not hasattr(os, "symlink"):
        pytest.skip("no symbolic links here")
    gone = tmp_path / "disk" / "runs"
    (tmp_path / "link").symlink_to(gone)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for out, says in (
            ("link", f"--out {tmp_path / 'link'} is a symbolic link to {gone}, which does "
                     f"not exist; create that folder first, or remove the link"),
            ("link/run", f"--out {tmp_path / 'link' / 'run'} goes through the symbolic link "
                         f"{tmp_path / 'link'}, whose target {gone} does not exist; create that "
                         f"folder first, or remove the link"),
            ("loop", f"--out {tmp_path / 'loop'} is a symbolic link that loops back on itself"),
            ("loop/run", f"--out {tmp_path / 'loop' / 'run'} goes through the symbolic link "
                         f"{tmp_path / 'loop'}, which loops back on itself; remove the link")):
        for words in ([], ["--resume"]):
            assert _tiny_run(tmp_path, out, *words) == 1
            err = capsys.readouterr().err
            assert err.startswith(f"error: {says}"), err
            assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "link", "loop"]
    assert not (tmp_path / "disk").exists()
    gone.mkdir(parents=True)                     # the disk is back: the run goes into it
    assert _tiny_run(tmp_path, "link", "sample_tokens=0") == 0
    assert (gone / "checkpoint.json").is_file() and (tmp_path / "link").is_symlink()


@posix_only(SYMLINKS)
def test_docs_out_that_is_a_symlink_to_nothing_is_named(tmp_path, capsys):
    import os
    if not hasattr(os, "symlink"):
        pytest.skip("no symbolic links here")
    pytest.importorskip("markdown")
    (tmp_path / "site").symlink_to(tmp_path / "gone")
    assert cli.main(["docs", "--out", str(tmp_path / "site"), "--no-images"]) == 1
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'site'} is a symbolic link to {tmp_path / 'gone'}, which does " \
           f"not exist" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    from nanograd_llm.atomic import refuse_dangling_link
    refuse_dangling_link(tmp_path / "new" / "folder", "--out")       # a plain new path is fine


@pytest.mark.parametrize("value, close", [("1_000", None), ("(float32,2)", "float32"),
                                          ("foo", None), ("float16", None), ("int", None),
                                          ("f4,f4", None)])
def test_a_bad_dtype_setting_gets_our_message_not_numpys(tmp_path, capsys, value, close):
    """dtype=1_000 printed numpy's 'format number 1 of "1_000" is not recognized', and
    dtype=(float32,2) a SyntaxError traceback from numpy's own dtype parser."""
    assert _tiny_run(tmp_path, "run", f"dtype={value}") == 1
    err = capsys.readouterr().err
    hint = f" (did you mean {close}?)" if close else ""
    assert err == f"error: dtype must be one of float32, float64, got {value!r}{hint}\n"
    assert not (tmp_path / "run").exists()
    from nanograd_llm import GPT, GPTConfig
    with pytest.raises(ValueError, match=r"unknown dtype|unsupported dtype"):
        GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4), dtype=value)


def test_a_numpy_alias_of_a_dtype_is_saved_under_its_canonical_name(tmp_path, capsys):
    """dtype=double trained in float64 but was saved as 'double' in checkpoint.json, so resuming
    with dtype=float64 was refused ("trained with dtype='double', now dtype='float64'"). A run
    an earlier version saved with such a spelling still resumes."""
    from nanograd_llm.config import make_config
    assert [make_config(overrides={"dtype": v}).dtype for v in ("f4", "single", "double", "<f8")] \
        == ["float32", "float32", "float64", "float64"]
    assert _tiny_run(tmp_path, "run", "dtype=double") == 0
    man = tmp_path / "run" / "checkpoint.json"
    saved = json.loads(man.read_text())
    assert saved["train_config"]["dtype"] == "float64" and saved["dtype"] == "float64"
    assert _tiny_run(tmp_path, "run", "--resume", "dtype=float64", "max_iters=3") == 0
    saved = json.loads(man.read_text())
    saved["train_config"]["dtype"] = "f8"                  # as an earlier version wrote it
    man.write_text(json.dumps(saved))
    assert _tiny_run(tmp_path, "run", "--resume", "max_iters=4") == 0, capsys.readouterr().err
    assert json.loads(man.read_text())["train_config"]["dtype"] == "float64"


def test_numbers_with_digit_group_underscores_are_read_as_python_and_toml_read_them():
    """1_000 is an integer in Python and in a TOML config file: a key=value word reads it the
    same way, for integer and float settings alike; misplaced underscores stay refused."""
    from nanograd_llm.config import make_config
    cfg = make_config(overrides={"mmap_threshold": "16_777_216", "max_iters": "1_000",
                                 "lr": "2_0e-4", "seed": "1_000.0"})
    assert (cfg.mmap_threshold, cfg.max_iters, cfg.lr, cfg.seed) == (16_777_216, 1000, 2e-3, 1000)
    for bad in ("1__000", "_1000", "1000_"):
        with pytest.raises(ValueError, match=f"bad value for max_iters: '{bad}' is not an "
                                             f"integer"):
            make_config(overrides={"max_iters": bad})


@pytest.mark.parametrize("word, says, n", [
    pytest.param("max_iters=" + "9" * 5000, "bad value for max_iters: '" + "9" * 79, 5002,
                 marks=needs_digit_limit),
    ("max_iters=-" + "9" * 4000, "max_iters must be >= 1, got -" + "9" * 79, 4001),
    ("model=" + "g" * 3000, "model must be one of gpt, bigram, got '" + "g" * 79, 3002),
    ("k" * 3000 + "=1", "unknown config key '" + "k" * 79, 3002),
    ("x" * 3000, "expected key=value, got '" + "x" * 79, 3002),
], ids=["long-integer", "long-negative-integer", "long-string", "long-key", "long-word"])
def test_a_long_bad_setting_is_shortened_in_the_error(tmp_path, capsys, word, says, n):
    """A bad integer of 5000 digits (or any long bad value or key) was echoed whole, thousands
    of characters on one error line; its middle is now cut out and its length given."""
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--quiet", word]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: " + says + "…") and f"({n:,} characters)" in err, err[:300]
    assert says[-1] * 100 not in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_the_shown_value_of_a_setting():
    """The one helper every setting's error message goes through."""
    from nanograd_llm.config import make_config, shown
    assert shown("short") == "'short'" and shown(12) == "12" and shown("a" * 118) == repr("a" * 118)
    assert shown("a" * 80 + "b" * 100 + "/corpus.txt") == \
        "'" + "a" * 79 + "…" + "b" * 8 + "/corpus.txt' (193 characters)"
    with pytest.raises(ValueError) as e:
        make_config(overrides={"bias": "y" * 3000})
    assert str(e.value) == ("bad value for bias: '" + "y" * 79 + "…" + "y" * 19 + "' (3,002 "
                            "characters) is not a boolean (true/false)")


@needs_digit_limit
def test_an_integer_too_long_for_repr_is_shown_by_its_digit_count():
    from nanograd_llm.config import make_config
    with pytest.raises(ValueError, match=r"^max_iters must be >= 1, got <a negative integer of "
                                         r"about 6,001 digits>$"):
        make_config(max_iters=-10 ** 6000)          # too long even for repr


@pytest.mark.parametrize("name,text,says", [
    ("deep.json", '{"lr": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ("deep.toml", "lr = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    # Python's own words, less "(4300 digits)": 3.10 (from 3.10.7) writes "(4300)"
    pytest.param("big.json", '{"seed": ' + "1" * 5000 + "}",
                 "for integer string conversion: value has 5000 digits", marks=needs_digit_limit),
], ids=["deep.json", "deep.toml", "big.json"])
def test_a_config_file_that_cannot_be_parsed_is_named(tmp_path, capsys, name, text, says):
    """A deeply nested config file gave "maximum recursion depth exceeded while decoding a JSON
    array" and an integer of 5000 digits Python's digit-limit message, neither naming the file."""
    f = tmp_path / name
    f.write_text(text)
    assert cli.main(["train", "--config", str(f), "--out", str(tmp_path / "run"),
                     "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot parse config file {f}: ") and says in err, err[:300]
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()
    # Python's advice to raise its digit limit is for programmers, not for the command line
    assert "set_int_max_str_digits" not in err, err[:300]


@pytest.mark.parametrize("name, text", [
    ("twice.json", '{"lr": 0.01, "max_iters": 3, "lr": 0.1}'),
    ("twice.toml", "lr = 0.01\nmax_iters = 3\nlr = 0.1\n"),
])
def test_a_key_given_twice_in_a_config_file_is_refused(tmp_path, capsys, name, text):
    """TOML refuses a repeated key; a JSON config silently trained with its last value."""
    f = tmp_path / name
    f.write_text(text)
    assert cli.main(["train", "--config", str(f), "--out", str(tmp_path / "run"),
                     "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot parse config file {f}: ") and err.count("\n") == 1
    if name.endswith(".json"):
        assert err.endswith(": 'lr' is given twice (0.01 and 0.1); give it once\n")
    assert not (tmp_path / "run").exists()


def test_a_setting_given_twice_on_the_command_line_is_refused(tmp_path, capsys):
    """`train lr=1e-3 ... lr=3e-4` silently trained with the last value; the words may also
    stand on both sides of an option, or spell the key with dashes."""
    for words in (["max_iters=3", "max_iters=5"], ["max_iters=3", "--quiet", "max-iters=5"]):
        assert cli.main(["train", "--out", str(tmp_path / "run"), *words]) == 1
        err = capsys.readouterr().err
        assert err == f"error: max_iters is set twice on the command line ({words[0]!r} and " \
                      f"{words[-1]!r}); give it once\n"
        assert not (tmp_path / "run").exists()
    # a command-line value over the config file's or the preset's one is what it is for
    from nanograd_llm.config import make_config, parse_overrides
    (tmp_path / "c.json").write_text('{"max_iters": 7, "lr": 0.01}')
    cfg = make_config("baby", config_file=tmp_path / "c.json",
                      overrides=parse_overrides(["max_iters=9", "batch_size=4"]))
    assert (cfg.max_iters, cfg.lr, cfg.batch_size) == (9, 0.01, 4)


@pytest.mark.parametrize("where", ["toml", "json", "word"])
def test_a_preset_key_points_to_the_preset_flag(tmp_path, capsys, where):
    """`preset = "baby"` in a config file (or preset=baby on the command line) is refused,
    since the preset is a flag, not a field; the message said "did you mean precision?"
    and never named --preset."""
    if where == "word":
        argv = ["train", "preset=baby"]
    else:
        path = tmp_path / f"my.{where}"
        path.write_text('preset = "baby"\n' if where == "toml" else '{"preset": "baby"}',
                        encoding="utf-8")
        argv = ["train", "--config", str(path)]
    assert cli.main(argv + ["--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "choose the preset with --preset baby" in err, err
    assert "precision" not in err
    assert not (tmp_path / "run").exists()


def test_cli_resume_of_a_run_killed_before_its_first_checkpoint_names_overwrite(tmp_path,
                                                                                capsys):
    """`nanograd-llm train --resume` (and the example) read the folder's manifest in
    resume_config, before the run-folder checks: a folder a run was killed in before its first
    checkpoint still got 'train with `nanograd-llm train --out DIR` first', which then refused
    the folder. The CLI now gives the --overwrite advice that train() gives."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 0, "train_loss": 9, "val_loss": 9}\n')
    (out / "tokens.npy").write_bytes(b"")
    assert cli.main(["train", "--resume", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "no checkpoint to resume in" in err and f"--out {out} --overwrite" in err, err
    assert "first)" not in err
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", "tokens.npy"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["train", "--resume", "--out", str(empty), "--quiet"]) == 1
    assert "checkpoint.json is missing (train with" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, says", [
    ("--seed", -10 ** 3999, "--seed must be an integer >= 0, got -1"),
    ("--top-k", -10 ** 3999, "--top-k must be an integer >= 1, got -1"),
    ("--max-new-tokens", -10 ** 3999, "--max-new-tokens must be an integer >= 0, got -1"),
], ids=["seed", "top-k", "max-new-tokens"])
def test_a_long_bad_sampling_option_is_shortened_in_the_error(tmp_path, capsys, flag, value,
                                                              says):
    """sample --seed -999…9 (4000 digits) echoed the whole number on the error line; it goes
    through config.shown, as a bad training setting does."""
    assert _tiny_run(tmp_path, "run", "sample_tokens=0") == 0
    capsys.readouterr()
    assert cli.main(["sample", "--ckpt", str(tmp_path / "run"), flag, str(value)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: " + says + "0" * 78 + "…" + "0" * 20 + " (4,001 characters)"), \
        err[:300]
    assert err.count("\n") == 1


def test_every_path_option_expands_a_tilde(tmp_path, monkeypatch, capsys):
    """docs --run=~/x (and --out=~/x): "~" left unexpanded after "=" is expanded by the CLI."""
    import nanograd_llm.docs as docs_mod
    seen = {}

    def build_docs(out, run_dir=None, images=True):
        seen.update(out=out, run=run_dir)
        return [tmp_path / "index.html"]
    monkeypatch.setattr(docs_mod, "build_docs", build_docs)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.main(["docs", "--out=~/site", "--run=~/runs/a"]) == 0
    assert seen == {"out": str(tmp_path / "site"), "run": str(tmp_path / "runs" / "a")}


def test_train_device_comes_from_the_config_file_unless_given(tmp_path, monkeypatch):
    import nanograd_llm.train as train_mod
    seen = []

    def fake_train(cfg, **kw):
        seen.append(cfg.device)
        return {"interrupted": True, "step": 0, "out_dir": cfg.out_dir}
    monkeypatch.setattr(train_mod, "train", fake_train)
    (tmp_path / "c.json").write_text('{"device": "cuda"}', encoding="utf-8")
    for extra in ([], ["--device", "cpu"]):
        assert cli.main(["train", "--config", str(tmp_path / "c.json"),
                         "--out", str(tmp_path / "run"), *extra]) == 130
    assert seen == ["cuda", "cpu"]


def test_ckpt_is_loaded_on_the_device_given(monkeypatch):
    import argparse

    import nanograd_llm.checkpoint as ckpt
    from nanograd_llm.cli_generate import load_for_generation
    seen = []
    monkeypatch.setattr(ckpt, "load_model", lambda path, device="cpu": seen.append(device) or "M")
    monkeypatch.setattr(ckpt, "load_run_tokenizer", lambda path, model=None: "T")
    args = argparse.Namespace(hf=None, ckpt="run", device="cuda", dtype="float32")
    assert load_for_generation(args) == ("M", "T") and seen == ["cuda"]


def test_a_reader_that_left_leaves_no_file_open(tmp_path, monkeypatch):
    """report_errors' answer to a closed pipe (BrokenPipeError) points stdout at /dev/null,
    but the fd it opened on /dev/null stayed open beside it, one more in every call (the
    examples run their work through report_errors). It is closed after dup2."""
    import os
    import sys
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd")
    with open(tmp_path / "out", "w") as f:
        monkeypatch.setattr(sys, "stdout", f)

        def left():
            raise BrokenPipeError(32, "Broken pipe")
        before = sorted(os.listdir("/proc/self/fd"))
        assert cli.report_errors(left) == 141
        assert sorted(os.listdir("/proc/self/fd")) == before


@posix_only("a ~USER path that cannot be expanded (Windows guesses any user's home folder)")
def test_a_path_setting_no_file_can_have_is_refused_naming_the_setting(tmp_path, monkeypatch,
                                                                         capsys):
    """A path setting starting with ~USER of an unknown user (--out, --data, --init-from,
    --config, out_dir=, data=, init_from=, a config file, make_config) ended with "Could not
    determine home directory.", and one holding a NUL character (a config file's "\\u0000",
    a Python string) with "embedded null byte": neither named the setting nor what was given
    → both name them, and nothing is written."""
    from nanograd_llm.config import TrainConfig, make_config, read_config_file
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text("ab cd ef gh\n" * 60, encoding="utf-8")
    user = "~nosuchuser_nanograd"
    bad = f"{user}/x"
    unknown = f"starts with {user}, the home folder of a user this system does not know " \
              f"(for a file or folder named {user}, give its full path)"
    for option in ("--out", "--data", "--init-from", "--config"):
        with pytest.raises(SystemExit) as e:
            cli.main(["train", option, bad, "max_iters=1"])
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"error: {option} {bad!r} {unknown}\n" in err, err
    with pytest.raises(SystemExit) as e:
        cli.main(["sample", "--ckpt", f"./{user}"])
    assert f"error: --ckpt './{user}' {unknown}\n" in capsys.readouterr().err
    for key in ("out_dir", "data", "init_from"):
        assert cli.main(["train", "--data", "corpus.txt", "--quiet", "max_iters=1",
                         f"{key}={bad}"]) == 1
        assert capsys.readouterr().err == f"error: bad value for {key}: {bad!r} {unknown}\n"
        (tmp_path / "c.json").write_text(json.dumps({key: "a\0b"}), encoding="utf-8")
        assert cli.main(["train", "--data", "corpus.txt", "--quiet", "max_iters=1",
                         "--config", "c.json"]) == 1
        assert capsys.readouterr().err == (f"error: config file c.json: bad value for {key}: "
                                           f"'a\\x00b' holds a NUL character (\\x00), which "
                                           f"no path can\n")
        # a fine-tune reads its folder before the config is built: the setting is named there
        with pytest.raises(ValueError, match=f"^bad value for {key}: 'a\\\\x00b' holds a NUL"):
            make_config(**{"init_from": "hf", key: "a\0b", "vocab_size": 300})
        with pytest.raises(ValueError, match=f"^bad value for {key}: '{bad}' starts with"):
            TrainConfig(**{key: bad})
    for path in (bad, "a\0b.toml"):
        with pytest.raises(ValueError, match="^config file '.*' (starts with|holds a NUL)"):
            read_config_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "corpus.txt"]


# -- a config file's refused value names the file -----------------------------------------------
@pytest.mark.parametrize("body, message", [
    ("lr = -1", "lr must be a finite number >= 0, got -1.0"),
    ('lr = "fast"', "bad value for lr: 'fast' is not a number"),
    ('max_iters = "2.5"', "bad value for max_iters: '2.5' is not an integer"),
    ("lr = 0.01\nmin_lr = 0.1", "min_lr=0.1 is above lr=0.01: after the warm-up"),
    ("block_size = 0", "block_size must be >= 1, got 0"),
    ("n_head = 5", "n_embd=96 must be divisible by n_head=5"),
    ('activation = "GELU"', "unknown activation 'GELU': expected one of gelu, relu"),
    ('tokenizer = "word"', "tokenizer must be one of char, bpe, got 'word'"),
])
def test_a_value_a_config_file_gives_is_refused_with_the_files_name(tmp_path, capsys, body,
                                                                   message):
    """A value refused in a --config file was named by its setting only ('lr must be ...'): a
    user with several config files did not know which one held it → 'config file PATH: ...',
    once; the same value as a key=value word keeps its message."""
    f = tmp_path / "runs" / "a.toml"
    f.parent.mkdir()
    f.write_text(body + "\n", encoding="utf-8")
    run = str(tmp_path / "run")
    assert cli.main(["train", "--config", str(f), "--out", run, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: config file {f}: {message}"), err
    assert err.count(str(f)) == 1 and err.count("\n") == 1
    words = [line.replace(" ", "").replace('"', "") for line in body.split("\n")]
    assert cli.main(["train", "--out", run, "--quiet", *words]) == 1
    assert capsys.readouterr().err.startswith(f"error: {message}")
    assert not (tmp_path / "run").exists()


def test_a_config_file_is_named_only_for_an_error_its_values_take_part_in(tmp_path, capsys):
    """A value from the command line that is refused alone keeps its message, whatever the file
    holds; a file value given again on the command line is not the file's; a message that
    names the file already does not name it twice."""
    from nanograd_llm.config import make_config
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"lr": 0.01, "n_layer": 2}))
    run = str(tmp_path / "run")
    assert cli.main(["train", "--config", str(f), "--out", run, "dropout=2"]) == 1
    assert capsys.readouterr().err == "error: dropout must be in [0, 1), got 2.0\n"
    # the file's lr=0.01 is part of this one: min_lr is above the file's lr
    assert cli.main(["train", "--config", str(f), "--out", run, "min_lr=0.05"]) == 1
    assert capsys.readouterr().err.startswith(f"error: config file {f}: min_lr=0.05 is above "
                                              f"lr=0.01")
    f.write_text(json.dumps({"lr": -1, "n_layer": 2}))
    assert make_config(config_file=f, overrides={"lr": "0.01"}).lr == 0.01
    with pytest.raises(ValueError, match=r"^lr must be a finite number >= 0, got -2.0$"):
        make_config(config_file=f, lr=-2.0)
    f.write_text(json.dumps({"n_layers": 2}))
    assert cli.main(["train", "--config", str(f), "--out", run]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: unknown config key 'n_layers' in {f} (did you mean") and \
        err.count(str(f)) == 1
    assert not (tmp_path / "run").exists()


def test_resuming_with_a_config_file_value_that_does_not_fit_the_run_names_the_file(tmp_path,
                                                                                    capsys):
    """--resume checks the file's values with the run's saved ones: a min_lr above the run's
    lr names the file; the same value as a key=value word keeps its message."""
    assert _tiny_run(tmp_path, "run", "sample_tokens=0", "lr=0.001", "min_lr=0.0001") == 0
    capsys.readouterr()
    f = tmp_path / "a.toml"
    f.write_text("min_lr = 0.5\n")
    run = str(tmp_path / "run")
    assert cli.main(["train", "--config", str(f), "--out", run, "--resume", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: config file {f}: min_lr=0.5 is above lr=0.001"), err
    assert err.count(str(f)) == 1
    assert cli.main(["train", "--out", run, "--resume", "--quiet", "min_lr=0.5"]) == 1
    assert capsys.readouterr().err.startswith("error: min_lr=0.5 is above lr=0.001")


@pytest.mark.parametrize("name, text", [("A.TOML", "n_layer = 2\n"), ("a.Json", '{"n_layer": 2}')])
def test_a_config_file_suffix_in_capitals_is_read(tmp_path, name, text):
    """'Settings.TOML' (a name Windows and macOS treat as settings.toml) was refused as 'config
    file Settings.TOML must end in .toml or .json'."""
    from nanograd_llm.config import make_config
    (tmp_path / name).write_text(text)
    assert make_config(config_file=tmp_path / name).n_layer == 2


@pytest.mark.parametrize("line, says", [
    ("lr = 1979-05-27", "bad value for lr: 1979-05-27 is a TOML date or time, not a number"),
    ("bias = 07:32:00", "bad value for bias: 07:32:00 is a TOML date or time, not true or false"),
    ("data = 2024-01-01", "bad value for data: 2024-01-01 is a TOML date or time, not a string "
                          "(put it in quotes to give it as a string)"),
])
def test_a_toml_date_is_named_as_written_not_as_python_writes_it(tmp_path, line, says):
    """TOML reads an unquoted 2024-01-01 as a date: the error said "datetime.date(2024, 1, 1) is
    not a string", Python's spelling of a value the user never wrote."""
    from nanograd_llm.config import make_config
    f = tmp_path / "a.toml"
    f.write_text(line + "\n")
    with pytest.raises(ValueError) as e:
        make_config(config_file=f)
    assert str(e.value) == f"config file {f}: {says}"


def test_the_run_folder_is_named_as_it_was_given(tmp_path, capsys):
    """`train out_dir=/etc/passwd` and a config file's out_dir were told '--out /etc/passwd is
    a file, not a folder', an option not given: the command now names the folder as it came,
    out_dir=PATH for a key=value word, 'out_dir PATH (from FILE)' for a config file's, --out
    PATH for --out (and the preset's folder); Python's message says out_dir PATH."""
    from nanograd_llm.train import make_config, train
    data, afile, other = tmp_path / "corpus.txt", tmp_path / "a-file", tmp_path / "other"
    data.write_text("merhaba dünya\n" * 50, encoding="utf-8")
    afile.write_text("x")
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    config = tmp_path / "a.toml"
    for folder, fault in ((afile, "is a file, not a folder"),
                          (other, "is not empty and holds no training run (notes.txt); choose "
                                  "a new or empty folder")):
        config.write_text(f"out_dir = {json.dumps(str(folder))}\n", encoding="utf-8")
        for words, named in ((["--out", str(folder)], f"--out {folder}"),
                             ([f"out_dir={folder}"], f"out_dir={folder}"),
                             (["--config", str(config)], f"out_dir {folder} (from {config})"),
                             (["--config", str(config), "--out", str(folder)],
                              f"--out {folder}")):
            assert cli.main(["train", "--data", str(data), "--quiet", *words]) == 1
            assert capsys.readouterr().err == f"error: {named} {fault}\n", words
        with pytest.raises(ValueError) as e:
            train(make_config(config_file=str(config), data=str(data)), quiet=True)
        assert str(e.value) == f"out_dir {folder} {fault}"
    # the note goes with the value it was made for: a folder set afterwards is --out's
    from nanograd_llm.config import out_dir_given_as
    cfg = make_config(config_file=str(config), data=str(data))
    assert out_dir_given_as(cfg) == str(config)
    cfg.out_dir = str(tmp_path / "elsewhere")
    assert out_dir_given_as(cfg) is None


@posix_only(SYMLINKS)
def test_a_resumed_run_folder_is_named_as_it_was_given(tmp_path, capsys):
    """resume_config's own check of the folder (a link to nothing) names it as given too."""
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    assert cli.main(["train", "--resume", f"out_dir={tmp_path / 'link'}"]) == 1
    assert capsys.readouterr().err.startswith(f"error: out_dir={tmp_path / 'link'} is a "
                                              f"symbolic link to {tmp_path / 'gone'}")


def test_an_error_before_an_interruption_is_told_in_the_command_lines_words(capsys):
    """A Ctrl-C held back until its work ended (atomic.signals_deferred) is raised `from` the
    work's error, which report_errors prints before 'interrupted': that line printed str(e),
    Python's words (resume=True), where the plain error line prints command_line_message."""
    from nanograd_llm.atomic import with_command_line_message

    def work():
        error = with_command_line_message(ValueError("use resume=True"), "use --resume")
        raise KeyboardInterrupt from error
    assert cli.report_errors(work) == 130
    assert capsys.readouterr().err == "\nerror: use --resume\ninterrupted\n"


# Each command's words besides the option under test (what argparse requires)
_REQUIRED_WORDS = {"sample": ["--ckpt", "r"], "chat": ["--ckpt", "r"], "eval": ["--ckpt", "r"],
                   "attention": ["--ckpt", "r", "--prompt", "ab", "--out", "a.png"],
                   "docs": ["--out", "d"]}


def _value_options():
    """(command, flag) of every option of every command that takes one value."""
    parser = cli.build_parser()
    for command, sub in sorted(parser.commands.items()):
        for a in sub._actions:
            if a.option_strings and a.nargs is None:
                yield command, a.option_strings[-1]


def _parsed(argv, capsys):
    """What parsing argv as main does gives: the namespace, or argparse's exit and message."""
    parser = cli.build_parser()
    try:
        args = parser.parse_args(cli.join_negative_values(parser, argv))
    except SystemExit as e:
        return e.code, capsys.readouterr().err.splitlines()[-1]
    return {k: v for k, v in vars(args).items() if k != "func"}


@pytest.mark.parametrize("command, flag", list(_value_options()))
@pytest.mark.parametrize("value", ["-inf", "-nan", "-1e3", "-Infinity"])
def test_a_negative_value_after_an_option_is_read_as_its_value(command, flag, value, capsys):
    """`sample --temperature -inf` (-nan, -1e3) got argparse's "argument --temperature:
    expected one argument": argparse takes only -5 and -.5 for numbers, and -inf for an
    option. `--temperature=-inf` was refused with the command's own message → a word that
    reads as a number is the value of the option before it, in every command and option: both
    spellings parse the same."""
    base = [command, *_REQUIRED_WORDS.get(command, [])]
    if flag in base:
        k = base.index(flag)
        base = base[:k] + base[k + 2:]
    apart = _parsed([*base, flag, value], capsys)
    assert repr(apart) == repr(_parsed([*base, f"{flag}={value}"], capsys))     # nan: repr
    assert "expected one argument" not in str(apart)
    if isinstance(apart, dict):
        assert str(apart[flag[2:].replace("-", "_")]) in (value, str(float(value)))


@pytest.mark.parametrize("argv, message", [
    (["sample", "--ckpt", "r", "--temperature", "-inf"],
     "error: --temperature must be a finite number >= 0 (0 = greedy), got -inf\n"),
    (["sample", "--ckpt", "r", "--temp", "-1e3"],       # an abbreviation, as argparse allows
     "error: --temperature must be a finite number >= 0 (0 = greedy), got -1000.0\n"),
    (["chat", "--ckpt", "r", "--top-p", "-nan"], "error: --top-p must be in (0, 1], got nan\n"),
    (["eval", "--ckpt", "r", "--stride", "-1e3"], "argument --stride: invalid int value: "
                                                  "'-1e3'\n"),
    (["sample", "--ckpt", "r", "--top-k", "-Infinity"], "argument --top-k: invalid int value: "
                                                        "'-Infinity'\n"),
])
def test_negative_non_numeric_looking_values_reach_the_commands_checks(argv, message, capsys,
                                                                        tmp_path, monkeypatch):
    """End to end: the space-separated form gets the same message as `--opt=value`, the
    command's own where it has one; never "expected one argument"."""
    monkeypatch.chdir(tmp_path)
    try:
        rc = cli.main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc in (1, 2) and err.endswith(message), err
    assert "Traceback" not in err and "expected one argument" not in err


def test_words_that_are_options_or_after_the_separator_are_not_joined():
    """Only a word that reads as a number joins the option before it: a missing value before
    another option stays argparse's error, and words after `--` stay as they are."""
    parser = cli.build_parser()
    j = cli.join_negative_values
    assert j(parser, ["sample", "--prompt", "--no-stream"]) == ["sample", "--prompt",
                                                                 "--no-stream"]
    assert j(parser, ["sample", "--temperature", "-x"]) == ["sample", "--temperature", "-x"]
    assert j(parser, ["sample", "--no-stream", "-1e3"]) == ["sample", "--no-stream", "-1e3"]
    assert j(parser, ["train", "--", "--data", "-inf"]) == ["train", "--", "--data", "-inf"]
    assert j(parser, ["sample", "--t", "-inf"]) == ["sample", "--t", "-inf"]     # --top-k/-p?
    assert j(parser, ["sample", "--top-p", "-1E-3"]) == ["sample", "--top-p=-1E-3"]


@pytest.mark.parametrize("typed, stop", [
    ("\\n\\n", "\n\n"),                   # a newline, as before
    ("\\\\n", "\\n"),                     # \\ is one backslash: a backslash and n
    ("a\\\\\\n", "a\\\n"),                # a, a backslash, a newline
    ("\\t\\r", "\t\r"),
    ("\\x\\", "\\x\\"),                   # any other backslash stays as typed
    ("\\\\\\\\", "\\\\"),
])
def test_chat_stop_escapes_follow_the_documented_rule(typed, stop, monkeypatch):
    """`--stop` turned every backslash-n into a newline, so a stop text of a backslash and n
    could not be given → read left to right, \\n is a newline, \\t a tab, \\r a carriage
    return, \\\\ one backslash, and any other backslash stays; `--help` says so."""
    import nanograd_llm.chat as chat_mod
    import nanograd_llm.cli_generate as cg
    tok = CharTokenizer.from_text("ab\\nx\n\t\r")
    monkeypatch.setattr(cg, "load_for_generation", lambda args: ("MODEL", tok))
    seen = {}
    monkeypatch.setattr(chat_mod, "chat_loop", lambda *a, **kw: seen.update(kw) or 0)
    assert cli.main(["chat", "--ckpt", "x", "--stop", typed]) == 0
    assert seen["stop"] == stop


def test_chat_help_states_the_stop_escapes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["chat", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert ("\\n is a newline, \\t a tab, \\r a carriage return and \\\\ one backslash, so "
            "\\\\n is a backslash and n; any other backslash stays as typed") in shown


def test_attention_checks_its_picture_path_before_loading_the_model(tmp_path, monkeypatch,
                                                                     capsys):
    """`attention --out a.jpg` (or a folder, a path under a file, a folder that may not be
    written to) loaded the model and ran the forward pass, and only then said the name was
    wrong → the picture's path is checked first: no model is loaded, no forward pass runs."""
    import os
    import nanograd_llm.checkpoint as ckpt_mod
    import nanograd_llm.viz as viz

    def must_not_run(*a, **k):
        raise AssertionError("the work ran before the picture's path was checked")
    monkeypatch.setattr(ckpt_mod, "load_model", must_not_run)
    monkeypatch.setattr(viz, "attention_weights", must_not_run)
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "locked").mkdir()
    (tmp_path / "d.png").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == tmp_path /
                        "locked" else real_access(p, mode, **kw))
    for out, message in (
            (tmp_path / "a.jpg", f"cannot write {tmp_path / 'a.jpg'}: the file name must end "
                                 f"in .png, .svg, .pdf"),
            (tmp_path / "d.png", f"{tmp_path / 'd.png'} is a folder; give a file name such "
                                 f"as {tmp_path / 'd.png' / 'a.png'}"),
            (tmp_path / "f.txt" / "a.png", f"cannot write {tmp_path / 'f.txt' / 'a.png'}: "
                                           f"{tmp_path / 'f.txt'} is a file, not a folder"),
            (tmp_path / "locked" / "new" / "a.png",
             f"cannot write {tmp_path / 'locked' / 'new' / 'a.png'}: the folder "
             f"{tmp_path / 'locked'} is not writable")):
        assert cli.main(["attention", "--ckpt", str(tmp_path / "run"), "--prompt", "ab",
                         "--out", str(out)]) == 1
        assert capsys.readouterr().err == f"error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "f.txt", "locked"]
    assert list((tmp_path / "locked").iterdir()) == list((tmp_path / "d.png").iterdir()) == []


@posix_only(SYMLINKS)
def test_the_picture_folder_checked_for_a_symlink_out_is_its_targets(tmp_path, monkeypatch):
    """atomic_write writes through a symbolic link, in the folder of the file it leads to:
    `attention --out LINK.png` in a folder that may not be written to, LINK.png leading to a
    picture in one that may, was refused ("the folder ... is not writable") although the
    picture could be written → the target's folder is checked: that --out passes, a link
    leading into a folder that may not be written to is refused before the model is loaded,
    and a link to nothing is named there too."""
    import os
    import nanograd_llm.viz as viz
    for name in ("locked", "open"):
        (tmp_path / name).mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == tmp_path /
                        "locked" else real_access(p, mode, **kw))
    (tmp_path / "open" / "a.png").write_bytes(b"old")
    (tmp_path / "locked" / "b.png").write_bytes(b"old")
    (tmp_path / "locked" / "link.png").symlink_to(tmp_path / "open" / "a.png")
    (tmp_path / "open" / "link.png").symlink_to(tmp_path / "locked" / "b.png")
    (tmp_path / "open" / "gone.png").symlink_to(tmp_path / "open" / "nothing.png")
    out = tmp_path / "locked" / "link.png"
    assert viz.check_picture_path(out) == out
    with pytest.raises(PermissionError, match=f"cannot write {tmp_path / 'open' / 'link.png'}: "
                                              f"the folder {tmp_path / 'locked'} is not "
                                              f"writable"):
        viz.check_picture_path(tmp_path / "open" / "link.png")
    with pytest.raises(ValueError, match="it is a symbolic link to .*, which does not exist"):
        viz.check_picture_path(tmp_path / "open" / "gone.png")


def test_attention_without_matplotlib_stops_before_loading_the_model(tmp_path, monkeypatch,
                                                                     capsys):
    """Without matplotlib `attention` loaded the model and ran the forward pass before saying
    it cannot draw → it says so first."""
    import nanograd_llm.checkpoint as ckpt_mod

    def must_not_run(*a, **k):
        raise AssertionError("the model was loaded without matplotlib")
    monkeypatch.setattr(ckpt_mod, "load_model", must_not_run)
    for name in ["matplotlib", *(n for n in sys.modules if n.startswith("matplotlib."))]:
        monkeypatch.setitem(sys.modules, name, None)          # what earlier tests imported too
    assert cli.main(["attention", "--ckpt", str(tmp_path / "run"), "--prompt", "ab", "--out",
                     str(tmp_path / "a.png")]) == 1
    assert capsys.readouterr().err.startswith("error: plotting needs matplotlib: pip install "
                                              "matplotlib")
    assert list(tmp_path.iterdir()) == []
