"""Property-based (hypothesis) tests of the training configuration layer: make_config over
presets and key=value words, resume_config of a started run and of a fine-tune (--init-from),
the settings a run folder saves, and TOML/JSON --config files against the key=value words the
command line gets. Tiny models and a handful of examples each: the whole file runs in seconds."""
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from _train_helpers import TEXT, tiny_config, tiny_gpt2_folder, trained_tiny_run
from nanograd_llm import checkpoint as ckpt
from nanograd_llm.config import (BPE_PATTERNS, MODELS, PRESETS, TOKENIZERS, TrainConfig,
                                 _field_types, make_config, parse_overrides, resume_config)
from nanograd_llm.train import train

TYPES = _field_types()
FIELDS = list(TYPES)
CHOICES = {"model": MODELS, "tokenizer": TOKENIZERS, "bpe_pattern": BPE_PATTERNS,
           "activation": ("gelu", "relu", "GELU", "swish"), "positional": ("learned",
                                                                           "sinusoidal", "rope"),
           "dtype": ("float32", "float64", "f4", "f8", "single", "double", "float16", "int8"),
           "device": ("cpu", "CPU", "gpu"), "precision": ("highest", "tf32", "high")}
FAST = dict(deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _base(type_name: str) -> str:
    return type_name.replace("| None", "").replace("None |", "").strip()


# -- the ways a value is written ---------------------------------------------------------------
def int_words(n: int):
    """Strings the CLI reads as the integer n."""
    forms = [str(n), f" {n} ", f"0{n}" if n >= 0 else str(n), f"{n}.0", f"{n}e0",
             f"+{n}" if n >= 0 else str(n)]
    return st.sampled_from(forms)


def float_words(x: float):
    """Strings the CLI reads as the float x."""
    r = repr(float(x))
    forms = [r, r.upper(), f" {r} ", f"{x:.17g}", f"{x:.17e}"]
    return st.sampled_from(forms)


def bool_words(b: bool):
    words = ("true", "yes", "on", "1") if b else ("false", "no", "off", "0")
    return st.sampled_from(words).flatmap(
        lambda w: st.sampled_from([w, w.upper(), w.capitalize(), f" {w} "]))


def words_for(name: str, value):
    """A strategy of strings that the CLI reads as `value` for field `name`."""
    base = _base(TYPES[name])
    if value is None:
        return st.sampled_from(["none", "None", "null", ""])
    if base == "bool":
        return bool_words(value)
    if base == "int":
        return int_words(value)
    if base == "float":
        return float_words(value)
    return st.just(str(value))


# Any string, a value of the field's kind, or a number with odd spellings: what a user types
ODD_WORDS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-0", "0x10", "1_000", "١٢", "1e-400",
                     "9" * 30, "1" + "0" * 400, "True", "none", "", " ", "\x00", "~x/y",
                     "1.5", "-1", "0", "2.0", "3e-4", "1e3"]),
    st.integers(-10, 10 ** 6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def cli_value(name):
    kind = _base(TYPES[name])
    own = st.sampled_from(CHOICES[name]) if name in CHOICES else st.nothing()
    if kind == "bool":
        own = st.booleans().flatmap(bool_words)
    return st.one_of(own, ODD_WORDS)


OVERRIDES = st.lists(st.sampled_from([f for f in FIELDS if f not in ("data", "init_from")]),
                     max_size=4, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: cli_value(k) for k in keys}))


