"""Trainer: configs, presets, exact resume (also after a kill during a checkpoint write),
NaN handling, metrics, CLI errors and the examples."""
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nanograd_llm import checkpoint as ckpt
from nanograd_llm.optim import AdamW
from nanograd_llm.train import (PRESETS, apply_overrides, make_config,
                                parse_overrides, train)

from _platform import SIGKILL, SIGNALS, SYMLINKS, posix_only
from _train_helpers import (GPT2_TEXT, TEXT, sigint_as_in_a_terminal, tiny_config, tiny_gpt2_folder,
                            weights)

ROOT = Path(__file__).resolve().parent.parent


_sigint_as_in_a_terminal = pytest.fixture(autouse=True)(sigint_as_in_a_terminal)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(args, timeout=120, **kw):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=kw.get(
        "cwd", ROOT), env=_env(), timeout=timeout, preexec_fn=kw.get("preexec_fn"))


# -- configs ------------------------------------------------------------------------------------

def test_presets_match_the_issue():
    baby = make_config("baby")
    assert (baby.block_size, baby.batch_size, baby.n_layer, baby.n_head, baby.n_embd) == \
        (64, 12, 4, 4, 128)
    assert (baby.max_iters, baby.lr, baby.min_lr, baby.decay_iters, baby.warmup_iters) == \
        (2000, 1e-3, 1e-4, 2000, 100)
    short = make_config("baby", overrides={"max_iters": "500"})
    assert short.decay_iters == 500                   # the schedule follows max_iters ...
    fixed = make_config("baby", overrides={"max_iters": "500", "lr_decay_iters": "2000"})
    assert fixed.decay_iters == 2000                  # ... unless it is set
    assert (baby.beta2, baby.dropout, baby.eval_interval, baby.eval_iters) == (0.99, 0.0, 250, 20)
    sh = make_config("shakespeare")
    assert (sh.block_size, sh.batch_size, sh.n_layer, sh.n_head, sh.n_embd, sh.dropout) == \
        (256, 64, 6, 6, 384, 0.2)
    assert (sh.max_iters, sh.lr, sh.min_lr, sh.warmup_iters, sh.beta2) == \
        (5000, 1e-3, 1e-4, 100, 0.99)
    assert make_config("bigram").model == "bigram"
    d = make_config()
    assert d.model == "gpt" and d.data is None
    assert set(PRESETS) == {"default", "bigram", "baby", "shakespeare"}
    with pytest.raises(ValueError, match="unknown preset"):
        make_config("huge")


def test_overrides_are_type_checked():
    cfg = make_config("baby", overrides=parse_overrides(["max_iters=100", "dropout=0.1",
                                                          "bias=true", "data=none"]))
    assert cfg.max_iters == 100 and cfg.dropout == 0.1 and cfg.bias is True and cfg.data is None
    assert make_config(overrides={"lr": "3e-4"}).lr == 3e-4
    assert make_config(overrides={"max_iters": "1e3"}).max_iters == 1000
    with pytest.raises(ValueError, match="unknown config key 'max_iter'.*did you mean max_iters"):
        make_config(overrides={"max_iter": "5"})
    with pytest.raises(ValueError, match="bad value for max_iters: 'abc' is not an integer"):
        make_config(overrides={"max_iters": "abc"})
    with pytest.raises(ValueError, match="bad value for max_iters: '2.5'"):
        make_config(overrides={"max_iters": "2.5"})
    with pytest.raises(ValueError, match="dropout must be in"):
        make_config(overrides={"dropout": "1.5"})
    with pytest.raises(ValueError, match="bad value for bias"):
        make_config(overrides={"bias": "maybe"})
    with pytest.raises(ValueError, match="divisible"):
        make_config(overrides={"n_head": "5"})
    with pytest.raises(ValueError, match="expected key=value"):
        parse_overrides(["max_iters"])
    with pytest.raises(ValueError, match="not an integer"):
        apply_overrides({}, {"batch_size": True})




def test_config_files_with_a_byte_order_mark(tmp_path):
    # Windows Not Defteri UTF-8 dosyanın başına BOM yazar: veri dosyalarında olduğu gibi
    # atılır ("Invalid statement (at line 1, column 1)" gibi görünmez bir hata yerine)
    (tmp_path / "c.toml").write_bytes(b"\xef\xbb\xbfmax_iters = 7\nlr = 0.01\n")
    cfg = make_config("baby", config_file=tmp_path / "c.toml")
    assert (cfg.max_iters, cfg.lr) == (7, 0.01)
    (tmp_path / "c.json").write_bytes(b'\xef\xbb\xbf{"n_layer": 2}')
    assert make_config(config_file=tmp_path / "c.json").n_layer == 2

def test_integer_overrides_keep_every_digit():
    # "1e3" biçimi için tam sayılar float üzerinden okunuyordu: 2**53'ün üstündeki bir tohum
    # sessizce yuvarlanıyor, iki farklı tohum aynı koşuyu veriyordu
    big = 2 ** 53 + 1
    assert make_config(overrides={"seed": str(big)}).seed == big
    assert make_config(overrides={"seed": "123456789012345678901"}).seed == 123456789012345678901
    assert make_config(overrides={"max_iters": " 1e3 "}).max_iters == 1000

def test_config_files(tmp_path):
    (tmp_path / "c.toml").write_text('max_iters = 7\nlr = 0.01\nbias = false\n')
    cfg = make_config("baby", config_file=tmp_path / "c.toml", overrides={"max_iters": "9"})
    assert (cfg.max_iters, cfg.lr, cfg.bias) == (9, 0.01, False)   # command line wins
    (tmp_path / "c.json").write_text(json.dumps({"n_layer": 2, "dropout": 0.2}))
    cfg = make_config(config_file=tmp_path / "c.json")
    assert (cfg.n_layer, cfg.dropout) == (2, 0.2)
    (tmp_path / "bad.json").write_text(json.dumps({"n_layers": 2}))
    with pytest.raises(ValueError, match="unknown config key 'n_layers' in .*bad.json"):
        make_config(config_file=tmp_path / "bad.json")
    (tmp_path / "bad.toml").write_text("max_iters = = 3")
    with pytest.raises(ValueError, match="cannot parse config file"):
        make_config(config_file=tmp_path / "bad.toml")
    (tmp_path / "c.yaml").write_text("a: 1")
    with pytest.raises(ValueError, match=".toml or .json"):
        make_config(config_file=tmp_path / "c.yaml")
    with pytest.raises(FileNotFoundError):
        make_config(config_file=tmp_path / "missing.toml")


def test_a_number_no_float_holds_is_refused_with_what_was_written(tmp_path, capsys):
    """lr=1e999 on the command line was refused as "lr must be a finite number >= 0, got inf"
    and eps=1e-999 as "eps must be > 0, got 0.0", without what the user typed (the same from a
    JSON/TOML config file), and make_config(lr=-10**400) said -10**400 "is too large for a
    number" → the message echoes the text as written and says which way it is out of range."""
    from nanograd_llm import cli
    big = "is too large for a number (a float holds at most about 1.8e308)"
    low = "is below the lowest number a float holds (about -1.8e308)"
    tiny = ("is too close to 0 for a number: a float would hold it as 0 (the nearest to 0 it "
            "holds is about 5e-324)")
    for key, text, why in (("lr", "1e999", big), ("lr", "-1e999", low),
                           ("dropout", "-1E+999", low), ("eps", "1e-999", tiny),
                           ("val_fraction", "-1_0e-400", tiny)):
        with pytest.raises(ValueError) as e:
            make_config(overrides={key: text})
        assert str(e.value) == f"bad value for {key}: {text!r} {why}"
        # JSON has no "_" in numbers; the file's text is shown as written, unquoted
        for name, written in (("c.json", text.replace("_", "")), ("c.toml", text)):
            body = f'{{"{key}": {written}}}' if name == "c.json" else f"{key} = {written}\n"
            (tmp_path / name).write_text(body, encoding="utf-8")
            with pytest.raises(ValueError) as e:
                make_config(config_file=tmp_path / name)
            assert str(e.value) == (f"config file {tmp_path / name}: bad value for {key}: "
                                    f"{written} {why}")
    assert cli.main(["train", "--out", str(tmp_path / "run"), "lr=1e999"]) == 1
    assert capsys.readouterr().err == f"error: bad value for lr: '1e999' {big}\n"
    with pytest.raises(ValueError) as e:
        make_config(lr=-10 ** 400)
    assert str(e.value).endswith(f"(402 characters) {low}")
    # what floats hold, a written inf and a zero are read as before
    (tmp_path / "c.toml").write_text("lr = 1_0.5e-3\nmin_lr = 1e-320\ndropout = -0.0\n")
    cfg = make_config(config_file=tmp_path / "c.toml", overrides={"eps": "  3E-8 "})
    assert (cfg.lr, cfg.min_lr, cfg.dropout, cfg.eps) == (0.0105, 1e-320, 0.0, 3e-8)
    assert type(cfg.lr) is float and type(cfg.min_lr) is float
    assert make_config(overrides={"lr": "0e999", "min_lr": "0"}).lr == 0.0
    with pytest.raises(ValueError, match="^lr must be a finite number >= 0, got inf$"):
        make_config(overrides={"lr": "inf"})
    assert not (tmp_path / "run").exists()


def test_an_integer_written_with_an_exponent_is_read_exactly(tmp_path):
    """An integer setting written with an exponent (max_iters=1e3) was read through a float:
    seed=1.2345678901234567891e19 became 12345678901234567168 (float rounds above 2**53), and
    max_iters=1e999 (inf as a float) or 5000 typed digits were refused as "is not an integer"
    → the text is read exactly; an integer with more digits than Python writes is refused
    as such (the same from a JSON/TOML config file)."""
    seed = "1.2345678901234567891e19"
    assert make_config(overrides={"seed": seed}).seed == 12345678901234567891
    assert make_config(overrides={"seed": "1e999"}).seed == 10 ** 999
    assert make_config(overrides={"max_iters": " 2.0E1 "}).max_iters == 20
    for name, body in (("c.json", f'{{"seed": {seed}, "max_iters": 1e3}}'),
                       ("c.toml", f"seed = {seed}\nmax_iters = 1_0.0e2\n")):
        (tmp_path / name).write_text(body, encoding="utf-8")
        cfg = make_config(config_file=tmp_path / name)
        assert (cfg.seed, cfg.max_iters) == (12345678901234567891, 1000)
        assert type(cfg.seed) is int and type(cfg.max_iters) is int
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)() or 4300
    for text in ("1e99999999999999999999999", f"1e{limit}", "9" * (limit + 1)):
        with pytest.raises(ValueError, match=r"^bad value for seed: .* has more digits than "
                                             rf"an integer setting can have \({limit:,}\)$"):
            make_config(overrides={"seed": text})
    for text in ("1e-999", "2.5", "inf", "nan", "0x10"):
        with pytest.raises(ValueError, match=rf"^bad value for seed: '{text}' is not an "
                                             r"integer$"):
            make_config(overrides={"seed": text})
    (tmp_path / "c.json").write_text('{"max_iters": 1.5e0}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"^config file .*c\.json: bad value for max_iters: "
                                         r"1.5e0 is not an integer$"):
        make_config(config_file=tmp_path / "c.json")


def test_an_integer_setting_past_int64_is_refused_not_a_crash_of_the_progress_bar(tmp_path,
                                                                                  capsys):
    """max_iters=1e999 (read exactly, as 10**999; or 1,000 digits in a JSON config file) started
    training and then crashed deep in tqdm with "OverflowError: int too large to convert to
    float" → every integer setting but seed must fit in 64 bits, and the error says so."""
    from nanograd_llm.cli import main
    from nanograd_llm.config import INT_SETTING_MAX
    assert make_config(overrides={"max_iters": str(INT_SETTING_MAX)}).max_iters == INT_SETTING_MAX
    assert make_config(overrides={"seed": str(INT_SETTING_MAX + 1)}).seed == INT_SETTING_MAX + 1
    for name in ("max_iters", "eval_iters", "n_embd", "mmap_threshold", "warmup_iters"):
        with pytest.raises(ValueError, match=rf"^{name} must be <= 9,223,372,036,854,775,807 "
                                             r"\(2\*\*63 - 1\), got 9223372036854775808$"):
            make_config(overrides={name: str(INT_SETTING_MAX + 1)})
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "max_iters=1e999"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: max_iters must be <= 9,223,372,036,854,775,807") and \
        "Traceback" not in err and not out.exists()


def test_toml_config_without_tomllib_reads_with_tomli(tmp_path, monkeypatch):
    """Python 3.10 has no tomllib: the same parser comes from the tomli package (a dependency
    there). Simulated on any Python: tomllib cannot be imported and `tomli` is a stand-in whose
    parse error is a class of its own from module tomli._parser, as the real one's is; a TOML
    error still names the file."""
    import sys
    import types
    try:
        import tomllib as parser
    except ImportError:
        parser = pytest.importorskip("tomli")

    class TOMLDecodeError(ValueError):
        pass
    TOMLDecodeError.__module__ = "tomli._parser"

    def loads(text, **kw):
        try:
            return parser.loads(text, **kw)
        except parser.TOMLDecodeError as e:
            raise TOMLDecodeError(str(e)) from None

    fake = types.ModuleType("tomli")
    fake.loads, fake.TOMLDecodeError = loads, TOMLDecodeError
    monkeypatch.setitem(sys.modules, "tomllib", None)       # import tomllib -> ImportError
    monkeypatch.setitem(sys.modules, "tomli", fake)
    (tmp_path / "c.toml").write_text("max_iters = 7\nbias = false\n")
    cfg = make_config("baby", config_file=tmp_path / "c.toml")
    assert (cfg.max_iters, cfg.bias) == (7, False)
    (tmp_path / "bad.toml").write_text("max_iters = = 3")
    with pytest.raises(ValueError, match="cannot parse config file .*bad.toml"):
        make_config(config_file=tmp_path / "bad.toml")
    monkeypatch.setitem(sys.modules, "tomli", None)          # neither parser installed
    with pytest.raises(ValueError, match=r"needs the tomli package \(pip install tomli\)"):
        make_config(config_file=tmp_path / "c.toml")


# -- training -----------------------------------------------------------------------------------

def test_training_learns_and_logs(tmp_path):
    cfg = tiny_config(tmp_path, max_iters=40, eval_interval=20, lr=1e-2, dropout=0.0,
                      lr_decay_iters=40)
    r = train(cfg, quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines()]
    assert [row["step"] for row in rows] == [0, 20, 40]
    assert set(rows[0]) == {"step", "train_loss", "val_loss", "lr", "tokens_per_sec",
                            "elapsed_s"}
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.5
    assert r["val_loss"] == rows[-1]["val_loss"]
    pytest.importorskip("matplotlib")
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000


def test_bigram_preset_trains(tmp_path):
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    cfg = make_config("bigram", data=str(data), out_dir=str(tmp_path / "b"),
                      overrides={"max_iters": "150", "eval_interval": "150", "eval_iters": "4"})
    r = train(cfg, quiet=True)
    assert r["val_loss"] < 2.2    # ln(V) ≈ 3.5 before training
    assert type(ckpt.load_model(tmp_path / "b")).__name__ == "BigramLM"
    # train.cpu_arithmetic read model.config, which a bigram does not have (an AttributeError
    # before the first step); a bigram's batch is never split
    assert ckpt.read_manifest(tmp_path / "b")["extra"]["batch_parts"] == 1


def test_resume_is_bit_identical(tmp_path):
    full = train(tiny_config(tmp_path, "full"), quiet=True)
    part = tiny_config(tmp_path, "part")
    train(part, quiet=True, stop_after=6)                 # "killed" after step 6 (ckpt at 4)
    assert ckpt.load_checkpoint(tmp_path / "part")["step"] == 4
    resumed = train(part, resume=True, quiet=True)
    assert resumed["step"] == 12
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))
    np.testing.assert_array_equal(ckpt.load_model(tmp_path / "part").flat,
                                  ckpt.load_model(tmp_path / "full").flat)
    m_full = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text()
              .splitlines()]
    m_part = [json.loads(x) for x in (tmp_path / "part" / "metrics.jsonl").read_text()
              .splitlines()]
    assert [r["val_loss"] for r in m_full] == [r["val_loss"] for r in m_part]
    again = train(part, resume=True, quiet=True)         # nothing left to do: no crash
    assert again["step"] == 12 and again["val_loss"] == m_full[-1]["val_loss"]



_SAME_RUN = """
import hashlib, sys
import nanograd_llm.train
from nanograd_llm.train import make_config, train
nanograd_llm.train.plot_losses = lambda *a: False     # matplotlib's import: a second
from nanograd_llm.checkpoint import load_model
from nanograd_llm.tokenizers.char import CharTokenizer
text = open(sys.argv[1], encoding="utf-8").read()
print("chars", ascii("".join(CharTokenizer.from_text(text).chars)))
cfg = make_config("default", data=sys.argv[1], out_dir="run", overrides=dict(
    tokenizer="bpe", vocab_size="300", n_layer="1", n_head="2", n_embd="16", block_size="16",
    batch_size="4", max_iters="2", eval_interval="2", eval_iters="1", sample_tokens="0",
    dropout="0.1"))
train(cfg, quiet=True)
for name in ("vocab.json", "merges.txt"):
    print(name, hashlib.sha256(open("run/" + name, "rb").read()).hexdigest())
print("weights", hashlib.sha256(load_model("run").flat.tobytes()).hexdigest())
"""


def test_a_run_depends_neither_on_the_hash_seed_nor_the_locale_nor_the_folder(tmp_path):
    """README (CPU threads): the hash seed, the locale and the working directory change nothing.
    The text's pairs tie in count (BPE picks among them), its characters are a set before they
    are sorted, and the run trains a BPE GPT with dropout: two processes with other hash seeds,
    locales and folders must print the same vocabulary, merges and weights."""
    data = tmp_path / "ties.txt"
    data.write_text("ab cd ef gh ıi İI çğ öü şs yz ba dc fe hg " * 20 + TEXT, encoding="utf-8")
    said = []
    for seed, lc in (("1", "C"), ("2", "C.UTF-8")):
        where = tmp_path / f"seed{seed}"
        where.mkdir()
        env = dict(_env(), PYTHONHASHSEED=seed, LC_ALL=lc, NANOGRAD_LLM_THREADS="1")
        p = subprocess.run([sys.executable, "-c", _SAME_RUN, str(data)], capture_output=True,
                           text=True, encoding="utf-8", cwd=where, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        said.append(p.stdout)
    assert said[0] == said[1] and said[0].count("\n") == 4

def test_resume_after_failure_in_checkpoint_write(tmp_path, monkeypatch):
    # keep_best off: the count below is of the main checkpoint's files only
    full = train(tiny_config(tmp_path, "full", keep_best=False), quiet=True)
    part = tiny_config(tmp_path, "part", keep_best=False)
    real = ckpt._write_npz
    calls = {"n": 0}

    def dying(path, arrays):
        calls["n"] += 1
        if calls["n"] == 6:      # step 8's optimizer file: step 8's weights are already on disk
            path.write_bytes(b"half")
            raise KeyboardInterrupt
        return real(path, arrays)

    monkeypatch.setattr(ckpt, "_write_npz", dying)
    with pytest.raises(KeyboardInterrupt):
        train(part, quiet=True)
    monkeypatch.undo()
    assert ckpt.load_checkpoint(tmp_path / "part")["step"] == 4
    resumed = train(part, resume=True, quiet=True)
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))


@posix_only(SIGKILL)
def test_resume_after_sigkill_during_checkpoint_write(tmp_path):
    """A real SIGKILL while the step-8 checkpoint's files are being renamed into place."""
    full = train(tiny_config(tmp_path, "full"), quiet=True)
    script = tmp_path / "killme.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from pathlib import Path
        from _train_helpers import tiny_config
        from nanograd_llm.train import train
        real, n = os.replace, [0]
        def replace(src, dst):
            if Path(dst).name.startswith("optim-0000008"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst)
        os.replace = replace
        train(tiny_config(Path({str(tmp_path)!r}), "part"), quiet=True)
    """))
    p = _run([str(script)])
    assert p.returncode == -9, p.stderr
    man = json.loads((tmp_path / "part" / "checkpoint.json").read_text())
    assert man["step"] == 4
    assert list((tmp_path / "part").glob("model-0000008*"))     # the half-written checkpoint
    resumed = train(tiny_config(tmp_path, "part"), resume=True, quiet=True)
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))
    assert not list((tmp_path / "part").glob("model-0000008*"))


def test_resume_of_a_finished_run_removes_what_a_kill_after_its_last_save_left(tmp_path):
    """Killed after the last checkpoint's manifest was in place (while the previous step's
    files were being deleted, or loss.png written): only a next save deleted those leftovers,
    and a finished run has none, so `--resume` ("nothing to train") kept a whole stale
    checkpoint's files and the temp files for good. The resume now removes them."""
    cfg = tiny_config(tmp_path, max_iters=4, keep_best=False)
    train(cfg, quiet=True)
    run = tmp_path / "run"
    kept = sorted(p.name for p in run.iterdir())
    m = json.loads((run / ckpt.MANIFEST).read_text())
    (run / "model-0000002-abcdef.npz").write_bytes((run / m["model_file"]).read_bytes())
    (run / "optim-0000002-abcdef.npz").write_bytes((run / m["optim_file"]).read_bytes())
    (run / ".loss.png.k3xq9a1z.tmp").write_bytes(b"\x89PNG half")
    train(cfg, resume=True, quiet=True)
    assert sorted(p.name for p in run.iterdir()) == kept
    assert ckpt.load_checkpoint(run)["step"] == 4


def test_resume_also_removes_what_a_kill_left_in_the_best_copy(tmp_path):
    """The resume's clean-up above did not reach best/: a kill after the copy's manifest (while
    its previous weights were being deleted) or during its write left files there, and the
    half-built folder of a first copy (.best.XXXX.tmp) stayed in the run folder, for good when
    the copy was not written again. They are removed on resume too."""
    cfg = tiny_config(tmp_path, max_iters=4, eval_interval=2)
    train(cfg, quiet=True)
    run, best = tmp_path / "run", tmp_path / "run" / "best"
    kept, kept_best = (sorted(p.name for p in d.iterdir()) for d in (run, best))
    m = json.loads((best / ckpt.MANIFEST).read_text())
    (best / "model-0000002-abcdef.npz").write_bytes((best / m["model_file"]).read_bytes())
    (best / ".vocab.json.x1y2z3.tmp").write_text("half")
    (run / ".best.k3xq9a1z.tmp").mkdir()
    (run / ".best.k3xq9a1z.tmp" / "config.json").write_text("half")
    train(cfg, resume=True, quiet=True)
    assert sorted(p.name for p in run.iterdir()) == kept
    assert sorted(p.name for p in best.iterdir()) == kept_best
    assert ckpt.load_checkpoint(best)["step"] == m["step"]



def test_resume_leaves_a_staging_folder_another_process_is_writing_alone(tmp_path):
    """The resume's (and --overwrite's) removal of half-built staging folders deleted every
    '.*.tmp' folder in the run folder, also the one a save_hf or a tokenizer save into the run
    folder by another process was still writing (that save then failed with 'No such file or
    directory'). It now goes through atomic.remove_stale_temporaries' rule: a killed write's
    is removed, a live (locked) one and folders of other names are left alone."""
    fcntl = pytest.importorskip("fcntl")
    cfg = tiny_config(tmp_path, max_iters=4, eval_interval=2)
    train(cfg, quiet=True)
    run = tmp_path / "run"
    live, dead, other = (run / ".gpt2.l1vewr1t.tmp", run / ".best.k3xq9a1z.tmp",
                         run / ".notes.tmp")
    for d in (live, dead, other):
        d.mkdir()
        (d / "config.json").write_text("half")
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)                # a save_hf that is still at work
        train(tiny_config(tmp_path, max_iters=6, eval_interval=2), resume=True, quiet=True)
        assert live.is_dir() and other.is_dir() and not dead.exists()
    finally:
        os.close(fd)


@pytest.mark.parametrize("how", ["overwrite", "resume"])
def test_a_temporary_file_another_process_is_writing_in_the_run_folder_is_left_alone(tmp_path,
                                                                                       how):
    """--overwrite's clearing of a run (_clear_run) and every checkpoint save (checkpoint.
    remove_unnamed_files, also on --resume) unlinked each '.*.tmp' file of the run folder, also
    the temporary file of a save_hf or tokenizer save into it that another process was still
    writing (that save then failed at its rename). They now take atomic.remove_stale_temporaries'
    rule, as staging folders do: a killed write's file is removed, a locked one is left."""
    fcntl = pytest.importorskip("fcntl")
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    live, dead, old = (run / ".model.safetensors.l1vewr1t.tmp", run / ".vocab.json.k3xq9a1z.tmp",
                       run / ".checkpoint.json.tmp-123")       # an older version's name
    for p in (live, dead, old):
        p.write_text("half")
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)                # a save_hf that is still at work
        train(tiny_config(tmp_path, max_iters=6, eval_interval=2), quiet=True,
              **{how: True})
        assert live.read_text() == "half"
        assert not dead.exists() and not old.exists()
    finally:
        os.close(fd)


def test_resume_refuses_a_different_model(tmp_path):
    train(tiny_config(tmp_path, max_iters=4), quiet=True)
    with pytest.raises(ValueError, match="cannot resume .*n_embd"):
        train(tiny_config(tmp_path, max_iters=8, n_embd=32), resume=True, quiet=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(tiny_config(tmp_path, "fresh"), resume=True, quiet=True)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, bad):
    """nan: a weight turns NaN after step 6's update; inf: step 6's loss itself is infinite."""
    from nanograd_llm.models.gpt import GPT
    real_step, real_forward = AdamW.step, GPT.forward
    poison = {"on": False}

    def step(self, grads=None, lr=None):
        real_step(self, grads, lr)
        poison["on"] = self.t == 6
        if poison["on"] and bad == "nan":
            self.model.flat[0] = np.nan

    def forward(self, *a, **k):
        logits, loss = real_forward(self, *a, **k)
        if poison["on"] and bad == "inf" and loss is not None:
            loss = loss * np.float32(np.inf)
        return logits, loss
    monkeypatch.setattr(AdamW, "step", step)
    monkeypatch.setattr(GPT, "forward", forward)
    with pytest.raises(RuntimeError, match=f"loss is {bad} at step 6.*last good checkpoint") \
            as e:
        train(tiny_config(tmp_path), quiet=True)
    assert str(e.value).endswith("try a lower lr")      # grad_clip is 1.0 already
    state = ckpt.load_checkpoint(tmp_path / "run")
    assert state["step"] == 4 and np.isfinite(state["model"].flat).all()
    poison["on"] = False          # the second run starts clean and is poisoned at its step 6
    with pytest.raises(RuntimeError, match=f"loss is {bad} at step 6.*try a lower lr or "
                                           f"grad_clip=1.0"):
        train(tiny_config(tmp_path, "noclip", grad_clip=0.0), quiet=True)


def _poison_gradient(monkeypatch, at_step, value):
    """Put `value` into one gradient entry at training step `at_step`, whose loss is finite."""
    from nanograd_llm.models.gpt import GPT
    real = GPT.backward
    calls = {"n": 0}

    def backward(self, *a, **k):
        out = real(self, *a, **k)
        calls["n"] += 1                        # only training steps run backward: call n+1 = step n
        if calls["n"] == at_step + 1:
            self.grad_flat[3] = value
        return out
    monkeypatch.setattr(GPT, "backward", backward)


def _assert_kept_step_4(folder):
    state = ckpt.load_checkpoint(folder)
    assert state["step"] == 4 and np.isfinite(state["model"].flat).all()
    moments = state["optimizer_state"]
    assert np.isfinite(moments["m"]["flat"]).all() and np.isfinite(moments["v"]["flat"]).all()


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_non_finite_gradient_norm_stops_at_its_step(tmp_path, monkeypatch, bad):
    """A finite loss with a NaN or inf gradient: the clip (as torch's clip_grad_norm_) turned
    the gradients into NaN, AdamW wrote them into the weights and the run stopped one step
    later with "loss is nan at step 7", naming neither the gradient nor the step it went bad
    (numpy's "invalid value encountered in multiply" warning came first). Now the norm the
    clip computes is checked with the loss: the run stops at that step, before its update."""
    import warnings
    _poison_gradient(monkeypatch, 6, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeError, match=rf"the gradient norm is {bad} at step 6 \(its "
                                               rf"loss, \d+\.\d{{4}}, is finite\)\. The last good "
                                               rf"checkpoint in .*run \(step 4\) is kept; try a "
                                               rf"lower lr$"):
            train(tiny_config(tmp_path), quiet=True)
    _assert_kept_step_4(tmp_path / "run")


def test_finite_gradients_whose_squares_overflow_are_clipped_not_stopped(tmp_path, monkeypatch):
    """A float32 gradient entry of 1e20 under a finite loss: the sum of squares overflowed, the
    norm came out inf and training stopped with "the gradient norm is inf at step 6" although
    every gradient was finite. The norm is now recomputed scaled (the rare path), the step is
    clipped with the true norm and training goes on with finite weights."""
    import warnings
    import nanograd_llm.train as train_module
    _poison_gradient(monkeypatch, 6, 1e20)
    seen = []
    real_clip = train_module.clip_grad_norm

    def clip(grads, max_norm, norm=None):
        seen.append(float(norm))
        return real_clip(grads, max_norm, norm=norm)
    monkeypatch.setattr(train_module, "clip_grad_norm", clip)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = train(tiny_config(tmp_path), quiet=True)
    assert result["step"] == 12 and np.isfinite(result["model"].flat).all()
    assert result["model"].flat.dtype == np.float32
    assert seen[6] == pytest.approx(1e20, rel=1e-6)      # the true norm: 1e20 dominates
    assert all(np.isfinite(seen)) and max(seen[:6] + seen[7:]) < 1e3


@pytest.mark.parametrize("at_step, message", [(6, "loss is nan at step 7"),
                                              (7, r"evaluation loss is nan \(train\) / nan "
                                                  r"\(val\) at step 8")])
def test_without_clipping_a_non_finite_gradient_stops_the_next_step(tmp_path, monkeypatch,
                                                                     at_step, message):
    """grad_clip=0 computes no norm: the NaN reaches the weights and the next step's loss (or
    the evaluation right after) stops the run; nothing non-finite is saved."""
    _poison_gradient(monkeypatch, at_step, np.inf)
    with pytest.raises(RuntimeError, match=rf"{message}\. The last good checkpoint in .*run "
                                           rf"\(step 4\) is kept; try a lower lr or "
                                           rf"grad_clip=1.0$"):
        train(tiny_config(tmp_path, grad_clip=0.0), quiet=True)
    _assert_kept_step_4(tmp_path / "run")


def test_non_finite_weights_under_finite_evaluation_losses_are_not_saved(tmp_path, monkeypatch):
    """An evaluation saved a checkpoint whenever its losses were finite; a NaN in a weight that
    its batches do not reach (an unused token's row of an untied head, a step between two GPU
    checks) was saved as the "last good checkpoint". The weights are now checked before the save."""
    import nanograd_llm.train as train_module
    real_step, real_estimate = AdamW.step, train_module.estimate_loss

    def step(self, grads=None, lr=None):
        real_step(self, grads, lr)
        if self.t == 8:                    # the update of step 7, the last before step 8's
            self.model.flat[0] = np.nan    # evaluation

    def estimate(model, sampler, eval_iters, at_step):     # the batches miss the NaN weight
        losses = real_estimate(model, sampler, eval_iters, at_step)
        return {k: (v if np.isfinite(v) else 2.5) for k, v in losses.items()}
    monkeypatch.setattr(AdamW, "step", step)
    monkeypatch.setattr(train_module, "estimate_loss", estimate)
    with pytest.raises(RuntimeError, match=r"the weights are not finite at step 8 \(its "
                                           r"evaluation losses are finite\)\. The last good "
                                           r"checkpoint in .*run \(step 4\) is kept"):
        train(tiny_config(tmp_path, grad_clip=0.0), quiet=True)
    _assert_kept_step_4(tmp_path / "run")


