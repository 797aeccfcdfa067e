"""Property-based (hypothesis) tests of the training configuration layer: make_config over
presets and key=value words, resume_config of a started run and of a fine-tune (--init-from),
the settings a run folder saves, and TOML/JSON --config files against the key=value words the
command line gets. Tiny models and a handful of examples each: the whole file runs in seconds."""
import re
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings, strategies as st

from nanograd_llm.config import (BPE_PATTERNS, MODELS, PRESETS, TOKENIZERS, TrainConfig,
                                 _field_types, make_config, parse_overrides)

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