def names(msg: str, key: str) -> bool:
    """Whether an error message names `key` (as a word: 'lr' is not named by 'min_lr')."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(key)}(?![A-Za-z0-9_])", msg) is not None


def _only_clear_errors(call, keys):
    """call() returns a TrainConfig or raises ValueError naming one of `keys`."""
    try:
        cfg = call()
    except ValueError as e:
        assert any(names(str(e), k) for k in keys), (str(e), keys)
        return None
    assert isinstance(cfg, TrainConfig)
    return cfg


# -- make_config over presets and key=value words ----------------------------------------------
@settings(max_examples=200, **FAST)
@given(preset=st.sampled_from(list(PRESETS)), overrides=OVERRIDES)
@example(preset="default", overrides={"min_lr": "1_000"})
def test_make_config_returns_a_config_or_a_value_error_naming_a_given_key(preset, overrides):
    words = [f"{k}={v}" for k, v in overrides.items()]
    got = parse_overrides(words)
    assert got == {k.strip(): v for k, v in overrides.items()}
    cfg = _only_clear_errors(lambda: make_config(preset, overrides=got), list(got) or ["x"])
    if cfg is not None:
        # the config holds every field with its type, and every given word counts
        assert TrainConfig(**cfg.to_dict()) == cfg
        for k in got:
            assert k == "out_dir" or getattr(cfg, k) is not None or "None" in TYPES[k]


PY_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3000), st.integers(),
    st.sampled_from([10 ** 400, -(10 ** 400), 2 ** 1024, 2 ** 63]),
    st.floats(), st.text(max_size=6),
    st.sampled_from([np.int64(3), np.float32(0.5), np.bool_(True), np.float64(np.inf),
                     Path("x"), [1], {"a": 1}, b"x", 1j]))


@settings(max_examples=120, **FAST)
@given(preset=st.sampled_from(list(PRESETS)),
       values=st.dictionaries(st.sampled_from([f for f in FIELDS
                                               if f not in ("data", "init_from")]),
                              PY_VALUES, max_size=3))
@example(preset="default", values={"lr": 10 ** 400})
@example(preset="default", values={"dropout": -(10 ** 400)})
def test_make_config_with_typed_values_gives_a_config_or_a_value_error(preset, values):
    """The values a TOML/JSON file or Python gives (ints, floats, huge integers, NumPy scalars,
    lists…) are converted or refused with a ValueError naming the key; TrainConfig(...) too.
    `lr = 1000…0` (400 digits) in a config file stopped the CLI with an OverflowError."""
    _only_clear_errors(lambda: make_config(preset, overrides=values), list(values) or ["x"])
    _only_clear_errors(lambda: TrainConfig(**values), list(values) or ["x"])
    _only_clear_errors(lambda: make_config(preset, **{k: v for k, v in values.items()
                                                     if v is not None}), list(values) or ["x"])


# -- a started run, resumed -----------------------------------------------------------------------
# Spellings of one value that the CLI reads the same (NumPy names float32 in many ways)
SAME_DTYPE = {"float32": ["float32", "f4", "single", "<f4", "=f4"],
              "float64": ["float64", "f8", "double", "<f8", "float"]}
# Settings that a resumed run cannot change (train() or resume_config refuses another value)
FIXED_ON_RESUME = ("model", "n_layer", "n_head", "n_embd", "block_size", "dropout", "bias",
                   "tie_weights", "activation", "positional", "tokenizer", "seed", "dtype",
                   "batch_size", "grad_accum", "val_fraction")
OTHER_VALUE = {"model": ["bigram"], "n_layer": [2, 3], "n_head": [1, 4, 3],
               "n_embd": [8, 32, 12], "block_size": [8, 32], "dropout": [0.0, 0.2],
               "bias": [False], "tie_weights": [False], "activation": ["relu"],
               "positional": ["sinusoidal"], "tokenizer": ["bpe", "char"], "seed": [0, 1],
               "dtype": ["float64", "f8", "double"], "batch_size": [2, 8], "grad_accum": [2],
               "val_fraction": [0.2, 0.05], "vocab_size": [280, 301, 512],
               "bpe_pattern": ["gpt2", "turkish"]}


def word_of(name, value):
    if name == "dtype" and value in SAME_DTYPE:
        return st.sampled_from(SAME_DTYPE[value])
    return words_for(name, value)


def typed_forms(name, value):
    """Python values (as a TOML/JSON file or a notebook gives them) that make_config reads as
    `value` for field `name`: NumPy scalars, 1.0 for 1, a Path for a path."""
    base = _base(TYPES[name])
    if value is None or base == "str":
        forms = [value] + ([Path(value)] if value is not None and name in ("data", "out_dir",
                                                                          "init_from") else [])
    elif base == "bool":
        forms = [value, np.bool_(value)]
    elif base == "int":
        forms = [value, np.int64(value), float(value), np.float64(value)]
    else:
        forms = [value, np.float64(value)] + ([int(value)] if float(value).is_integer() else [])
    return st.sampled_from(forms)


def same_words(saved: dict, keys):
    """Settings giving `saved`'s value of each key in `keys`: key=value words spelt in any of
    the ways the CLI reads as that value, or the value typed differently."""
    return st.fixed_dictionaries({k: st.one_of(word_of(k, saved[k]), typed_forms(k, saved[k]))
                                  for k in keys})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished two-step char-level run: (its folder, its saved train_config)."""
    folder = trained_tiny_run(tmp_path_factory, "cfgprop")
    return folder, ckpt.read_manifest(folder)["train_config"]


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    """A finished two-step BPE run (Turkish pattern): (its folder, its saved train_config)."""
    pytest.importorskip("regex")
    tmp = tmp_path_factory.mktemp("cfgprop_bpe")
    train(tiny_config(tmp, max_iters=2, eval_interval=2, tokenizer="bpe", vocab_size=300,
                      bpe_pattern="turkish"), quiet=True)
    return tmp / "run", ckpt.read_manifest(tmp / "run")["train_config"]


