"""Every refusal of a name the user typed (a command, a preset, a corpus, a config key, a
setting's value, an option's choice) names what was given, lists what is expected and, when
one is close (a typo or another case), suggests it: "(did you mean X?)"."""
from __future__ import annotations

import json
import re

import pytest

from nanograd_llm import cli


def _error(argv, capsys, status=1) -> str:
    """The one `error:` line of a refused command (its exit status checked)."""
    assert cli.main(argv) == status
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("word", ["Max_Iters=5", "MAX_ITER=5"])
def test_a_config_key_in_another_case_gets_a_suggestion(word, tmp_path, capsys):
    err = _error(["train", "--out", str(tmp_path / "run"), word], capsys)
    assert err.startswith(f"error: unknown config key '{word.split('=')[0]}' in ")
    assert "(did you mean max_iters?)" in err and "known keys: model, " in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, text", [("a.json", json.dumps({"Dropout": 0.1})),
                                        ("a.toml", "Dropout = 0.1\n")])
def test_a_config_file_key_in_another_case_gets_a_suggestion(name, text, tmp_path, capsys):
    f = tmp_path / name
    f.write_text(text)
    err = _error(["train", "--config", str(f), "--out", str(tmp_path / "run")], capsys)
    assert err.startswith(f"error: unknown config key 'Dropout' in {f} (did you mean dropout?)")


@pytest.mark.parametrize("given, close", [("shakespear", "shakespeare"),
                                          ("Shakespeare", "shakespeare"), ("BABY", "baby")])
def test_an_unknown_preset_gets_a_suggestion(given, close, tmp_path, capsys):
    from nanograd_llm.config import PRESETS
    err = _error(["train", "--preset", given, "--out", str(tmp_path / "run")], capsys)
    assert err == (f"error: unknown preset '{given}': expected one of {', '.join(PRESETS)} "
                   f"(did you mean {close}?)")


def test_a_preset_with_nothing_close_gets_no_suggestion(tmp_path, capsys):
    from nanograd_llm.config import PRESETS
    err = _error(["train", "--preset", "zzz", "--out", str(tmp_path / "run")], capsys)
    assert err == f"error: unknown preset 'zzz': expected one of {', '.join(PRESETS)}"


@pytest.mark.parametrize("given, close", [("tinyshakspeare", "tinyshakespeare"),
                                          ("TinyShakespeare", "tinyshakespeare"),
                                          ("embeded", "embedded")])