def test_each_step_draws_its_own_dropout_masks(tmp_path, monkeypatch):
    from nanograd_llm.data import STREAM_DROPOUT
    from nanograd_llm.models.gpt import GPT
    seen = []
    real = GPT.set_dropout_seed

    def record(self, seed):
        seen.append(list(seed))
        real(self, seed)
    monkeypatch.setattr(GPT, "set_dropout_seed", record)
    train(tiny_config(tmp_path, max_iters=3, eval_interval=3, seed=11), quiet=True)
    assert seen == [[11, STREAM_DROPOUT, 0], [11, STREAM_DROPOUT, 1], [11, STREAM_DROPOUT, 2]]


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_a_dropout_generator_is_built_only_for_a_step_that_draws(tmp_path, monkeypatch,
                                                                  dropout):
    """Every step seeds the dropout generator; at dropout 0 nothing is drawn and no generator
    is built (the seed is kept until a draw needs it), with dropout one a step."""
    from nanograd_llm.models import base
    built = []
    real = base.device_rng

    def counted(xp, seed):
        built.append(seed)
        return real(xp, seed)
    monkeypatch.setattr(base, "device_rng", counted)
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2, seed=3, dropout=dropout),
          quiet=True)
    from nanograd_llm.data import STREAM_DROPOUT
    assert built == ([] if dropout == 0.0 else [[3, STREAM_DROPOUT, s] for s in range(4)])


def test_data_errors_through_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file not found"):
        train(make_config(data=str(tmp_path / "nope.txt"), out_dir=str(tmp_path / "o")),
              quiet=True)
    short = tmp_path / "short.txt"
    short.write_text("kısa metin")
    with pytest.raises(ValueError, match="shorter than block_size"):
        train(make_config(data=str(short), out_dir=str(tmp_path / "o")), quiet=True)


def test_bpe_tokenizer_option(tmp_path):
    import importlib.util
    if importlib.util.find_spec("regex") is None:     # without the `bpe` extra: a clear error
        with pytest.raises(RuntimeError, match="BPE tokenizer"):
            train(tiny_config(tmp_path, tokenizer="bpe", vocab_size=300), quiet=True)
        return
    r = train(tiny_config(tmp_path, tokenizer="bpe", vocab_size=300, max_iters=4), quiet=True)
    assert json.loads((tmp_path / "run" / "tokenizer_meta.json").read_text())["type"] == "bpe"
    assert r["model"].vocab_size == r["tokenizer"].vocab_size


def test_bpe_pattern_option(tmp_path):
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import TURKISH_PATTERN
    with pytest.raises(ValueError, match="bpe_pattern must be one of gpt2, turkish"):
        tiny_config(tmp_path, tokenizer="bpe", bpe_pattern="english")
    cfg = tiny_config(tmp_path, tokenizer="bpe", vocab_size=300, bpe_pattern="turkish",
                      max_iters=4)
    train(cfg, quiet=True)
    meta = json.loads((tmp_path / "run" / "tokenizer_meta.json").read_text())
    assert meta["pattern"] == TURKISH_PATTERN
    # resuming with another pattern would silently keep the saved one: refused instead
    with pytest.raises(ValueError, match="cannot resume .*bpe_pattern='turkish'"):
        train(tiny_config(tmp_path, tokenizer="bpe", vocab_size=300, bpe_pattern="gpt2",
                          max_iters=6), resume=True, quiet=True)
    r = train(tiny_config(tmp_path, tokenizer="bpe", vocab_size=300, bpe_pattern="turkish",
                          max_iters=6), resume=True, quiet=True)
    assert r["step"] == 6 and r["tokenizer"].pattern == TURKISH_PATTERN


# -- CLI ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["train", "--preset", "nope"], "unknown preset"),
    (["train", "max_iters=abc"], "not an integer"),
    (["train", "foo=1"], "unknown config key 'foo'"),
    (["train", "--data", "/nonexistent/x.txt"], "data file not found"),
    (["train", "--config", "/nonexistent/c.toml"], "config file not found"),
    (["sample", "--ckpt", "/nonexistent/run"], "checkpoint directory not found"),
])
def test_cli_errors_are_clean(args, message, tmp_path):
    # In a folder holding a finished run (out/default, as after the README's quick start): the
    # real problem is still reported, and a failed start leaves no folder behind
    (tmp_path / "out" / "default").mkdir(parents=True)
    (tmp_path / "out" / "default" / ckpt.MANIFEST).write_text('{"step": 5}')
    p = _run(["-m", "nanograd_llm", *args], cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.startswith("error: ") and message in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    p = _run(["-m", "nanograd_llm", *args, *(["--out", "new/run"] if args[0] == "train" else [])],
             cwd=tmp_path)
    assert p.returncode == 1 and not (tmp_path / "new").exists()


def test_cli_train_then_sample(tmp_path):
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "cli"
    p = _run(["-m", "nanograd_llm", "train", "--data", str(data), "--out", str(out), "--quiet",
              "n_layer=1", "n_embd=16", "n_head=2", "block_size=16", "max_iters=6",
              "eval_interval=3", "eval_iters=1", "sample_tokens=20"])
    assert p.returncode == 0, p.stderr
    assert "--- sample ---" in p.stdout and f"nanograd-llm sample --ckpt {out}" in p.stdout
    p = _run(["-m", "nanograd_llm", "sample", "--ckpt", str(out), "--prompt", "Dikkat",
              "--max-new-tokens", "15", "--seed", "3"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Dikkat") and len(p.stdout.rstrip("\n")) >= 6
    again = _run(["-m", "nanograd_llm", "sample", "--ckpt", str(out), "--prompt", "Dikkat",
                  "--max-new-tokens", "15", "--seed", "3"])
    assert again.stdout == p.stdout
    bad = _run(["-m", "nanograd_llm", "sample", "--ckpt", str(out), "--prompt", "€"])
    assert bad.returncode == 1 and "not in the tokenizer's vocabulary" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_output_to_an_ascii_stdout(tmp_path):
    """PYTHONIOENCODING=ascii: the sample printed after training (and `sample`) used to stop
    half-way with "'ascii' codec can't encode ..." and exit 1 after a finished run; the
    characters are now escaped, with one note on stderr."""
    data = tmp_path / "c.txt"
    data.write_text("çşğ üöı İÇŞ\n" * 60, encoding="utf-8")       # nothing ASCII but the space
    out = tmp_path / "run"
    env = {**_env(), "PYTHONIOENCODING": "ascii"}
    note = ("note: the output encoding (ascii) cannot show some characters; they were written "
            "as backslash escapes")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "nanograd_llm", *args], capture_output=True,
                              cwd=ROOT, env=env, timeout=120)
    p = run("train", "--data", str(data), "--out", str(out), "--quiet", "n_layer=1",
            "n_embd=16", "n_head=2", "block_size=16", "max_iters=2", "eval_interval=2",
            "eval_iters=1", "sample_tokens=20")
    stdout, stderr = p.stdout.decode("ascii"), p.stderr.decode("ascii")
    assert p.returncode == 0, stderr
    sample = stdout.split("--- sample ---\n")[1].split("--------------")[0]
    assert "\\u" in sample and f"nanograd-llm sample --ckpt {out}" in stdout
    assert note in stderr and "Traceback" not in stderr and "error" not in stderr
    p = run("sample", "--ckpt", str(out), "--prompt", "çş", "--max-new-tokens", "10")
    assert p.returncode == 0 and p.stdout.decode("ascii").startswith("\\xe7\\u015f")
    assert note in p.stderr.decode("ascii")
    p = run("sample", "--ckpt", str(out), "--prompt", " ", "--max-new-tokens", "0")
    assert p.returncode == 0 and p.stdout == b" \n" and p.stderr == b""     # nothing escaped


def test_cli_output_of_a_folder_name_that_is_not_utf8(tmp_path):
    """A strict UTF-8 stdout (en_US.UTF-8 and similar locales) and a run folder named in another
    encoding: a finished run printed "error: 'utf-8' codec can't encode character '\\udcfe'"
    and exited 1 in place of its summary; the name is written as its own bytes, as ls does."""
    if sys.getfilesystemencoding().lower().replace("-", "") != "utf8":
        pytest.skip("the file-system encoding is not UTF-8")
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / os.fsdecode(b"\xfeiir")
    try:
        out.mkdir()
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    env = {**_env(), "PYTHONIOENCODING": "utf-8:strict"}
    p = subprocess.run([sys.executable, "-m", "nanograd_llm", "train", "--data", str(data),
                        "--out", str(out), "--quiet", "n_layer=1", "n_embd=16", "n_head=2",
                        "block_size=16", "max_iters=2", "eval_interval=2", "eval_iters=1",
                        "sample_tokens=5"], capture_output=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert b"checkpoint in " + os.fsencode(out) + b"\n" in p.stdout and p.stderr == b""


def test_cli_into_a_closed_pipe(tmp_path):
    """`nanograd-llm train | head`, `nanograd-llm eval ... | head`: the reader leaves before
    the result is printed; the saved run is kept and each command ends without an error
    message, with 141 (128 + SIGPIPE, as `yes | head`): its output was cut, so not 0."""
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "piped"
    # A user's stdout into a pipe is block-buffered: the output waits in the buffer and the
    # closed pipe is only met at the final flush. PYTHONUNBUFFERED (set in some CI and IDE
    # shells) would write each line at once and hide a missing flush in the command.
    env = {k: v for k, v in _env().items() if k != "PYTHONUNBUFFERED"}

    def closed_pipe(*args, stdin=b""):
        p = subprocess.Popen([sys.executable, "-m", "nanograd_llm", *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=ROOT, env=env)
        p.stdout.close()                     # the reader is gone before anything is printed
        p.stdin.write(stdin)
        p.stdin.close()
        err = p.stderr.read().decode()
        assert p.wait(timeout=120) == 141, err
        assert "error" not in err and "Traceback" not in err, err

    closed_pipe("train", "--data", str(data), "--out", str(out), "--quiet", "n_layer=1",
                "n_embd=16", "n_head=2", "block_size=16", "max_iters=3", "eval_interval=3",
                "eval_iters=1", "sample_tokens=20")
    assert (out / ckpt.MANIFEST).is_file()
    closed_pipe("eval", "--ckpt", str(out))
    # sample and chat too: their output was cut as well (they used to report 0)
    closed_pipe("sample", "--ckpt", str(out), "--max-new-tokens", "50")
    closed_pipe("sample", "--ckpt", str(out), "--max-new-tokens", "50", "--no-stream")
    closed_pipe("chat", "--ckpt", str(out), "--max-new-tokens", "5", stdin=b"hi\n")


# -- examples -----------------------------------------------------------------------------------

def _example(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_bigram_example_reads_a_text_of_more_than_65536_characters(tmp_path, monkeypatch,
                                                                        capsys):
    """examples/bigram_text.py stored the ids as uint16: a text with more than 65,536 distinct
    characters (Chinese) ended in a traceback (OverflowError: Python integer 65536 out of
    bounds for uint16) → the ids take the trainer's type for the vocabulary (data.id_dtype)
    and the example gets to its model (here refused as too large for a small machine)."""
    from nanograd_llm.models import base
    chars = [chr(c) for r in (range(0x4E00, 0xA000), range(0xAC00, 0xD7A4),
                              range(0x20000, 0x2A6E0)) for c in r][:65600]
    text = tmp_path / "zh.txt"
    text.write_text("".join(chars) * 2, encoding="utf-8")
    monkeypatch.setattr(base, "physical_memory", lambda: 1 << 30)
    assert _example("bigram_text").main([str(text), "--iters", "1"]) == 1
    out, err = capsys.readouterr()
    assert "vocabulary of 65600" in out, out
    assert err.startswith("error: out of memory (the BigramLM model has about 4,303,360,000 "
                          "parameters"), err
    # the advice is what the example can change (the trainer's "a smaller model (n_layer, n_embd,
    # vocab_size)" was advised: the example has none of them)
    assert err.rstrip().endswith("; use a text with fewer distinct characters (a bigram's table "
                                 "has a row and a column per character of the text)"), err


def test_examples_run(tmp_path, capsys):
    """Each example's main() with its small setting (in-process: no interpreter start-up)."""
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    assert _example("bigram_text").main([str(data), "--iters", "50"]) == 0
    assert "--- sample ---" in capsys.readouterr().out
    out = tmp_path / "ex"
    assert _example("train_char_gpt").main(["--small", "--data", str(data), "--out",
                                            str(out)]) == 0
    assert "--- sample ---" in capsys.readouterr().out
    assert _example("sample_checkpoint").main([str(out), "--prompt", "Geri",
                                               "--max-new-tokens", "20"]) == 0
    assert "Geri" in capsys.readouterr().out
    assert _example("sample_checkpoint").main([str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    # the refusal's advice (--resume) works in the example too
    assert _example("train_char_gpt").main(["--small", "--data", str(data), "--out",
                                            str(out)]) == 1
    assert "--resume" in capsys.readouterr().err
    assert _example("train_char_gpt").main(["--out", str(out), "--resume",
                                            "max_iters=40"]) == 0
    assert ckpt.read_manifest(out)["step"] == 40
    capsys.readouterr()
    # greedy sampling (temperature 0), as the README says; an unknown prompt character is a
    # clear error, not a silently replaced prompt
    assert _example("sample_checkpoint").main([str(out), "--temperature", "0",
                                               "--max-new-tokens", "5"]) == 0
    assert _example("sample_checkpoint").main([str(out), "--prompt", "日"]) == 1
    err = capsys.readouterr().err
    assert "'日'" in err and "--unknown skip" in err          # advice the example can follow
    assert _example("sample_checkpoint").main([str(out), "--prompt", "日Geri", "--unknown",
                                               "skip", "--max-new-tokens", "5"]) == 0
    capsys.readouterr()
    # bad input to the bigram example: an error line, no traceback
    short = tmp_path / "short.txt"
    short.write_text("merhaba dünya, nasılsın?\n", encoding="utf-8")
    assert _example("bigram_text").main([str(short), "--iters", "5"]) == 1
    err = capsys.readouterr().err
    # the advice is the example's own option (it advised the trainer's block_size=2, and a
    # val_fraction the example does not have), and following it works
    assert err.startswith("error: ") and "or --block-size 2 at most" in err, err
    assert "block_size=" not in err and "val_fraction" not in err, err
    short.write_text("merhaba dünya, nasılsın? " * 5, encoding="utf-8")
    assert _example("bigram_text").main([str(short), "--iters", "5", "--block-size", "32"]) == 1
    err = capsys.readouterr().err
    assert "use a text of at least 321 tokens or --block-size 12 at most" in err and \
        "val_fraction" not in err, err
    assert _example("bigram_text").main([str(short), "--iters", "5", "--block-size", "12"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        _example("bigram_text").main(["--block-size", "0"])
    assert e.value.code == 2
    for name in ("bigram_text", "train_char_gpt", "sample_checkpoint"):
        script = ROOT / "examples" / f"{name}.py"
        head = script.read_text(encoding="utf-8")[:1500]
        assert any(c in head for c in "çğışöü"), f"{script.name} lacks a Turkish explanation"


@pytest.mark.parametrize("block_size", [16, 128])
def test_resume_is_bit_identical_with_the_batch_split_over_threads(tmp_path, monkeypatch,
                                                                    block_size):
    """Data parallelism (2 parts, dropout on): a killed and resumed run still ends bit-identical.
    With block_size 128 the attention also runs by query tiles, dropout drawn per tile."""
    from nanograd_llm import backend
    from nanograd_llm.layers.causal_tiles import TiledAttentionCache
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(backend, "SHARD_MIN_WORK", 0)
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "2")
    kw = dict(block_size=block_size, max_iters=8, lr_decay_iters=8) if block_size > 16 else {}
    full = train(tiny_config(tmp_path, "full", **kw), quiet=True)
    part = tiny_config(tmp_path, "part", **kw)
    train(part, quiet=True, stop_after=6)
    resumed = train(part, resume=True, quiet=True)
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))
    # and the split really happened: a training forward of this model runs in 2 parts
    m = full["model"]
    m.train()
    w = np.random.default_rng(0).integers(0, m.config.vocab_size, (4, block_size + 1))
    m.forward(w[:, :-1], w[:, 1:])
    assert len(m._cache) == 2 and len(m._cache[0]) == 2
    attn = m._cache[0][0][3][0].attn.attn           # first part, first block
    assert isinstance(attn, TiledAttentionCache) == (block_size >= 128)


def test_lowest_val_loss_weights_are_kept(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, max_iters=12, eval_interval=2)
    r = train(cfg, quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    best = min(rows, key=lambda row: row["val_loss"])
    man = ckpt.read_manifest(tmp_path / "run" / "best")
    assert man["step"] == best["step"] == r["best_step"]
    assert man["extra"]["val_loss"] == pytest.approx(best["val_loss"], abs=1e-6)
    # given as val_loss is (and as the log has it): rounded to 6 decimals, not a float32's
    # full float64 digits
    assert r["best_val_loss"] == best["val_loss"] and r["val_loss"] == rows[-1]["val_loss"]
    assert ckpt.load_model(tmp_path / "run" / "best").num_params() == r["model"].num_params()
    # a resumed run keeps comparing against the saved best, and keep_best=false writes none
    again = train(tiny_config(tmp_path, max_iters=16, eval_interval=2), resume=True, quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert again["best_step"] == min(rows, key=lambda row: row["val_loss"])["step"]
    # … also when every later evaluation is worse: the saved best stays, it is not forgotten
    import nanograd_llm.train as train_mod
    best_before = (again["best_step"], again["best_val_loss"])
    monkeypatch.setattr(train_mod, "estimate_loss", lambda *a, **k: {"train": 9.0, "val": 9.0})
    worse = train(tiny_config(tmp_path, max_iters=20, eval_interval=2), resume=True, quiet=True)
    monkeypatch.undo()
    assert (worse["best_step"], worse["best_val_loss"]) == best_before
    assert ckpt.read_manifest(tmp_path / "run" / "best")["step"] == best_before[0]
    off = train(tiny_config(tmp_path, "off", max_iters=4, eval_interval=2, keep_best=False),
                quiet=True)
    assert off["best_dir"] is None and not (tmp_path / "off" / "best").exists()


def test_a_corrupt_best_copy_does_not_stop_a_resume(tmp_path):
    cfg = tiny_config(tmp_path, max_iters=4, eval_interval=2)
    train(cfg, quiet=True)
    (tmp_path / "run" / "best" / ckpt.MANIFEST).write_text("{bad", encoding="utf-8")
    r = train(tiny_config(tmp_path, max_iters=8, eval_interval=2), resume=True, quiet=True)
    assert r["step"] == 8 and r["best_step"] is not None
    assert ckpt.read_manifest(tmp_path / "run" / "best")["step"] == r["best_step"]


@pytest.mark.parametrize("damage", ["corrupt", "no manifest"])
def test_a_finished_run_with_a_damaged_best_copy_resumes_cleanly(tmp_path, capsys, damage):
    """Nothing left to train and no readable best/ (corrupt, or a first best write killed before
    its manifest): `train --resume` printed the summary, then a TypeError traceback formatting
    the unknown lowest val loss."""
    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    man = tmp_path / "run" / "best" / ckpt.MANIFEST
    if damage == "corrupt":
        man.write_text("{bad", encoding="utf-8")
    else:
        man.unlink()
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "final (step 4)" in cap.out and "lowest val loss" not in cap.out
    assert "Traceback" not in cap.err
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), resume=True, quiet=True)
    assert r["best_step"] is None and r["best_val_loss"] is None and r["best_dir"] is None


@pytest.mark.parametrize("val_loss", ["missing", float("nan")])
def test_a_best_copy_without_a_usable_val_loss_is_replaced(tmp_path, capsys, val_loss):
    """best/checkpoint.json without a finite extra.val_loss was taken with an infinite (or NaN)
    loss: a NaN one was never replaced, and a finished run's `train --resume` ended in a
    TypeError formatting the lowest val loss."""
    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    best = tmp_path / "run" / "best" / ckpt.MANIFEST
    man = json.loads(best.read_text(encoding="utf-8"))
    if val_loss == "missing":
        del man["extra"]["val_loss"]
    else:
        man["extra"]["val_loss"] = val_loss
    best.write_text(json.dumps(man), encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "run"), "--resume"]) == 0
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "lowest val loss" not in cap.out
    assert "extra.val_loss" in cap.err
    r = train(tiny_config(tmp_path, max_iters=6, eval_interval=2), resume=True, quiet=True)
    assert r["best_step"] == 6 and ckpt.read_manifest(best.parent)["step"] == 6


def test_a_best_copy_from_after_the_checkpoint_keeps_its_loss(tmp_path, capsys):
    """A process that dies between writing best/ at step N and the main checkpoint of step N
    leaves a best copy from after the checkpoint's step. The resume ignored it and started the
    lowest-loss tracking from infinity, so its first evaluation replaced the copy as "best"
    even when an earlier step had a lower val loss. The copy's loss (the lowest seen) is kept:
    best/ is replaced only by a lower one, with the same settings or others."""
    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    best = tmp_path / "run" / "best" / ckpt.MANIFEST
    man = json.loads(best.read_text(encoding="utf-8"))
    man["step"], man["extra"]["val_loss"] = 6, 1e-3           # "written at step 6", unbeatable
    best.write_text(json.dumps(man), encoding="utf-8")
    capsys.readouterr()
    r = train(tiny_config(tmp_path, max_iters=8, eval_interval=2, lr=5e-4), resume=True)
    assert "ignoring" not in capsys.readouterr().err
    assert r["best_step"] == 6 == ckpt.read_manifest(best.parent)["step"]   # not replaced
    assert r["best_val_loss"] == 1e-3
    # and the command names it as the lowest
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "max_iters=10"]) == 0
    assert "lowest val loss 0.0010 at step 6" in capsys.readouterr().out
    assert ckpt.read_manifest(best.parent)["step"] == 6


def test_a_best_copy_saved_with_another_tokenizer_is_refused_before_training(tmp_path, capsys):
    """best/ holding a checkpoint of another tokenizer (copied in by hand) is not the run's copy.
    A resume took it as the run's best when its val_loss was usable (and rewrote its manifest
    to name this run's corpus), or printed 'ignoring … it is replaced at the next evaluation'
    and then failed at that evaluation, since save_checkpoint refuses to write over a
    checkpoint of another tokenizer. Now the resume is refused before anything is touched."""
    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    other = tmp_path / "other.txt"
    other.write_text("xyz abc qrs tuv wvu " * 120, encoding="utf-8")
    train(dataclasses.replace(tiny_config(tmp_path, "other", max_iters=2, eval_interval=2),
                              data=str(other)), quiet=True)
    run, best = tmp_path / "run", tmp_path / "run" / "best"
    import shutil
    shutil.rmtree(best)
    shutil.copytree(tmp_path / "other" / "best", best)
    man = json.loads((best / ckpt.MANIFEST).read_text(encoding="utf-8"))
    for val_loss in (man["extra"]["val_loss"], None):          # taken as the best / ignored
        man["extra"]["val_loss"] = val_loss
        (best / ckpt.MANIFEST).write_text(json.dumps(man), encoding="utf-8")
        before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
        with pytest.raises(ValueError, match=r"cannot resume .*run: .*best holds a checkpoint "
                                             r"saved with another tokenizer.*keep_best=false"):
            train(tiny_config(tmp_path, max_iters=8, eval_interval=2), resume=True, quiet=True)
        assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
        capsys.readouterr()
        assert main(["train", "--out", str(run), "--resume", "max_iters=8", "--quiet"]) == 1
        err = capsys.readouterr().err
        assert "another tokenizer" in err and "Traceback" not in err
    # keep_best=false trains on and leaves that folder alone
    before = {p: p.read_bytes() for p in best.rglob("*")}
    r = train(tiny_config(tmp_path, max_iters=8, eval_interval=2, keep_best=False), resume=True,
              quiet=True)
    assert r["step"] == 8 and r["best_dir"] is None
    assert {p: p.read_bytes() for p in best.rglob("*")} == before

# -- an existing run folder, Ctrl-C, the settings of a resumed run --------------------------------

def test_a_python_caller_is_told_trains_keywords_not_the_commands_options(tmp_path, capsys):
    """train(cfg, resume=..., overwrite=...) called from Python was told 'use --resume …,
    --overwrite … or --out DIR', options it has not got, and resuming a folder that does not
    exist made it, removed it again and said 'train with `nanograd-llm train --out DIR` first'.
    str(e) now speaks train()'s words (resume=True, overwrite=True, out_dir); the command
    line prints its own message (command_line_message), as before."""
    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run, corpus, gone = tmp_path / "run", tmp_path / "corpus.txt", tmp_path / "gone"
    command = ["train", "--data", str(corpus), "--quiet"]
    for folder, python, says in (
            (run, f"{run} already holds a training run (checkpoint at step 2); use resume=True "
                  f"to continue it, overwrite=True to start a new run there (the old one is "
                  f"deleted), or another out_dir",
             f"{run} already holds a training run (checkpoint at step 2); use --resume to "
             f"continue it, --overwrite to start a new run there (the old one is deleted), or "
             f"--out DIR for another folder"),
            (corpus, f"out_dir {corpus} is a file, not a folder",
             f"--out {corpus} is a file, not a folder")):
        with pytest.raises(ValueError) as e:
            train(tiny_config(tmp_path, folder.name, max_iters=2), quiet=True)
        assert str(e.value) == python
        assert main([*command, "--out", str(folder)]) == 1
        assert capsys.readouterr().err == f"error: {says}\n"
    with pytest.raises(FileNotFoundError) as e:
        train(tiny_config(tmp_path, "gone"), resume=True, quiet=True)
    assert str(e.value) == (f"nothing to resume: {gone} does not exist (give the run's folder "
                            f"as out_dir)")
    assert not gone.exists()
    assert main([*command, "--out", str(gone), "--resume"]) == 1
    assert capsys.readouterr().err == (f"error: nothing to resume: {gone} does not exist (name "
                                       f"the run's folder with --out)\n")


def test_a_new_run_refuses_a_folder_that_holds_one(tmp_path):
    first = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    before = weights(first["model"])
    with pytest.raises(ValueError, match=r"already holds a training run \(checkpoint at step 4\)"
                                         r"; use resume=True .*, overwrite=True .*, or another "
                                         r"out_dir$") as e:
        train(tiny_config(tmp_path, max_iters=4, seed=5), quiet=True)
    assert re.search(r"; use --resume .*, --overwrite .*, or --out DIR for another folder$",
                     e.value.command_line_message)
    np.testing.assert_array_equal(ckpt.load_model(tmp_path / "run").flat, before)   # untouched
    assert (tmp_path / "run" / "best" / ckpt.MANIFEST).exists()
    # --overwrite: a new run, and nothing of the old one (no stale best/ with keep_best off)
    r = train(tiny_config(tmp_path, max_iters=4, seed=5, keep_best=False), quiet=True,
              overwrite=True)
    assert not (tmp_path / "run" / "best").exists()
    assert not np.array_equal(weights(r["model"]), before)
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in rows] == [0, 4]


def test_a_new_run_in_a_best_copy_is_not_told_to_resume_it(tmp_path, capsys):
    """`train --out RUN/best` (a run's best-weights copy: no optimizer state) was refused with
    "already holds a training run (checkpoint at step 4); use --resume to continue it", and
    --resume then refused the folder ("it holds weights only"). The refusal says what the folder
    holds and names --out DIR first; the copy is left as it was."""
    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    best = tmp_path / "run" / "best"
    before = sorted((p.name, p.read_bytes()) for p in best.iterdir())
    cfg = tiny_config(tmp_path, "run/best", max_iters=4, eval_interval=2)
    with pytest.raises(ValueError, match=r"holds a checkpoint of weights only \(step \d+; a copy "
                                         r"such as a run's best/\), which resume=True cannot "
                                         r"continue; use another out_dir") as e:
        train(cfg, quiet=True)
    assert "which --resume cannot continue; use --out DIR" in e.value.command_line_message
    assert sorted((p.name, p.read_bytes()) for p in best.iterdir()) == before
    capsys.readouterr()
    assert main(["train", "--out", str(best), "--resume", "--quiet"]) == 1   # as it says
    assert "holds weights only" in capsys.readouterr().err
    # a run folder still gets the --resume advice
    with pytest.raises(ValueError, match=r"already holds a training run .*resume=True"):
        train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)


def test_a_new_run_in_a_folder_missing_its_weights_is_not_told_to_resume(tmp_path, capsys):
    """A new run in a run folder whose weights (or moments, tokenizer) file had been deleted
    was told "use --resume to continue it", and --resume then failed on the missing file → the
    refusal names the missing files and advises --overwrite (or --out DIR), which works."""
    import shutil

    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    man = ckpt.read_manifest(run)
    for gone in (man["model_file"], man["optim_file"], "tokenizer.json"):
        shutil.copytree(run, tmp_path / "copy")
        (tmp_path / "copy" / gone).unlink()
        before = sorted(p.name for p in (tmp_path / "copy").iterdir())
        with pytest.raises(ValueError) as e:
            train(tiny_config(tmp_path, "copy", max_iters=2, eval_interval=2), quiet=True)
        assert f"already holds a training run whose checkpoint (step 2) is incomplete ({gone} " \
               f"is missing), so --resume cannot continue it; use --overwrite" in \
            e.value.command_line_message
        assert "so resume=True cannot continue it; use overwrite=True" in str(e.value)
        assert "use --resume" not in e.value.command_line_message
        assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == before   # untouched
        assert main(["train", "--out", str(tmp_path / "copy"), "--resume", "--quiet"]) == 1
        assert "missing" in capsys.readouterr().err                              # as it says
        assert train(tiny_config(tmp_path, "copy", max_iters=2, eval_interval=2), quiet=True,
                     overwrite=True)["step"] == 2
        shutil.rmtree(tmp_path / "copy")


def _garble(path: Path, how: str) -> None:
    """Damage a file as a disk, a copy or a hand can: cut it in half, fill it with other bytes,
    or change one byte in its middle (the length and the zip structure stay)."""
    raw = path.read_bytes()
    if how == "truncate":
        path.write_bytes(raw[:len(raw) // 2])
    elif how == "garbage":
        path.write_bytes(bytes(range(256)) * (len(raw) // 256 + 1))
    else:
        i = len(raw) // 2
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1:])


def test_a_new_run_in_a_folder_with_a_corrupt_checkpoint_file_is_not_told_to_resume(tmp_path,
                                                                                      capsys):
    """A new run in a run folder whose weights, moments or tokenizer file was present but
    corrupt (cut short, overwritten, one byte changed) was told "use --resume to continue it",
    and --resume then failed on that file's checksum → the refusal says the checkpoint is
    damaged, names the file and what is wrong (resume's own words), and advises --overwrite
    (or --out DIR), which works; the folder is left as it was."""
    import shutil

    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    man = ckpt.read_manifest(run)
    cases = [(man["model_file"], "truncate", "is corrupt or truncated"),
             (man["model_file"], "flip", "is corrupt or truncated"),
             (man["optim_file"], "garbage", "is corrupt or truncated"),
             ("tokenizer.json", "flip", "does not match checkpoint.json")]
    for name, how, says in cases:
        copy = tmp_path / "copy"
        shutil.copytree(run, copy)
        _garble(copy / name, how)
        before = sorted((p.name, p.read_bytes()) for p in copy.iterdir() if p.is_file())
        with pytest.raises(ValueError) as e:
            train(tiny_config(tmp_path, "copy", max_iters=2, eval_interval=2), quiet=True)
        msg = e.value.command_line_message
        assert msg.startswith(f"{copy} already holds a training run whose checkpoint (step 2) "
                              f"is damaged ("), (name, how, msg)
        assert f"{copy / name} {says}" in msg, (name, how, msg)
        assert msg.endswith("), so --resume cannot continue it; use --overwrite to start a new "
                            "run there (the old one is deleted), or --out DIR for another "
                            "folder"), msg
        assert "use --resume" not in msg
        assert sorted((p.name, p.read_bytes()) for p in copy.iterdir() if p.is_file()) == before
        capsys.readouterr()
        assert main(["train", "--out", str(copy), "--resume", "--quiet"]) == 1   # as it says
        assert says in capsys.readouterr().err
        assert train(tiny_config(tmp_path, "copy", max_iters=2, eval_interval=2), quiet=True,
                     overwrite=True)["step"] == 2
        shutil.rmtree(copy)
    # an intact run still gets the --resume advice
    with pytest.raises(ValueError, match=r"\(checkpoint at step 2\); use resume=True"):
        train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)


def test_a_large_checkpoint_file_is_checked_by_its_structure_not_read_whole(tmp_path,
                                                                             monkeypatch):
    """The check behind that advice stays cheap for a large checkpoint (a GPT-2 fine-tune: 0.5
    GB of weights, 1 GB of moments): a file above checkpoint.HASH_LIMIT is not hashed, only its
    zip directory and .npy headers are read, which a file cut short or overwritten fails."""
    import shutil
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    man = ckpt.read_manifest(run)
    hashed = []
    real = ckpt._sha256
    monkeypatch.setattr(ckpt, "_sha256", lambda p: (hashed.append(Path(p).name), real(p))[1])
    monkeypatch.setattr(ckpt, "HASH_LIMIT", 0)           # every file counts as large
    with pytest.raises(ValueError, match=r"\(checkpoint at step 2\); use resume=True"):
        train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    assert hashed == []
    for name, how in ((man["model_file"], "truncate"), (man["optim_file"], "garbage")):
        shutil.copytree(run, tmp_path / "copy")
        _garble(tmp_path / "copy" / name, how)
        with pytest.raises(ValueError) as e:
            train(tiny_config(tmp_path, "copy", max_iters=2, eval_interval=2), quiet=True)
        assert f"is damaged (cannot read checkpoint file {tmp_path / 'copy' / name}: " \
            in str(e.value) and "use overwrite=True" in str(e.value), str(e.value)
        assert hashed == []
        shutil.rmtree(tmp_path / "copy")


def test_a_checkpoint_file_without_read_permission_is_not_called_damaged(tmp_path,
                                                                         monkeypatch):
    """A weights file the user may not read is not corrupt: as for the manifest, the refusal
    says so and advises making it readable and --resume, not --overwrite (which would delete a
    run that may be someone else's)."""
    import builtins
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    locked = run / ckpt.read_manifest(run)["model_file"]
    real_open = builtins.open

    def denying_open(file, *a, **k):
        if Path(os.fspath(file)) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)
    monkeypatch.setattr(ckpt, "open", denying_open, raising=False)
    with pytest.raises(ValueError) as e:
        train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    assert e.value.command_line_message == (
        f"{run} already holds a training run whose checkpoint (step 2) has a file that cannot "
        f"be read ({locked.name}: Permission denied); make it readable (check the permissions) "
        f"and use --resume to continue it, or --out DIR for another folder")
    assert str(e.value).endswith("and use resume=True to continue it, or another out_dir")