def _files(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()
            and p.name not in ("metrics.jsonl", "loss.png", ".lock")}


RESUMABLE = [f for f in FIELDS if f not in ("out_dir", "init_from")]
RUNS = pytest.mark.parametrize("kind", ["run", "bpe_run"])


@RUNS
@settings(max_examples=30, **FAST)
@given(preset=st.sampled_from([None, *PRESETS]), data=st.data())
def test_resume_with_the_saved_values_given_again_gives_the_saved_config(request, kind, preset,
                                                                        data):
    """Any of a run's saved settings given again with --resume, spelt or typed in any way
    that reads as the saved value, under any preset, give the saved config."""
    folder, saved = request.getfixturevalue(kind)
    keys = data.draw(st.lists(st.sampled_from(RESUMABLE), unique=True, max_size=12))
    words = data.draw(same_words(saved, keys))
    cfg = resume_config(preset, overrides=words, out_dir=data.draw(
        st.sampled_from([str(folder), folder])))
    assert cfg.to_dict() == saved


@RUNS
@settings(max_examples=4, **FAST)
@given(data=st.data())
def test_resume_with_every_saved_value_given_again_trains(request, kind, data):
    folder, saved = request.getfixturevalue(kind)
    words = data.draw(same_words(saved, RESUMABLE))
    cfg = resume_config(None, overrides=words, out_dir=str(folder))
    assert train(cfg, resume=True, quiet=True)["step"] == 2


@RUNS
@settings(max_examples=30, **FAST)
@given(data=st.data())
def test_resume_with_another_model_setting_is_refused_naming_it(request, kind, data):
    """A setting the run cannot change, given with another value (in any spelling), is
    refused naming the key (and, where the value is valid on its own, the saved value); the
    run folder is left as it was."""
    folder, saved = request.getfixturevalue(kind)
    fixed = FIXED_ON_RESUME + (("vocab_size", "bpe_pattern") if kind == "bpe_run" else ())
    key = data.draw(st.sampled_from(fixed))
    other = data.draw(st.sampled_from([v for v in OTHER_VALUE[key] if v != saved[key]]))
    _resume_is_refused(folder, key, data.draw(words_for(key, other)), saved[key])