def test_an_unknown_corpus_name_gets_a_suggestion(given, close, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                      # no file of that name
    err = _error(["train", "--data", given, "--out", str(tmp_path / "run")], capsys)
    assert err.startswith(f"error: unknown corpus '{given}' and no such file: expected a path "
                          f"to a UTF-8 text file or one of embedded, tinyshakespeare, ")
    assert err.endswith(f" (did you mean {close}?)")


def test_download_corpus_suggests_the_closest_corpus(tmp_path):
    from nanograd_llm.data import download_corpus
    with pytest.raises(ValueError, match=r"^unknown corpus 'wizard_of_ox': .*"
                                         r"\(did you mean wizard_of_oz\?\)$"):
        download_corpus("wizard_of_ox", directory=tmp_path)


@pytest.mark.parametrize("name", ["zzz", "embedded", "corpus.txt"])
def test_download_corpus_lists_only_the_corpora_it_downloads(name, tmp_path):
    """download_corpus's refusal said "expected a file path or one of embedded, …", but it takes
    no path and refuses 'embedded' (the built-in corpus is never downloaded): it names only the
    corpora it downloads."""
    from nanograd_llm.data import CORPORA, download_corpus
    with pytest.raises(ValueError) as e:
        download_corpus(name, directory=tmp_path)
    said = str(e.value)
    listed = re.search(r"one of (.*?)(?: \(did you mean .*\))?$", said)
    assert listed and listed[1].split(", ") == list(CORPORA), said
    assert "path" not in said and "embedded" not in said.replace(repr(name), ""), said
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("word, start, close", [
    ("device=CUDA", "device must be 'cpu' or 'cuda', got 'CUDA'", "cuda"),
    ("device=gpu", "device must be 'cpu' or 'cuda', got 'gpu'", "cuda"),
    ("device=tpu9", "device must be 'cpu' or 'cuda', got 'tpu9'", None),
    ("dtype=fp64", "dtype must be one of float32, float64, got 'fp64'", "float64"),
    ("dtype=flaot32", "dtype must be one of float32, float64, got 'flaot32'", "float32"),
    ("precision=TF32", "precision must be one of highest, tf32, got 'TF32'", "tf32"),
    ("precision=higest", "precision must be one of highest, tf32, got 'higest'", "highest"),
    ("activation=GELU", "unknown activation 'GELU': expected one of gelu, relu", "gelu"),
    ("positional=learnt", "unknown positional encoding 'learnt': expected one of learned, "
                          "sinusoidal", "learned"),
    ("tokenizer=BPE", "tokenizer must be one of char, bpe, got 'BPE'", "bpe"),
    ("model=gtp", "model must be one of gpt, bigram, got 'gtp'", "gpt"),
    ("bpe_pattern=turkce", "bpe_pattern must be one of gpt2, turkish, got 'turkce'", "turkish"),
])
def test_a_setting_s_unknown_value_gets_a_suggestion(word, start, close, tmp_path, capsys):
    err = _error(["train", "--out", str(tmp_path / "run"), word], capsys)
    assert err == f"error: {start}" + (f" (did you mean {close}?)" if close else "")


def test_the_python_checks_of_a_device_and_a_precision_suggest_too():
    from nanograd_llm.backend import check_device, set_matmul_precision
    with pytest.raises(ValueError, match=r"^unknown device 'CPU': expected one of cpu, cuda "
                                         r"\(did you mean cpu\?\)$"):
        check_device("CPU")
    with pytest.raises(ValueError, match=r"\(did you mean tf32\?\)$"):
        set_matmul_precision("TF32")


def _usage_error(argv, capsys) -> str:
    """The one `error:` line argparse printed for argv (exit status 2, no traceback)."""
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _choices(argv, option):
    """The choices the parser itself gives the refused word: the commands (option None), or
    the choices of `option` in the command argv[0]."""
    parser = cli.build_parser()
    if option is None:
        return list(parser.commands)
    return list(next(a for a in parser.commands[argv[0]]._actions
                     if option in a.option_strings).choices)


def _check_refused_choice(line, word, option, choices):
    """The line names the option (not for a command), quotes the refused word and lists every
    choice, in the parser's order (quoted or not, as argparse of any version may)."""
    assert f"invalid choice: {word!r}" in line, line
    if option is not None:
        assert f"argument {option}:" in line, line
    listed = re.search(r"\(choose from (.*?)\)", line)
    assert listed, line
    assert [c.strip("'\"") for c in listed[1].split(", ")] == choices, line


@pytest.mark.parametrize("argv, option, close", [
    (["trian"], None, "train"),
    (["Eval"], None, "eval"),
    (["train", "--device", "CUDA"], "--device", "cuda"),
    (["train", "--device", "gpu"], "--device", "cuda"),
    (["gradcheck", "--device", "cpus"], "--device", "cpu"),
    (["attention", "--device", "CPU", "--ckpt", "x", "--prompt", "a", "--out", "a.png"],
     "--device", "cpu"),
    (["sample", "--ckpt", "x", "--dtype", "flaot64"], "--dtype", "float64"),
    (["sample", "--ckpt", "x", "--unknown", "Skip"], "--unknown", "skip"),
    (["chat", "--ckpt", "x", "--unknown", "replce"], "--unknown", "replace"),
    (["eval", "--ckpt", "x", "--split", "valid"], "--split", "val"),
    (["eval", "--ckpt", "x", "--unknown", "skp"], "--unknown", "skip"),
])
def test_an_invalid_choice_or_command_gets_a_suggestion(argv, option, close, capsys):
    """One `error:` line, exit status 2: the refused word quoted, the valid choices (the
    parser's own, so a new command or choice needs no change here) and the closest one."""
    word = argv[0] if option is None else argv[argv.index(option) + 1]
    line = _usage_error(argv, capsys)
    _check_refused_choice(line, word, option, _choices(argv, option))
    assert line.endswith(f" (did you mean {close}?)") and line.count("did you mean") == 1, line


@pytest.mark.parametrize("argv, option", [(["eval", "--ckpt", "x", "--split", "zzz"], "--split"),
                                          (["zzz"], None)])
def test_an_invalid_choice_with_nothing_close_gets_no_suggestion(argv, option, capsys):
    line = _usage_error(argv, capsys)
    _check_refused_choice(line, "zzz", option, _choices(argv, option))
    assert "did you mean" not in line and line.endswith(")"), line


def test_the_python_api_s_named_choices_suggest_the_closest_one():
    """The same refusals from Python: a split, an unknown-character mode, an encode errors mode,
    a split rule."""
    import numpy as np

    from nanograd_llm.chat import _Encoder
    from nanograd_llm.data import split_rule
    from nanograd_llm.evaluate import encode_for_eval, select_split
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(ValueError, match=r"^split must be one of val, train, all, got 'valid' "
                                         r"\(did you mean val\?\)$"):
        select_split(np.arange(10), "valid")
    with pytest.raises(ValueError, match=r"^unknown must be strict or skip, got 'Skip' "
                                         r"\(did you mean skip\?\)$"):
        encode_for_eval("ab", tok, unknown="Skip")
    with pytest.raises(ValueError, match=r"^unknown must be one of skip, replace, got 'replce' "
                                         r"\(did you mean replace\?\)$"):
        _Encoder(tok, "replce")
    with pytest.raises(ValueError, match=r"^errors must be one of strict, skip, replace, got "
                                         r"'STRICT' \(did you mean strict\?\)$"):
        tok.encode("ab", errors="STRICT")
    with pytest.raises(ValueError, match=r"^split_by must be one of tokens, characters, got "
                                         r"'token' \(did you mean tokens\?\)$"):
        split_rule(tok, "token")
    with pytest.raises(ValueError, match=r"^split must be one of val, train, all, got 'zzz'$"):
        select_split(np.arange(10), "zzz")


@pytest.mark.parametrize("argv, says", [
    (["train", "--devcie", "cuda"], "unrecognized arguments: --devcie (did you mean --device?)"),
    (["train", "--Preset", "baby"], "unrecognized arguments: --Preset (did you mean --preset?)"),
    (["sample", "--ckpt", "x", "--temprature", "1"],
     "unrecognized arguments: --temprature 1 (did you mean --temperature?)"),
    (["eval", "--ckpt", "x", "--splt", "val"],
     "unrecognized arguments: --splt val (did you mean --split?)"),
    (["train", "--max-iters=5"], "unrecognized arguments: --max-iters=5 (config settings are "
                                 "key=value words, not options: max_iters=5)"),
    (["train", "--lr", "1e-3"], "unrecognized arguments: --lr (config settings are key=value "
                                "words, not options: lr=VALUE)"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_an_unrecognized_option_gets_a_suggestion(argv, says, capsys):
    """A mistyped option (--devcie) or, in train, a setting written as an option
    (--max-iters=5) was only 'unrecognized'; the option meant, or the key=value word, is
    named. (A shared leading -- does not make --bogus look like --out.)"""
    line = _usage_error(argv, capsys)
    assert line.endswith(says), line


@pytest.mark.parametrize("word", ["dtype=float16", "dtype=bfloat16", "dtype=float128",
                                  "bpe_pattern=gpt4"])
def test_a_name_with_another_number_is_not_taken_for_a_typo(word, tmp_path, capsys):
    """float16 is half precision, not a misspelt float64 (nor float128 a misspelt float32, gpt4
    a misspelt gpt2): a name that differs from a known one in its number got that one
    suggested."""
    err = _error(["train", "--out", str(tmp_path / "run"), word], capsys)
    assert f"got '{word.split('=')[1]}'" in err and "did you mean" not in err
    with pytest.raises(SystemExit):
        cli.main(["sample", "--ckpt", str(tmp_path), "--dtype", "float16"])
    assert "did you mean" not in capsys.readouterr().err


def test_a_name_with_the_same_number_is_still_suggested():
    from nanograd_llm.backend import did_you_mean
    assert did_you_mean("flaot64", ["float32", "float64"]) == " (did you mean float64?)"
    assert did_you_mean("beta_1", ["beta1", "beta2"]) == " (did you mean beta1?)"
    assert did_you_mean("gpt2", ["gpt", "bigram"]) == " (did you mean gpt?)"
    assert did_you_mean("beta3", ["beta1", "beta2", "lr"]) == ""


@pytest.mark.parametrize("given", ["fp32", "FP32", "float32"])
def test_a_float32_precision_suggests_highest_not_tf32(given, tmp_path, capsys):
    """precision=fp32 asks for true float32 products, which is `highest`; it was told
    '(did you mean tf32?)', the reduced-precision mode, because the two look alike."""
    from nanograd_llm.backend import set_matmul_precision
    err = _error(["train", "--out", str(tmp_path / "run"), f"precision={given}"], capsys)
    assert err.endswith("(did you mean highest?)") and "tf32?" not in err
    with pytest.raises(ValueError, match=r"\(did you mean highest\?\)$"):
        set_matmul_precision(given)
    from nanograd_llm.backend import did_you_mean
    assert did_you_mean("fp32", ["float32", "float64"]) == " (did you mean float32?)"


def test_the_choice_check_leaves_argparse_its_own_decision(monkeypatch):
    """The parser rewrites argparse's refusal of a choice (private _check_value); a Python whose
    argparse called it with one more argument got a TypeError traceback, and one that accepted
    a value (its own decision) had it refused anyway. Argparse's own check now decides."""
    import argparse
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a.choices, dict))

    def future(self, action, value, where=None):        # one more argument, refusing
        raise argparse.ArgumentError(action, f"not a choice here: {value!r}")
    monkeypatch.setattr(argparse.ArgumentParser, "_check_value", future)
    with pytest.raises(argparse.ArgumentError, match="not a choice here: 'trian'"):
        parser._check_value(commands, "trian", "where")
    with pytest.raises(argparse.ArgumentError, match=r"'trian'.*\(did you mean train\?\)"):
        parser._check_value(commands, "trian")

    monkeypatch.setattr(argparse.ArgumentParser, "_check_value", lambda self, a, v: None)
    parser._check_value(commands, "Train")               # accepted by argparse: not refused


def test_download_corpus_suggests_only_a_corpus_it_downloads(tmp_path):
    """download_corpus('Embedded') suggested 'embedded', which download_corpus itself refuses
    (the built-in corpus is never downloaded)."""
    from nanograd_llm.data import download_corpus
    with pytest.raises(ValueError) as e:
        download_corpus("Embedded", directory=tmp_path)
    assert "did you mean" not in str(e.value)
    with pytest.raises(ValueError, match=r"\(did you mean tinyshakespeare\?\)$"):
        download_corpus("TinyShakespeare", directory=tmp_path)


@pytest.mark.parametrize("key", ["Preset", "PRESET", "presets"])
def test_a_preset_key_in_another_spelling_points_to_the_preset_flag(key, tmp_path, capsys):
    """preset=baby is answered 'choose the preset with --preset' (not 'did you mean
    precision?'); Preset=baby, compared ignoring case, got 'did you mean precision?' again."""
    err = _error(["train", "--out", str(tmp_path / "run"), f"{key}=baby"], capsys)
    assert "--preset baby" in err and "precision" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("given", ["f32", "F32", "float-32", "float_32", "fp-32", "FP_32"])
def test_other_spellings_of_float32_suggest_highest_as_a_precision(given):
    """precision=f32 was told '(did you mean tf32?)', the reduced-precision mode that f32 looks
    like, and float-32, float_32 or fp-32 got no suggestion at all: they are float32, whose
    products are the `highest` precision (and as a dtype, float32)."""
    from nanograd_llm.backend import MATMUL_PRECISIONS, closest_names, set_matmul_precision
    assert closest_names(given, MATMUL_PRECISIONS) == ["highest"]
    assert closest_names(given, ["float32", "float64"]) == ["float32"]
    with pytest.raises(ValueError) as e:
        set_matmul_precision(given)
    assert "highest" in str(e.value).rpartition("did you mean")[2]


@pytest.mark.parametrize("given, known, close", [
    ("float23", ["float32", "float64"], "float32"),       # two digits swapped
    ("float322", ["float32", "float64"], "float32"),      # a digit typed twice
    ("floa3t2", ["float32", "float64"], "float32"),       # a letter slipped between the digits
    ("tf23", ["highest", "tf32"], "tf32"),
    ("gpt22", ["gpt2", "turkish"], "gpt2"),
    ("beta11", ["beta1", "beta2", "lr"], "beta1")])
def test_a_slip_in_the_number_itself_is_still_a_typo(given, known, close):
    """The rule that a name with another number is no typo (float16 is not float64) also took
    away the suggestion of a plain slip of the keys inside the number: float23, float322,
    tf23, gpt22 or beta11 got none (a digit left out, float4, may name another size)."""
    from nanograd_llm.backend import closest_names
    assert closest_names(given, known) == [close]


@pytest.mark.parametrize("given, known", [("float16", ["float32", "float64"]),
                                          ("float128", ["float32", "float64"]),
                                          ("gpt4", ["gpt2", "turkish"]),
                                          ("gpt24", ["gpt2", "turkish"]),
                                          ("float4", ["float32", "float64"]),
                                          ("float6", ["float32", "float64"]),
                                          ("float62", ["float32", "float64"]),
                                          ("beta3", ["beta1", "beta2"])])
def test_another_number_is_still_not_a_typo(given, known):
    from nanograd_llm.backend import closest_names
    assert closest_names(given, known) == []


@pytest.mark.parametrize("given, known, close", [
    ("float3w", ["float32", "float64"], "float32"),       # a letter typed for the 2
    ("floatx2", ["float32", "float64"], "float32"),
    ("float6_", ["float32", "float64"], "float64"),
    ("floa632", ["float32", "float64"], "float32"),       # a digit typed for the t
    ("tfe2", ["highest", "tf32"], "tf32"),
    ("bet12", ["beta1", "beta2", "lr"], "beta2")])
def test_a_letter_typed_for_a_digit_is_still_a_typo(given, known, close):
    """A letter or sign typed for a digit of the number (or a digit for a letter) was taken for
    another number, as a digit left out is: dtype=float3w, floatx2 or precision=tfe2 got no
    suggestion, though no name has that number (a digit for a digit, float62, still gets none:
    test_another_number_is_still_not_a_typo)."""
    from nanograd_llm.backend import closest_names
    assert closest_names(given, known) == [close]