def test_a_failed_start_leaves_no_empty_folder(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("kısa")
    with pytest.raises(ValueError):
        train(make_config(data=str(short), out_dir=str(tmp_path / "o")), quiet=True)
    assert not (tmp_path / "o").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        train(tiny_config(tmp_path, "afile"), quiet=True)


@posix_only(SIGNALS)
def test_ctrl_c_after_a_diverged_update_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    """The loss is checked before the update (on the GPU only every log_interval steps), so an
    update can leave non-finite weights that no check has seen yet; a Ctrl-C then must not
    save them over the last good checkpoint."""
    import signal
    real_step = AdamW.step

    def diverging(self, grads=None, lr=None):
        real_step(self, grads, lr)
        if self.t == 6:
            self.model.flat[3] = np.nan                 # an update that overflowed
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(AdamW, "step", diverging)
    with pytest.raises(RuntimeError, match="weights are not finite after step 6.*step 4"):
        train(tiny_config(tmp_path, "part", eval_interval=4), quiet=True)
    monkeypatch.undo()
    state = ckpt.load_checkpoint(tmp_path / "part")
    assert state["step"] == 4 and np.isfinite(state["model"].flat).all()


@posix_only(SIGNALS)
def test_ctrl_c_saves_the_step_and_resume_is_exact(tmp_path, monkeypatch):
    """The first SIGINT ends the run after the current step with a checkpoint of it."""
    import signal
    handler_before = signal.getsignal(signal.SIGINT)   # SIG_IGN if pytest runs in background
    full = train(tiny_config(tmp_path, "full"), quiet=True)
    real_step = AdamW.step

    def interrupted(self, grads=None, lr=None):
        real_step(self, grads, lr)
        if self.t == 6:
            os.kill(os.getpid(), signal.SIGINT)      # handled: the step still completes
    monkeypatch.setattr(AdamW, "step", interrupted)
    r = train(tiny_config(tmp_path, "part"), quiet=True)
    monkeypatch.undo()
    assert r["interrupted"] and r["step"] == 6
    assert signal.getsignal(signal.SIGINT) is handler_before   # the trainer's handler removed
    assert ckpt.load_checkpoint(tmp_path / "part")["step"] == 6          # not an eval step
    resumed = train(tiny_config(tmp_path, "part"), resume=True, quiet=True)
    assert not resumed["interrupted"] and resumed["step"] == 12
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))


def test_resume_takes_the_saved_settings(tmp_path):
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=4, n_embd=24, lr=2e-3), quiet=True)
    cfg = resume_config(None, overrides={"max_iters": "8"}, out_dir=str(tmp_path / "run"))
    assert (cfg.n_embd, cfg.lr, cfg.max_iters, cfg.out_dir) == (24, 2e-3, 8,
                                                               str(tmp_path / "run"))
    r = train(cfg, resume=True, quiet=True)
    assert r["step"] == 8
    with pytest.raises(ValueError, match="weights only"):
        train(resume_config(None, out_dir=str(tmp_path / "run" / "best")), resume=True,
              quiet=True)
    assert not (tmp_path / "run" / "best" / "best").exists()


def test_an_invalid_saved_setting_is_named_with_its_file(tmp_path):
    """max_iters=-1 in checkpoint.json was reported as 'lr_decay_iters must be >= 0' (the
    schedule's end, derived from it), without naming the file."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=4, lr_decay_iters=0), quiet=True)
    man = tmp_path / "run" / ckpt.MANIFEST
    good = json.loads(man.read_text())
    for key, value, overrides, message in [
            ("max_iters", -1, {}, "max_iters must be >= 1, got -1"),
            ("max_iters", -1, {"max_iters": "8"}, "max_iters must be >= 1, got -1"),
            ("max_iters", "x", {"max_iters": "8"}, "bad value for max_iters: 'x'"),
            ("lr", -1, {}, "lr must be a finite number >= 0, got -1.0")]:
        m = json.loads(json.dumps(good))
        m["train_config"][key] = value
        man.write_text(json.dumps(m))
        with pytest.raises(ValueError) as e:
            resume_config(None, overrides=overrides, out_dir=str(tmp_path / "run"))
        assert str(e.value).startswith(f"{man}: the run's saved train_config is invalid: "
                                       f"{message}")
    # a setting given again replaces the saved one, even one that does not convert
    m = json.loads(json.dumps(good))
    m["train_config"]["lr"] = "abc"
    man.write_text(json.dumps(m))
    assert resume_config(None, overrides={"lr": "1e-3"}, out_dir=str(tmp_path / "run")).lr == 1e-3
    # without the saved max_iters, a given lr_decay_iters sets the schedule's end
    m["train_config"].update(max_iters=-1, lr="abc")
    man.write_text(json.dumps(m))
    cfg = resume_config(None, overrides={"lr": "1e-3", "max_iters": "8", "lr_decay_iters": "4"},
                        out_dir=str(tmp_path / "run"))
    assert (cfg.max_iters, cfg.lr_decay_iters) == (8, 4)


def test_a_bad_saved_max_iters_is_advised_what_resumes_in_one_go(tmp_path, capsys):
    """checkpoint.json with a broken max_iters (and no lr_decay_iters): `train --resume` was
    told "correct it there, or give lr_decay_iters=N", and with lr_decay_iters=N alone the
    saved max_iters was refused again ("give the setting again as key=value") → without
    max_iters given it advises both, and following the advice resumes; with max_iters given,
    lr_decay_iters=N alone is advised, and that resumes."""
    from nanograd_llm import cli
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1, lr_decay_iters=0), quiet=True)
    man = tmp_path / "run" / ckpt.MANIFEST
    m = json.loads(man.read_text())
    m["train_config"]["max_iters"] = "x"
    man.write_text(json.dumps(m))
    resume = ["train", "--resume", "--out", str(tmp_path / "run"), "--quiet"]
    assert cli.main(resume) == 1
    assert "(the resumed learning-rate schedule ends at the saved max_iters; correct it there, " \
        "or give max_iters=N and lr_decay_iters=N)" in capsys.readouterr().err
    assert cli.main([*resume, "lr_decay_iters=4"]) == 1      # what it advised alone
    assert "give the setting again as key=value" in capsys.readouterr().err
    assert cli.main([*resume, "max_iters=2"]) == 1
    assert "correct it there, or give lr_decay_iters=N)" in capsys.readouterr().err
    assert cli.main([*resume, "max_iters=2", "lr_decay_iters=4"]) == 0
    assert ckpt.read_manifest(tmp_path / "run")["step"] == 2


def test_a_run_saved_with_an_eps_float32_holds_as_0_resumes_with_eps_given_again(tmp_path):
    """An earlier version trained a float32 run with eps=1e-50 (0 in float32: the first step made
    weights NaN) and saved its step-0 checkpoint. Resumed as it is, the setting is refused
    naming the fix; with eps=1e-8 given again it resumes (the saved optimizer eps, which
    load_state_dict refuses, is replaced by the config's as lr, betas and weight_decay are)."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    man = tmp_path / "run" / ckpt.MANIFEST
    m = json.loads(man.read_text())
    m["train_config"]["eps"] = m["optimizer"]["eps"] = 1e-50
    man.write_text(json.dumps(m))
    with pytest.raises(ValueError, match=r"eps=1e-50 is 0 in float32 .*use a larger eps"):
        resume_config(None, out_dir=str(tmp_path / "run"))
    cfg = resume_config(None, overrides={"eps": "1e-8", "max_iters": "4"},
                        out_dir=str(tmp_path / "run"))
    out = train(cfg, resume=True, quiet=True)
    assert out["step"] == 4 and np.isfinite(weights(out["model"])).all()


def test_out_of_memory_advises_what_each_command_can_change(tmp_path, monkeypatch, capsys):
    """An allocation that failed (MemoryError, not a model too large for the machine) was
    advised "use a smaller batch_size, block_size or model (n_layer, n_embd)" in every command:
    `train --resume` refuses all of them ("trained with batch_size=4, now …"), a fine-tune
    refuses n_layer/n_embd (its folder's model), and eval, sample and the bigram example have
    no such settings (eval has --batch-size, the example --batch-size and --block-size) → each
    names what it can change."""
    from nanograd_llm import GPT, GPTConfig, cli
    from nanograd_llm import evaluate as E
    from nanograd_llm import generate as G
    from nanograd_llm import train as T
    from nanograd_llm.tokenizers import CharTokenizer
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    out, corpus = str(tmp_path / "run"), str(tmp_path / "corpus.txt")
    tok = CharTokenizer.from_text(TEXT)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "hf")
    tok.save(str(tmp_path / "hf"))

    def no_memory(*a, **k):
        raise MemoryError("Unable to allocate 9.00 GiB")

    def err_of(argv):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: out of memory (Unable to allocate 9.00 GiB); "), err
        return err.split("; ", 1)[1]
    monkeypatch.setattr(T, "_train", no_memory)
    assert err_of(["train", "--resume", "--out", out, "max_iters=2"]) == \
        "a resumed run keeps its batch_size, block_size and model: start a new run with " \
        "smaller ones (--overwrite, or --out DIR)\n"
    # what it advises is what resuming refuses
    monkeypatch.undo()
    assert cli.main(["train", "--resume", "--out", out, "--quiet", "batch_size=2"]) == 1
    assert "trained with batch_size=4, now batch_size=2" in capsys.readouterr().err
    monkeypatch.setattr(T, "_train", no_memory)
    assert err_of(["train", "--init-from", str(tmp_path / "hf"), "--data", corpus, "--out",
                   str(tmp_path / "ft"), "block_size=8"]) == \
        "use a smaller batch_size or block_size, or start from a smaller pretrained model (a " \
        "fine-tune's model is its GPT-2 folder's)\n"
    assert err_of(["train", "--data", corpus, "--out", str(tmp_path / "new")]) == \
        "use a smaller batch_size, block_size or model (n_layer, n_embd)\n"
    monkeypatch.setattr(E, "evaluate_text", no_memory)
    assert err_of(["eval", "--ckpt", out]) == \
        "use a smaller --batch-size (or a shorter --context)\n"
    monkeypatch.setattr(G, "iter_generate", no_memory)
    assert err_of(["sample", "--ckpt", out, "--seed", "0"]) == \
        "free some memory, or use a machine with more\n"
    example = _example("bigram_text")
    monkeypatch.setattr(example, "BigramLM", no_memory)
    assert example.main([corpus, "--iters", "1", "--block-size", "8"]) == 1
    assert capsys.readouterr().err.endswith(
        "; use a smaller --batch-size or --block-size\n")


def test_out_of_memory_advice_names_settings_to_a_caller_of_train(tmp_path, monkeypatch,
                                                                  capsys):
    """train()'s out-of-memory advice (its `advice` attribute) told a Python caller the
    command line's options: a resumed run 'start a new run with smaller ones (--overwrite, or
    --out DIR)', a fine-tune too large to train 'its size comes from --init-from X' → `advice`
    names overwrite=True, out_dir and init_from; the command line prints its words unchanged
    (command_line_advice)."""
    from nanograd_llm import GPT, GPTConfig, cli
    from nanograd_llm import train as T
    from nanograd_llm.models import base
    from nanograd_llm.tokenizers import CharTokenizer
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    out = str(tmp_path / "run")

    def resumed():
        with pytest.raises(MemoryError) as e:
            train(resume_config(None, out_dir=out, overrides={"max_iters": "2"}), resume=True,
                  quiet=True)
        assert "--" not in e.value.advice, e.value.advice
        return e.value.advice

    def no_memory(*a, **k):
        raise MemoryError("Unable to allocate 9.00 GiB")
    monkeypatch.setattr(T, "_train", no_memory)           # an allocation that failed
    assert resumed() == "a resumed run keeps its batch_size, block_size and model: start a " \
        "new run with smaller ones (overwrite=True, or another out_dir)"
    monkeypatch.undo()
    # the model is too large to train (weights, gradients and two moments: 4x the weights)
    weights = ckpt.load_model(out).flat.nbytes
    monkeypatch.setattr(base, "physical_memory", lambda: int(3.5 * weights))
    assert resumed().endswith("start a new run (overwrite=True, or another out_dir) with a "
                              "smaller model (n_layer, n_embd)")
    assert cli.main(["train", "--resume", "--out", out, "--quiet", "max_iters=2"]) == 1
    assert capsys.readouterr().err.rstrip().endswith(
        "start a new run (--overwrite, or --out DIR) with a smaller model (n_layer, n_embd)")
    # a fine-tune whose pretrained model is too large to train
    tok = CharTokenizer.from_text(TEXT)
    hf = tmp_path / "hf"
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2,
                        n_embd=8), seed=1)
    gpt.save_hf(hf)
    tok.save(str(hf))
    monkeypatch.setattr(base, "physical_memory", lambda: int(3.5 * gpt.flat.nbytes))
    with pytest.raises(base.ModelTooLargeError) as e:
        train(dataclasses.replace(tiny_config(tmp_path, "ft"), init_from=str(hf)), quiet=True)
    assert e.value.advice == f"its size comes from init_from {hf}: start from a smaller " \
        f"pretrained model", e.value.advice
    assert cli.main(["train", "--init-from", str(hf), "--data", str(tmp_path / "corpus.txt"),
                     "--out", str(tmp_path / "ft2"), "--quiet", "block_size=16"]) == 1
    assert capsys.readouterr().err.rstrip().endswith(
        f"its size comes from --init-from {hf}: start from a smaller pretrained model")
    # given as the key=value word init_from=DIR, the command line names it so (not the option)
    assert cli.main(["train", f"init_from={hf}", "--data", str(tmp_path / "corpus.txt"),
                     "--out", str(tmp_path / "ft3"), "--quiet", "block_size=16"]) == 1
    assert capsys.readouterr().err.rstrip().endswith(
        f"its size comes from init_from={hf}: start from a smaller pretrained model")
    # from a --config file, the file is named
    toml = _config_file(tmp_path, init_from=str(hf), n_layer=None, n_head=None, n_embd=None,
                        out_dir=str(tmp_path / "ft4"))
    assert cli.main(["train", "--config", str(toml), "--quiet"]) == 1
    assert capsys.readouterr().err.rstrip().endswith(
        f"its size comes from init_from {hf} (set in config file {toml}): start from a smaller "
        f"pretrained model")


def test_out_of_memory_in_the_closing_sample_says_the_run_is_saved(tmp_path, monkeypatch,
                                                                    capsys):
    """`train` ran out of memory in the sample it prints after training (outside train(), which
    gives its own advice): it was advised "use a smaller batch_size, block_size or model", a
    new run's settings, also for a resumed run, which refuses them, and about a run already
    trained and saved → it says the run is saved and how to sample it or leave the sample
    out; the advised command samples."""
    from nanograd_llm import cli
    from nanograd_llm import train as T
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    out = str(tmp_path / "run")

    def no_memory(*a, **k):
        raise MemoryError("Unable to allocate 9.00 GiB")
    monkeypatch.setattr(T, "sample_text", no_memory)
    assert cli.main(["train", "--resume", "--out", out, "--quiet", "max_iters=2",
                     "sample_tokens=5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (Unable to allocate 9.00 GiB); the run is "
                          f"trained and saved in {out}") and "batch_size" not in err, err
    from nanograd_llm.atomic import shell_quote
    assert f"`nanograd-llm sample --ckpt {shell_quote(out)}`" in err and "sample_tokens=0" in err, \
        err
    assert ckpt.read_manifest(out)["step"] == 2
    monkeypatch.undo()
    assert cli.main(["sample", "--ckpt", out, "--max-new-tokens", "5", "--seed", "0",
                     "--no-stream"]) == 0


def test_resume_with_an_eps_0_in_float32_is_not_told_to_change_dtype(tmp_path, capsys):
    """`train --resume eps=1e-50` on a float32 run: the refusal advised "use a larger eps …, or
    dtype=float64", and the run refuses another dtype when it resumes ("trained with
    dtype='float32', now dtype='float64'") → only a larger eps is advised there; a new run keeps
    the dtype advice; the advised eps resumes."""
    from nanograd_llm import cli
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    out = str(tmp_path / "run")
    assert cli.main(["train", "--resume", "--out", out, "--quiet", "eps=1e-50"]) == 1
    err = capsys.readouterr().err
    assert "eps=1e-50 is 0 in float32" in err and "use a larger eps (the usual is 1e-8)" in err \
        and "dtype" not in err, err
    assert cli.main(["train", "--resume", "--out", out, "--quiet", "eps=1e-50",
                     "dtype=float64"]) == 1          # why dtype=float64 is no advice there
    assert "trained with dtype='float32', now dtype='float64'" in capsys.readouterr().err
    assert cli.main(["train", "--out", str(tmp_path / "new"), "--data",
                     str(tmp_path / "corpus.txt"), "--quiet", "eps=1e-50"]) == 1
    assert "use a larger eps (the usual is 1e-8), or dtype=float64" in capsys.readouterr().err
    assert cli.main(["train", "--resume", "--out", out, "--quiet", "eps=1e-8", "max_iters=2",
                     "eval_interval=1", "sample_tokens=0"]) == 0


def test_resume_accepts_the_same_data_file_named_another_way(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, max_iters=4)
    train(cfg, quiet=True)
    monkeypatch.chdir(tmp_path)
    again = tiny_config(tmp_path, max_iters=6)
    again.data = "corpus.txt"                   # relative this time
    assert train(again, resume=True, quiet=True)["step"] == 6
    with open(tmp_path / "corpus.txt", "a", encoding="utf-8") as f:
        f.write("\nZ€")                          # the file changed since the run started
    with pytest.raises(ValueError, match=r"2 character\(s\) the run's tokenizer does not "
                                         r"know \('Z' '€'\).*has the file changed"):
        train(tiny_config(tmp_path, max_iters=8), resume=True, quiet=True)


def test_sampling_without_a_newline_in_the_vocabulary(tmp_path):
    from nanograd_llm.tokenizers import CharTokenizer, start_ids
    data = tmp_path / "flat.txt"
    data.write_text("ab ba " * 200, encoding="utf-8")       # no newline anywhere
    r = train(make_config(data=str(data), out_dir=str(tmp_path / "flat"),
                          overrides=dict(n_layer="1", n_head="2", n_embd="16", block_size="16",
                                         max_iters="2", eval_interval="2", eval_iters="1")),
              quiet=True)
    assert start_ids(r["tokenizer"]) == r["tokenizer"].encode(" ")
    assert start_ids(CharTokenizer.from_text("xyz")) == [0]
    p = _run(["-m", "nanograd_llm", "sample", "--ckpt", str(tmp_path / "flat"),
              "--max-new-tokens", "5"])
    assert p.returncode == 0, p.stderr
    assert set(p.stdout.strip()) <= set("ab ")


def test_cli_key_value_words_between_options(tmp_path):
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "mix"
    p = _run(["-m", "nanograd_llm", "train", "n_layer=1", "--data", str(data), "n_embd=16",
              "--quiet", "n_head=2", "block_size=16", "--out", str(out), "max_iters=2",
              "eval_interval=2", "eval_iters=1", "sample_tokens=0"])
    assert p.returncode == 0, p.stderr
    saved = ckpt.read_manifest(out)["train_config"]
    assert (saved["n_layer"], saved["n_embd"], saved["max_iters"]) == (1, 16, 2)
    bad = _run(["-m", "nanograd_llm", "train", "max_iters=2", "--quiet", "--bogus"])
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr
    assert "usage: nanograd-llm train" in bad.stderr


def test_cli_names_the_right_option_for_each_kind_of_folder(tmp_path):
    """A run folder given as a Hugging Face one and the other way round; a negative seed; a
    folder as --config; main leaves the warnings' format as it found it."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.cli import main
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = str(tmp_path / "run")
    pytest.importorskip("safetensors")
    GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=1, n_embd=8)).save_hf(
        tmp_path / "hf")
    hf = str(tmp_path / "hf")
    cases = [(["sample", "--hf", run], f"with --ckpt {run}"),
             (["train", "--init-from", run, "--out", str(tmp_path / "x")], f"--ckpt {run}"),
             (["sample", "--ckpt", hf], f"with --hf {hf}"),
             (["sample", "--ckpt", run, "--seed", "-1"], "--seed must be an integer >= 0"),
             (["train", "--config", str(tmp_path)], "is a folder")]
    for args, message in cases:
        p = _run(["-m", "nanograd_llm", *args])
        assert p.returncode == 1, (args, p.stderr)
        assert p.stderr.startswith("error: ") and message in p.stderr, (args, p.stderr)
    assert not (tmp_path / "x").exists()
    import warnings
    before = warnings.formatwarning
    assert main(["sample", "--ckpt", str(tmp_path / "missing")]) == 1
    # one-line warnings hold while the command runs only (test_cli_flags checks both)
    assert warnings.formatwarning is before


def _fixed_windows(monkeypatch, n_rows=8, block=16, seed=0):
    """Make the trainer see the same rows whatever its batch size: rows 0..n-1 of a fixed
    (n, T+1) window array, handed out in order and from the start again after n."""
    from nanograd_llm.data import BatchSampler
    rng = np.random.default_rng(seed)
    state = {"rows": None, "next": 0}

    def train_batch(self, batch_size=None):
        b = batch_size or self.batch_size
        if state["rows"] is None:
            ids = np.asarray(self.data.train)
            starts = rng.integers(0, ids.size - block - 1, n_rows)
            state["rows"] = np.stack([ids[s:s + block + 1] for s in starts]).astype(np.int64)
        out = state["rows"][state["next"]:state["next"] + b]
        state["next"] = (state["next"] + b) % n_rows
        return out
    monkeypatch.setattr(BatchSampler, "train_batch", train_batch)
    return state


def test_grad_accum_through_the_trainer_equals_one_large_batch(tmp_path, monkeypatch):
    """One step of 2 micro-batches of 4 rows = one step of 8 rows (mean of means = mean): the
    gradient AdamW receives and the weights after the step."""
    common = dict(max_iters=1, eval_interval=1, dropout=0.0, dtype="float64", grad_clip=0.0,
                  warmup_iters=0, lr=1e-2)
    seen = []
    real_step = AdamW.step

    def record(self, grads=None, lr=None):
        seen.append(self.model.grad_flat.copy())      # (Adam's step hides a scale error)
        real_step(self, grads, lr)
    monkeypatch.setattr(AdamW, "step", record)
    state = _fixed_windows(monkeypatch)
    big = train(tiny_config(tmp_path, "big", batch_size=8, grad_accum=1, **common), quiet=True)
    state["next"] = 0
    acc = train(tiny_config(tmp_path, "acc", batch_size=4, grad_accum=2, **common), quiet=True)
    assert len(seen) == 2 and np.abs(seen[0]).max() > 1e-3
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weights(acc["model"]), weights(big["model"]), rtol=1e-9,
                               atol=1e-12)


def test_grad_clip_through_the_trainer(tmp_path, monkeypatch):
    """AdamW sees a gradient of global norm <= grad_clip; without clipping it is larger."""
    seen = []
    real_step = AdamW.step

    def record(self, grads=None, lr=None):
        seen.append(float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum())
                                      for g in self.model.grads.values()))))
        real_step(self, grads, lr)
    monkeypatch.setattr(AdamW, "step", record)
    train(tiny_config(tmp_path, "clip", max_iters=4, grad_clip=0.05), quiet=True)
    clipped, seen[:] = list(seen), []
    train(tiny_config(tmp_path, "free", max_iters=4, grad_clip=0.0), quiet=True)
    assert len(clipped) == 4 and max(clipped) <= 0.05 * (1 + 1e-5)
    assert min(seen) > 0.05                                  # so the clipping was active


@pytest.mark.parametrize("shell", [None, "1"])
def test_train_leaves_cupy_tf32_as_it_found_it(tmp_path, monkeypatch, shell):
    """The run's precision holds while it trains: afterwards CUPY_TF32 is what the caller had
    (not set, or the shell's 1), not the run's 0, for the code that runs next in the process."""
    if shell is None:
        monkeypatch.delenv("CUPY_TF32", raising=False)
    else:
        monkeypatch.setenv("CUPY_TF32", shell)
    train(tiny_config(tmp_path, max_iters=1, precision="highest"), quiet=True)
    assert os.environ.get("CUPY_TF32") == shell


@posix_only(SIGNALS)
def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    import signal
    real_step = AdamW.step

    def twice(self, grads=None, lr=None):
        real_step(self, grads, lr)
        if self.t == 6:
            os.kill(os.getpid(), signal.SIGINT)      # asks to stop after this step
            os.kill(os.getpid(), signal.SIGINT)      # and now at once
    monkeypatch.setattr(AdamW, "step", twice)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tmp_path), quiet=True)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert ckpt.load_checkpoint(tmp_path / "run")["step"] == 4     # the last one written


@posix_only(SIGNALS)
def test_a_second_ctrl_c_during_a_checkpoint_write_waits_for_it(tmp_path, monkeypatch, capsys):
    """Ctrl-C twice while the step-8 checkpoint is being written: the write completes (no
    half-written archive, no unrelated error in place of the interrupt), then training stops."""
    import signal

    from nanograd_llm.cli import main
    real_npz = ckpt._write_npz
    calls = []

    def slow_write(path, arrays):
        calls.append(path.name)
        if len(calls) == 5:                  # step 8's weights (0: 1+1, 4: 1+1, 8: this one)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real_npz(path, arrays)
    monkeypatch.setattr(ckpt, "_write_npz", slow_write)
    cfg = tiny_config(tmp_path, keep_best=False)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, quiet=True)
    assert "as soon as the checkpoint being written is complete" in capsys.readouterr().err
    assert ckpt.load_checkpoint(tmp_path / "run")["step"] == 8      # the write went through
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # through the command: exit status 130 and "interrupted", not "error: ..."
    calls.clear()
    assert main(["train", "--config", str(_write_json(tmp_path, cfg)), "--out",
                 str(tmp_path / "cli"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "error" not in err


@pytest.mark.parametrize("signame, status, said", [("SIGINT", 130, "interrupted"),
                                                    ("SIGTERM", 143, "terminated")])
@posix_only(SIGNALS)
def test_a_checkpoint_write_that_fails_with_a_second_signal_pending_keeps_its_status(
        tmp_path, monkeypatch, capsys, signame, status, said):
    """Two Ctrl-Cs (SIGTERMs) while the step-8 checkpoint is written, and the write then fails
    (disk full): the command says why the write failed and that the step-4 checkpoint is intact,
    and exits as the signal asked (130 / 143), not with 1, as if no one had asked it to stop."""
    import errno
    import signal

    from nanograd_llm.cli import main
    sig = getattr(signal, signame)
    calls = []

    def full_disk(path, arrays):
        calls.append(path.name)
        if len(calls) == 5:                  # step 8's weights (0: 1+1, 4: 1+1, 8: this one)
            os.kill(os.getpid(), sig)
            os.kill(os.getpid(), sig)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_npz(path, arrays)
    real_npz = ckpt._write_npz
    monkeypatch.setattr(ckpt, "_write_npz", full_disk)
    cfg = tiny_config(tmp_path, keep_best=False)
    assert main(["train", "--config", str(_write_json(tmp_path, cfg)), "--out",
                 str(tmp_path / "cli"), "--quiet"]) == status
    err = capsys.readouterr().err
    assert "stopping as soon as the checkpoint being written is complete" in err
    assert "error: could not write the checkpoint of step 8" in err
    assert "No space left on device" in err and "checkpoint of step 4" in err
    assert err.rstrip().endswith(said)
    assert ckpt.load_checkpoint(tmp_path / "cli")["step"] == 4          # kept
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _Killed(Exception):
    """What SIGTERM's default action (the process dies at once) stands for in these tests."""


@pytest.fixture
def sigterm_guard():
    """A SIGTERM handler for the test process (without one, a trainer that left SIGTERM alone
    would kill pytest): it raises _Killed; the trainer must put it back when it ends."""
    import signal

    def guard(signum, frame):
        raise _Killed
    previous = signal.signal(signal.SIGTERM, guard)
    yield guard
    signal.signal(signal.SIGTERM, previous)


def _signal_at_step(monkeypatch, t, *signals):
    import signal
    real_step = AdamW.step

    def step(self, grads=None, lr=None):
        real_step(self, grads, lr)
        if self.t == t:
            for sig in signals:
                os.kill(os.getpid(), getattr(signal, sig))     # handled: the step completes
    monkeypatch.setattr(AdamW, "step", step)


@posix_only(SIGNALS)
def test_sigterm_saves_the_step_like_a_first_ctrl_c(tmp_path, monkeypatch, sigterm_guard):
    """SIGTERM (kill, docker stop, a scheduler preempting the job) ended the run at once and lost
    the steps since the last checkpoint; it now ends it after the current step with a
    checkpoint of that step, the handler found before is put back, and resume is exact."""
    import signal
    full = train(tiny_config(tmp_path, "full"), quiet=True)
    _signal_at_step(monkeypatch, 6, "SIGTERM")
    r = train(tiny_config(tmp_path, "part"), quiet=True)
    monkeypatch.undo()
    assert r["interrupted"] and r["signal"] == "SIGTERM" and r["step"] == 6
    assert signal.getsignal(signal.SIGTERM) is sigterm_guard
    assert ckpt.load_checkpoint(tmp_path / "part")["step"] == 6          # not an eval step
    resumed = train(tiny_config(tmp_path, "part"), resume=True, quiet=True)
    assert not resumed["interrupted"] and resumed["signal"] is None
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))


@posix_only(SIGNALS)
def test_a_second_sigterm_stops_at_once(tmp_path, monkeypatch, sigterm_guard, capsys):
    import signal

    from nanograd_llm.cli import main
    from nanograd_llm.train import Terminated
    _signal_at_step(monkeypatch, 6, "SIGTERM", "SIGTERM")
    cfg = tiny_config(tmp_path)
    with pytest.raises(Terminated):
        train(cfg, quiet=True)
    assert signal.getsignal(signal.SIGTERM) is sigterm_guard
    assert ckpt.load_checkpoint(tmp_path / "run")["step"] == 4     # the last one written
    # the command: 143 (128 + SIGTERM) and "terminated", not a traceback or "interrupted"
    capsys.readouterr()
    assert main(["train", "--config", str(_write_json(tmp_path, cfg)), "--out",
                 str(tmp_path / "cli"), "--quiet"]) == 143
    err = capsys.readouterr().err
    assert err.endswith("\nterminated\n") and "error" not in err