def _resume_is_refused(folder, key, word, own):
    """--resume key=word of the run in `folder` is refused with a ValueError that names the key
    and (unless it says what the value must be) the run's own value; no file changes."""
    before = _files(folder)
    with pytest.raises(ValueError) as e:
        cfg = resume_config(None, overrides={key: word}, out_dir=str(folder))
        train(cfg, resume=True, quiet=True)
    msg = str(e.value)
    assert names(msg, key), msg
    if "must" not in msg:
        assert f"{key}={own!r}" in msg, msg
    assert _files(folder) == before


# lr, min_lr and weight_decay are checked together (lr*weight_decay < 1)
OPTIM = st.fixed_dictionaries({"lr": st.sampled_from([1e-4, 1e-3, 3e-3, 5e-2, 1.0, 20.0]),
                               "min_lr": st.sampled_from([0.0, 1e-5, 1e-4, 2e-3]),
                               "weight_decay": st.sampled_from([0.0, 0.1, 10.0, 500.0])}).filter(
    lambda o: o["min_lr"] <= o["lr"] and o["weight_decay"] * o["lr"] < 1)


@settings(max_examples=40, **FAST)
@given(preset=st.sampled_from([None, *PRESETS]), optim=OPTIM,
       keys=st.lists(st.sampled_from(["lr", "min_lr", "weight_decay"]), unique=True,
                     min_size=1), data=st.data())
@example(preset=None, optim={"lr": 1e-3, "min_lr": 1e-4, "weight_decay": 500.0},
         keys=["weight_decay"], data=None)