@posix_only(SIGNALS)
def test_the_examples_stop_on_signals_like_the_command(tmp_path, monkeypatch, sigterm_guard,
                                                       capsys):
    """examples/train_char_gpt.py caught only OSError/ValueError/RuntimeError: a second Ctrl-C or
    SIGTERM (or a Ctrl-C in bigram_text's loop) ended with a traceback. The examples run through
    the command's own handling (cli.report_errors): a line and 130 / 143, as the CLI."""
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    example = _example("train_char_gpt")
    for sigs, status, word in ((("SIGINT", "SIGINT"), 130, "interrupted"),
                               (("SIGTERM", "SIGTERM"), 143, "terminated")):
        _signal_at_step(monkeypatch, 6, *sigs)
        out = tmp_path / sigs[0]
        assert example.main(["--small", "--data", str(data), "--out", str(out)]) == status
        monkeypatch.undo()
        err = capsys.readouterr().err
        assert err.endswith(f"\n{word}\n") and "error" not in err, err
        assert ckpt.read_manifest(out)["step"] == 0               # the last one written
    _signal_at_step(monkeypatch, 5, "SIGINT")                      # the bigram's own loop
    assert _example("bigram_text").main([str(data), "--iters", "50"]) == 130
    assert capsys.readouterr().err.endswith("\ninterrupted\n")


@posix_only(SIGNALS)
def test_a_sigterm_to_the_command_saves_and_exits_143(tmp_path):
    """A real process sent SIGTERM in the middle of step 3 (here by itself, so that the moment is
    exact): it finishes the step, saves it and exits 143 naming the resume command."""
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    script = textwrap.dedent("""
        import os, signal, sys
        from nanograd_llm.cli import main
        from nanograd_llm.optim import AdamW
        real_step = AdamW.step
        def step(self, grads=None, lr=None):
            real_step(self, grads, lr)
            if self.t == 3:
                os.kill(os.getpid(), signal.SIGTERM)
        AdamW.step = step
        sys.exit(main(sys.argv[1:]))
    """)
    p = _run(["-c", script, "train", "--data", str(data), "--out", str(out), "--quiet",
              "n_layer=1", "n_embd=16", "n_head=2", "block_size=16", "max_iters=8",
              "eval_interval=8", "eval_iters=1", "sample_tokens=0"])
    assert p.returncode == 143, p.stderr
    assert f"stopped by SIGTERM: checkpoint of step 3 saved in {out}" in p.stderr
    assert "--resume" in p.stderr and "Traceback" not in p.stderr
    assert ckpt.read_manifest(out)["step"] == 3


@posix_only(SIGNALS)
def test_a_sigterm_after_the_run_finished_and_saved_has_its_default_action(tmp_path):
    """The pre-loop SIGTERM handler (Terminated, for the clean-up of a start stopped before its
    first checkpoint) came back when the loop's handlers were removed: a SIGTERM while the loss
    curve was drawn, after a run that had finished and saved, ended the command with
    "terminated" as if training had been cut short. After the loop SIGTERM has its default
    action (the process ends at once); the saved run is there."""
    import signal
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    script = textwrap.dedent("""
        import os, signal, sys
        import nanograd_llm.train as t
        real = t.plot_losses
        def plot_losses(*a, **k):
            os.kill(os.getpid(), signal.SIGTERM)
            return real(*a, **k)
        t.plot_losses = plot_losses
        from nanograd_llm.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    p = _run(["-c", script, "train", "--data", str(data), "--out", str(out), "--quiet",
              "n_layer=1", "n_embd=16", "n_head=2", "block_size=16", "max_iters=2",
              "eval_interval=2", "eval_iters=1", "sample_tokens=0"])
    assert p.returncode == -signal.SIGTERM, (p.returncode, p.stderr)
    assert "terminated" not in p.stderr and "Traceback" not in p.stderr
    assert ckpt.read_manifest(out)["step"] == 2


@pytest.mark.parametrize("earlier_png", [False, True])
@posix_only(SIGNALS)
def test_a_ctrl_c_while_the_loss_curve_is_drawn_says_the_run_is_saved(tmp_path, monkeypatch,
                                                                      capsys, earlier_png):
    """Ctrl-C while loss.png was drawn after a run had finished and saved: the command said
    only 'interrupted' (130), as if training had been cut short, so the finished run looked
    lost (and an older loss.png was left out of date without a word). It still exits 130, with
    no picture or temporary file half-written, and now says that the curve was not drawn and
    where the run's checkpoint is (also under --quiet)."""
    import signal

    from nanograd_llm.cli import main
    figure = pytest.importorskip("matplotlib.figure")
    cfg = tiny_config(tmp_path, keep_best=False, max_iters=4, eval_interval=2)
    out = tmp_path / "cli"
    if earlier_png:
        train(dataclasses.replace(cfg, max_iters=2, out_dir=str(out)), quiet=True)
        old = (out / "loss.png").read_bytes()
    real_savefig = figure.Figure.savefig

    def savefig(self, *a, **k):                  # Ctrl-C while the picture is written
        os.kill(os.getpid(), signal.SIGINT)
        return real_savefig(self, *a, **k)
    monkeypatch.setattr(figure.Figure, "savefig", savefig)
    args = ["train", "--config", str(_write_json(tmp_path, cfg)), "--out", str(out), "--quiet"]
    assert main(args + (["--resume"] if earlier_png else [])) == 130
    err = capsys.readouterr().err
    assert err.rstrip().endswith("interrupted") and "Traceback" not in err
    assert f"the run is complete: its checkpoint of step 4 is in {out}" in err
    assert "loss curve not drawn (interrupted)" in err
    assert ("is out of date" in err) == earlier_png
    assert ckpt.load_checkpoint(out)["step"] == 4
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    if earlier_png:
        assert (out / "loss.png").read_bytes() == old      # the earlier picture, whole
    else:
        assert not (out / "loss.png").exists()


@posix_only(SIGNALS)
def test_a_sigterm_while_the_corpus_is_encoded_leaves_nothing_that_refuses_a_restart(tmp_path):
    """SIGTERM before the trainer's handlers (while the corpus is read and encoded) ended the
    process where it stood: the new --out folder stayed (with tokens.npy here) and the same
    command was then refused without --overwrite. The start now exits 143 and removes the
    folder it made; in a folder that was there before, only the files it added (its lock file
    and the files found there stay); the plain restart then trains."""
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    script = textwrap.dedent("""
        import os, signal, sys
        import nanograd_llm.train as t
        kill = sys.argv.pop(1) == "kill"
        real = t.split_ids
        def split_ids(*a, **k):              # tokens.npy is written: the corpus is encoded
            if kill:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(*a, **k)
        t.split_ids = split_ids
        from nanograd_llm.cli import main
        rc = main(sys.argv[1:])
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL     # put back
        sys.exit(rc)
    """)
    args = ["train", "--data", str(data), "--quiet", "n_layer=1", "n_embd=16", "n_head=2",
            "block_size=16", "max_iters=2", "eval_interval=2", "eval_iters=1",
            "sample_tokens=0", "mmap_threshold=100"]
    had = tmp_path / "had"
    had.mkdir()
    (had / ".lock").write_text("")                         # an earlier start's lock file
    for out in (tmp_path / "new" / "run", had):
        p = _run(["-c", script, "kill", *args, "--out", str(out)])
        assert p.returncode == 143, p.stderr
        assert p.stderr.endswith("\nterminated\n") and "Traceback" not in p.stderr, p.stderr
        if out == had:
            assert sorted(x.name for x in had.iterdir()) == [".lock"]
        else:
            assert not (tmp_path / "new").exists()
        p = _run(["-c", script, "run", *args, "--out", str(out)])   # no --overwrite
        assert p.returncode == 0, p.stderr
        assert ckpt.read_manifest(out)["step"] == 2 and (out / "tokens.npy").is_file()


@pytest.mark.parametrize("when", ["encoding", "encoded"])
@posix_only(SIGKILL)
def test_a_start_killed_while_its_data_is_prepared_restarts_without_overwrite(tmp_path, when):
    """SIGKILL (or a power cut) while the corpus was encoded left the lock file and tokens.npy
    (or the temporary files of its write) in the new --out folder, and the same command was
    then refused until --overwrite was given. The restart now recognises what the killed start
    wrote: the temporary files no one holds (atomic.py's rule) and a tokens.npy that is the very
    file the lock file names (same inode, size and modification time). A tokens.npy of the
    user's, even with the same bytes, is still refused and left as it is."""
    import signal
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    script = textwrap.dedent("""
        import os, signal, sys
        import numpy as np
        import nanograd_llm.train as t
        when = sys.argv.pop(1)
        def kill(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        if when == "encoded":
            t.split_ids = kill                   # tokens.npy is written: the corpus is encoded
        elif when == "encoding":
            import shutil
            def copyfileobj(src, dst, *a):       # in the middle of the write of tokens.npy
                dst.write(src.read(8))
                dst.flush()
                kill()
            shutil.copyfileobj = copyfileobj
        from nanograd_llm.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--quiet", "--out", str(out), "n_layer=1",
            "n_embd=16", "n_head=2", "block_size=16", "max_iters=2", "eval_interval=2",
            "eval_iters=1", "sample_tokens=0", "mmap_threshold=100"]
    p = _run(["-c", script, when, *args])
    assert p.returncode == -signal.SIGKILL, p.stderr
    left = sorted(x.name for x in out.iterdir())
    if when == "encoded":
        assert left == [".lock", "tokens.npy"]
    else:
        assert left[0] == ".lock" and len(left) == 3
        assert all(n.startswith(".tokens.npy.") and n.endswith(".tmp") for n in left[1:])
    p = _run(["-c", script, "run", *args])                     # no --overwrite
    assert p.returncode == 0, p.stderr
    assert ckpt.read_manifest(out)["step"] == 2
    if when == "encoding":
        return
    # a tokens.npy put there by someone else (the same bytes) is not taken for the run's
    mine = tmp_path / "mine"
    p = _run(["-c", script, when, *(a if a != str(out) else str(mine) for a in args)])
    assert p.returncode == -signal.SIGKILL, p.stderr
    own = (mine / "tokens.npy").read_bytes()
    (mine / "tokens.npy").unlink()
    (mine / "tokens.npy").write_bytes(own)
    p = _run(["-c", script, "run", *(a if a != str(out) else str(mine) for a in args)])
    assert p.returncode == 1 and "use --overwrite" in p.stderr, p.stderr
    assert sorted(x.name for x in mine.iterdir()) == [".lock", "tokens.npy"]
    assert (mine / "tokens.npy").read_bytes() == own


@posix_only(SYMLINKS)
@pytest.mark.parametrize("held", ["", '{"keep": 1}\n'])
def test_a_lock_file_that_is_a_link_does_not_get_the_record_of_tokens_npy(tmp_path, held):
    """run_folder.note_own_file wrote the identity of tokens.npy into OUT/.lock through a
    symbolic link: the file it named (empty, or holding a JSON object: someone's notes or
    settings) was cut to nothing and overwritten. The record goes only into a regular file that
    is the lock file itself; the file a link names is left as it is."""
    theirs = tmp_path / "settings.json"
    theirs.write_text(held)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(theirs)
    r = train(tiny_config(tmp_path, max_iters=1, eval_interval=1, mmap_threshold=0), quiet=True)
    assert r["step"] == 1 and (tmp_path / "run" / "tokens.npy").is_file()
    assert theirs.read_text() == held


def test_the_record_of_tokens_npy_is_written_without_os_pwrite(tmp_path, monkeypatch):
    """note_own_file wrote its record with os.pwrite, which Python has on Unix only: where it
    is missing (Windows) a run whose folder held a .lock (copied from a Linux machine, or left
    by another program) and whose corpus is memory-mapped stopped with an AttributeError
    traceback. The record is written with os.lseek + os.write, which every platform has."""
    monkeypatch.delattr(os, "pwrite", raising=False)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").write_text("")
    r = train(tiny_config(tmp_path, max_iters=1, eval_interval=1, mmap_threshold=0), quiet=True)
    assert r["step"] == 1
    st = os.lstat(tmp_path / "run" / "tokens.npy")
    assert json.loads((tmp_path / "run" / ".lock").read_text()) == \
        {"tokens.npy": [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]}


def test_a_lock_file_of_absurdly_nested_json_is_not_a_crash(tmp_path):
    """A .lock holding JSON nested deeper than the parser's recursion limit ("[[[[…", another
    program's file) made json.loads raise RecursionError, which the record's reader and writer
    did not catch: a memory-mapped run stopped with a traceback once tokens.npy was written,
    and a plain start in a folder holding tokens.npy crashed before its checks. Such a file is
    no record: the run trains and leaves it as it is; the folder is refused as before."""
    out = tmp_path / "run"
    out.mkdir()
    nested = "[" * 100_000
    (out / ".lock").write_text(nested)
    r = train(tiny_config(tmp_path, max_iters=1, eval_interval=1, mmap_threshold=0), quiet=True)
    assert r["step"] == 1 and (out / ".lock").read_text() == nested
    other = tmp_path / "other"
    other.mkdir()
    (other / ".lock").write_text(nested)
    (other / "tokens.npy").write_bytes(b"")
    cfg = dataclasses.replace(tiny_config(tmp_path, max_iters=1), out_dir=str(other))
    with pytest.raises(ValueError, match="use overwrite=True"):
        train(cfg, quiet=True)
    with pytest.raises(ValueError, match="start it again with overwrite=True instead of "
                                         "resume=True"):
        train(cfg, resume=True, quiet=True)


def test_a_plain_start_removes_only_the_temporary_files_of_tokens_npy(tmp_path):
    """A start killed while it prepared its data leaves only tokens.npy's temporary files
    ('.tokens.npy.XXXXXXXX.tmp'). The restart without --overwrite removed every file of the
    form '.NAME.XXXXXXXX.tmp' that no process had locked: a file of that shape that is not the
    run's ('.notes.txt.ab12cd34.tmp', another program's atomic write, which takes no flock) was
    deleted without a word. The restart removes tokens.npy's own and refuses the rest as before
    (--overwrite names them)."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("")
    theirs = out / ".notes.txt.ab12cd34.tmp"
    theirs.write_text("someone's text being saved")
    (out / ".tokens.npy.zz99yy88.tmp").write_bytes(b"left by a killed start")
    with pytest.raises(ValueError, match="use overwrite=True"):
        train(tiny_config(tmp_path, max_iters=1, eval_interval=1, mmap_threshold=0),
              quiet=True)
    assert theirs.read_text() == "someone's text being saved"


@posix_only(SIGNALS)
def test_signals_ignored_when_the_command_starts_stay_ignored(tmp_path):
    """A trainer started with SIGINT and SIGTERM ignored (a job a shell script started in the
    background, nohup-style launchers; Python itself leaves such a SIGINT ignored) put its own
    handlers in, so a Ctrl-C meant for the shell stopped the run. Both stay ignored: signals
    while the corpus is encoded and in the middle of step 3 change nothing, the run trains to
    its end and leaves them ignored."""
    import signal
    data = tmp_path / "c.txt"
    data.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    script = textwrap.dedent("""
        import os, signal, sys
        import nanograd_llm.train as t
        from nanograd_llm.cli import main
        from nanograd_llm.optim import AdamW
        both = (signal.SIGINT, signal.SIGTERM)
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in both)   # as inherited
        def kill():
            for s in both:
                os.kill(os.getpid(), s)
        real_split, real_step = t.split_ids, AdamW.step
        def split_ids(*a, **k):
            kill()
            return real_split(*a, **k)
        def step(self, grads=None, lr=None):
            real_step(self, grads, lr)
            if self.t == 3:
                kill()
        t.split_ids, AdamW.step = split_ids, step
        rc = main(sys.argv[1:])
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in both)
        sys.exit(rc)
    """)

    def ignore():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    p = _run(["-c", script, "train", "--data", str(data), "--out", str(out), "--quiet",
              "n_layer=1", "n_embd=16", "n_head=2", "block_size=16", "max_iters=6",
              "eval_interval=6", "eval_iters=1", "sample_tokens=0"], preexec_fn=ignore)
    assert p.returncode == 0, p.stderr
    assert "SIGTERM" not in p.stderr and "interrupt" not in p.stderr, p.stderr
    assert ckpt.read_manifest(out)["step"] == 6

def _write_json(tmp_path, cfg):
    import dataclasses
    import json
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None and k != "out_dir"}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    return path


def test_gradcheck_command_exit_status(monkeypatch, capsys):
    """`nanograd-llm gradcheck` prints the table and exits 1 when a check fails."""
    from nanograd_llm import gradcheck
    from nanograd_llm.cli import main
    monkeypatch.setattr(gradcheck, "LAYERS", ["linear", "gelu"])
    monkeypatch.setattr(gradcheck, "DROPOUT_LAYERS", [])
    monkeypatch.setattr(gradcheck, "model_cases", lambda: [])
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "linear" in out and "PASS" in out and "2 of 2 checks passed" in out
    real = gradcheck.check_layer

    def broken(name, seed=0, **shape):
        r = real(name, seed, **shape)
        return r if name != "gelu" else gradcheck.CheckResult(name, 0.5, False, "broken")
    monkeypatch.setattr(gradcheck, "check_layer", broken)
    assert main(["gradcheck"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_resume_from_another_folder_and_a_changed_corpus(tmp_path, monkeypatch):
    """The data path is saved resolved (resume works from any folder); a corpus edited with
    known characters only is still caught (its sha256 is in the checkpoint)."""
    from nanograd_llm.train import resume_config
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(tmp_path, max_iters=4)
    cfg.data = "corpus.txt"                                     # relative
    train(cfg, quiet=True)
    saved = ckpt.read_manifest(tmp_path / "run")["train_config"]
    assert saved["data"] == str((tmp_path / "corpus.txt").resolve())
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    r = train(resume_config(None, overrides={"max_iters": "6"}, out_dir="../run"), resume=True,
              quiet=True)
    assert r["step"] == 6
    text = (tmp_path / "corpus.txt").read_text(encoding="utf-8")
    (tmp_path / "corpus.txt").write_text(text[: len(text) // 2] + text, encoding="utf-8")
    with pytest.raises(ValueError, match="not the text the run started with"):
        train(resume_config(None, overrides={"max_iters": "8"}, out_dir="../run"),
              resume=True, quiet=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        resume_config(None, out_dir="../nowhere")


def test_a_moved_corpus_resumes_with_data_newpath(tmp_path, capsys):
    from nanograd_llm.cli import main
    from nanograd_llm.train import resume_config
    full = train(tiny_config(tmp_path, "full", max_iters=6, eval_interval=2), quiet=True)
    train(tiny_config(tmp_path, max_iters=6, eval_interval=2), quiet=True, stop_after=4)
    (tmp_path / "corpus.txt").rename(tmp_path / "moved.txt")
    # Python's words in str(e) (a Python caller gives data, not --data); the command line's kept
    gone = f"data file not found: {tmp_path / 'corpus.txt'}; if the corpus has moved, "
    with pytest.raises(FileNotFoundError) as e:
        train(resume_config(None, out_dir=str(tmp_path / "run")), resume=True, quiet=True)
    assert str(e.value) == gone + "give its new path as data (the run checks that it is the " \
                                  "same text)"
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(tmp_path / "run"), "--quiet"]) == 1
    assert capsys.readouterr().err == f"error: {gone}add --data NEWPATH (the run checks that " \
                                      f"it is the same text)\n"
    r = train(resume_config(None, out_dir=str(tmp_path / "run"),
                            data=str(tmp_path / "moved.txt")), resume=True, quiet=True)
    assert r["step"] == 6
    np.testing.assert_array_equal(weights(r["model"]), weights(full["model"]))
    assert ckpt.read_manifest(tmp_path / "run")["train_config"]["data"] == \
        str(tmp_path / "moved.txt")
    best = ckpt.read_manifest(tmp_path / "run" / "best")     # best/ follows the move too
    assert best["train_config"]["data"] == str(tmp_path / "moved.txt")
    ckpt.load_checkpoint(tmp_path / "run" / "best")          # and still loads
    other = tmp_path / "other.txt"                   # another text under a new name: refused
    other.write_text("başka bir metin, başka harfler: dikkat katmanı.\n" * 40, encoding="utf-8")
    with pytest.raises(ValueError, match="not the text the run started with|does not know"):
        train(resume_config(None, out_dir=str(tmp_path / "run"), data=str(other),
                            overrides={"max_iters": "8"}), resume=True, quiet=True)


def test_resume_with_a_named_corpus_compares_before_any_download(tmp_path, monkeypatch):
    """`--resume data=NAME` downloaded NAME before comparing it with the run's corpus: offline
    (and not cached), a run trained on another text failed with a download error instead of
    the refusal. The pinned text digest of a named corpus decides without the network; the
    network is only asked for the text of the run's own corpus when no cached copy exists."""
    import hashlib

    from nanograd_llm import data as D
    from nanograd_llm.train import resume_config
    fetched = []

    def offline(url, timeout=60.0):
        fetched.append(url)
        raise OSError(f"could not download {url} (offline)")
    monkeypatch.setattr(D, "_fetch", offline)
    monkeypatch.setenv("NANOGRAD_LLM_DATA_DIR", str(tmp_path / "cache"))     # nothing cached
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    out = str(tmp_path / "run")
    for name in D.CORPORA:
        with pytest.raises(ValueError, match=f"corpus '{name}' is not the text the run started"):
            train(resume_config(None, out_dir=out, overrides={"data": name, "max_iters": "6"}),
                  resume=True, quiet=True)
    assert fetched == []
    # a run on a named corpus: the cached copy answers, with no download …
    blob = TEXT.encode("utf-8")
    digest = hashlib.sha256(blob).hexdigest()
    monkeypatch.setitem(D.CORPORA, "tiny", D.Corpus(
        "tiny", "tiny.txt", digest, (("http://127.0.0.1:9/tiny.txt", digest),), "t",
        text_sha256=digest))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "tiny.txt").write_bytes(blob)
    cfg = dataclasses.replace(tiny_config(tmp_path, "named", max_iters=4, eval_interval=2),
                              data="tiny")
    train(cfg, quiet=True)
    r = train(resume_config(None, out_dir=str(tmp_path / "named"),
                            overrides={"data": "tiny", "max_iters": "6"}), resume=True, quiet=True)
    assert r["step"] == 6 and fetched == []
    # … and without it the error says the run needs that text and where a copy can be placed
    (tmp_path / "cache" / "tiny.txt").unlink()
    with pytest.raises(OSError, match=r"cannot resume .*named without the text of corpus 'tiny'"
                                      r".*placed by hand at") as e:
        train(resume_config(None, out_dir=str(tmp_path / "named"),
                            overrides={"max_iters": "8"}), resume=True, quiet=True)
    assert fetched == ["http://127.0.0.1:9/tiny.txt"]
    assert str(tmp_path / "cache" / "tiny.txt") in str(e.value)


def _offline_corpus_tiny(tmp_path, monkeypatch):
    """A named corpus "tiny" (TEXT) that cannot be downloaded, cached under tmp_path/cache:
    -> (its bytes, the path of its cached copy; the cache folder is not made)."""
    import hashlib

    from nanograd_llm import data as D

    def offline(url, timeout=60.0):
        raise OSError(f"could not download {url} (offline)")
    monkeypatch.setattr(D, "_fetch", offline)
    monkeypatch.setenv("NANOGRAD_LLM_DATA_DIR", str(tmp_path / "cache"))
    blob = TEXT.encode("utf-8")
    digest = hashlib.sha256(blob).hexdigest()
    monkeypatch.setitem(D.CORPORA, "tiny", D.Corpus(
        "tiny", "tiny.txt", digest, (("http://127.0.0.1:9/tiny.txt", digest),), "t",
        text_sha256=digest))
    return blob, tmp_path / "cache" / "tiny.txt"


def test_a_corpus_that_cannot_be_downloaded_is_offered_what_the_command_can_do_instead(
        tmp_path, monkeypatch, capsys):
    """A named corpus that cannot be downloaded (offline, or a file where the cache folder
    should be): the error ended "or train on any local text file with --data PATH" wherever it
    came from: in `eval` (which evaluates, on --data PATH), in `train --resume` (which refuses
    any other text: only a copy of the run's corpus will do) and in examples/bigram_text.py
    (whose text is its argument, it has no --data) → each names what it can do instead."""
    from nanograd_llm import cli
    blob, cached = _offline_corpus_tiny(tmp_path, monkeypatch)
    cached.parent.mkdir()
    cached.write_bytes(blob)
    train(dataclasses.replace(tiny_config(tmp_path, max_iters=1, eval_interval=1), data="tiny"),
          quiet=True)
    cached.unlink()
    out = str(tmp_path / "run")
    placed = f"can also be placed by hand at {cached}"
    for argv in (["eval", "--ckpt", out, "--data", "tiny"], ["eval", "--ckpt", out]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert placed in err and "or evaluate on any local text file with --data PATH" in err \
            and "train on" not in err, err
    assert cli.main(["train", "--resume", "--out", out, "--quiet", "max_iters=2"]) == 1
    err = capsys.readouterr().err
    assert placed in err and "or give --data PATH naming a copy of that text elsewhere (the " \
        "run checks that it is the same text)" in err and "any local text file" not in err, err
    # a Python caller of train(cfg, resume=True) is told the data setting, not --data
    from nanograd_llm.train import resume_config
    with pytest.raises(OSError) as e:
        train(resume_config(None, out_dir=out, overrides={"max_iters": "2"}), resume=True,
              quiet=True)
    assert placed in str(e.value) and str(e.value).endswith(
        ", or set data to the path of a copy of that text elsewhere (the run checks that it is "
        "the same text)"), str(e.value)
    assert cli.main(["train", "--out", str(tmp_path / "new"), "--data", "tiny", "--quiet"]) == 1
    assert "or train on any local text file with --data PATH" in capsys.readouterr().err
    # the cache folder is a file: the example offers its own argument
    (tmp_path / "cache").rmdir()
    (tmp_path / "cache").write_text("")
    assert _example("bigram_text").main(["tiny", "--iters", "1"]) == 1
    err = capsys.readouterr().err
    assert "or train on any local text file: python examples/bigram_text.py PATH" in err \
        and "--data" not in err, err


def test_a_new_run_of_a_corpus_that_cannot_be_downloaded_is_told_the_data_setting(
        tmp_path, monkeypatch, capsys):
    """train(cfg) of a new run whose named corpus cannot be downloaded ended its error "or
    train on any local text file with --data PATH", an option a Python caller does not have
    (394b7af changed only a resumed run's offer) → str(e) names the data setting; the command
    line prints its words unchanged."""
    from nanograd_llm import cli
    from nanograd_llm import data as D
    _, cached = _offline_corpus_tiny(tmp_path, monkeypatch)
    with pytest.raises(OSError) as e:
        train(dataclasses.replace(tiny_config(tmp_path, max_iters=1), data="tiny"), quiet=True)
    assert f"can also be placed by hand at {cached}" in str(e.value)
    assert str(e.value).endswith(", or train on any local text file by setting data to its "
                                 "path"), str(e.value)
    capsys.readouterr()
    assert cli.main(["train", "--out", str(tmp_path / "new"), "--data", "tiny", "--quiet"]) == 1
    assert capsys.readouterr().err.endswith(" (its sha256 "
                                            f"{D.CORPORA['tiny'].sha256[:12]}… is checked), or "
                                            "train on any local text file with --data PATH\n")


def _run_on_an_earlier_embedded_corpus(tmp_path, monkeypatch, saved, digest, extra=""):
    """A tiny run (tmp_path/run, one step) trained on the embedded corpus (`saved`: its data
    setting, None or 'embedded'), whose text then changes as an upgrade of the package changes
    it (plus `extra` characters); without `digest` its manifest records no corpus sha256, as
    older versions saved it. -> a file holding the text the run was trained on"""
    from nanograd_llm import data as D
    old = tmp_path / "old_embedded.txt"
    old.write_text(TEXT, encoding="utf-8")
    monkeypatch.setattr(D, "EMBEDDED_PATH", old)
    train(dataclasses.replace(tiny_config(tmp_path, max_iters=1, eval_interval=1), data=saved),
          quiet=True)
    if not digest:
        man = tmp_path / "run" / ckpt.MANIFEST
        m = json.loads(man.read_text(encoding="utf-8"))
        del m["extra"]["data_sha256"]                   # as an older version saved it
        man.write_text(json.dumps(m), encoding="utf-8")
    new = tmp_path / "new_embedded.txt"                 # the upgraded package's embedded text
    new.write_text(TEXT.replace("Dikkat", "Dikkat ve geri") + extra, encoding="utf-8")
    monkeypatch.setattr(D, "EMBEDDED_PATH", new)
    return old


@pytest.mark.parametrize("case", ["no digest", "digest", "digest, new characters"])
def test_a_run_on_the_embedded_corpus_of_another_version_says_so_on_resuming(
        tmp_path, monkeypatch, capsys, case):
    """The embedded corpus is rebuilt with each version: a run trained on an earlier version's
    resumed with another text. One saved without the corpus's digest (by an older version)
    whose characters the new text has went on silently, on another text with another val
    part; with the digest, the refusal asked 'has the file changed?' (the user has no file) or
    said 'the corpus is not the text the run started with' without the way out. Now the
    refusal names the embedded corpus of another version, and with a digest a copy of the old
    text given with --data resumes."""
    from nanograd_llm import cli
    old = _run_on_an_earlier_embedded_corpus(
        tmp_path, monkeypatch, None, case != "no digest",
        "☺€\n" if case.endswith("characters") else "")
    resume = ["train", "--resume", "--out", str(tmp_path / "run"), "--quiet", "max_iters=2"]
    assert cli.main(resume) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err, err
    assert "trained on the embedded corpus" in err and "version of nanograd_llm" in err, err
    assert ckpt.read_manifest(tmp_path / "run")["step"] == 1
    if case != "no digest":
        assert "--data PATH" in err, err
        assert cli.main([*resume, "--data", str(old)]) == 0, capsys.readouterr().err
        assert ckpt.read_manifest(tmp_path / "run")["step"] == 2


@pytest.mark.parametrize("saved,given", [(None, "copy"), ("embedded", "copy"),
                                         (None, "embedded")])
def test_an_older_embedded_run_given_data_on_resuming_is_told_why_it_cannot_go_on(
        tmp_path, monkeypatch, capsys, saved, given):
    """A run an older version trained on the embedded corpus without recording its sha256 is
    refused whatever text it is given. With --data COPY (a copy of the old text) or --data
    embedded it was refused as 'it was trained with data=…, now data=… (use the same
    setting…)': the same setting is refused too, and the copy could not be checked either.
    Now every such resume gets the one refusal that says why, a copy included."""
    from nanograd_llm import cli
    old = _run_on_an_earlier_embedded_corpus(tmp_path, monkeypatch, saved, False)
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "run"), "--quiet",
                     "max_iters=2", "--data", str(old) if given == "copy" else given]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err, err
    assert "did not record the text's sha256" in err and "a copy given with --data" in err, err
    assert ckpt.read_manifest(tmp_path / "run")["step"] == 1


def test_a_run_on_a_file_resumed_with_the_embedded_corpus_is_not_called_another_version(
        tmp_path, monkeypatch, capsys):
    """A run trained on a file and resumed with --data embedded (a run that recorded its
    corpus's digest may be given its text from anywhere) was refused as 'trained on the
    embedded corpus of another version of nanograd_llm', with a copy of that version's
    embedded text offered: untrue, the run never saw the embedded corpus. Now the refusal is
    the one of another text."""
    from nanograd_llm import cli
    from nanograd_llm import data as D
    new = tmp_path / "embedded.txt"
    new.write_text(TEXT.replace("Dikkat", "Dikkat ve geri"), encoding="utf-8")
    monkeypatch.setattr(D, "EMBEDDED_PATH", new)
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "run"), "--quiet",
                     "max_iters=2", "--data", "embedded"]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err, err
    assert "embedded corpus of another version" not in err, err
    assert "not the text the run started with" in err, err


def test_a_run_that_records_no_corpus_is_not_called_an_older_embedded_run(
        tmp_path, monkeypatch, capsys):
    """A checkpoint whose train_config has no 'data' (saved by hand) does not say what it was
    trained on: the trainer's first check and `eval` take it so, but prepare_data took it for
    a run on the embedded corpus, and resuming it on the embedded text was refused as 'trained
    on the embedded corpus by an older version'. Now it resumes on the text given, as it does
    on a file."""
    from nanograd_llm import cli
    _run_on_an_earlier_embedded_corpus(tmp_path, monkeypatch, None, False)
    man = tmp_path / "run" / ckpt.MANIFEST
    m = json.loads(man.read_text(encoding="utf-8"))
    del m["train_config"]["data"]
    man.write_text(json.dumps(m), encoding="utf-8")
    assert cli.main(["train", "--resume", "--out", str(tmp_path / "run"), "--quiet",
                     "max_iters=2"]) == 0, capsys.readouterr().err
    assert "older version" not in capsys.readouterr().err
    assert ckpt.read_manifest(tmp_path / "run")["step"] == 2


def test_an_old_run_whose_corpus_cannot_be_downloaded_is_not_offered_a_copy_by_data(
        tmp_path, monkeypatch, capsys):
    """A run saved without the corpus's digest (by an earlier version) whose named corpus cannot
    be downloaded: `train --resume` offered "give --data PATH naming a copy of that text
    elsewhere", which that run refuses (it compares the corpus by name: "trained with
    data='tiny', now data=…") → it offers the copy placed by hand in the cache, which
    resumes."""
    from nanograd_llm import cli
    blob, cached = _offline_corpus_tiny(tmp_path, monkeypatch)
    cached.parent.mkdir()
    cached.write_bytes(blob)
    train(dataclasses.replace(tiny_config(tmp_path, max_iters=1, eval_interval=1), data="tiny"),
          quiet=True)
    man = tmp_path / "run" / ckpt.MANIFEST
    m = json.loads(man.read_text())
    del m["extra"]["data_sha256"]                       # as an earlier version saved it
    man.write_text(json.dumps(m))
    cached.unlink()
    resume = ["train", "--resume", "--out", str(tmp_path / "run"), "--quiet", "max_iters=2",
              "sample_tokens=0"]
    assert cli.main(resume) == 1
    err = capsys.readouterr().err
    assert f"can also be placed by hand at {cached}" in err and "--data" not in err, err
    copy = tmp_path / "copy.txt"                        # what it offered before: refused
    copy.write_bytes(blob)
    assert cli.main([*resume, "--data", str(copy)]) == 1
    assert "it was trained with data='tiny'" in capsys.readouterr().err
    cached.write_bytes(blob)                            # what it offers now: resumes
    assert cli.main(resume) == 0, capsys.readouterr().err
    assert ckpt.read_manifest(tmp_path / "run")["step"] == 2


def test_resume_keeps_the_schedule_and_refuses_a_new_split(tmp_path):
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=4, lr_decay_iters=0, eval_interval=2), quiet=True)
    cfg = resume_config(None, overrides={"max_iters": "8"}, out_dir=str(tmp_path / "run"))
    assert cfg.decay_iters == 4            # the cosine still ends where the run started it
    cfg = resume_config(None, overrides={"max_iters": "8", "lr_decay_iters": "8"},
                        out_dir=str(tmp_path / "run"))
    assert cfg.decay_iters == 8            # unless asked
    with pytest.raises(ValueError, match=r"val_fraction=0.1, now val_fraction=0.5 \(use the same "
                                         r"setting, or start a new run: overwrite=True instead "
                                         r"of resume=True, or another out_dir\)$") as e:
        train(resume_config(None, overrides={"val_fraction": "0.5"},
                            out_dir=str(tmp_path / "run")), resume=True, quiet=True)
    assert e.value.command_line_message.endswith(
        "now val_fraction=0.5 (use the same setting, or --overwrite / --out DIR for a new run)")


def test_optimizer_settings_given_on_resume_are_used(tmp_path, monkeypatch):
    """weight_decay/beta1/beta2/eps given again on --resume were saved in train_config but the
    optimizer silently kept the checkpoint's values (load_state_dict restored them)."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=4, weight_decay=0.1, beta1=0.9, beta2=0.99,
                      eps=1e-8), quiet=True)
    cfg = resume_config(None, overrides={"max_iters": "6", "weight_decay": "0.0",
                                         "beta1": "0.8", "beta2": "0.95", "eps": "1e-6"},
                        out_dir=str(tmp_path / "run"))
    used = set()
    real_step = AdamW.step

    def spy(self, grads=None, lr=None):
        used.add((self.weight_decay, self.betas, self.eps))
        real_step(self, grads, lr)
    monkeypatch.setattr(AdamW, "step", spy)
    train(cfg, resume=True, quiet=True)
    assert used == {(0.0, (0.8, 0.95), 1e-6)}
    man = ckpt.read_manifest(tmp_path / "run")
    assert man["optimizer"]["weight_decay"] == man["train_config"]["weight_decay"] == 0.0
    assert man["optimizer"]["betas"] == [0.8, 0.95] and man["optimizer"]["eps"] == 1e-6


def test_resume_of_a_fine_tuning_refuses_another_dropout(tmp_path):
    """A run started with --init-from took its model settings from the resumed weights, so a
    dropout given again on --resume was saved in train_config but silently not used (a run
    from scratch refuses it)."""
    from nanograd_llm.train import resume_config
    tiny_gpt2_folder(tmp_path / "hf", 280)
    train(tiny_config(tmp_path, init_from=str(tmp_path / "hf"), max_iters=2, eval_interval=2,
                      dropout=0.1, n_embd=8), quiet=True)
    with pytest.raises(ValueError, match=r"the checkpoint's model has dropout=0\.1, the config "
                                         r"asks for dropout=0\.3"):
        train(resume_config(None, overrides={"max_iters": "4", "dropout": "0.3"},
                            out_dir=str(tmp_path / "run")), resume=True, quiet=True)
    r = train(resume_config(None, overrides={"max_iters": "4"}, out_dir=str(tmp_path / "run")),
              resume=True, quiet=True)
    assert r["step"] == 4 and r["model"].config.dropout == 0.1


def test_resume_refuses_another_model_or_text_before_encoding_the_corpus(tmp_path,
                                                                          monkeypatch):
    """--resume with dropout=, bias=, activation= … other than the checkpoint's, or on another
    text with the run's characters, was refused only after the whole corpus had been encoded
    (minutes on a large one) → refused with the same message before the corpus is encoded."""
    import nanograd_llm.train as train_mod
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    out = tmp_path / "run"
    encoded = []
    real_encode = train_mod.encode_corpus

    def encode(*a, **k):
        encoded.append(1)
        return real_encode(*a, **k)
    monkeypatch.setattr(train_mod, "encode_corpus", encode)
    for bad, has, asks in ((("dropout", "0.3"), "dropout=0.1", "dropout=0.3"),
                           (("bias", "false"), "bias=True", "bias=False"),
                           (("activation", "relu"), "activation='gelu'", "activation='relu'")):
        with pytest.raises(ValueError, match=f"cannot resume .*: the checkpoint's model has "
                                             f"{has}, the config asks for {asks} "):
            train(resume_config(None, overrides={"max_iters": "4", bad[0]: bad[1]},
                                out_dir=str(out)), resume=True, quiet=True)
        assert encoded == [], bad
    text = (tmp_path / "corpus.txt").read_text(encoding="utf-8")
    (tmp_path / "corpus.txt").write_text(text[: len(text) // 2] + text, encoding="utf-8")
    with pytest.raises(ValueError, match="the corpus .* is not the text the run started with"):
        train(resume_config(None, overrides={"max_iters": "4"}, out_dir=str(out)),
              resume=True, quiet=True)
    assert encoded == []
    assert ckpt.read_manifest(out)["step"] == 2
    (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
    assert train(resume_config(None, overrides={"max_iters": "4"}, out_dir=str(out)),
                 resume=True, quiet=True)["step"] == 4
    assert encoded == [1]


def test_resume_and_overwrite_together_are_refused_in_pythons_words(tmp_path):
    # The command line refuses --resume with --overwrite (argparse); a Python call giving both
    # resumed the run and ignored overwrite=True
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match=r"^resume=True continues the run in out_dir, "
                                         r"overwrite=True deletes it .*give one or the other"):
        train(tiny_config(tmp_path, max_iters=4, eval_interval=2), resume=True, overwrite=True,
              quiet=True)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_overwrite_deletes_every_file_of_the_old_run(tmp_path):
    train(tiny_config(tmp_path, max_iters=2, eval_interval=1, mmap_threshold=0), quiet=True)
    run = tmp_path / "run"
    (run / ".model-0000009-abc.npz.x1y2.tmp").write_bytes(b"left by a kill")
    (run / "notes.txt").write_text("mine")                     # not ours: kept
    old_models = set(run.glob("model-*.npz"))
    assert (run / "tokens.npy").exists()                       # memory-mapped ids of run 1
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1, seed=9), quiet=True,
          overwrite=True)
    assert not (run / "tokens.npy").exists()                   # run 2 keeps its ids in memory
    assert not old_models & set(run.glob("model-*.npz"))
    assert not list(run.glob(".*.tmp")) and (run / "notes.txt").read_text() == "mine"
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] \
        == [0, 1]


def test_a_new_run_in_a_folder_of_other_files_touches_none_of_them(tmp_path):
    """--out pointing at a folder that is not a run (e.g. a Hugging Face folder): nothing of
    the user's is deleted, even files with names a run uses."""
    out = tmp_path / "run"
    out.mkdir()
    names = ("config.json", "vocab.json", "merges.txt", "tokenizer.json", "metrics.jsonl",
             "notes.txt")
    for name in names:
        (out / name).write_text("user's " + name)
    for overwrite in (False, True):                  # refused, even with --overwrite
        with pytest.raises(ValueError, match="is not empty and holds no training run"):
            train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True,
                  overwrite=overwrite)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        assert (out / name).read_text() == "user's " + name
    # files with only a run's names and no checkpoint (a run killed before its first save):
    # refused without --overwrite, replaced with it
    (out / "notes.txt").unlink()
    with pytest.raises(ValueError, match="never saved a checkpoint.*overwrite=True"):
        train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    r = train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True, overwrite=True)
    assert r["step"] == 1 and json.loads((out / "config.json").read_text())["train"]
    # an empty folder is fine
    (tmp_path / "empty").mkdir()
    train(tiny_config(tmp_path, "empty", max_iters=1, eval_interval=1), quiet=True)
    hf = tmp_path / "hfdir"                     # a Hugging Face folder: refused outright
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(ValueError, match="is a Hugging Face model folder"):
        train(make_config(data=str(tmp_path / "corpus.txt"), out_dir=str(hf)), quiet=True)
    assert (hf / "config.json").read_text() == "{}"


def test_an_out_path_through_a_missing_folder_and_dotdot_is_checked_where_it_leads(tmp_path):
    """--out new/../run, where `new` does not exist yet, leads to the existing `run` once `new`
    is made: the run there was deleted without --overwrite, and a folder of other files
    written into, because the checks looked at a path that did not exist yet."""
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="already holds a training run"):
        train(tiny_config(tmp_path, "new/../run", max_iters=1, eval_interval=1), quiet=True)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("kept")
    with pytest.raises(ValueError, match="is not empty and holds no training run"):
        train(tiny_config(tmp_path, "new/../mine", max_iters=1, eval_interval=1), quiet=True)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "new").exists()
    r = train(tiny_config(tmp_path, "new/../fresh", max_iters=1, eval_interval=1), quiet=True)
    assert r["step"] == 1 and (tmp_path / "fresh" / "checkpoint.json").is_file()


def test_a_second_trainer_in_the_same_folder_is_refused(tmp_path):
    """The run folder is locked while a process trains in it: a second --resume, --overwrite
    or new run there is refused (it would delete the first one's checkpoint files)."""
    pytest.importorskip("fcntl")
    import fcntl
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    run = tmp_path / "run"
    held = open(run / ".lock", "a+")                 # as a training process holds it
    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        before = sorted(p.name for p in run.iterdir())
        for kw in (dict(resume=True), dict(overwrite=True)):
            with pytest.raises(ValueError, match="another process is training in"):
                train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, **kw)
        assert sorted(p.name for p in run.iterdir()) == before
    finally:
        held.close()
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, resume=True)
    assert r["step"] == 4                            # released: the lock goes with the process
    held = open(run / ".lock", "a+")
    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:                                             # a new run: the lock is named first, not
        with pytest.raises(ValueError, match="another process is training in"):  # --resume
            train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    finally:
        held.close()


def test_a_readers_lock_probe_does_not_refuse_a_starting_trainer(tmp_path, monkeypatch):
    """held_by_a_trainer (sample, eval, chat on a run still before its first checkpoint) takes
    a shared lock on OUT/.lock for an instant; a trainer starting in that instant failed to
    take its exclusive lock and was refused with 'another process is training'. A trainer now
    waits out shared locks (the probes'), up to run_folder.LOCK_WAIT_S; an exclusive lock (a
    trainer's) is still refused at once, and a shared lock that stays is refused in bounded
    time. Made deterministic: the probe's lock is let go when the trainer first pauses."""
    pytest.importorskip("fcntl")
    import fcntl
    import time

    from nanograd_llm import run_folder
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("")
    probe = open(run / ".lock", "rb")                 # as held_by_a_trainer opens it
    fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    pauses = []
    real_sleep = time.sleep

    def pause(s):                                     # the probe lets go meanwhile
        pauses.append(s)
        fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
        real_sleep(s)
    monkeypatch.setattr(time, "sleep", pause)
    try:
        r = train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    finally:
        monkeypatch.undo()
        probe.close()
    assert r["step"] == 1 and len(pauses) == 1
    # an exclusive lock (another trainer): refused at once, without a pause
    assert 0 < run_folder.LOCK_WAIT_S <= 1
    held = open(run / ".lock", "a+")
    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    pauses.clear()
    monkeypatch.setattr(time, "sleep", lambda s: (pauses.append(s), real_sleep(s)))
    try:
        with pytest.raises(ValueError, match="another process is training in"):
            run_folder._lock_run(run)
        assert pauses == []
    finally:
        held.close()
    # a shared lock that is never let go: refused once LOCK_WAIT_S has passed
    monkeypatch.setattr(run_folder, "LOCK_WAIT_S", 0.1)
    stuck = open(run / ".lock", "rb")
    fcntl.flock(stuck.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    try:
        start = time.monotonic()
        # no trainer holds it: the message says what does, not "another process is training"
        with pytest.raises(ValueError, match="holds a shared lock on .*did not let it go "
                                             "within 0.1 s"):
            run_folder._lock_run(run)
        assert 0.1 <= time.monotonic() - start < 2 and pauses
        assert run_folder.held_by_a_trainer(run) is False     # the probe sees no trainer
    finally:
        stuck.close()
    lock = run_folder._lock_run(run)                  # nothing held: taken at once
    assert lock is not None and run_folder.held_by_a_trainer(run) is True
    lock.close()


def test_without_fcntl_no_run_lock_is_taken_or_probed(tmp_path, monkeypatch):
    """Windows (no fcntl, as if `import fcntl` failed): the run lock is neither taken nor
    waited for, a probe says no trainer holds the folder, and a run trains."""
    import sys

    from nanograd_llm import run_folder
    monkeypatch.setitem(sys.modules, "fcntl", None)
    run = tmp_path / "run"
    run.mkdir()
    assert run_folder._lock_run(run) is None and run_folder.held_by_a_trainer(run) is False
    assert train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)["step"] == 1


@pytest.mark.parametrize("written", [["metrics.jsonl", "tokens.npy"], [], ["checkpoint.json"]])
def test_resume_of_a_run_still_starting_names_the_other_trainer(tmp_path, capsys, written):
    """`train --resume` while another trainer is still before its first checkpoint (its lock
    held, its log or tokens.npy written, or nothing yet) was told "the run there stopped before
    saving its first one; start it again with `... --overwrite`" (or "checkpoint.json is missing
    (train with `nanograd-llm train --out DIR` first)"), and that command is refused by the
    lock. The command line reads the folder only after the lock check, as train() does: "another
    process is training in"; even a damaged manifest is named only after that."""
    pytest.importorskip("fcntl")
    import fcntl

    from nanograd_llm.cli import main
    run = tmp_path / "run"
    run.mkdir()
    for name in written:
        (run / name).write_text("{}" if name == "checkpoint.json" else "")
    held = open(run / ".lock", "a+")                 # as the starting process holds it
    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        before = sorted(p.name for p in run.iterdir())
        capsys.readouterr()
        assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err == (f"error: another process is training in {run}; wait for it to finish "
                       f"(or stop it) before starting or resuming a run there\n"), err
        assert sorted(p.name for p in run.iterdir()) == before
    finally:
        held.close()


def test_a_trainer_refused_by_the_lock_leaves_the_winners_new_folder_alone(tmp_path, monkeypatch):
    """Two new runs started at once in a folder that does not exist yet: both see it missing and
    create it, one takes the lock. The refused one must not delete the folder as its own (the
    other, still before its first checkpoint, then failed writing its step-0 losses)."""
    pytest.importorskip("fcntl")
    import nanograd_llm.run_folder as run_folder
    real, held = run_folder._lock_run, []

    def other_trainer_first(out, given_as=None):
        held.append(real(out))                       # the other process locked the folder ...
        (out / "metrics.jsonl").write_text("")       # ... and is under way
        return real(out)

    monkeypatch.setattr(run_folder, "_lock_run", other_trainer_first)
    try:
        with pytest.raises(ValueError, match="another process is training in"):
            train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
        assert (tmp_path / "run" / "metrics.jsonl").is_file()
        assert (tmp_path / "run" / ".lock").is_file()
    finally:
        for f in held:
            f.close()


def test_a_lock_file_that_cannot_be_created_leaves_no_new_empty_folder(tmp_path, monkeypatch):
    """The lock file cannot be opened (no permission, read-only file system): the run folders
    this start created are removed again, since they are empty; a folder that existed stays."""
    import nanograd_llm.run_folder as run_folder

    def cannot_open(out, given_as=None):
        raise OSError(f"cannot write in --out {out} (Permission denied)")
    monkeypatch.setattr(run_folder, "_lock_run", cannot_open)
    cfg = tiny_config(tmp_path, max_iters=1, eval_interval=1)
    cfg = dataclasses.replace(cfg, out_dir=str(tmp_path / "new" / "deeper" / "run"))
    with pytest.raises(OSError, match="cannot write in --out"):
        train(cfg, quiet=True)
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    cfg = dataclasses.replace(cfg, out_dir=str(tmp_path / "kept"))
    with pytest.raises(OSError, match="cannot write in --out"):
        train(cfg, quiet=True)
    assert (tmp_path / "kept").is_dir()


def test_a_failed_start_in_an_empty_folder_leaves_it_usable(tmp_path):
    """The lock file left by a start that failed (corpus too short) does not make the folder
    look like someone else's."""
    out = tmp_path / "run"
    out.mkdir()
    short = tmp_path / "short.txt"
    short.write_text("abcdefghij\n", encoding="utf-8")
    cfg = tiny_config(tmp_path, max_iters=1, eval_interval=1)
    with pytest.raises(ValueError, match="tokens"):
        train(dataclasses.replace(cfg, data=str(short)), quiet=True)
    assert train(cfg, quiet=True)["step"] == 1


def test_a_corpus_written_in_nfd_resumes(tmp_path):
    import unicodedata
    nfd = tmp_path / "nfd.txt"
    nfd.write_text(unicodedata.normalize("NFD", TEXT), encoding="utf-8")
    cfg = dataclasses.replace(tiny_config(tmp_path, max_iters=4, eval_interval=2), data=str(nfd))
    train(cfg, quiet=True, stop_after=2)
    assert train(cfg, quiet=True, resume=True)["step"] == 4


@pytest.mark.parametrize("edit,match", [
    (lambda m: m["sampler_state"]["state"].update(state="abc"), "'sampler_state'"),
    (lambda m: m.update(sampler_state={"x": 1}), "'sampler_state'"),
    (lambda m: m["optimizer"].update(lr=None), "'lr' must be a finite number"),
    (lambda m: m["optimizer"].update(betas=5), "'betas' must be two numbers"),
    (lambda m: m["optimizer"].update(t=-5), "'t' must be a whole number >= 0"),
    (lambda m: m["optimizer"].update(eps="x"), "'eps' must be a finite number"),
    (lambda m: m["extra"].update(elapsed_s="x"), "'extra.elapsed_s' must be a number"),
])
def test_a_hand_edited_manifest_names_the_bad_field(tmp_path, edit, match):
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    path = tmp_path / "run" / ckpt.MANIFEST
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))
    with pytest.raises(ValueError, match=match) as e:
        train(tiny_config(tmp_path, max_iters=3, eval_interval=2), quiet=True, resume=True)
    assert ckpt.MANIFEST in str(e.value)


def test_a_damaged_metrics_log_does_not_stop_training(tmp_path):
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    log = tmp_path / "run" / "metrics.jsonl"
    with open(log, "ab") as f:
        f.write(b'[1]\n{"step": 1}\n{"step": true}\n\xff\xfe not json\n{"step": "2"}\n')
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, resume=True)
    assert r["step"] == 4 and r["val_loss"] is not None
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert [row["step"] for row in rows] == [0, 2, 4]      # the bad rows were dropped


def test_an_undrawable_loss_curve_is_only_a_warning(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    r = train(tiny_config(tmp_path, "ok", max_iters=2, eval_interval=2), quiet=False,
              progress=False)
    import shutil
    (tmp_path / "ok" / "loss.png").unlink()
    (tmp_path / "ok" / "loss.png").mkdir()                 # a folder where the picture goes
    (tmp_path / "ok" / "loss.png" / "x").write_text("")
    r = train(tiny_config(tmp_path, "ok", max_iters=4, eval_interval=2), quiet=False,
              progress=False, resume=True)
    assert r["step"] == 4 and not r["plot"]
    assert "warning: loss curve not drawn" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "ok" / "loss.png")


def test_quiet_still_warns_of_output_it_did_not_write(tmp_path, monkeypatch, capsys):
    """--quiet hid "loss curve not drawn" (a quiet run exited 0 with an out-of-date loss.png and
    said nothing) and "ignoring best/" (a damaged copy replaced without a word): warnings
    about output that was not written or kept go to stderr under --quiet too."""
    import nanograd_llm.train as train_mod
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    png = tmp_path / "run" / "loss.png"
    png.write_bytes(b"the curve of step 2")                  # drawn before (or by hand)
    (tmp_path / "run" / "best" / ckpt.MANIFEST).write_text("{bad", encoding="utf-8")

    def cannot_draw(metrics, path):
        raise OSError("No space left on device")
    monkeypatch.setattr(train_mod, "plot_losses", cannot_draw)
    capsys.readouterr()
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, resume=True)
    assert r["step"] == 4 and not r["plot"]
    err = capsys.readouterr().err
    assert f"warning: loss curve not drawn (No space left on device); {png} is out of date\n" \
        in err
    assert f"warning: ignoring {tmp_path / 'run' / 'best'} (" in err
    assert "resuming" not in err                  # the log lines stay quiet


def test_a_loss_png_left_out_of_date_without_matplotlib_is_said(tmp_path, monkeypatch, capsys):
    """Without matplotlib plot_losses returns False in silence: a resumed run that trained on
    left the earlier run's loss.png out of date without a word. That is now a warning (also
    under --quiet); a run that never had a curve, or that added no evaluation, stays quiet."""
    import sys
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    png = tmp_path / "run" / "loss.png"
    png.write_bytes(b"the curve of step 2")                  # drawn before (or by hand)
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib fails
    capsys.readouterr()
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, resume=True)
    assert r["step"] == 4 and not r["plot"]
    assert capsys.readouterr().err == (f"warning: loss curve not drawn (matplotlib is not "
                                       f"available: pip install matplotlib); {png} is out of "
                                       f"date\n")
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, resume=True)
    assert r["step"] == 4 and capsys.readouterr().err == ""  # nothing trained: nothing changed
    r = train(tiny_config(tmp_path, "new", max_iters=2, eval_interval=2), quiet=True)
    assert not (tmp_path / "new" / "loss.png").exists() and capsys.readouterr().err == ""


def test_a_failed_checkpoint_write_says_what_is_intact(tmp_path, monkeypatch):
    real = ckpt._write_npz
    calls = []

    def disk_full(path, arrays):
        calls.append(path)
        if len(calls) == 3:                          # step 4 weights (step 0 wrote 2 files)
            raise OSError(28, "No space left on device")
        return real(path, arrays)
    monkeypatch.setattr(ckpt, "_write_npz", disk_full)
    with pytest.raises(OSError, match=r"could not write the checkpoint of step 4 in .*run "
                                      r"\(No space left on device\); the checkpoint of step 0 "
                                      r"in .*run is intact"):
        train(tiny_config(tmp_path, keep_best=False), quiet=True)
    assert ckpt.load_checkpoint(tmp_path / "run")["step"] == 0


# -- found by a mutation audit ------------------------------------------------------------------

def test_overwrite_clears_the_leftovers_of_a_run_killed_before_its_first_checkpoint(tmp_path):
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"step": 0, "train_loss": 9, "val_loss": 9}\n')
    with pytest.raises(ValueError, match="never saved a checkpoint"):
        train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True, overwrite=True)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1] and all(r["train_loss"] != 9 for r in rows)


def test_resume_of_a_run_killed_before_its_first_checkpoint_names_overwrite(tmp_path):
    """--resume told such a folder "train with `nanograd-llm train --out DIR` first", and that
    command refused it (it holds a run's files); it now names --overwrite at once. An empty
    folder (or one with only the lock) still gets the usual advice."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").touch()
    with pytest.raises(ValueError, match=r"checkpoint\.json is missing \(train a run there "
                                         r"first: train\(cfg\) with out_dir="):
        train(tiny_config(tmp_path), resume=True, quiet=True)
    (out / "metrics.jsonl").write_text('{"step": 0, "train_loss": 9, "val_loss": 9}\n')
    (out / "tokens.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"no checkpoint to resume in .*run: the run there stopped "
                                         r"before saving its first one \(metrics\.jsonl, "
                                         r"tokens\.npy\); start it again with overwrite=True "
                                         r"instead of resume=True, or another out_dir$") as e:
        train(tiny_config(tmp_path), resume=True, quiet=True)
    assert re.search(r"; start it again with `nanograd-llm train --out .*run --overwrite`",
                     e.value.command_line_message)
    # the command line's path: resume_config refuses it before reading a manifest
    with pytest.raises(ValueError, match=r"no checkpoint to resume in .*overwrite=True") as e:
        from nanograd_llm.train import resume_config
        resume_config(None, out_dir=str(out))
    assert "--overwrite`" in e.value.command_line_message
    assert sorted(p.name for p in out.iterdir()) == [".lock", "metrics.jsonl", "tokens.npy"]


def _kill_the_runs_own_checkpoint(monkeypatch, out):
    """save_checkpoint raises KeyboardInterrupt for the run folder `out` itself (best/ is
    written first, so a run stopped there leaves best/ and no checkpoint.json)."""
    real = ckpt.save_checkpoint

    def killed(folder, *a, **k):
        if Path(folder) == out:                    # the run's own checkpoint, after best/
            raise KeyboardInterrupt
        return real(folder, *a, **k)
    monkeypatch.setattr(ckpt, "save_checkpoint", killed)


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_reading_a_run_killed_before_its_first_checkpoint_names_overwrite(tmp_path, monkeypatch,
                                                                          capsys, command):
    """A run killed (kill -9, a power cut) while it wrote its first checkpoint leaves its log,
    tokenizer and best/ copy but no checkpoint.json. `sample --ckpt` / `eval --ckpt` there said
    "train with `nanograd-llm train --out DIR` first", and that command refuses the folder (it
    holds a run's files; --overwrite is needed). They now give the advice --resume gives."""
    from nanograd_llm.cli import main
    out = tmp_path / "run"
    _kill_the_runs_own_checkpoint(monkeypatch, out)
    # a kill runs no clean-up: the start's own files stay
    monkeypatch.setattr("nanograd_llm.run_folder._clean_up", lambda *a: None)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    monkeypatch.undo()
    assert not (out / ckpt.MANIFEST).exists() and (out / "metrics.jsonl").is_file()
    capsys.readouterr()
    assert main([command, "--ckpt", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: no checkpoint in {out}: the run there stopped before saving "
                          f"its first one ("), err
    assert f"start it again with `nanograd-llm train --out {out} --overwrite`" in err, err
    # the plain start the old message advised is refused; the one it gives now trains
    cfg = tiny_config(tmp_path, max_iters=2, eval_interval=2)
    with pytest.raises(ValueError, match="use overwrite=True"):
        train(cfg, quiet=True)
    assert train(cfg, quiet=True, overwrite=True)["step"] == 2
    # an empty folder still gets the usual advice (a plain start works there)
    (tmp_path / "empty").mkdir()
    assert main([command, "--ckpt", str(tmp_path / "empty")]) == 1
    assert "checkpoint.json is missing (train with" in capsys.readouterr().err


def test_reading_a_run_that_is_still_starting_says_it_has_not_saved_yet(tmp_path,
                                                                         monkeypatch, capsys):
    """`sample` / `eval --ckpt` (another process) on a run still starting (it holds the
    folder's lock, has written tokens.npy and is evaluating step 0, no checkpoint yet) said the
    run "stopped before saving its first one" and advised `train --overwrite`, which the lock
    refuses → they say a run is still training there and has not saved its first checkpoint
    yet. The trainer's own reads of its folder do not count its own lock."""
    import nanograd_llm.train as train_mod
    from nanograd_llm.cli import main
    pytest.importorskip("fcntl")
    out = tmp_path / "run"
    said = {}
    real_estimate = train_mod.estimate_loss

    def estimate(model, sampler, eval_iters, step):
        if step == 0 and not said:
            assert not (out / ckpt.MANIFEST).exists() and (out / "tokens.npy").exists()
            for command in ("sample", "eval"):
                said[command] = subprocess.run(
                    [sys.executable, "-m", "nanograd_llm", command, "--ckpt", str(out)],
                    capture_output=True, text=True, encoding="utf-8", timeout=120)
        return real_estimate(model, sampler, eval_iters, step)
    monkeypatch.setattr(train_mod, "estimate_loss", estimate)
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2, mmap_threshold=0), quiet=True)
    assert set(said) == {"sample", "eval"}
    for command, r in said.items():
        assert r.returncode == 1, (command, r.stderr)
        assert r.stderr.startswith(f"error: no checkpoint in {out} yet: a training run there "
                                   f"is still running and has not saved its first "
                                   f"checkpoint"), r.stderr
        assert "stopped" not in r.stderr and "--overwrite" not in r.stderr, r.stderr
    capsys.readouterr()
    assert main(["sample", "--ckpt", str(out), "--max-new-tokens", "2"]) == 0   # once saved


@pytest.mark.parametrize("left", ["tokens.npy", ".tokens.npy.ab12cd34.tmp"])
def test_resume_of_a_start_killed_while_it_prepared_its_data_names_a_plain_start(tmp_path,
                                                                                  left):
    """A start killed while it prepared its data leaves only its own tokens.npy (the file the
    lock file records) or that file's temporary files; a plain start removes them and trains.
    --resume there still said "start it again with `... --overwrite`": it now names the plain
    start, which works."""
    pytest.importorskip("fcntl")
    from nanograd_llm.run_folder import note_own_file
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("")
    (out / left).write_bytes(b"\x93NUMPY left by the killed start")
    note_own_file(out, "tokens.npy")
    with pytest.raises(ValueError, match=r"no checkpoint to resume in .*; start it again with "
                                         r"resume=False \(what it left there is removed\)") as e:
        train(tiny_config(tmp_path, max_iters=1, eval_interval=1), resume=True, quiet=True)
    assert re.search(r"; start it again with `nanograd-llm train --out \S*run` and its settings",
                     e.value.command_line_message)
    r = train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)    # as it says
    assert r["step"] == 1 and ckpt.read_manifest(out)["step"] == 1
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".tokens")) == []