def test_resume_accepts_the_runs_own_optimizer_settings_given_again(run, tmp_path, preset,
                                                                   optim, keys, data):
    """A run trained with weight_decay=500 and lr=1e-3 (lr*weight_decay = 0.5), resumed with
    weight_decay=500 given again, must not be judged with the preset's lr (0.002)."""
    folder, saved = run
    copy = tmp_path / "run"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / ckpt.MANIFEST).read_text(encoding="utf-8"))
    manifest["train_config"].update(optim, out_dir=str(copy))
    (copy / ckpt.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    words = {k: repr(optim[k]) for k in keys} if data is None else \
        data.draw(same_words(optim, keys))
    cfg = resume_config(preset, overrides=words, out_dir=str(copy))
    assert {k: getattr(cfg, k) for k in optim} == optim


@settings(max_examples=100, **FAST)
@given(overrides=OVERRIDES.map(lambda d: {k: v for k, v in d.items() if k != "out_dir"}))
def test_resume_config_returns_a_config_or_a_value_error_naming_a_given_key(run, overrides):
    folder, _ = run
    _only_clear_errors(lambda: resume_config(None, overrides=overrides, out_dir=str(folder)),
                       list(overrides) or ["x"])


# -- a fine-tune (--init-from a GPT-2 folder) ------------------------------------------------------
# tiny_gpt2_folder's model and tokenizer
FOLDER = dict(n_layer=1, n_head=2, n_embd=8, bias=True, tie_weights=True, activation="gelu",
              positional="learned", tokenizer="bpe", vocab_size=280, bpe_pattern="gpt2")
FOLDER_OTHER = {"n_layer": [2, 3], "n_head": [1, 4], "n_embd": [16, 32], "bias": [False],
                "tie_weights": [False], "activation": ["relu"], "positional": ["sinusoidal"],
                "tokenizer": ["char"], "vocab_size": [300, 512], "bpe_pattern": ["turkish"]}
FT_WORDS = dict(block_size="8", batch_size="2", max_iters="1", eval_interval="1",
                eval_iters="1", sample_tokens="0")


@pytest.fixture(scope="module")
def fine_tune(tmp_path_factory):
    """A tiny GPT-2 folder and a one-step fine-tune of it: (folder, run, its train_config)."""
    tmp = tmp_path_factory.mktemp("cfgprop_ft")
    tiny_gpt2_folder(tmp / "hf", FOLDER["vocab_size"])
    (tmp / "c.txt").write_text(TEXT, encoding="utf-8")
    cfg = make_config("default", data=str(tmp / "c.txt"), out_dir=str(tmp / "run"),
                      init_from=str(tmp / "hf"), overrides=FT_WORDS)
    train(cfg, quiet=True)
    return tmp / "hf", tmp / "run", ckpt.read_manifest(tmp / "run")["train_config"]


@settings(max_examples=40, **FAST)
@given(preset=st.sampled_from([p for p in PRESETS if p != "bigram"]), data=st.data())
def test_init_from_with_the_folders_own_values_is_accepted(fine_tune, monkeypatch, preset,
                                                           data):
    folder, _, _ = fine_tune
    keys = data.draw(st.lists(st.sampled_from(list(FOLDER)), unique=True, min_size=1))
    words = data.draw(same_words(FOLDER, keys))
    home = data.draw(st.sampled_from([str(folder), folder, "~/hf"]))
    monkeypatch.setenv("HOME", str(folder.parent))
    cfg = make_config(preset, init_from=home, overrides=words)
    for k in FOLDER:
        assert getattr(cfg, k) == FOLDER[k], k


@settings(max_examples=40, **FAST)
@given(preset=st.sampled_from([p for p in PRESETS if p != "bigram"]), data=st.data())
def test_init_from_with_another_model_setting_is_refused_naming_it(fine_tune, preset, data):
    folder, _, _ = fine_tune
    key = data.draw(st.sampled_from(list(FOLDER)))
    others = data.draw(st.lists(st.sampled_from([k for k in FOLDER if k != key]), unique=True))
    words = data.draw(same_words(FOLDER, others))
    words[key] = data.draw(st.sampled_from(FOLDER_OTHER[key]).flatmap(
        lambda v: words_for(key, v)))
    with pytest.raises(ValueError) as e:
        make_config(preset, init_from=str(folder), overrides=words)
    assert f"{key}={FOLDER[key]!r}" in str(e.value), str(e.value)


@settings(max_examples=15, **FAST)
@given(data=st.data())
def test_init_from_a_training_run_folder_is_refused_clearly(run, data):
    """--init-from names a GPT-2 folder: a nanograd_llm run folder with model settings is
    refused with the advice to resume it, not with an error from reading its config.json."""
    folder, _ = run
    keys = data.draw(st.lists(st.sampled_from(list(FOLDER)), unique=True, min_size=1))
    with pytest.raises(ValueError, match="not a Hugging Face GPT-2 folder.*--resume"):
        make_config("default", init_from=folder, overrides=data.draw(same_words(FOLDER, keys)))


def _resumed_value(saved: dict, given) -> dict:
    """The config resume_config gives for a run saved as `saved` when the keys `given` are
    given again with their saved values: the cosine ends at the saved max_iters."""
    if not saved["lr_decay_iters"] and "lr_decay_iters" not in given:
        return {**saved, "lr_decay_iters": saved["max_iters"]}
    return saved


@settings(max_examples=40, **FAST)
@given(preset=st.sampled_from([None, *PRESETS]), data=st.data())
@example(preset="bigram", data=None)
def test_resume_of_a_fine_tune_with_its_own_values_gives_the_saved_config(fine_tune, preset,
                                                                         data):
    """The fine-tune's saved settings given again (its own init_from too), under any preset:
    `--preset bigram --resume init_from=DIR` was refused because the given init_from was
    first checked with the bigram preset's model."""
    _, out, saved = fine_tune
    keys = ["init_from"] if data is None else data.draw(
        st.lists(st.sampled_from(RESUMABLE + ["init_from"]), unique=True, max_size=12))
    words = {"init_from": saved["init_from"]} if data is None else \
        data.draw(same_words(saved, keys))
    cfg = resume_config(preset, overrides=words, out_dir=str(out))
    assert cfg.to_dict() == _resumed_value(saved, keys)


@settings(max_examples=30, **FAST)
@given(data=st.data())
def test_resume_of_a_fine_tune_with_another_model_setting_is_refused_naming_it(fine_tune,
                                                                                data):
    _, out, saved = fine_tune
    key = data.draw(st.sampled_from(sorted({*FOLDER, *FIXED_ON_RESUME} - {"model"})))
    own = FOLDER.get(key, saved[key])
    other = data.draw(st.sampled_from([v for v in FOLDER_OTHER.get(key) or OTHER_VALUE[key]
                                       if v != own]))
    _resume_is_refused(out, key, data.draw(words_for(key, other)), own)


# -- the settings a run folder saves ---------------------------------------------------------------
def toml_text(table: dict) -> str:
    """A flat TOML table (None values left out: TOML has no null)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return "inf" if v == math.inf else "-inf" if v == -math.inf else \
                "nan" if v != v else repr(v)
        if isinstance(v, int):
            return str(v)
        return json.dumps(v)
    return "".join(f"{k} = {value(v)}\n" for k, v in table.items() if v is not None)




@pytest.mark.parametrize("kind", ["run", "fine_tune"])
@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_the_saved_settings_round_trip_through_a_config_file(request, tmp_path, kind, suffix):
    """config.json's 'train' table (= checkpoint.json's train_config), given back as a --config
    file, starts the same config under any preset, and resumes the run with its settings."""
    if kind == "run":
        folder, saved = request.getfixturevalue("run")
    else:
        _, folder, saved = request.getfixturevalue("fine_tune")
    table = json.loads((folder / "config.json").read_text(encoding="utf-8"))["train"]
    assert table == saved
    f = tmp_path / f"saved{suffix}"
    f.write_text(json.dumps(table) if suffix == ".json" else toml_text(table), encoding="utf-8")
    for preset in PRESETS:
        assert make_config(preset, config_file=str(f)).to_dict() == saved
    cfg = resume_config(None, config_file=str(f))
    assert cfg.to_dict() == _resumed_value(saved, table)
    assert train(cfg, resume=True, quiet=True)["step"] == saved["max_iters"]


# -- key=value words and config files -------------------------------------------------------------
def natural_value(name):
    """A value of the field's own type (as TOML/JSON writes it), valid or not for the field."""
    base = _base(TYPES[name])
    if name in CHOICES:
        return st.sampled_from(CHOICES[name])
    if base == "bool":
        return st.booleans()
    if base == "int":
        return st.integers(-2, 5000)
    if base == "float":
        return st.one_of(st.sampled_from([3e-4, 1e-8, 0.1, 0.0, 1.0, 0.99, 2.0]),
                         st.floats(-0.5, 3.0))
    return st.sampled_from(["out/x", "a run", "çalışma/ş"])