def test_overwrite_deletes_the_best_copy_of_a_run_killed_before_its_first_checkpoint(
        tmp_path, monkeypatch):
    """best/ is written before the checkpoint of the same step: a run killed between the two at
    step 0 leaves best/ and no checkpoint.json. --overwrite ("delete them and start there")
    kept that best/, and a new run on another text then failed at its first evaluation
    (save_checkpoint refuses to write over a checkpoint of another tokenizer)."""
    out = tmp_path / "run"
    out.mkdir()
    _kill_the_runs_own_checkpoint(monkeypatch, out)
    # a kill (SIGKILL, a power cut) runs no clean-up: the start's own files stay
    monkeypatch.setattr("nanograd_llm.run_folder._remove_added_run_files", lambda out, had: None)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    monkeypatch.undo()
    assert (out / "best" / ckpt.MANIFEST).is_file() and not (out / ckpt.MANIFEST).exists()
    other = tmp_path / "other.txt"
    other.write_text("xyz abc qrs tuv wvu " * 120, encoding="utf-8")
    cfg = dataclasses.replace(tiny_config(tmp_path, max_iters=2, eval_interval=2),
                              data=str(other))
    with pytest.raises(ValueError, match="never saved a checkpoint"):
        train(cfg, quiet=True)
    r = train(cfg, quiet=True, overwrite=True)
    assert r["step"] == 2 and r["best_dir"] == str(out / "best")
    assert ckpt.load_run_tokenizer(out / "best").vocab_size == r["tokenizer"].vocab_size
    assert ckpt.read_manifest(out / "best")["train_config"]["data"] == str(other)

def test_overwrite_deletes_a_folder_left_half_built_by_a_killed_run(tmp_path):
    """A run killed while its first best/ copy was being built leaves the hidden staging folder
    of atomic_write_files (OUT/.best.XXXX.tmp). --overwrite unlinked every '.*.tmp' name and
    stopped with IsADirectoryError, after the old checkpoint.json was already deleted."""
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    staging = tmp_path / "run" / ".best.k3j2x1ab.tmp"
    staging.mkdir()
    (staging / "tokenizer.json").write_text("{}")
    r = train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True, overwrite=True)
    assert r["step"] == 2 and not staging.exists()
    assert ckpt.read_manifest(tmp_path / "run")["step"] == 2


def test_overwrite_deletes_the_staging_folder_of_a_first_best_copy_without_a_checkpoint(tmp_path):
    """The first best/ copy is built (in OUT/.best.XXXX.tmp) at step 0, before the first
    checkpoint: a run killed then leaves that folder and no checkpoint.json. The refusal lists it
    ("use --overwrite to delete them"), but --overwrite kept it, with its partial weights."""
    out = tmp_path / "run"
    staging = out / ".best.k3j2x1ab.tmp"
    staging.mkdir(parents=True)
    (staging / "model-0000000-abcdef.npz").write_bytes(b"partial")
    (out / "metrics.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"never saved a checkpoint \(\.best\.k3j2x1ab\.tmp, "
                                         r"metrics\.jsonl\); use overwrite=True to delete "
                                         r"them"):
        train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    r = train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True, overwrite=True)
    assert r["step"] == 2 and not staging.exists()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]

@pytest.mark.parametrize("overwrite", [False, True])
def test_the_folder_is_locked_while_training(tmp_path, monkeypatch, overwrite):
    """Probed from inside the run: another open of the lock file cannot lock it, not even
    shared, and --overwrite does not delete the lock this process holds."""
    pytest.importorskip("fcntl")
    import fcntl
    if overwrite:
        train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    real = ckpt.save_checkpoint
    probes = []

    def probe(out_dir, *a, **k):
        if not probes:
            lock = tmp_path / "run" / ".lock"
            probes.append(lock.exists())
            with open(lock, "a+") as f:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        return real(out_dir, *a, **k)
    monkeypatch.setattr(ckpt, "save_checkpoint", probe)
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True, overwrite=overwrite)
    assert probes == [True]


def test_equal_lr_and_min_lr_do_not_warn(tmp_path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(tiny_config(tmp_path, max_iters=1, eval_interval=1, lr=1e-3, min_lr=1e-3),
              quiet=True)


def test_a_metrics_line_nested_deeper_than_the_parser_goes_is_skipped(tmp_path):
    """Damaged lines of metrics.jsonl are skipped, but one of JSON nested deeper than the
    parser's recursion limit ("[[[[…", an edit gone wrong) raised RecursionError: --resume
    stopped with a traceback. It is skipped like any other damaged line."""
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    log = tmp_path / "run" / "metrics.jsonl"
    with open(log, "a") as f:
        f.write("[" * 100_000 + "\n")
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, resume=True)
    assert r["step"] == 4
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [0, 2, 4]


def test_metrics_rows_with_a_boolean_step_or_nan_elapsed(tmp_path):
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    log = tmp_path / "run" / "metrics.jsonl"
    with open(log, "a") as f:
        f.write('{"step": true, "train_loss": 1.0, "val_loss": 1.0}\n')
    r = train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True, resume=True)
    assert r["step"] == 4
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [0, 2, 4]
    path = tmp_path / "run" / ckpt.MANIFEST
    m = json.loads(path.read_text())
    m["extra"]["elapsed_s"] = float("nan")
    path.write_text(json.dumps(m))
    with pytest.raises(ValueError, match="'extra.elapsed_s' must be a number"):
        train(tiny_config(tmp_path, max_iters=6, eval_interval=2), quiet=True, resume=True)


def test_messages_before_the_loop_start_a_line_of_their_own(tmp_path, capsys):
    """With the progress bar on, "nothing to train" (a resume at or past max_iters) and the
    warning about a damaged best/ copy are written through the bar, not glued to its line."""
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    (tmp_path / "run" / "best" / ckpt.MANIFEST).write_text("{bad", encoding="utf-8")
    capsys.readouterr()
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), resume=True)
    err = capsys.readouterr().err
    for message in ("nothing to train", "warning: ignoring"):
        lines = [line for line in err.split("\n") if message in line]
        assert lines, err
        for line in lines:
            # on a terminal, what follows the last carriage return is what stays visible
            assert line.split("\r")[-1].lstrip().startswith(message), repr(line)


def test_train_example_reports_an_interrupted_or_finished_run(tmp_path, capsys):
    """examples/train_char_gpt.py: Ctrl-C (the trainer returns interrupted) exits 130 with the
    resume command instead of 0 and a sample; a resumed finished run without losses (val_loss
    None) is reported, not a TypeError from formatting None."""
    from nanograd_llm.cli import shell_quote
    ex = _example("train_char_gpt")
    base = {"step": 7, "train_loss": None, "val_loss": None, "wall_s": 0.1,
            "out_dir": tmp_path / "my run", "model": None, "tokenizer": None}
    ex.train = lambda cfg, **kw: {**base, "interrupted": True}
    assert ex.main(["--small", "--out", str(tmp_path / "my run")]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and f"--out {shell_quote(tmp_path / 'my run')} --resume" in err
    assert f"step 7 saved in {tmp_path / 'my run'};" in err   # the same line as the CLI's
    ex.train = lambda cfg, **kw: {**base, "interrupted": True, "signal": "SIGTERM"}
    assert ex.main(["--small", "--out", str(tmp_path / "my run")]) == 143
    assert "stopped by SIGTERM" in capsys.readouterr().err
    ex.train = lambda cfg, **kw: {**base, "interrupted": False}
    ex.sample_text = lambda *a, **kw: "sample"
    assert ex.main(["--small", "--out", str(tmp_path / "my run")]) == 0
    assert "nothing left to train" in capsys.readouterr().out


def test_the_rows_a_checkpoint_covers_are_on_disk_before_its_manifest(tmp_path, monkeypatch):
    """metrics.jsonl rows were never fsynced: after a power cut the checkpoint could survive
    while the rows of its evaluations were lost (and --resume only cuts the log back). Before
    each checkpoint.json is written, the log is fsynced with all its rows."""
    out = tmp_path / "run"
    log = out / "metrics.jsonl"
    synced, at_manifest = [], []
    real_fsync, real_json = os.fsync, ckpt.atomic_write_json

    def fsync(fd):
        if log.exists() and os.path.samestat(os.fstat(fd), os.stat(log)):
            synced.append(os.fstat(fd).st_size)
        return real_fsync(fd)

    def write_json(path, obj):
        if Path(path) == out / ckpt.MANIFEST:
            at_manifest.append((synced[-1] if synced else None, log.stat().st_size))
        return real_json(path, obj)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(ckpt, "atomic_write_json", write_json)
    train(tiny_config(tmp_path, max_iters=8, eval_interval=4), quiet=True)
    assert len(at_manifest) == 3                                  # steps 0, 4, 8
    assert all(durable == size > 0 for durable, size in at_manifest), at_manifest
    assert len(synced) == 3                                       # one fsync per evaluation


def test_metrics_tokens_per_sec_is_measured_at_each_evaluation(tmp_path, monkeypatch):
    """tokens_per_sec in metrics.jsonl was the speed of the last log_interval window: 0.0 at
    the evaluations before the first one, stale after, and the window after an evaluation
    counted the evaluation and the checkpoint write as training time."""
    import time
    from nanograd_llm import train as train_mod
    clock = {"extra": 0.0}
    real_clock, real_estimate = time.perf_counter, train_mod.estimate_loss

    def slow_estimate(*a, **k):
        clock["extra"] += 1000.0                  # an evaluation that "takes" 1000 s
        return real_estimate(*a, **k)
    monkeypatch.setattr(train_mod.time, "perf_counter", lambda: real_clock() + clock["extra"])
    monkeypatch.setattr(train_mod, "estimate_loss", slow_estimate)
    train(tiny_config(tmp_path, max_iters=6, eval_interval=2, log_interval=3), quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4, 6]
    # a few real milliseconds per step of 4 × 16 tokens; with an evaluation counted in, the
    # speed would be below 3 steps' tokens per 1000 s
    assert all(r["tokens_per_sec"] > 1.0 for r in rows[1:]), rows


@pytest.mark.parametrize("training", [True, False])
def test_estimate_loss_gives_the_model_back_in_its_mode(training):
    """estimate_loss always ended with model.train(): a model in eval mode (as load_model
    returns it) came back with dropout on, and its next losses were noisy."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.data import BatchSampler, TokenData
    from nanograd_llm.train import estimate_loss
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8,
                          dropout=0.5), seed=0, dtype="float64")
    model.train(training)
    ids = np.random.default_rng(0).integers(0, 7, 200)
    sampler = BatchSampler(TokenData(ids[:150], ids[150:]), 8, 4, seed=0)
    losses = estimate_loss(model, sampler, 2, 0)
    assert model.training is training
    # eval mode: no dropout, so the same batch gives the same loss (and estimate_loss agrees)
    model.eval()
    again = estimate_loss(model, sampler, 2, 0)
    assert again == losses and model.training is False
    w = sampler.train_batch()
    assert float(model.forward(w[:, :-1], w[:, 1:])[1]) == \
        float(model.forward(w[:, :-1], w[:, 1:])[1])


def test_a_short_training_run_follows_a_torch_reimplementation_step_by_step(tmp_path,
                                                                           monkeypatch):
    """The trainer's step against PyTorch, given the same batches and initial weights (float64,
    no dropout): 2 micro-batches per step (loss / 2 summed), torch's clip_grad_norm_ over all
    parameters (active: the norms are above 0.3), nanoGPT's warmup + cosine, torch.optim.AdamW
    with decay on the >= 2-D weights only. At every step the weights and the clipped gradient
    AdamW receives agree to rounding, and every metrics.jsonl row is torch's mean loss over the
    same evaluation batches."""
    torch = pytest.importorskip("torch")
    from torch_reference import torch_gpt_forward
    from nanograd_llm.data import BatchSampler
    from nanograd_llm.models.gpt import GPT
    from nanograd_llm.optim import get_lr
    batches, evals, seen, built = [], {}, [], []
    real_batch, real_evals = BatchSampler.train_batch, BatchSampler.eval_batches
    real_step, real_init = AdamW.step, GPT.__init__

    def train_batch(self, batch_size=None):
        batches.append(real_batch(self, batch_size))
        return batches[-1]

    def eval_batches(self, split, n, step):
        evals[step, split] = list(real_evals(self, split, n, step))
        return iter(evals[step, split])

    def step(self, grads=None, lr=None):
        seen.append((self.model.flat.copy(), self.model.grad_flat.copy()))
        real_step(self, grads, lr)

    def init(self, *a, **k):
        real_init(self, *a, **k)
        built.append((self, {n: v.copy() for n, v in self.params.items()}))
    monkeypatch.setattr(BatchSampler, "train_batch", train_batch)
    monkeypatch.setattr(BatchSampler, "eval_batches", eval_batches)
    monkeypatch.setattr(AdamW, "step", step)
    monkeypatch.setattr(GPT, "__init__", init)
    cfg = tiny_config(tmp_path, max_iters=5, eval_interval=2, eval_iters=2, dropout=0.0,
                      dtype="float64", grad_accum=2, grad_clip=0.3, warmup_iters=2,
                      lr_decay_iters=4, lr=1e-2, min_lr=1e-3, beta2=0.95)
    train(cfg, quiet=True)
    model, init_params = built[0]
    P = {k: torch.tensor(v, requires_grad=True) for k, v in init_params.items()}
    names = list(P)
    topt = torch.optim.AdamW(
        [{"params": [P[k] for k in names if P[k].ndim >= 2], "weight_decay": cfg.weight_decay},
         {"params": [P[k] for k in names if P[k].ndim < 2], "weight_decay": 0.0}],
        lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)

    def flat(arrays):
        out = np.empty_like(model.flat)
        for name, off, shape in model.layout:
            out[off:off + int(np.prod(shape))] = np.asarray(arrays[name]).reshape(-1)
        return out

    def loss_of(w):
        return torch_gpt_forward({k: v.detach().numpy() for k, v in P.items()}, model.config,
                                 w[:, :-1], w[:, 1:])[1].item()

    rows = {r["step"]: r for r in (json.loads(x) for x in
                                   (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())}
    assert sorted(rows) == [0, 2, 4, 5] and len(seen) == 5 and len(batches) == 10
    for it in range(cfg.max_iters + 1):
        if it in rows:
            for split in ("train", "val"):
                ref = np.mean([loss_of(w) for w in evals[it, split]])
                assert rows[it][f"{split}_loss"] == pytest.approx(ref, abs=1e-6)
        if it == cfg.max_iters:
            break
        for group in topt.param_groups:
            group["lr"] = get_lr(it, cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.decay_iters)
        topt.zero_grad()
        for w in batches[2 * it:2 * it + 2]:
            loss = torch_gpt_forward({k: v.detach().numpy() for k, v in P.items()},
                                     model.config, w[:, :-1], w[:, 1:])
            loss[1].backward()                       # the leaves of this forward (loss[2])
            for k in names:
                g = loss[2][k].grad
                P[k].grad = g / cfg.grad_accum if P[k].grad is None else \
                    P[k].grad + g / cfg.grad_accum
        norm = torch.nn.utils.clip_grad_norm_([P[k] for k in names], cfg.grad_clip)
        assert float(norm) > cfg.grad_clip                        # the clipping is active
        ours_w, ours_g = seen[it]
        np.testing.assert_allclose(ours_w, flat({k: v.detach().numpy() for k, v in P.items()}),
                                   rtol=0, atol=1e-13)
        np.testing.assert_allclose(ours_g, flat({k: P[k].grad.numpy() for k in names}),
                                   rtol=1e-10, atol=1e-15)
        topt.step()
    np.testing.assert_allclose(weights(model), flat({k: v.detach().numpy()
                                                     for k, v in P.items()}), rtol=0, atol=1e-13)


def test_resume_refuses_init_from_given_as_a_setting(tmp_path, capsys):
    """`--resume --init-from DIR` was refused, but `--resume init_from=DIR` (or init_from in
    a --config file) was silently ignored: the run went on with its own weights."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    (tmp_path / "cfg.json").write_text(json.dumps({"init_from": str(tmp_path / "gpt2")}))
    for kw, what in ((dict(overrides={"init_from": str(tmp_path / "gpt2")}), "init_from"),
                     (dict(config_file=str(tmp_path / "cfg.json")),
                      f"init_from={str(tmp_path / 'gpt2')!r} in config file "
                      f"{tmp_path / 'cfg.json'}")):
        with pytest.raises(ValueError) as e:
            resume_config("default", out_dir=str(tmp_path / "run"), **kw)
        # Python's words in str(e) (resume_config has no --resume), the command line's kept
        assert str(e.value) == (f"{what} starts a new run from a GPT-2 folder; a resumed run "
                                "continues the one in out_dir with its own weights (give one "
                                "or the other)")
    from nanograd_llm.cli import main
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(tmp_path / "run"), "--quiet",
                 f"init_from={tmp_path / 'gpt2'}"]) == 1
    assert capsys.readouterr().err == ("error: init_from starts a new run from a GPT-2 folder; "
                                       "--resume continues the run in --out with its own "
                                       "weights (use one or the other)\n")
    assert resume_config("default", out_dir=str(tmp_path / "run"),
                         overrides={"max_iters": "4"}).max_iters == 4


# -- found by mutation testing of train.py ------------------------------------------------------

def test_bpe_tokenizer_learns_its_merges_from_the_train_split_only(tmp_path):
    """The validation text must not shape the tokenizer (that would leak it into training):
    a pair frequent only in the last val_fraction of the corpus gets no merge."""
    from nanograd_llm.train import prepare_data
    (tmp_path / "c.txt").write_text("abcdefgh " * 100 + "zq" * 450, encoding="utf-8")
    cfg = make_config("default", data=str(tmp_path / "c.txt"), out_dir=str(tmp_path / "run"),
                      overrides={"tokenizer": "bpe", "vocab_size": "260", "val_fraction": "0.5",
                                 "block_size": "8"})
    tok, _, _ = prepare_data(cfg, tmp_path)
    assert len(tok.encode("zq")) == 2                 # "zq" only occurs in the val half
    assert any(len(tok.encode(p)) == 1 for p in ("ab", "bc", "cd", "de", "ef", "fg", "gh", " a"))


def test_sample_text_returns_only_the_new_tokens(tmp_path):
    from nanograd_llm.generate import generate
    from nanograd_llm.tokenizers import CharTokenizer
    from nanograd_llm.train import sample_text
    tok = CharTokenizer.from_text("abcdefgh xyz")
    model = ckpt.build_model({"model": "gpt", "vocab_size": tok.vocab_size, "block_size": 16,
                              "n_layer": 1, "n_head": 2, "n_embd": 16}, seed=3)
    model.eval()
    text = sample_text(model, tok, "xyz", max_new_tokens=6, temperature=0, seed=0)
    ids = generate(model, np.asarray(tok.encode("xyz"), dtype=np.int64), 6, temperature=0)
    assert len(text) == 6 and text == tok.decode(np.asarray(ids).reshape(-1)[3:])


def test_a_missing_corpus_of_a_new_run_is_not_called_moved(tmp_path):
    """The "if the corpus has moved, add --data NEWPATH" hint is for --resume only."""
    cfg = tiny_config(tmp_path)
    (tmp_path / "corpus.txt").unlink()
    with pytest.raises(FileNotFoundError, match="data file not found") as e:
        train(cfg, quiet=True)
    assert "--data NEWPATH" not in str(e.value) and not (tmp_path / "run").exists()


def test_resume_refuses_a_changed_seed_batch_or_split(tmp_path):
    """Settings that a resumed run cannot change without silently training on other batches
    (or another split) are refused before any step, naming the setting."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    for key, value in (("seed", "7"), ("batch_size", "3"), ("grad_accum", "2"),
                       ("val_fraction", "0.2"), ("dtype", "float64")):
        cfg = resume_config("default", out_dir=str(tmp_path / "run"),
                            overrides={"max_iters": "4", key: value})
        with pytest.raises(ValueError, match=f"cannot resume .*trained with {key}="):
            train(cfg, resume=True, quiet=True)
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before


def test_metrics_speed_and_elapsed_time_with_a_fake_clock(tmp_path, monkeypatch):
    """With a clock that ticks 1 s per reading, tokens_per_sec at each evaluation is the
    tokens of the steps since the last one (batch_size · block_size · grad_accum per step),
    over the training time only (the evaluation's own readings are not counted), also when
    log_interval is never reached; elapsed_s keeps growing across a resume."""
    import itertools
    import types
    from nanograd_llm import train as train_mod
    from nanograd_llm.train import resume_config
    ticks = itertools.count()
    monkeypatch.setattr(train_mod, "time", types.SimpleNamespace(
        time=lambda: 0.0, perf_counter=lambda: float(next(ticks))))
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2, log_interval=1000, grad_accum=2,
                      batch_size=4, block_size=16), quiet=True)
    train(resume_config("default", out_dir=str(tmp_path / "run"), overrides={"max_iters": "6"}),
          resume=True, quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4, 6]
    assert [r["tokens_per_sec"] for r in rows[1:]] == [2 * 4 * 16 * 2] * 3
    elapsed = [r["elapsed_s"] for r in rows]
    assert elapsed == sorted(elapsed) and elapsed[3] - elapsed[2] >= 2, elapsed


def test_resume_keeps_a_best_copy_saved_at_the_checkpoint_step(tmp_path, capsys):
    """best/ written at the very step the run resumes from is this run's copy: it is kept
    (not ignored with a warning and replaced by a worse evaluation)."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=4, eval_interval=2), quiet=True)
    best = ckpt.read_manifest(tmp_path / "run" / "best")
    assert best["step"] == 4
    result = train(resume_config("default", out_dir=str(tmp_path / "run"),
                                 overrides={"max_iters": "5", "lr": "2"}),
                   resume=True, progress=False)
    assert "ignoring" not in capsys.readouterr().err
    assert result["best_step"] == 4 and result["best_val_loss"] == round(best["extra"]["val_loss"], 6)


def test_a_failed_write_in_a_resumed_run_names_the_checkpoint_it_resumed_from(tmp_path,
                                                                             monkeypatch):
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2, keep_best=False), quiet=True)

    def disk_full(path, arrays):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ckpt, "_write_npz", disk_full)
    with pytest.raises(OSError, match=r"could not write the checkpoint of step 4 .*; the "
                                      r"checkpoint of step 2 in .*run is intact"):
        train(resume_config("default", out_dir=str(tmp_path / "run"),
                            overrides={"max_iters": "4"}), resume=True, quiet=True)


def test_stop_after_leaves_the_loop_after_that_many_steps(tmp_path):
    r = train(tiny_config(tmp_path, max_iters=12, eval_interval=2), quiet=True, stop_after=3)
    assert r["step"] == 3 and r["eval_step"] == 2


def test_each_evaluation_row_logs_the_learning_rate_of_its_step(tmp_path):
    from nanograd_llm.optim import get_lr
    cfg = tiny_config(tmp_path, max_iters=6, eval_interval=2, warmup_iters=4, lr_decay_iters=6)
    train(cfg, quiet=True)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4, 6]
    assert [r["lr"] for r in rows] == [get_lr(r["step"], cfg.lr, cfg.min_lr, cfg.warmup_iters,
                                              cfg.decay_iters) for r in rows]


@posix_only(SIGNALS)
def test_ctrl_c_during_the_last_step_is_a_finished_run(tmp_path, monkeypatch):
    """The loop ends normally (the final evaluation and checkpoint are written): the run is
    complete, not "interrupted" (the command would exit 130 and ask for --resume)."""
    import signal
    real_step = AdamW.step

    def interrupted(self, grads=None, lr=None):
        real_step(self, grads, lr)
        if self.t == 2:
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(AdamW, "step", interrupted)
    r = train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    assert r["step"] == 2 and r["eval_step"] == 2 and not r["interrupted"]


def test_a_non_finite_val_loss_alone_stops_training(tmp_path, monkeypatch):
    from nanograd_llm import train as train_mod
    monkeypatch.setattr(train_mod, "estimate_loss",
                        lambda model, sampler, iters, step: {"train": 2.5, "val": float("nan")})
    with pytest.raises(RuntimeError, match=r"evaluation loss is 2\.5 \(train\) / nan \(val\) "
                                           r"at step 0"):
        train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)


def test_the_seed_sets_the_starting_weights(tmp_path):
    got = {}
    for seed in (1, 2):
        r = train(tiny_config(tmp_path, f"s{seed}", seed=seed, max_iters=2), quiet=True,
                  stop_after=0)
        assert r["step"] == 0
        mcfg = r["model"].config_dict()
        np.testing.assert_array_equal(weights(r["model"]),
                                      weights(ckpt.build_model(mcfg, seed=seed)))
        got[seed] = weights(r["model"])
    assert not np.array_equal(got[1], got[2])


def test_resuming_a_finished_run_from_a_moved_corpus_points_best_at_it(tmp_path):
    """Nothing is trained (max_iters reached), yet best/ must name the corpus' new path, as the
    checkpoint does, so that `eval --ckpt RUN/best` finds it."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    (tmp_path / "corpus.txt").rename(tmp_path / "moved.txt")
    r = train(resume_config(None, out_dir=str(tmp_path / "run"),
                            data=str(tmp_path / "moved.txt")), resume=True, quiet=True)
    assert r["step"] == 2
    best = ckpt.read_manifest(tmp_path / "run" / "best")
    assert best["train_config"]["data"] == str(tmp_path / "moved.txt")


def test_fine_tuning_trains_with_dropout_on(tmp_path, monkeypatch):
    """init_from_hf gives a model in eval mode; the trainer must switch it to training mode,
    or a fine-tuning with dropout=0.1 would silently run without dropout."""
    from nanograd_llm import GPT
    tiny_gpt2_folder(tmp_path / "hf", 270)
    modes = []
    real = GPT.backward

    def spy(self, *a, **k):
        modes.append(self.training)
        return real(self, *a, **k)
    monkeypatch.setattr(GPT, "backward", spy)
    train(tiny_config(tmp_path, init_from=str(tmp_path / "hf"), max_iters=2, eval_interval=2,
                      dropout=0.1, n_embd=8), quiet=True)
    assert modes == [True, True]


def test_a_copy_of_tokens_npy_with_the_same_time_is_not_taken_for_the_runs(tmp_path):
    """The record of tokens.npy in the lock file names the very file (its inode too): a copy
    with the same bytes, size and modification time (cp -p, shutil.copy2) is the user's, and a
    plain start refuses the folder instead of deleting it."""
    import shutil
    from nanograd_llm.run_folder import note_own_file
    cfg = tiny_config(tmp_path, max_iters=1, eval_interval=1, mmap_threshold=0)
    out = Path(cfg.out_dir)
    out.mkdir()
    (out / ".lock").write_text("")
    (out / "tokens.npy").write_bytes(b"the run's tokens")
    note_own_file(out, "tokens.npy")
    shutil.copy2(out / "tokens.npy", tmp_path / "copy")
    st = os.stat(out / "tokens.npy")
    os.utime(tmp_path / "copy", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp_path / "copy", out / "tokens.npy")
    with pytest.raises(ValueError, match="use overwrite=True"):
        train(cfg, quiet=True)
    assert (out / "tokens.npy").read_bytes() == b"the run's tokens"


def test_a_plain_start_leaves_a_temporary_file_of_tokens_npy_that_is_held(tmp_path):
    """A temporary file of tokens.npy that a process still holds (locked: a write going on)
    is not removed, and the folder is then not empty: a plain start refuses it (--overwrite)
    instead of training beside it."""
    fcntl = pytest.importorskip("fcntl")
    cfg = tiny_config(tmp_path, max_iters=1, eval_interval=1, mmap_threshold=0)
    out = Path(cfg.out_dir)
    out.mkdir()
    (out / ".lock").write_text("")
    held = out / ".tokens.npy.zz99yy88.tmp"
    held.write_bytes(b"being written")
    with open(held, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="use overwrite=True"):
            train(cfg, quiet=True)
    assert held.read_bytes() == b"being written"
    assert not (out / ckpt.MANIFEST).exists()


@pytest.mark.parametrize("name", [".notes.text.ab12cd34.tmp", ".tokens.npy.x.ab12cd34.tmp"])
def test_resume_names_overwrite_for_a_temporary_file_not_of_tokens_npy(tmp_path, name):
    """Only tokens.npy's own temporary files ('.tokens.npy.XXXXXXXX.tmp') are what a plain
    start removes: for another file of that shape (another program's write, one of
    a file 'tokens.npy.x') --resume names --overwrite, not a plain start that would refuse it."""
    pytest.importorskip("fcntl")
    cfg = tiny_config(tmp_path, max_iters=1, eval_interval=1, mmap_threshold=0)
    out = Path(cfg.out_dir)
    out.mkdir()
    (out / ".lock").write_text("")
    (out / name).write_bytes(b"x")
    with pytest.raises(ValueError) as e:
        train(cfg, resume=True, quiet=True)
    assert "no checkpoint to resume" in str(e.value) and \
        "--overwrite`" in e.value.command_line_message


def test_overwrite_removes_a_killed_writes_temporary_file_but_not_a_held_one(tmp_path):
    """--overwrite leaves atomic.py's temporary files to the lock-checked clean-up: one a
    killed write left (no one holds it) is removed, one a live write holds stays."""
    fcntl = pytest.importorskip("fcntl")
    cfg = tiny_config(tmp_path, max_iters=1, eval_interval=1)
    out = Path(cfg.out_dir)
    train(cfg, quiet=True)                          # a run with a checkpoint: _clear_run
    stale = out / ".merges.txt.ab12cd34.tmp"
    stale.write_bytes(b"left by a killed write")
    held = out / ".vocab.json.zz99yy88.tmp"
    held.write_bytes(b"being written")
    with open(held, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        train(cfg, quiet=True, overwrite=True)
    assert not stale.exists()
    assert held.read_bytes() == b"being written"


def test_without_the_run_lock_a_killed_starts_files_are_left(tmp_path, monkeypatch):
    """Where the run-folder lock is not available (Windows: _lock_run gives None), who wrote
    tokens.npy's files cannot be known: nothing is removed and the folder is not taken for
    empty (no AttributeError on the missing lock either)."""
    from nanograd_llm import run_folder
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("")
    tmp = out / ".tokens.npy.zz99yy88.tmp"
    tmp.write_bytes(b"x")
    monkeypatch.setattr(run_folder, "_lock_run", lambda out, given_as=None: None)
    assert run_folder._remove_what_a_killed_start_left(out, [tmp.name]) is False
    assert tmp.read_bytes() == b"x"


@pytest.mark.parametrize("precision", ["tf32", "highest"])
def test_train_applies_its_matmul_precision_while_it_runs_only(tmp_path, monkeypatch, precision):
    """cfg.precision holds while train() runs (CUPY_TF32 is what CuPy's matmuls read) and the
    earlier setting is back when it returns."""
    import nanograd_llm.train as t
    monkeypatch.delenv("CUPY_TF32", raising=False)
    seen = []
    real = t.estimate_loss

    def spy(*a, **k):
        seen.append(os.environ.get("CUPY_TF32"))
        return real(*a, **k)
    monkeypatch.setattr(t, "estimate_loss", spy)
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1, precision=precision), quiet=True)
    assert seen and set(seen) == {"1" if precision == "tf32" else "0"}
    assert "CUPY_TF32" not in os.environ



def test_the_checkpoint_records_the_dropout_seed_of_its_step(tmp_path):
    """The manifest's dropout_seed is the [seed, stream, step] the trainer draws the masks of
    the checkpoint's step from (train.py's drop_seed), at each save: also at a last step that
    is not a multiple of eval_interval."""
    from nanograd_llm.data import STREAM_DROPOUT
    cfg = tiny_config(tmp_path, max_iters=3, eval_interval=2, eval_iters=1, keep_best=False)
    train(cfg, quiet=True)
    man = ckpt.read_manifest(tmp_path / "run")
    assert man["step"] == 3 and man["dropout_seed"] == [cfg.seed, STREAM_DROPOUT, 3]


def test_init_from_refuses_a_model_setting_the_folder_does_not_have(tmp_path, capsys):
    """`train --init-from DIR n_layer=6` (or n_embd/bias/… in a --config file) ignored the
    setting with a log line, which --quiet hid: the fine-tune ran the folder's architecture →
    a model setting given with init_from must be the folder's value (as --resume refuses a
    different model), and one equal to it is accepted; a resume with the same file works."""
    from nanograd_llm import cli
    from nanograd_llm.train import resume_config
    tiny_gpt2_folder(tmp_path / "hf", 280)           # n_layer=1, n_head=2, n_embd=8
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    run = ["train", "--init-from", str(tmp_path / "hf"), "--data", str(corpus), "--quiet",
           "block_size=8", "batch_size=2", "eval_interval=1", "eval_iters=1", "max_iters=1",
           "sample_tokens=0"]
    for bad, saved in (("n_layer=6", "n_layer=1"), ("n_embd=16", "n_embd=8"),
                       ("bias=false", "bias=True"), ("tokenizer=char", "tokenizer='bpe'")):
        assert cli.main([*run, "--out", str(tmp_path / "bad"), bad]) == 1
        err = capsys.readouterr().err
        asked = bad.replace("false", "False").replace("char", "'char'")
        assert f"has {saved}, the config asks for {asked}; a fine-tune keeps the pretrained " \
            f"model's architecture" in err, err
        assert not (tmp_path / "bad").exists()
    # the folder's own values are accepted (n_head=2 would not divide the preset's n_embd=96)
    conf = tmp_path / "ft.json"
    conf.write_text(json.dumps({"init_from": str(tmp_path / "hf"), "n_layer": 1, "n_head": 2,
                                "n_embd": 8}))
    out = str(tmp_path / "run")
    assert cli.main([*run, "--out", out, "--config", str(conf)]) == 0
    assert ckpt.read_manifest(out)["train_config"]["n_embd"] == 8
    (tmp_path / "hf" / "config.json").unlink()      # a resume needs no GPT-2 folder
    cfg = resume_config(None, config_file=str(conf), out_dir=out, overrides={"max_iters": "2"})
    assert train(cfg, resume=True, quiet=True)["step"] == 2


def test_make_config_and_resume_config_take_paths(tmp_path):
    """TrainConfig(out_dir=Path(...)) was accepted, but make_config(out_dir=Path(...)) (and
    data=, init_from=, a Path in overrides) was refused with "is not a string", although a
    notebook user passes Path objects naturally → the path settings take any os.PathLike,
    stored as the string the rest of the code reads; the saved train_config round-trips and
    --resume (resume_config) takes a Path too."""
    from nanograd_llm.train import resume_config
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    keys = dict(n_layer="1", n_head="2", n_embd="16", block_size="16", batch_size="4",
                max_iters="2", eval_interval="2", eval_iters="1", sample_tokens="0")
    cfg = make_config("default", data=corpus, out_dir=tmp_path / "run", overrides=keys)
    assert (cfg.data, cfg.out_dir) == (str(corpus), str(tmp_path / "run"))
    assert make_config(overrides={"out_dir": tmp_path / "o"}).out_dir == str(tmp_path / "o")
    assert make_config(init_from=tmp_path / "gpt2").init_from == str(tmp_path / "gpt2")
    train(cfg, quiet=True)
    saved = ckpt.read_manifest(tmp_path / "run")["train_config"]
    assert (saved["data"], saved["out_dir"]) == (str(corpus), str(tmp_path / "run"))
    again = resume_config(None, out_dir=tmp_path / "run", data=corpus,
                          overrides={"max_iters": "3"})
    assert again.out_dir == str(tmp_path / "run") and again.data == str(corpus)
    assert train(again, resume=True, quiet=True)["step"] == 3


def test_init_from_refuses_a_vocab_size_or_bpe_pattern_the_folders_tokenizer_does_not_have(
        tmp_path, capsys):
    """`train --init-from DIR vocab_size=4096` (or bpe_pattern=turkish) trained with the
    folder's tokenizer without a word, although n_layer=6 is refused → a vocab_size or
    bpe_pattern given with init_from must be the folder's tokenizer's; the folder's own values
    are accepted, and the saved train_config names the folder's pattern."""
    pytest.importorskip("regex")
    from nanograd_llm import cli
    from nanograd_llm.tokenizers.bpe import BPETokenizer, TURKISH_PATTERN
    _, tok = tiny_gpt2_folder(tmp_path / "hf", 280)
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    run = ["train", "--data", str(corpus), "--quiet", "block_size=8", "batch_size=2",
           "eval_interval=1", "eval_iters=1", "max_iters=1", "sample_tokens=0"]
    for bad, saved in (("vocab_size=4096", f"vocab_size={tok.vocab_size}"),
                       ("bpe_pattern=turkish", "bpe_pattern='gpt2'")):
        assert cli.main([*run, "--init-from", str(tmp_path / "hf"), "--out",
                         str(tmp_path / "bad"), bad]) == 1
        err = capsys.readouterr().err
        asked = bad.replace("turkish", "'turkish'")
        assert f"has {saved}, the config asks for {asked}; a fine-tune keeps the pretrained " \
            f"model's architecture and tokenizer" in err, err
        assert not (tmp_path / "bad").exists()
    assert cli.main([*run, "--init-from", str(tmp_path / "hf"), "--out", str(tmp_path / "ok"),
                     f"vocab_size={tok.vocab_size}", "bpe_pattern=gpt2"]) == 0
    # a folder whose tokenizer splits with the Turkish pattern: the saved settings say so
    tr = BPETokenizer.train(GPT2_TEXT, 280, pattern=TURKISH_PATTERN)
    tiny_gpt2_folder(tmp_path / "tr", 280)
    tr.save(str(tmp_path / "tr"))
    assert cli.main([*run, "--init-from", str(tmp_path / "tr"), "--out", str(tmp_path / "t1")]) \
        == 0
    assert ckpt.read_manifest(tmp_path / "t1")["train_config"]["bpe_pattern"] == "turkish"
    assert cli.main([*run, "--init-from", str(tmp_path / "tr"), "--out", str(tmp_path / "t2"),
                     "bpe_pattern=gpt2"]) == 1
    assert "has bpe_pattern='turkish', the config asks for bpe_pattern='gpt2'" in \
        capsys.readouterr().err


def test_resume_of_a_fine_tune_judges_model_settings_by_its_checkpoints_model(tmp_path, capsys):
    """A fine-tune started without model settings saved the preset's n_layer=3 in its
    train_config, so `--resume n_layer=1` (the real value) was refused with "it was trained
    with n_layer=3", and bias/tie_weights/activation/positional/tokenizer given on --resume
    were never compared → a fine-tune's model settings on --resume are judged by the
    checkpoint's model: its own values are accepted, others refused naming it."""
    from nanograd_llm import cli
    tiny_gpt2_folder(tmp_path / "hf", 280)           # n_layer=1, n_head=2, n_embd=8, bias
    out, run, hf = _fine_tune_commands(tmp_path)
    assert cli.main([*run, *hf]) == 0
    capsys.readouterr()
    for bad, has in (("n_layer=6", "n_layer=1"), ("n_embd=16", "n_embd=8"),
                     ("bias=false", "bias=True"), ("tie_weights=false", "tie_weights=True"),
                     ("activation=relu", "activation='gelu'"),
                     ("positional=sinusoidal", "positional='learned'"),
                     ("tokenizer=char", "tokenizer='bpe'")):
        assert cli.main([*run, "--resume", "max_iters=2", bad]) == 1, bad
        err = capsys.readouterr().err
        asked = bad.replace("false", "False").replace("=char", "='char'") \
            .replace("=relu", "='relu'").replace("=sinusoidal", "='sinusoidal'")
        assert f"cannot resume {out}: the checkpoint's model has {has}, the config asks for " \
            f"{asked}; a fine-tune keeps the pretrained model's architecture and tokenizer" \
            in err, err
        assert ckpt.read_manifest(out)["step"] == 1
    # the checkpoint's own values are accepted (n_head=2 does not divide the preset's n_embd)
    assert cli.main([*run, "--resume", "max_iters=2", "n_layer=1", "n_head=2", "n_embd=8",
                     "bias=true", "tokenizer=bpe"]) == 0, capsys.readouterr().err
    assert ckpt.read_manifest(out)["step"] == 2
    assert cli.main([*run, "--resume", "max_iters=3"]) == 0
    assert ckpt.read_manifest(out)["train_config"]["n_layer"] == 1


def test_a_fine_tune_records_the_architecture_it_trains(tmp_path):
    """A fine-tune started without model settings wrote the preset's n_layer=3, n_head=4,
    n_embd=96 into its train_config (checkpoint.json and config.json) although it trains the
    GPT-2 folder's model → the saved settings are the model's."""
    tiny_gpt2_folder(tmp_path / "hf", 280)           # n_layer=1, n_head=2, n_embd=8
    cfg = make_config("baby", data=str(tmp_path / "c.txt"), out_dir=str(tmp_path / "run"),
                      init_from=str(tmp_path / "hf"),
                      overrides={"block_size": "8", "batch_size": "2", "max_iters": "1",
                                 "eval_interval": "1", "eval_iters": "1", "sample_tokens": "0"})
    (tmp_path / "c.txt").write_text(TEXT, encoding="utf-8")
    assert (cfg.n_layer, cfg.bias) == (1, True)         # make_config gives the folder's
    # a TrainConfig holding other values (the preset's): they do not apply
    train(dataclasses.replace(cfg, n_layer=4, bias=False), quiet=True)
    real = ckpt.read_manifest(tmp_path / "run")["model"]
    want = {k: real[k] for k in ("n_layer", "n_head", "n_embd", "bias", "tie_weights",
                                 "activation", "positional")}
    assert want["n_layer"] == 1 and want["bias"] is True
    saved = ckpt.read_manifest(tmp_path / "run")["train_config"]
    on_disk = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert {k: saved[k] for k in want} == want == {k: on_disk[k] for k in want}


def test_resume_of_a_fine_tune_refuses_another_vocab_size_or_bpe_pattern(tmp_path, capsys):
    """`--resume vocab_size=4096` (or bpe_pattern=turkish) of a fine-tune was replaced by the
    saved value without a word, although a BPE run from scratch refuses it → judged by the
    run's tokenizer like the other settings a fine-tune cannot change; its values pass."""
    from nanograd_llm import cli
    _, tok = tiny_gpt2_folder(tmp_path / "hf", 280)
    out, run, hf = _fine_tune_commands(tmp_path)
    assert cli.main([*run, *hf]) == 0
    for bad, has in (("vocab_size=4096", f"vocab_size={tok.vocab_size}"),
                     ("bpe_pattern=turkish", "bpe_pattern='gpt2'")):
        assert cli.main([*run, "--resume", "max_iters=2", bad]) == 1, bad
        err = capsys.readouterr().err
        assert f"the checkpoint's model has {has}, the config asks for " \
            f"{bad.replace('turkish', repr('turkish'))}; a fine-tune keeps" in err, err
    assert cli.main([*run, "--resume", "max_iters=2", f"vocab_size={tok.vocab_size}",
                     "bpe_pattern=gpt2"]) == 0
    assert ckpt.read_manifest(out)["step"] == 2


def test_make_config_of_a_fine_tune_reads_the_folders_vocabulary_once(tmp_path, monkeypatch):
    """make_config(init_from=DIR) of a GPT-2 folder (vocab.json + merges.txt) read and parsed
    vocab.json twice (1 MB for GPT-2): once to put the added tokens in, then again through
    BPETokenizer.from_files where none changed it → each tokenizer file is read once."""
    import builtins
    import collections
    import io
    tiny_gpt2_folder(tmp_path / "hf", 280)
    (tmp_path / "hf" / "tokenizer_meta.json").unlink()      # as a downloaded GPT-2 folder
    (tmp_path / "c.txt").write_text(TEXT, encoding="utf-8")
    reads = collections.Counter()
    real_open = builtins.open

    def counting_open(file, *a, **k):
        if Path(os.fspath(file)).parent == tmp_path / "hf":
            reads[Path(os.fspath(file)).name] += 1
        return real_open(file, *a, **k)
    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    import pathlib
    if hasattr(pathlib, "_NormalAccessor"):
        # Python 3.10: Path.open (read_text, read_bytes) calls the io.open its accessor bound
        # when pathlib was imported, not io.open
        monkeypatch.setattr(pathlib._NormalAccessor, "open", staticmethod(counting_open))
    cfg = make_config(init_from=str(tmp_path / "hf"), data=str(tmp_path / "c.txt"),
                      out_dir=str(tmp_path / "run"))
    monkeypatch.undo()
    assert cfg.tokenizer == "bpe" and cfg.vocab_size == 280
    assert reads["vocab.json"] == 1 and reads["merges.txt"] == 1, reads


def test_make_config_of_a_fine_tune_says_what_train_records(tmp_path):
    """make_config(init_from=DIR) with no model or tokenizer setting returned the preset's
    n_layer=3, n_head=4, n_embd=96, tokenizer='char', vocab_size=512, while train used and
    recorded the folder's (a BPE or a char tokenizer) → the returned config holds the folder's
    architecture and tokenizer settings, the same as the run's config.json; a folder that is
    not there yet is left to train to report, as before."""
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.tokenizers import CharTokenizer
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    words = dict(block_size="8", batch_size="2", max_iters="1", eval_interval="1",
                 eval_iters="1", sample_tokens="0")
    folders = {}
    char = CharTokenizer.from_text(TEXT)
    GPT(GPTConfig(vocab_size=char.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "char")
    char.save(str(tmp_path / "char"))
    folders["char"] = tmp_path / "char"
    if all(importlib.util.find_spec(m) for m in ("regex", "safetensors")):
        tiny_gpt2_folder(tmp_path / "bpe", 280)        # else the char folder only
        folders["bpe"] = tmp_path / "bpe"
    keys = ("n_layer", "n_head", "n_embd", "bias", "tie_weights", "activation", "positional",
            "tokenizer", "vocab_size", "bpe_pattern")
    for kind, folder in folders.items():
        for preset in ("default", "baby", "shakespeare"):
            out = tmp_path / "runs" / kind / preset
            cfg = make_config(preset, data=str(corpus), out_dir=str(out), init_from=str(folder),
                              overrides=words)
            assert (cfg.tokenizer, cfg.n_layer, cfg.n_head, cfg.n_embd) == (kind, 1, 2, 8)
            train(cfg, quiet=True)
            recorded = json.loads((out / "config.json").read_text())
            assert {k: getattr(cfg, k) for k in keys} == {k: recorded["train"][k]
                                                          for k in keys}, (kind, preset)
    assert make_config(init_from=str(tmp_path / "later")).init_from == str(tmp_path / "later")


def _fine_tune_commands(tmp_path):
    """(out, a tiny `train` command into it on TEXT, `--init-from tmp_path/hf max_iters=1`)."""
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    run = ["train", "--data", str(corpus), "--out", str(out), "--quiet", "block_size=8",
           "batch_size=2", "eval_interval=1", "eval_iters=1", "sample_tokens=0"]
    return out, run, ["--init-from", str(tmp_path / "hf"), "max_iters=1"]


def test_a_fine_tune_from_a_folder_with_a_char_tokenizer_records_and_compares_it(tmp_path,
                                                                                 capsys):
    """A folder written with model.save_hf and CharTokenizer.save (load_hf_tokenizer reads a
    tokenizer this package saved, `sample --hf` too) fine-tuned with `--init-from`: tokenizer=char
    was refused with "its model has tokenizer='bpe'", tokenizer=bpe accepted, and the saved
    settings said tokenizer='bpe' → the folder's and the run's tokenizer decide: char is
    accepted and recorded, bpe refused, on the start and on --resume; sampling works."""
    from nanograd_llm import GPT, GPTConfig, cli
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text(TEXT)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "hf")
    tok.save(str(tmp_path / "hf"))
    out, run, hf = _fine_tune_commands(tmp_path)
    assert cli.main([*run, *hf, "tokenizer=bpe"]) == 1
    assert "its model has tokenizer='char', the config asks for tokenizer='bpe'" in \
        capsys.readouterr().err
    assert not out.exists()
    assert cli.main([*run, *hf, "tokenizer=char"]) == 0, capsys.readouterr().err
    saved = ckpt.read_manifest(out)["train_config"]
    assert (saved["tokenizer"], saved["vocab_size"]) == ("char", tok.vocab_size)
    assert json.loads((out / "config.json").read_text())["train"]["tokenizer"] == "char"
    assert cli.main([*run, "--resume", "max_iters=2", "tokenizer=bpe"]) == 1
    assert "the checkpoint's model has tokenizer='char', the config asks for " \
        "tokenizer='bpe'" in capsys.readouterr().err
    assert cli.main([*run, "--resume", "max_iters=2", "tokenizer=char"]) == 0
    assert ckpt.read_manifest(out)["step"] == 2
    # a run an older version recorded as tokenizer='bpe' records its tokenizer on resuming
    man = json.loads((out / "checkpoint.json").read_text())
    man["train_config"]["tokenizer"] = "bpe"
    (out / "checkpoint.json").write_text(json.dumps(man))
    assert cli.main([*run, "--resume", "max_iters=3"]) == 0, capsys.readouterr().err
    assert ckpt.read_manifest(out)["train_config"]["tokenizer"] == "char"
    capsys.readouterr()
    assert cli.main(["sample", "--ckpt", str(out), "--prompt", "Dikkat", "--max-new-tokens", "5",
                     "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith("Dikkat")


def test_a_fine_tune_on_text_its_char_tokenizer_lacks_is_not_told_it_resumed(tmp_path, capsys):
    """`train --init-from DIR` from a folder with a character tokenizer, on a text with
    characters it lacks: the refusal said "a resumed run must train on the data it started with
    (has the file changed?)", about a new run that resumed nothing → it names the folder's
    tokenizer and what to do: fine-tune on text of its characters, or train without
    --init-from (which then works)."""
    from nanograd_llm import GPT, GPTConfig, cli
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text(TEXT)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "hf")
    tok.save(str(tmp_path / "hf"))
    out, run, hf = _fine_tune_commands(tmp_path)
    corpus = Path(run[run.index("--data") + 1])
    corpus.write_text(TEXT + "Zebra\n", encoding="utf-8")
    assert cli.main([*run, *hf]) == 1
    err = capsys.readouterr().err
    assert f"has 1 character(s) the tokenizer of {tmp_path / 'hf'} does not know ('Z'): a " \
        "fine-tune keeps the pretrained model's characters; fine-tune on a text made of them, " \
        "or train a new model on this text without --init-from" in err, err
    assert "resumed" not in err and not out.exists()
    # a Python caller is told init_from, the setting it gave (not the option --init-from)
    cfg = make_config("default", data=str(corpus), out_dir=str(out), overrides={
        "init_from": str(tmp_path / "hf"), "max_iters": "1", "block_size": "8"})
    with pytest.raises(ValueError) as e:
        train(cfg, quiet=True)
    assert str(e.value).endswith("or train a new model on this text without init_from")
    assert cli.main([*run, "max_iters=1"]) == 0, capsys.readouterr().err


def test_a_fine_tune_whose_tokenizer_has_a_pattern_of_its_own_records_custom(tmp_path, capsys):
    """A folder whose tokenizer splits with a pattern of its own (neither gpt2 nor turkish):
    the fine-tune recorded the preset's bpe_pattern='gpt2' in checkpoint.json and config.json
    (tokenizer_meta.json holds the real pattern, which every later command reads), so config.json's
    train table given back as --config for a new fine-tune from the same folder was refused
    ("the config asks for bpe_pattern='gpt2'") → 'custom' is recorded, given again it is
    accepted, and a run folder an older version saved with 'gpt2' still resumes with it and
    then records 'custom'."""
    pytest.importorskip("regex")
    from nanograd_llm import cli
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    tiny_gpt2_folder(tmp_path / "hf", 280)
    BPETokenizer.train(GPT2_TEXT, 280, pattern=r"""\S+|\s+""").save(str(tmp_path / "hf"))
    out, run, hf = _fine_tune_commands(tmp_path)
    assert cli.main([*run, *hf, "bpe_pattern=turkish"]) == 1
    own = "bpe_pattern='custom' (a pattern of its own, neither gpt2 nor turkish)"
    assert f"its model has {own}, the config asks for bpe_pattern='turkish'; a fine-tune keeps " \
        "the pretrained model's architecture and tokenizer (leave it out, or give the " \
        "folder's value)\n" in capsys.readouterr().err
    assert cli.main([*run, *hf]) == 0
    table = json.loads((out / "config.json").read_text(encoding="utf-8"))["train"]
    assert ckpt.read_manifest(out)["train_config"]["bpe_pattern"] == "custom"
    assert table["bpe_pattern"] == "custom"
    assert ckpt.load_run_tokenizer(out).pattern == r"\S+|\s+"
    # config.json's train table starts a new fine-tune from the same folder
    (tmp_path / "t.json").write_text(json.dumps({k: v for k, v in table.items()
                                                 if k != "out_dir"}), encoding="utf-8")
    assert cli.main(["train", "--config", str(tmp_path / "t.json"), "--out",
                     str(tmp_path / "again"), "--quiet", "max_iters=1"]) == 0, \
        capsys.readouterr().err
    assert cli.main([*run, *hf, "--overwrite", "bpe_pattern=custom"]) == 0
    assert cli.main([*run, "--resume", "max_iters=2", "bpe_pattern=custom"]) == 0
    assert cli.main([*run, "--resume", "max_iters=3", "bpe_pattern=gpt2"]) == 1
    assert f"the checkpoint's model has {own}, the config asks for bpe_pattern='gpt2'; a " \
        "fine-tune keeps the pretrained model's architecture and tokenizer (leave it out, " \
        "or give the checkpoint's value)\n" in capsys.readouterr().err
    # 'custom' names no pattern a new tokenizer could be trained with
    assert cli.main([*run, "--out", str(tmp_path / "new"), "tokenizer=bpe",
                     "bpe_pattern=custom"]) == 1
    assert capsys.readouterr().err.startswith("error: bpe_pattern='custom' stands for the "
                                              "pattern of its own")
    # a run folder an older version saved records the preset's gpt2: it resumes with it given
    # again, and the next save records the truth
    man = out / ckpt.MANIFEST
    m = json.loads(man.read_text(encoding="utf-8"))
    m["train_config"]["bpe_pattern"] = "gpt2"
    man.write_text(json.dumps(m), encoding="utf-8")
    assert cli.main([*run, "--resume", "max_iters=3", "bpe_pattern=gpt2"]) == 0, \
        capsys.readouterr().err
    assert cli.main([*run, "--resume", "max_iters=4"]) == 0
    assert ckpt.read_manifest(out)["train_config"]["bpe_pattern"] == "custom"
    assert ckpt.read_manifest(out)["step"] == 4


def test_make_config_takes_numpy_numbers(tmp_path):
    """TrainConfig(max_iters=np.int64(10)) was accepted, but make_config(max_iters=...) (a
    sweep over np.arange, or a value from a NumPy array) was refused with "np.int64(10) is not
    an integer" → NumPy scalars count as the Python values they hold, stored as plain ones."""
    cfg = make_config(max_iters=np.int64(10), overrides={"bias": np.bool_(False),
                                                         "lr": np.float32(0.5),
                                                         "n_layer": np.int32(2)})
    assert (cfg.max_iters, cfg.bias, cfg.lr, cfg.n_layer) == (10, False, 0.5, 2)
    assert type(cfg.max_iters) is int and type(cfg.bias) is bool and type(cfg.lr) is float
    with pytest.raises(ValueError, match=r"bad value for max_iters: .*is not an integer"):
        make_config(max_iters=np.float64(1.5))
    with pytest.raises(ValueError, match=r"bad value for bias: .*is not a boolean"):
        make_config(bias=np.int64(1))


def test_resume_judges_a_model_setting_with_the_runs_own_settings(tmp_path):
    """`--resume n_head=7` of a run trained with n_embd=14, n_head=7 was refused with "n_embd=96
    must be divisible by n_head=7": the given value was first checked against the preset's
    n_embd, which the run does not have → it is checked with the run's saved settings (its own
    value passes, another is refused as a change of model)."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, n_head=7, n_embd=14, max_iters=1, eval_interval=1), quiet=True)
    out = str(tmp_path / "run")
    cfg = resume_config(None, out_dir=out, overrides={"n_head": "7", "max_iters": "2"})
    assert (cfg.n_head, cfg.n_embd) == (7, 14)
    assert train(cfg, resume=True, quiet=True)["step"] == 2
    with pytest.raises(ValueError, match="n_embd=14 must be divisible by n_head=4"):
        resume_config(None, out_dir=out, overrides={"n_head": "4", "max_iters": "3"})


def test_resume_does_not_blame_the_saved_settings_for_a_given_value(tmp_path):
    """`--resume n_head=4` of a run trained with n_embd=14, n_head=7 was answered with
    "checkpoint.json: the run's saved train_config is invalid: n_embd=14 must be divisible by
    n_head=4 (correct it there…)": the check that tells a broken file from a bad given value
    put the preset's n_head=4 where the given one was, which happens to be the same value →
    that check uses the run's own saved values of the given settings; a hand-edited file is
    still named."""
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, n_head=7, n_embd=14, max_iters=1, eval_interval=1), quiet=True)
    out = str(tmp_path / "run")
    with pytest.raises(ValueError) as e:
        resume_config(None, out_dir=out, overrides={"n_head": "4", "max_iters": "3"})
    assert str(e.value) == "n_embd=14 must be divisible by n_head=4"
    man = tmp_path / "run" / ckpt.MANIFEST
    m = json.loads(man.read_text())
    m["train_config"]["n_head"] = 5
    man.write_text(json.dumps(m))
    with pytest.raises(ValueError) as e:
        resume_config(None, out_dir=out, overrides={"max_iters": "3"})
    assert str(e.value).startswith(f"{man}: the run's saved train_config is invalid: "
                                   f"n_embd=14 must be divisible by n_head=5")
    # a saved value that does not even convert is left out of that check, as before
    m["train_config"].update(n_head=7, lr="abc", n_embd=15)
    man.write_text(json.dumps(m))
    with pytest.raises(ValueError) as e:
        resume_config(None, out_dir=out, overrides={"max_iters": "3", "lr": "1e-3"})
    assert str(e.value).startswith(f"{man}: the run's saved train_config is invalid: "
                                   f"n_embd=15 must be divisible by n_head=7")


def test_a_long_start_says_what_it_does_before_the_first_step(tmp_path, monkeypatch, capsys):
    """Training a BPE tokenizer on a 100 MB corpus and encoding it took 45 s without a word
    on the screen. The trainer now says that it trains the tokenizer (on a text longer than
    SAY_BPE_TRAINING_ABOVE characters) and asks encode_corpus for its progress bar (shown
    once encoding has taken a few seconds); --quiet (quiet=True) asks for neither."""
    import nanograd_llm.train as T
    seen = []

    def asking(real):
        def encode(*a, progress=False, **k):
            seen.append(progress)
            return real(*a, progress=progress, **k)
        return encode
    # BPE: the text cut by characters, each part encoded on its own (encode_split_corpus)
    for name in ("encode_corpus", "encode_split_corpus"):
        monkeypatch.setattr(T, name, asking(getattr(T, name)))
    monkeypatch.setattr(T, "SAY_BPE_TRAINING_ABOVE", 100, raising=False)
    cfg = tiny_config(tmp_path, max_iters=1, eval_interval=1, tokenizer="bpe", vocab_size=300)
    T.train(cfg, quiet=False, progress=True)
    err = capsys.readouterr().err
    assert "training the BPE tokenizer (vocab_size 300) on" in err
    assert err.index("training the BPE tokenizer") < err.index("model:")
    assert seen == [True]
    T.train(tiny_config(tmp_path, name="quiet", max_iters=1, eval_interval=1, tokenizer="bpe",
                        vocab_size=300), quiet=True)
    assert "training the BPE tokenizer" not in capsys.readouterr().err and seen == [True, False]


def test_a_resume_on_the_runs_own_text_skips_the_character_check(tmp_path, monkeypatch):
    """--resume ran check_corpus_fits (an NFC pass and a set over the whole text: over a
    second per 100 MB) before comparing the text's digest with the run's, though a text with
    the run's digest cannot hold a character the run's tokenizer lacks. The digest now comes
    first: the check runs only when the digests differ or the checkpoint records none (older
    runs), where it still names the characters the tokenizer lacks."""
    import nanograd_llm.train as T
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=2, eval_interval=2), quiet=True)
    calls = []
    real = T.check_corpus_fits

    def counted(text, tokenizer, label, *rest):
        calls.append(label)
        return real(text, tokenizer, label, *rest)
    monkeypatch.setattr(T, "check_corpus_fits", counted)
    out = tmp_path / "run"
    r = train(resume_config(None, out_dir=str(out), overrides={"max_iters": "3"}), resume=True,
              quiet=True)
    assert r["step"] == 3 and calls == []
    man = json.loads((out / "checkpoint.json").read_text(encoding="utf-8"))
    del man["extra"]["data_sha256"]                             # as an older version wrote it
    (out / "checkpoint.json").write_text(json.dumps(man), encoding="utf-8")
    r = train(resume_config(None, out_dir=str(out), overrides={"max_iters": "4"}), resume=True,
              quiet=True)
    assert r["step"] == 4 and len(calls) == 1                  # checked: no digest to compare
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT + "☺ Q☺\n", encoding="utf-8")       # characters the run lacks
    with pytest.raises(ValueError, match=r"2 character\(s\) the run's tokenizer does not know"):
        train(resume_config(None, out_dir=str(out), overrides={"max_iters": "5"}), resume=True,
              quiet=True)
    assert len(calls) == 2


def test_the_trainer_shows_bpe_training_progress_unless_quiet(tmp_path, monkeypatch, capsys):
    """`train` (not --quiet) shows BPE training's bars too; --quiet shows none."""
    pytest.importorskip("regex")
    from nanograd_llm import backend
    monkeypatch.setattr(backend, "PROGRESS_DELAY", 0)
    for quiet in (True, False):
        cfg = tiny_config(tmp_path, f"run{quiet}", max_iters=1, eval_interval=1, eval_iters=1,
                          tokenizer="bpe", vocab_size=280)
        train(cfg, quiet=quiet)
        err = capsys.readouterr().err
        assert ("BPE: merges" in err) is not quiet, err


def _config_file(tmp_path, **settings):
    """tmp_path/a.toml: the tiny settings (the corpus TEXT, out_dir tmp_path/run) and
    `settings` (None leaves a setting out). -> its path"""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    table = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, max_iters=2,
                 eval_interval=2, eval_iters=1, warmup_iters=0, sample_tokens=0,
                 data=str(corpus), out_dir=str(tmp_path / "run"))
    table.update(settings)
    table = {k: v for k, v in table.items() if v is not None}      # None: left out
    path = tmp_path / "a.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()),
                    encoding="utf-8")
    return path


def test_a_text_too_short_for_the_block_size_of_a_config_file_names_the_file(tmp_path,
                                                                            capsys):
    """train() refused a corpus too short for block_size with 'use … block_size=N at most'
    without saying that block_size came from the --config file, as the errors found while the
    file is read do ('config file a.toml: …') → the message ends '(block_size=4096 in config
    file a.toml)'; nothing is added when key=value gave it."""
    from nanograd_llm import cli
    toml = _config_file(tmp_path, block_size=4096)
    with pytest.raises(ValueError) as e:
        train(make_config(config_file=toml), quiet=True)
    assert str(e.value).startswith("the corpus ") and re.search(
        r"block_size=\d+ at most " + re.escape(f"(block_size=4096 in config file {toml})") + "$",
        str(e.value)), str(e.value)
    assert cli.main(["train", "--config", str(toml), "--quiet"]) == 1
    assert capsys.readouterr().err == f"error: {e.value}\n"
    # val_fraction too, when the message names it
    toml = _config_file(tmp_path, block_size=64, val_fraction=0.001)
    with pytest.raises(ValueError, match=re.escape(
            f"(block_size=64 and val_fraction=0.001 in config file {toml})") + "$"):
        train(make_config(config_file=toml), quiet=True)
    # given again as key=value (or from the preset): the file is not named
    toml = _config_file(tmp_path)
    with pytest.raises(ValueError) as e:
        train(make_config(config_file=toml, overrides={"block_size": "4096"}), quiet=True)
    assert "config file" not in str(e.value) and str(e.value).endswith(" at most"), str(e.value)
    toml.write_text(toml.read_text().replace("block_size = 16\n", ""))
    with pytest.raises(ValueError) as e:
        train(make_config("shakespeare", config_file=toml), quiet=True)
    assert "config file" not in str(e.value), str(e.value)