SETTINGS = st.lists(st.sampled_from([f for f in FIELDS if f not in ("data", "init_from")]),
                    unique=True, min_size=1, max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: natural_value(k) for k in keys})).flatmap(
    lambda values: st.tuples(st.just(values),
                             st.fixed_dictionaries({k: words_for(k, v)
                                                    for k, v in values.items()})))


def _outcome(call):
    try:
        return call().to_dict()
    except ValueError as e:
        return re.sub(r"\S+\.(toml|json)|the command line", "SOURCE", str(e))


@settings(max_examples=80, **FAST)
@given(preset=st.sampled_from(list(PRESETS)), settings_=SETTINGS)
def test_a_config_file_with_natural_types_gives_what_key_value_words_give(tmp_path, preset,
                                                                        settings_):
    values, words = settings_
    want = _outcome(lambda: make_config(preset, overrides=parse_overrides(
        [f"{k}={v}" for k, v in words.items()])))
    files = {"natural.json": json.dumps(values), "natural.toml": toml_text(values),
             "words.json": json.dumps(words), "words.toml": toml_text(words)}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        got = _outcome(lambda: make_config(preset, config_file=str(tmp_path / name)))
        if isinstance(want, str) and "SOURCE" not in want:
            # Every value here is the file's: its refusal names the file, once
            want_here = f"config file SOURCE: {want}"
        else:
            want_here = want
        assert got == want_here, (name, text)