def test_a_resumed_run_names_the_config_file_of_a_setting_it_refuses(tmp_path, capsys):
    """`train --resume --config a.toml` whose file asks for another block_size or dropout than
    the run's was refused 'it was trained with block_size=16, now block_size=32' / 'the config
    asks for dropout=0.2' without naming the file the setting came from → 'now block_size=32
    in config file a.toml', 'dropout=0.2 in config file a.toml'; the same setting given as
    key=value is named as before."""
    from nanograd_llm import cli
    from nanograd_llm.train import resume_config
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    for setting, refused in ((dict(block_size=32), "it was trained with block_size=16, now "
                                                   "block_size=32"),
                             (dict(dropout=0.2), "the checkpoint's model has dropout=0.1, the "
                                                 "config asks for dropout=0.2")):
        toml = _config_file(tmp_path, **{"dropout": 0.1, **setting})
        with pytest.raises(ValueError) as e:
            train(resume_config(config_file=toml), resume=True, quiet=True)
        assert f"{refused} in config file {toml} (use the same setting" in str(e.value), \
            str(e.value)
        assert cli.main(["train", "--resume", "--config", str(toml), "--quiet"]) == 1
        assert f"{refused} in config file {toml} (use the same setting, or --overwrite" in \
            capsys.readouterr().err
        (key, value), = setting.items()
        with pytest.raises(ValueError) as e:
            train(resume_config(config_file=toml, overrides={key: str(value)}), resume=True,
                  quiet=True)
        assert f"{refused} (use the same setting" in str(e.value), str(e.value)


def test_a_fine_tunes_block_size_from_a_config_file_names_the_file(tmp_path):
    """A fine-tune whose block_size is longer than the GPT-2 folder's positions said
    'block_size=32 is the preset's (or your) setting' when the --config file gave it →
    'block_size=32 is set in config file a.toml'; a block_size of key=value is said as before."""
    folder = tmp_path / "gpt2"
    tiny_gpt2_folder(folder, 280)                      # 16 positions
    toml = _config_file(tmp_path, block_size=32, init_from=str(folder), n_layer=None,
                        n_head=None, n_embd=None)
    with pytest.raises(ValueError) as e:
        train(make_config(config_file=toml), quiet=True)
    assert str(e.value).endswith(f": block_size=32 is set in config file {toml}; give "
                                 f"block_size=N within that range"), str(e.value)
    with pytest.raises(ValueError) as e:
        train(make_config(config_file=toml, overrides={"block_size": "32"}), quiet=True)
    assert str(e.value).endswith(": block_size=32 is the preset's (or your) setting; give "
                                 "block_size=N within that range"), str(e.value)


def test_a_corpus_of_a_config_file_that_cannot_be_read_names_the_file(tmp_path, capsys):
    """train() from a --config file whose data is missing, a folder or an unknown corpus name
    said 'data file not found: PATH' (…) without the file the setting came from → the message
    ends '(data in config file a.toml)', on the command line too; a data given by --data (or
    key=value) reads as before."""
    from nanograd_llm import cli
    (tmp_path / "folder").mkdir()
    for data, refused in ((tmp_path / "nope.txt", f"data file not found: {tmp_path / 'nope.txt'}"),
                          (tmp_path / "folder", "data path is a directory"),
                          ("nosuch", "unknown corpus 'nosuch'")):
        toml = _config_file(tmp_path, data=str(data))
        # (a resumed run checks the data before its folder: no run is needed here)
        for resume in (False, True) if data != tmp_path / "folder" else (False,):
            with pytest.raises((OSError, ValueError)) as e:
                train(make_config(config_file=toml), resume=resume, quiet=True)
            msg = str(e.value)
            assert msg.startswith(refused) and f" (data in config file {toml})" in msg, msg
        assert cli.main(["train", "--config", str(toml), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {refused}") and \
            err.endswith(f" (data in config file {toml})\n"), err
        with pytest.raises((OSError, ValueError)) as e:
            train(make_config(config_file=toml, overrides={"data": str(data)}), quiet=True)
        assert str(e.value).startswith(refused) and "config file" not in str(e.value)
        assert cli.main(["train", "--config", str(toml), "--quiet", "--data", str(data)]) == 1
        assert "config file" not in capsys.readouterr().err


def test_a_fine_tune_whose_init_from_is_in_a_config_file_is_not_told_the_option(tmp_path,
                                                                               capsys):
    """A fine-tune from a folder with a character tokenizer, on a text with characters it
    lacks, whose init_from came from the --config file: the command line advised 'train a new
    model on this text without --init-from', an option the user never gave → both readers are
    told 'without init_from (set in config file a.toml)'."""
    from nanograd_llm import GPT, GPTConfig, cli
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text(TEXT)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "hf")
    tok.save(str(tmp_path / "hf"))
    toml = _config_file(tmp_path, init_from=str(tmp_path / "hf"), n_layer=None, n_head=None,
                        n_embd=None, block_size=8)
    (tmp_path / "corpus.txt").write_text(TEXT + "Zebra\n", encoding="utf-8")
    said = f"or train a new model on this text without init_from (set in config file {toml})"
    with pytest.raises(ValueError) as e:
        train(make_config(config_file=toml), quiet=True)
    assert str(e.value).endswith(said) and "does not know ('Z')" in str(e.value), str(e.value)
    assert cli.main(["train", "--config", str(toml), "--quiet"]) == 1
    assert capsys.readouterr().err == f"error: {e.value}\n"
    # given as --init-from, the option is named as before
    toml.write_text(toml.read_text().replace(f"init_from = {json.dumps(str(tmp_path / 'hf'))}\n",
                                             ""))
    assert cli.main(["train", "--config", str(toml), "--quiet", "--init-from",
                     str(tmp_path / "hf")]) == 1
    assert capsys.readouterr().err.endswith("without --init-from\n")


def test_a_fine_tune_whose_init_from_is_a_key_value_word_is_not_told_the_option(tmp_path,
                                                                               capsys):
    """`train init_from=DIR` (a key=value word, not --init-from) from a folder with a character
    tokenizer, on a text with characters it lacks: the command line advised 'train a new model
    on this text without --init-from', an option the user never gave → it says 'without
    init_from=DIR'; --init-from DIR is still told '--init-from'."""
    from nanograd_llm import GPT, GPTConfig, cli
    from nanograd_llm.tokenizers import CharTokenizer
    tok = CharTokenizer.from_text(TEXT)
    GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8),
        seed=1).save_hf(tmp_path / "hf")
    tok.save(str(tmp_path / "hf"))
    out, run, _ = _fine_tune_commands(tmp_path)
    Path(run[run.index("--data") + 1]).write_text(TEXT + "Zebra\n", encoding="utf-8")
    assert cli.main([*run, f"init_from={tmp_path / 'hf'}", "max_iters=1"]) == 1
    err = capsys.readouterr().err
    assert "does not know ('Z')" in err and err.endswith(
        "or train a new model on this text without init_from=DIR\n"), err
    assert "--init-from" not in err and not out.exists()
    # the key=value word and --init-from together: the option stands and is named
    assert cli.main([*run, f"init_from={tmp_path / 'nowhere'}", "--init-from",
                     str(tmp_path / "hf"), "max_iters=1"]) == 1
    assert capsys.readouterr().err.endswith("without --init-from\n")


def test_a_device_of_a_config_file_that_cannot_be_used_names_the_file(tmp_path, monkeypatch,
                                                                      capsys):
    """device="cuda" in the --config file of a machine without a usable GPU: train() said
    'CuPy with a working NVIDIA GPU is needed for device='cuda'…' without the file that asked
    for it → the message ends "(device='cuda' in config file a.toml)"; device=cuda given as
    key=value (or --device) reads as before."""
    from nanograd_llm import backend, cli
    monkeypatch.setattr(backend, "cuda_available", lambda: False)
    toml = _config_file(tmp_path, device="cuda")
    with pytest.raises(backend.DeviceError) as e:
        train(make_config(config_file=toml), quiet=True)
    assert str(e.value) == f"{backend._GPU_HELP} (device='cuda' in config file {toml})"
    assert cli.main(["train", "--config", str(toml), "--quiet"]) == 1
    assert capsys.readouterr().err == f"error: {e.value}\n"
    with pytest.raises(backend.DeviceError) as e:
        train(make_config(config_file=toml, overrides={"device": "cuda"}), quiet=True)
    assert str(e.value) == backend._GPU_HELP
    assert cli.main(["train", "--config", str(toml), "--quiet", "--device", "cuda"]) == 1
    assert capsys.readouterr().err == f"error: {backend._GPU_HELP}\n"


def test_a_resume_with_another_cpu_thread_count_warns_once(tmp_path, monkeypatch, capsys):
    """A run resumed with its batch split over another number of threads (NANOGRAD_LLM_THREADS…),
    with another BLAS thread count for an unsplit batch, or with the fused Numba kernels
    switched on or off continued silently, though its float32 sums round differently, so it is
    not bit-identical to an uninterrupted run → each checkpoint records extra.cpu_threads,
    batch_parts, blas_threads and fused_kernels, and a resume that differs prints one warning
    line (also under --quiet, as the other warnings); the same values, another thread count
    that splits the batch the same way, or a checkpoint of an older version that records none,
    resume silently."""
    import nanograd_llm.train as T
    from nanograd_llm import cli
    from nanograd_llm.backend import fused_kernels
    from nanograd_llm.train import resume_config
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "2")
    monkeypatch.delenv("NANOGRAD_LLM_FUSED", raising=False)
    # The tiny run's batch is too small to split; the parts and BLAS threads a bigger run or
    # another machine would have are put in its place
    parts, blas = [2], [("openblas", 2)]
    monkeypatch.setattr(T, "shard_count", lambda batch, work: parts[0])
    monkeypatch.setattr(T, "blas_threads", lambda: blas[0])
    train(tiny_config(tmp_path, max_iters=1, eval_interval=1), quiet=True)
    out = tmp_path / "run"
    fused = fused_kernels(np.zeros(1, np.float32)) is not None
    extra = ckpt.read_manifest(out)["extra"]
    assert {k: extra[k] for k in ("cpu_threads", "batch_parts", "blas_threads",
                                  "fused_kernels")} == {
        "cpu_threads": 2, "batch_parts": 2, "blas_threads": ["openblas", 2],
        "fused_kernels": fused}, extra
    capsys.readouterr()

    def warnings(steps: int, quiet: bool = True) -> list:
        train(resume_config(None, out_dir=str(out), overrides={"max_iters": str(steps)}),
              resume=True, quiet=quiet, progress=False)
        return [line for line in capsys.readouterr().err.splitlines() if "warning" in line]

    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "1")
    parts[0] = 1
    assert warnings(2) == ["warning: this run was trained with its batch split over 2 threads, "
                           "now in one piece: the continuation may not be bit-identical to an "
                           "uninterrupted run (set NANOGRAD_LLM_THREADS=2 to match)"]
    assert ckpt.read_manifest(out)["extra"]["batch_parts"] == 1     # the continuation's
    assert warnings(3, quiet=False) == []                             # the same parts: silent
    # another thread count that leaves the batch unsplit, as before: silent
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "4")
    assert warnings(4) == []
    # an unsplit batch whose BLAS runs on another number of threads
    blas[0] = ("openblas", 1)
    assert warnings(5) == ["warning: this run was trained with 2 BLAS threads, now 1: the "
                           "continuation may not be bit-identical to an uninterrupted run (set "
                           "OPENBLAS_NUM_THREADS=2 to match)"]

    def edit(**fields):
        man = json.loads((out / "checkpoint.json").read_text())
        for k, v in fields.items():
            man["extra"].pop(k, None) if v is None else man["extra"].__setitem__(k, v)
        (out / "checkpoint.json").write_text(json.dumps(man))

    # as an older version wrote it
    edit(cpu_threads=None, batch_parts=None, blas_threads=None, fused_kernels=None)
    parts[0], blas[0] = 3, None
    assert warnings(6) == []
    # the fused kernels switched off, and the parts changed too: still one line
    edit(cpu_threads=1, batch_parts=1, fused_kernels=True)
    monkeypatch.setenv("NANOGRAD_LLM_FUSED", "0")
    assert cli.main(["train", "--resume", "--out", str(out), "--quiet", "max_iters=7"]) == 0
    assert capsys.readouterr().err == (
        "warning: this run was trained with its batch in one piece and the fused Numba kernels, "
        "now over 3 and without them: the continuation may not be bit-identical to an "
        "uninterrupted run (set NANOGRAD_LLM_THREADS=1 and unset NANOGRAD_LLM_FUSED to match)\n")
    assert ckpt.read_manifest(out)["extra"]["fused_kernels"] is False
    # on the GPU nothing is recorded or compared; a damaged field is not compared
    from nanograd_llm.train import other_arithmetic
    assert other_arithmetic({"batch_parts": 2, "fused_kernels": True}, {}) is None
    assert other_arithmetic({"batch_parts": True, "blas_threads": ["openblas", "2"]},
                            {"batch_parts": 1, "blas_threads": ("openblas", 1)}) is None



def test_the_resume_warnings_advice_gives_back_the_saved_batch_parts(monkeypatch):
    """other_arithmetic advised NANOGRAD_LLM_THREADS=<the saved thread count> whenever the batch
    parts differed; that cannot give the parts back when threadpoolctl is missing now (no batch
    is split without it) nor when the saved batch was unsplit because threadpoolctl was missing
    then (its 4 threads split the batch again) → 'install threadpoolctl' and
    NANOGRAD_LLM_THREADS=1; a split batch still gets its saved thread count."""
    import nanograd_llm.train as T

    def fix(saved, now):
        msg = T.other_arithmetic(saved, now)
        return msg[msg.rindex("(") + 1:-len(" to match)")]

    monkeypatch.setattr(T, "_blas_controller", lambda: None, raising=False)   # no threadpoolctl
    assert fix({"cpu_threads": 4, "batch_parts": 3},
               {"cpu_threads": 4, "batch_parts": 1}) == "install threadpoolctl"
    assert fix({"cpu_threads": 4, "batch_parts": 3}, {"cpu_threads": 2, "batch_parts": 1}) == \
        "install threadpoolctl and set NANOGRAD_LLM_THREADS=4"
    monkeypatch.setattr(T, "_blas_controller", lambda: object(), raising=False)
    assert fix({"cpu_threads": 4, "batch_parts": 1},
               {"cpu_threads": 4, "batch_parts": 3}) == "set NANOGRAD_LLM_THREADS=1"
    assert fix({"cpu_threads": 4, "batch_parts": 3},
               {"cpu_threads": 2, "batch_parts": 2}) == "set NANOGRAD_LLM_THREADS=4"


def test_the_recorded_batch_parts_are_the_parts_a_training_step_runs_in(tmp_path, monkeypatch):
    """cpu_arithmetic records how many parts a micro-batch is split into (extra.batch_parts,
    compared on resume). It must ask shard_count with the work GPT._part_bounds gives it, the
    elements of one activation of the whole batch (B·T·C): with one row's work (T·C) it recorded
    1 for a batch that every step split in two, and the resume warning compared the wrong counts
    (the resume test replaces shard_count, so it cannot see this)."""
    from nanograd_llm import GPT, GPTConfig, backend
    from nanograd_llm.train import cpu_arithmetic
    if backend._blas_controller() is None:
        pytest.skip("threadpoolctl is not installed: the batch is never split")
    monkeypatch.setenv("NANOGRAD_LLM_THREADS", "2")
    cfg = tiny_config(tmp_path)                             # batch 4, block 16, n_embd 16
    # one row's activation (16·16 = 256 elements) is below the minimum, the batch's (1024) is two
    monkeypatch.setattr(backend, "SHARD_MIN_WORK", 2 * cfg.block_size * cfg.n_embd)
    model = GPT(GPTConfig(vocab_size=11, block_size=cfg.block_size, n_layer=1, n_head=2,
                          n_embd=cfg.n_embd))
    idx = np.zeros((cfg.batch_size, cfg.block_size), dtype=np.int64)
    model.forward(idx, idx)
    parts = len(model._cache[0]) if len(model._cache) == 2 else 1
    assert parts == 2                                       # the step really splits the batch
    assert cpu_arithmetic(model, cfg)["batch_parts"] == parts


# -- where a BPE run's val part starts ---------------------------------------------------------

def _val_text_corpus(tmp_path):
    """A corpus whose last 10% of the characters holds a word found nowhere before them."""
    from nanograd_llm.data import split_point
    text = TEXT + "zzqxv zzqxv zzqxv vxqzz qxvzz zzqxv. " * 4
    c = split_point(len(text), 0.1)
    assert "zzqxv" not in text[:c] and "zzqxv" in text[c:]
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return text, c


@pytest.mark.parametrize("mmap", [False, True])
def test_a_new_bpe_runs_val_ids_are_the_val_text_encoded_on_its_own(tmp_path, mmap):
    """The BPE tokenizer was trained on the first 90% of the characters, but the val part was
    the last 10% of the whole text's ids, which could begin before that boundary: the merges
    had seen the start of the val text. A new BPE run now cuts the text at that character
    boundary and encodes each part on its own (one tokens.npy holding both when memory-mapped):
    the val ids are encode(text[c:]), the train ids encode(text[:c]), and no merge holds a
    string found only in the val text."""
    pytest.importorskip("regex")
    from nanograd_llm.data import encode_corpus, split_ids
    from nanograd_llm.train import prepare_data
    text, c = _val_text_corpus(tmp_path)
    cfg = tiny_config(tmp_path, tokenizer="bpe", vocab_size=300,
                      **({"mmap_threshold": 0} if mmap else {}))
    tok, data, _ = prepare_data(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "tokens.npy").exists() == mmap
    np.testing.assert_array_equal(data.val, encode_corpus(text[c:], tok))
    np.testing.assert_array_equal(data.train, encode_corpus(text[:c], tok))
    assert data.split_by == "characters"
    assert not any(b"zzq" in tok.token_bytes(i) for i in range(tok.vocab_size))
    # the old rule's val part is other ids (so this test tells the two apart)
    old = split_ids(encode_corpus(text, tok), 16).val
    assert old.size != data.val.size or not np.array_equal(old, data.val)


def test_the_split_rule_is_saved_and_a_char_run_on_nfd_text_splits_its_ids(tmp_path):
    """Each checkpoint records extra.split_by: "characters" for a new BPE run, "tokens" for a
    character-level run, whose val part stays the last 10% of its ids (one token per NFC
    character: on NFD text the character count is not the token count)."""
    import unicodedata
    pytest.importorskip("regex")
    from nanograd_llm.data import encode_corpus, split_ids
    from nanograd_llm.train import prepare_data
    train(tiny_config(tmp_path, "b", tokenizer="bpe", vocab_size=300, max_iters=2,
                      eval_interval=2), quiet=True)
    for folder in ("b", "b/best"):
        extra = json.loads((tmp_path / folder / ckpt.MANIFEST).read_text())["extra"]
        assert extra["split_by"] == "characters", folder
    nfd = unicodedata.normalize("NFD", TEXT)
    assert len(nfd) > len(TEXT)
    (tmp_path / "nfd.txt").write_text(nfd, encoding="utf-8")
    cfg = dataclasses.replace(tiny_config(tmp_path, "c", max_iters=2, eval_interval=2),
                              data=str(tmp_path / "nfd.txt"))
    tok, data, _ = prepare_data(cfg, tmp_path / "c")
    ref = split_ids(encode_corpus(nfd, tok), 16)
    np.testing.assert_array_equal(data.val, ref.val)
    np.testing.assert_array_equal(data.train, ref.train)
    train(cfg, quiet=True)
    assert json.loads((tmp_path / "c" / ckpt.MANIFEST).read_text())["extra"]["split_by"] == \
        "tokens"


def test_an_old_bpe_run_resumes_bit_identically_and_evaluates_with_the_old_rule(
        tmp_path, monkeypatch, capsys):
    """A BPE run saved before extra.split_by existed cut its val part off as the last 10% of
    the ids: --resume keeps that rule (the continuation is bit-identical to an uninterrupted
    run of that version) and `eval --ckpt RUN --split val/train` scores those ids."""
    pytest.importorskip("regex")
    import nanograd_llm.train as T
    from nanograd_llm.cli import main as cli_main
    from nanograd_llm.data import encode_corpus, split_ids, split_point
    text, c = _val_text_corpus(tmp_path)
    with monkeypatch.context() as m:             # the older version: ids cut, no field
        m.setattr(T, "split_rule", lambda tok: "tokens")
        full = train(tiny_config(tmp_path, "full", tokenizer="bpe", vocab_size=300),
                     quiet=True)
        part = tiny_config(tmp_path, "part", tokenizer="bpe", vocab_size=300)
        train(part, quiet=True, stop_after=6)
    for folder in ("part", "part/best"):
        path = tmp_path / folder / ckpt.MANIFEST
        man = json.loads(path.read_text())
        assert man["extra"].pop("split_by") == "tokens"
        path.write_text(json.dumps(man))
    resumed = train(part, resume=True, quiet=True)
    assert resumed["step"] == 12
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))
    run = tmp_path / "part"
    assert json.loads((run / ckpt.MANIFEST).read_text())["extra"]["split_by"] == "tokens"
    tok = ckpt.load_run_tokenizer(run)
    old = split_ids(encode_corpus(text, tok), 16)
    new_val = encode_corpus(text[c:], tok)
    assert old.val.size != new_val.size or not np.array_equal(old.val, new_val)
    for split, ids in (("val", old.val), ("train", old.train)):
        assert cli_main(["eval", "--ckpt", str(run), "--split", split, "--json"]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        ref = evaluate_ids_of(run, ids)
        assert out["tokens"] == ids.size - 1 == ref.tokens
        assert out["loss"] == pytest.approx(ref.loss, rel=1e-6)


def evaluate_ids_of(run, ids):
    from nanograd_llm.evaluate import evaluate_ids
    return evaluate_ids(ckpt.load_model(run), np.asarray(ids, dtype=np.int64))


def test_eval_split_val_of_a_new_bpe_run_scores_the_trainers_val_ids(tmp_path, capsys):
    """`eval --ckpt RUN --split val/train` of a new BPE run scores exactly the ids the trainer
    held out / trained on (the text cut by characters, each part encoded on its own); --data
    of another text (as --hf) cuts it by characters as well."""
    pytest.importorskip("regex")
    from nanograd_llm.cli import main as cli_main
    from nanograd_llm.data import encode_corpus, split_point
    text, c = _val_text_corpus(tmp_path)
    cfg = tiny_config(tmp_path, tokenizer="bpe", vocab_size=300, max_iters=2, eval_interval=2)
    train(cfg, quiet=True)
    run = tmp_path / "run"
    tok = ckpt.load_run_tokenizer(run)
    # the trainer's parts (test_a_new_bpe_runs_val_ids_are_the_val_text_encoded_on_its_own)
    for split, ids in (("val", encode_corpus(text[c:], tok)),
                       ("train", encode_corpus(text[:c], tok))):
        assert cli_main(["eval", "--ckpt", str(run), "--split", split, "--json"]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        ref = evaluate_ids_of(run, ids)
        assert out["tokens"] == ids.size - 1 == ref.tokens
        assert out["loss"] == pytest.approx(ref.loss, rel=1e-6)
    other = tmp_path / "other.txt"
    other.write_text(GPT2_TEXT, encoding="utf-8")
    assert cli_main(["eval", "--ckpt", str(run), "--data", str(other), "--split", "val",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    val = encode_corpus(GPT2_TEXT[split_point(len(GPT2_TEXT), 0.1):], tok)
    assert out["tokens"] == val.size - 1
    assert out["loss"] == pytest.approx(evaluate_ids_of(run, val).loss, rel=1e-6)


class _OtherTokenizer:
    """A CharTokenizer's vocabulary in an object of another class, with or without its stoi."""

    def __init__(self, tok, stoi):
        self._tok, self.vocab_size = tok, tok.vocab_size
        if stoi:
            self.stoi = tok.stoi

    def encode(self, text):
        return self._tok.encode(text)

    def decode(self, ids):
        return self._tok.decode(ids)


@pytest.mark.parametrize("recorded", [None, "tokens", "characters"])
@pytest.mark.parametrize("kind", ["char", "bpe", "other_with_stoi", "other"])
def test_the_trainer_and_eval_cut_the_val_part_by_one_rule(tmp_path, kind, recorded):
    """The split rule was decided twice, by train.split_rule (a CharTokenizer: by tokens) and
    by evaluate.default_split_rule (a `stoi` dict: by tokens): for a character-level tokenizer
    of another class the trainer held out the last 10% of the characters and `eval --split
    val` scored the last 10% of the ids. Both now ask data.split_rule: for every tokenizer,
    with a run's recorded split_by or without one, the trainer's val and train ids are the ids
    evaluate_text scores (an NFD text and a BPE corpus, where the two rules differ)."""
    import unicodedata

    from nanograd_llm import data as D
    from nanograd_llm.evaluate import default_split_rule, evaluate_ids, evaluate_text
    from nanograd_llm.models import BigramLM
    from nanograd_llm.tokenizers import CharTokenizer
    from nanograd_llm.train import prepare_data, split_rule
    text, c = _val_text_corpus(tmp_path)
    if kind == "bpe":
        pytest.importorskip("regex")
        from nanograd_llm.tokenizers.bpe import BPETokenizer
        tok = BPETokenizer.train(text[:c], 300)
    else:
        text = unicodedata.normalize("NFD", text)      # more characters than tokens
        (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
        tok = CharTokenizer.from_text(text)
        if kind != "char":
            tok = _OtherTokenizer(tok, stoi=kind == "other_with_stoi")
    rule = recorded or ("tokens" if kind in ("char", "other_with_stoi") else "characters")
    _, data, _ = prepare_data(tiny_config(tmp_path), tmp_path / "run", tokenizer=tok,
                              sha256=D.text_sha256(text), split_by=recorded)
    assert data.split_by == rule
    model = BigramLM(tok.vocab_size, seed=0)
    for split, ids in (("val", data.val), ("train", data.train)):
        r, _ = evaluate_text(model, tok, text, split=split, split_by=recorded)
        ref = evaluate_ids(model, np.asarray(ids, dtype=np.int64))
        assert (r.tokens, r.nll) == (ref.tokens, ref.nll), (split, rule)
    # the two rules give other parts of this text (so the test tells them apart)
    if rule == "characters":
        other = D.split_ids(D.encode_corpus(text, tok), 16)
    else:
        ids, cut = D.encode_split_corpus(text, tok, D.split_point(len(text), 0.1))
        other = D.split_ids(ids, 16, cut=cut)
    assert other.val.size != data.val.size or not np.array_equal(other.val, data.val)
    assert split_rule(tok) == default_split_rule(tok) == D.split_rule(tok)
    assert D.split_rule(tok, recorded) == rule


def test_a_new_bpe_run_resumes_bit_identically_by_characters(tmp_path):
    """A new BPE run (its val part cut by characters) killed and resumed ends with the weights
    of an uninterrupted one, and keeps recording its rule."""
    pytest.importorskip("regex")
    _val_text_corpus(tmp_path)
    full = train(tiny_config(tmp_path, "full", tokenizer="bpe", vocab_size=300), quiet=True)
    part = tiny_config(tmp_path, "part", tokenizer="bpe", vocab_size=300)
    train(part, quiet=True, stop_after=6)
    resumed = train(part, resume=True, quiet=True)
    np.testing.assert_array_equal(weights(resumed["model"]), weights(full["model"]))
    assert json.loads((tmp_path / "part" / ckpt.MANIFEST).read_text())["extra"][
        "split_by"] == "characters"
    path = tmp_path / "part" / ckpt.MANIFEST
    man = json.loads(path.read_text())
    man["extra"]["split_by"] = "bytes"
    path.write_text(json.dumps(man))
    with pytest.raises(ValueError, match=r"'split_by' in the 'extra' of its checkpoint.json "
                                         r"must be one of 'tokens', 'characters', not 'bytes'"):
        train(part, resume=True, quiet=True)


def test_resume_refusals_name_the_config_file_a_conflicting_setting_came_from(tmp_path,
                                                                               capsys):
    """`train --resume --config ft.json` where ft.json held a fine-tune's n_layer=6 (or
    another init_from) was refused without naming ft.json, although the same setting as
    key=value names itself: a user with several config files could not tell which to change
    → the refusal names the config file of the settings it gave (all, or which of them)."""
    from nanograd_llm import cli
    tiny_gpt2_folder(tmp_path / "hf", 280)           # n_layer=1, n_head=2, n_embd=8, bias
    out, run, hf = _fine_tune_commands(tmp_path)
    assert cli.main([*run, *hf]) == 0
    capsys.readouterr()
    conf = tmp_path / "ft.json"
    for settings, words, asked in (
            ({"n_layer": 6}, [], "n_layer=6 (in config file " + str(conf) + ")"),
            ({"n_layer": 6, "n_embd": 16}, [],
             "n_layer=6, n_embd=16 (in config file " + str(conf) + ")"),
            ({"n_layer": 6}, ["n_embd=16"],
             "n_layer=6, n_embd=16 (n_layer in config file " + str(conf) + ")"),
            ({"n_layer": 6}, ["n_layer=5"], "n_layer=5;")):        # given again: not the file's
        conf.write_text(json.dumps(settings))
        assert cli.main([*run, "--resume", "--config", str(conf), "max_iters=2", *words]) == 1
        err = capsys.readouterr().err
        assert f"the config asks for {asked}" in err and "Traceback" not in err, err
        if words == ["n_layer=5"]:
            assert "config file" not in err
    conf.write_text(json.dumps({"init_from": str(tmp_path / "other")}))
    assert cli.main([*run, "--resume", "--config", str(conf), "max_iters=2"]) == 1
    assert capsys.readouterr().err == (
        f"error: init_from={str(tmp_path / 'other')!r} in config file {conf} starts a new run "
        f"from a GPT-2 folder; --resume continues the run in --out with its own weights (use "
        f"one or the other)\n")
    assert ckpt.read_manifest(out)["step"] == 1


def test_resume_refusals_of_the_corpus_name_the_config_file_that_gave_it(tmp_path, monkeypatch,
                                                                         capsys):
    """On --resume, a corpus from a --config file that is not the run's text (a named corpus
    known by its digest, a local file, one with characters the run's tokenizer lacks), or the
    run's own named corpus that cannot be downloaded, was refused without naming the file,
    although a missing data file names it → these refusals end '(data in config file PATH)'
    too; given as key=value they do not."""
    from nanograd_llm import cli
    blob, cached = _offline_corpus_tiny(tmp_path, monkeypatch)
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    words = ["train", "--quiet", "block_size=8", "batch_size=2", "eval_interval=1",
             "eval_iters=1", "sample_tokens=0", "n_layer=1", "n_head=2", "n_embd=8"]
    assert cli.main([*words, "--data", str(corpus), "--out", str(tmp_path / "run"),
                     "max_iters=1"]) == 0
    other, unknown = tmp_path / "other.txt", tmp_path / "unknown.txt"
    other.write_text(TEXT + TEXT[:40], encoding="utf-8")
    unknown.write_text(TEXT + "\N{SNOWMAN}", encoding="utf-8")
    conf = tmp_path / "a.json"
    for data, says, ends in (
            ("tinyshakespeare", "is not the text the run started with", "a new run on it"),
            (str(other), "is not the text the run started with", "a new run on it"),
            (str(unknown), "character(s) the run's tokenizer does not know",
             "(has the file changed?)")):
        conf.write_text(json.dumps({"data": data}))
        assert cli.main([*words, "--out", str(tmp_path / "run"), "--resume", "--config",
                         str(conf), "max_iters=2"]) == 1
        err = capsys.readouterr().err
        assert says in err, err
        assert err.endswith(f"{ends} (data in config file {conf})\n"), err
        assert cli.main([*words, "--out", str(tmp_path / "run"), "--resume", f"data={data}",
                         "max_iters=2"]) == 1
        assert "config file" not in capsys.readouterr().err
    # a run on the named corpus "tiny", resumed with its cached copy gone (offline)
    cached.parent.mkdir()
    cached.write_bytes(blob)
    assert cli.main([*words, "--data", "tiny", "--out", str(tmp_path / "named"),
                     "max_iters=1"]) == 0
    cached.unlink()
    conf.write_text(json.dumps({"data": "tiny"}))
    assert cli.main([*words, "--out", str(tmp_path / "named"), "--resume", "--config", str(conf),
                     "max_iters=2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot resume {tmp_path / 'named'} without the text of "
                          f"corpus 'tiny'") and err.endswith(f" (data in config file {conf})\n")
    assert ckpt.read_manifest(tmp_path / "run")["step"] == 1
