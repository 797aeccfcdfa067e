"""Small contracts a hand mutation audit found untested: each test kills a mutant that passed
the rest of the suite."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from nanograd_llm import GPT, BigramLM, GPTConfig
from nanograd_llm.tokenizers import CharTokenizer
from nanograd_llm.train import PRESETS, TrainConfig, apply_overrides, parse_overrides

ROOT = Path(__file__).resolve().parent.parent


def test_zero_grad_clears_the_flat_gradient():
    m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8), seed=0)
    idx = np.array([[1, 2, 3, 4]])
    m.forward(idx, idx)
    m.backward()
    assert np.abs(m.grad_flat).max() > 0
    m.zero_grad()
    assert not m.grad_flat.any() and all(not g.any() for g in m.grads.values())


def test_bigram_temperature_divides_the_logits():
    m = BigramLM(6, seed=1, dtype="float64")
    m.flat += np.random.default_rng(0).standard_normal(m.flat.size) * 2.0
    start = np.array([[2]])
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature > 0"):
            m.generate(start, 3, temperature=bad)
    # a tiny temperature sharpens every step onto the most likely next token
    table = m.params["token_embedding.weight"]
    chain = [2]
    for _ in range(12):
        chain.append(int(np.argmax(table[chain[-1]])))
    out = m.generate(start, 12, temperature=1e-6, seed=3)
    assert np.asarray(out).reshape(-1).tolist() == chain
    # so small that dividing first overflows (inf − inf = NaN): the most likely token still
    out = m.generate(start, 12, temperature=1e-310, seed=3)
    assert np.asarray(out).reshape(-1).tolist() == chain


@pytest.mark.parametrize("kw", [dict(temperature=True), dict(top_p=True), dict(top_p=False),
                                dict(temperature=False)])
def test_sampling_settings_refuse_booleans(kw):
    """True is not a temperature or a top-p of 1.0 (top_k already refused booleans)."""
    from nanograd_llm.generate import check_sampling_args
    with pytest.raises(ValueError, match="temperature|top_p"):
        check_sampling_args(5, **kw)


BIG = "is too large for a number (a float holds at most about 1.8e308)"
LOW = "is below the lowest number a float holds (about -1.8e308)"


@pytest.mark.parametrize("kw, says, beyond", [
    (dict(temperature=10**400), "temperature must be a number >= 0, got 1000", BIG),
    (dict(top_p=10**400), "top_p must be a number in (0, 1], got 1000", BIG),
    (dict(top_p=-10**400), "top_p must be a number in (0, 1], got -1000", LOW),
    (dict(temperature=-10**5000), "got <a negative integer of about 5,001 digits>", LOW)])
def test_sampling_settings_no_float_holds_are_clear_errors(kw, says, beyond):
    """An integer no float holds (Python's are unbounded) crashed the check with
    'OverflowError: int too large to convert to float'; it is a ValueError that names the
    setting, shows the value and says why, as the trainer's settings do."""
    from nanograd_llm.generate import check_sampling_args
    with pytest.raises(ValueError) as e:
        check_sampling_args(5, **kw)
    assert says in str(e.value) and str(e.value).endswith(", which " + beyond)


def test_char_decode_rejects_the_id_just_past_the_vocabulary():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])


def test_char_tokenizer_refuses_a_foreign_tokenizer_json(tmp_path):
    CharTokenizer.from_text("abc").save(tmp_path)
    f = tmp_path / "tokenizer.json"
    data = json.loads(f.read_text(encoding="utf-8"))
    data["format"] = "someone-else"
    f.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer.json"):
        CharTokenizer.load(tmp_path)


def test_override_keys_accept_dashes_and_bools_any_case():
    o = parse_overrides(["max-iters=7", "--keep-best=FALSE", "bias=True"])
    assert o == {"max_iters": "7", "keep_best": "FALSE", "bias": "True"}
    cfg = apply_overrides(PRESETS["default"], o)
    assert cfg["max_iters"] == 7 and cfg["keep_best"] is False and cfg["bias"] is True


def test_negative_grad_clip_is_refused():
    with pytest.raises(ValueError, match="grad_clip must be a finite number >= 0"):
        TrainConfig(grad_clip=-1.0)


def _e(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-")                  # 0.002 -> "2e-3"


def test_presets_match_the_readme_table():
    rows = {m.group(1): m.group(0) for m in
            re.finditer(r"^\| `(\w+)` \|.*$", (ROOT / "README.md").read_text(encoding="utf-8"),
                        re.M)}
    for name, p in PRESETS.items():
        row = rows[name]
        assert f"{p['max_iters']} iters, lr {_e(p['lr'])} → {_e(p['min_lr'])}" in row, name
        full = TrainConfig(**{k: v for k, v in p.items() if k != "out_dir"})
        assert f"block {full.block_size}, batch {full.batch_size}" in row, name
        assert f"beta2 {full.beta2:g}" in row, name
        assert ("no weight decay" if full.weight_decay == 0 else
                f"weight decay {full.weight_decay:g}") in row, name
        assert ("no clipping" if full.grad_clip == 0 else f"clip {full.grad_clip:g}") in row
        assert ("no warmup" if full.warmup_iters == 0 else f"warmup {full.warmup_iters}") in row
        if full.model == "gpt":
            assert f"{full.n_layer} layers, {full.n_head} heads, n_embd {full.n_embd}" in row
            assert ("no dropout" if full.dropout == 0 else f"dropout {full.dropout:g}") in row
            assert ("no biases" in row) is (not full.bias) and "biases" in row, name
            assert ("no dropout" in row) is (full.dropout == 0), name



def test_a_trainconfig_of_the_same_words_trains_what_the_command_line_trains():
    """train(TrainConfig(max_iters=30, n_layer=1, n_embd=32)) trained another model than
    `nanograd-llm train max_iters=30 n_layer=1 n_embd=32` (or make_config with those overrides):
    TrainConfig's own defaults were nanoGPT's baby settings (batch 12, lr 1e-3, warmup 100 …),
    not the default preset the command starts from. Only the folder may differ."""
    from nanograd_llm.train import make_config
    words = {"max_iters": 30, "n_layer": 1, "n_embd": 32, "eval_interval": 10, "eval_iters": 2}
    command_line = make_config("default", overrides={k: str(v) for k, v in words.items()})
    assert TrainConfig(**words, out_dir=command_line.out_dir) == command_line
    assert TrainConfig(out_dir="out/default") == make_config("default")

def test_titles_are_escaped_before_code_spans_are_marked():
    from nanograd_llm.docs import _inline
    assert _inline("a < b & `x<y`") == "a &lt; b &amp; <code>x&lt;y</code>"


def test_layer_norm_epsilon_and_sampling_seed_are_checked():
    from nanograd_llm import GPT, GPTConfig
    base = dict(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)
    for eps in (-1, 0, float("nan"), float("inf"), "1e-5", True):
        with pytest.raises(ValueError, match="layer_norm_epsilon must be a finite number > 0"):
            GPTConfig(**base, layer_norm_epsilon=eps)
    model = GPT(GPTConfig(**base), seed=0)
    for seed in (-1, "a", 1.5, True):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            model.generate([[1]], 2, seed=seed)
    assert model.generate([[1]], 2, seed=np.int64(3)).shape == (1, 3)


def test_min_lr_above_lr_is_refused_before_training(tmp_path, capsys):
    """min_lr above lr (min_lr=1e-2 lr=1e-3, or only lr=1e-4 under the default preset's
    min_lr=2e-4) was accepted with a warning and the "decay" raised the rate after the warm-up
    → a config error that names both and what to give, before anything is written."""
    from _train_helpers import tiny_config
    from nanograd_llm.cli import main
    from nanograd_llm.config import make_config
    with pytest.raises(ValueError, match=r"min_lr=0\.01 is above lr=0\.001: after the warm-up "
                                         r"the learning rate decays from lr down to min_lr"):
        tiny_config(tmp_path, lr=1e-3, min_lr=1e-2)
    assert main(["train", "--out", str(tmp_path / "run"), "lr=1e-4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: min_lr=0.0002 is above lr=0.0001") and "Traceback" not in err
    assert "give a min_lr <= lr too (usually a tenth of it, min_lr=1e-05)" in err
    assert not (tmp_path / "run").exists()
    assert make_config(overrides={"lr": "1e-4", "min_lr": "1e-5"}).min_lr == 1e-5
    assert make_config(overrides={"lr": "1e-4", "min_lr": "1e-4"}).min_lr == 1e-4   # flat


# Every check in TrainConfig.validate, one bad value each: the message names the field and the
# value, and the value just inside each bound is accepted.
_BAD_CONFIG = [
    ("model", "transformer", "model must be one of gpt, bigram, got 'transformer'"),
    ("tokenizer", "word", "tokenizer must be one of char, bpe, got 'word'"),
    ("bpe_pattern", "gpt4", "bpe_pattern must be one of gpt2, turkish, got 'gpt4'"),
    *[(name, 0, f"{name} must be >= 1, got 0") for name in (
        "n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum", "max_iters",
        "eval_interval", "eval_iters", "log_interval", "vocab_size")],
    *[(name, -1, f"{name} must be >= 0, got -1") for name in (
        "warmup_iters", "lr_decay_iters", "sample_tokens", "mmap_threshold", "seed")],
    *[(name, -1e-3, f"{name} must be a finite number >= 0, got -0.001") for name in (
        "lr", "min_lr", "eps", "weight_decay", "grad_clip")],
    ("sample_tokens", 10**30, "sample_tokens must be <= 100,000 (the sample printed at the end "
                              "of training), got 1000000000000000000000000000000"),
    ("weight_decay", 1e30, "weight_decay=1e+30 is too large: AdamW multiplies the weights by "
                           "1 - lr*weight_decay at each step, so lr*weight_decay must be < 1, "
                           "but the learning rate reaches 0.002 (lr*weight_decay = 2e+27); use "
                           "weight_decay < 500"),
    ("weight_decay", 1000.0, "lr*weight_decay must be < 1"),
    ("min_lr", 1000.0, "min_lr=1000 is above lr=0.002: after the warm-up the learning rate "
                       "decays from lr down to min_lr"),
    ("lr", 5e-5, "min_lr=0.0002 is above lr=5e-05"),
    ("lr", float("nan"), "lr must be a finite number >= 0, got nan"),
    ("grad_clip", float("inf"), "grad_clip must be a finite number >= 0, got inf"),
    ("beta1", 1.0, "beta1 must be in [0, 1), got 1.0"),
    ("beta2", -0.1, "beta2 must be in [0, 1), got -0.1"),
    ("dropout", 1.0, "dropout must be in [0, 1), got 1.0"),
    ("val_fraction", 0.0, "val_fraction must be in (0, 1), got 0.0"),
    ("val_fraction", 1.0, "val_fraction must be in (0, 1), got 1.0"),
    ("out_dir", "", "out_dir is empty: name the run's folder"),
    ("out_dir", "  ", "out_dir is empty: name the run's folder"),
    ("n_head", 5, "n_embd=96 must be divisible by n_head=5"),
    ("dtype", "float16", "dtype must be one of float32, float64, got 'float16'"),
    ("device", "tpu", "device must be 'cpu' or 'cuda', got 'tpu'"),
    ("precision", "bf16", "precision must be one of highest, tf32, got 'bf16'"),
]


@pytest.mark.parametrize("name,value,message", _BAD_CONFIG,
                         ids=[f"{n}={v}" for n, v, _ in _BAD_CONFIG])
def test_every_train_config_check_names_its_field(name, value, message):
    with pytest.raises(ValueError) as e:
        TrainConfig(**{name: value})
    assert message in str(e.value)


@pytest.mark.parametrize("name,value", [
    ("n_layer", 1), ("warmup_iters", 0), ("seed", 0), ("lr", 2e-4), ("min_lr", 2e-3),
    ("min_lr", 0.0), ("grad_clip", 0.0),
    ("beta1", 0.0), ("beta2", 0.999), ("dropout", 0.0), ("dropout", 0.99),
    ("val_fraction", 0.01), ("val_fraction", 0.99), ("n_head", 8), ("model", "bigram"),
    ("tokenizer", "bpe"), ("bpe_pattern", "turkish"), ("dtype", "float64"), ("device", "cuda"),
    ("precision", "tf32"), ("sample_tokens", 100_000), ("weight_decay", 499.0)])
def test_train_config_accepts_values_at_its_bounds(name, value):
    assert getattr(TrainConfig(**{name: value}), name) == value


@pytest.mark.parametrize("name,value,message", [
    ("max_iters", 1.5, "max_iters must be an integer, got 1.5"),
    ("batch_size", 2.0, "batch_size must be an integer, got 2.0"),
    ("max_iters", "100", "max_iters must be an integer, got '100'"),
    ("lr", "1e-3", "lr must be a number, got '1e-3'"),
    ("lr", True, "lr must be a number, got True"),
    ("bias", "false", "bias must be true or false, got 'false'"),
    ("keep_best", 1, "keep_best must be true or false, got 1"),
    ("out_dir", None, "out_dir must be a string, got None"),
    ("data", 123, "data must be a string (or None), got 123"),
])
def test_train_config_built_in_python_checks_each_fields_type(name, value, message):
    """TrainConfig(bias="false") kept a true-looking string (a model with biases), max_iters=1.5
    and batch_size=2.0 passed, lr="1e-3" fell with "must be real number, not str" and
    max_iters="100" with "'<' not supported": only config files and key=value words were
    type-checked."""
    with pytest.raises(ValueError) as e:
        TrainConfig(**{name: value})
    assert message in str(e.value)


@pytest.mark.parametrize("name,value,message", [
    ("activation", "GELU", "unknown activation 'GELU'"),
    ("positional", "learnt", "unknown positional encoding 'learnt'"),
])
def test_train_config_checks_the_model_fields_before_anything_is_written(name, value, message,
                                                                        tmp_path):
    """activation="GELU" or positional="learnt" passed TrainConfig's validation and was
    refused only when the model was built, after the run folder was opened and the corpus
    encoded. The bigram model has no such fields: there they are not checked."""
    from nanograd_llm.train import train
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{name: value})
    cfg = TrainConfig(max_iters=1, out_dir=str(tmp_path / "run"))
    setattr(cfg, name, value)                      # changed after construction
    with pytest.raises(ValueError, match=message):
        train(cfg, quiet=True)
    assert not (tmp_path / "run").exists()
    TrainConfig(model="bigram", **{name: value})


def test_train_config_takes_numpy_numbers_and_paths_as_plain_values():
    cfg = TrainConfig(max_iters=np.int64(10), lr=np.float32(0.5), bias=np.bool_(False),
                      data=Path("x.txt"), out_dir=Path("runs") / "a")
    assert (cfg.max_iters, cfg.bias, cfg.data, cfg.out_dir) == (10, False, "x.txt",
                                                                str(Path("runs") / "a"))
    assert type(cfg.max_iters) is int and type(cfg.lr) is float and type(cfg.bias) is bool
    json.dumps(cfg.to_dict())


@pytest.mark.parametrize("cfg", [{"max_iters": 10}, "default", None])
def test_train_given_something_else_than_a_train_config_says_how_to_make_one(cfg, tmp_path):
    """train({"max_iters": 10}) fell with "'dict' object has no attribute 'validate'"."""
    from nanograd_llm.train import train
    with pytest.raises(TypeError, match=r"train\(cfg\) expects a TrainConfig, got "
                                        r"(dict|str|NoneType): build one with TrainConfig"):
        train(cfg)


def test_gpt_config_takes_numpy_integers_as_plain_ints():
    """Sizes read from arrays (np.int64(65), as BigramLM accepts) are integers, not an error
    'must be a positive integer, got np.int64(65)'; they are stored as ints so the config
    still writes to JSON. Floats and booleans stay refused."""
    import json
    from nanograd_llm import GPTConfig
    c = GPTConfig(vocab_size=np.int64(65), block_size=np.int32(8), n_layer=np.uint8(1),
                  n_head=2, n_embd=8, ignore_index=np.int64(-1))
    assert type(c.vocab_size) is int and type(c.ignore_index) is int
    assert json.loads(json.dumps(c.to_dict()))["vocab_size"] == 65
    for bad in (np.float64(65.0), np.bool_(True), 0):
        with pytest.raises(ValueError, match="positive integer"):
            GPTConfig(vocab_size=bad)


def test_gpt_config_takes_numpy_floats_for_dropout_and_epsilon():
    """GPTConfig(dropout=np.float32(0.1)) was refused as "dropout must be a number in [0, 1),
    got np.float32(0.1)" (np.float64 passed, kept as np.float64); both are now plain floats."""
    import json
    import warnings
    from nanograd_llm import GPTConfig
    for v in (np.float32(0.1), np.float64(0.1), np.float16(0.25)):
        with warnings.catch_warnings():
            # the epsilon check compared np.float32 with float_info.max: "overflow in cast"
            warnings.simplefilter("error")
            c = GPTConfig(dropout=v, layer_norm_epsilon=np.float32(1e-5))
            GPTConfig(layer_norm_epsilon=np.float16(1e-5))
        assert type(c.dropout) is float and c.dropout == float(v)
        assert type(c.layer_norm_epsilon) is float
        assert json.loads(json.dumps(c.to_dict()))["dropout"] == float(v)
    for bad in (np.float32(1.0), np.bool_(True), "0.1"):
        with pytest.raises(ValueError, match="dropout must be a number in"):
            GPTConfig(dropout=bad)


def test_sample_tokens_may_reach_its_maximum():
    from nanograd_llm.config import SAMPLE_TOKENS_MAX
    assert TrainConfig(sample_tokens=SAMPLE_TOKENS_MAX).sample_tokens == SAMPLE_TOKENS_MAX
    with pytest.raises(ValueError, match="sample_tokens must be <="):
        TrainConfig(sample_tokens=SAMPLE_TOKENS_MAX + 1)


def test_the_bigram_ignores_the_attention_head_settings():
    """n_embd and n_head size a GPT; a bigram run with n_head=3 is not refused over them."""
    from nanograd_llm.config import make_config
    cfg = make_config("bigram", overrides={"n_head": "3"})
    assert cfg.model == "bigram" and cfg.n_head == 3


@pytest.mark.parametrize("word, value", [(w, True) for w in ("1", "true", "Yes", "ON")]
                         + [(w, False) for w in ("0", "False", "no", "off")])
def test_every_boolean_word_of_a_key_value_setting(word, value):
    assert apply_overrides(PRESETS["default"], {"keep_best": word})["keep_best"] is value


@pytest.mark.parametrize("key, value, message", [
    ("bias", 1, "bias: 1 is not a boolean"),
    ("activation", 5, "activation: 5 is not a string"),
])
def test_config_file_values_of_the_wrong_kind_are_refused(tmp_path, key, value, message):
    """A JSON config file gives typed values: 1 is not a boolean, 5 not a name."""
    from nanograd_llm.config import make_config
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({key: value}), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        make_config("default", config_file=f)


def test_a_config_file_list_is_not_a_value(tmp_path):
    from nanograd_llm.config import read_config_file
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"data": ["a.txt", "b.txt"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="'data' must be a single value, not a table/list"):
        read_config_file(f)


def test_a_key_value_setting_keeps_every_equals_sign_of_its_value():
    assert parse_overrides(["data=runs/a=b.txt"]) == {"data": "runs/a=b.txt"}


def test_the_model_settings_keep_untied_weights():
    from nanograd_llm.config import model_config
    cfg = TrainConfig(tie_weights=False, bias=False, activation="relu")
    mc = model_config(cfg, 11)
    assert (mc["tie_weights"], mc["bias"], mc["activation"], mc["vocab_size"]) == \
        (False, False, "relu", 11)


def test_resume_accepts_an_empty_init_from_for_a_run_that_had_none(tmp_path):
    """init_from=none (e.g. from the config file that started the run) names no GPT-2 folder,
    like the run's own settings: --resume is not refused over it."""
    from nanograd_llm.checkpoint import save_checkpoint
    from nanograd_llm.config import resume_config
    run = tmp_path / "run"
    saved = TrainConfig(model="bigram", out_dir=str(run)).to_dict()
    save_checkpoint(run, BigramLM(5), None, CharTokenizer.from_text("abcde"), 3,
                    train_config=saved)
    cfg = resume_config("bigram", overrides={"init_from": "none"}, out_dir=str(run))
    assert cfg.init_from is None and cfg.out_dir == str(run)


def test_count_text_rounds_integers_past_a_float_like_floats():
    """count_text wrote an integer no float holds with a mantissa from log10 rounded on its
    own: 9.99·10**400 came out as '10.0e+400' (a float count of that shape reads '1.0e+401').
    The mantissa is rounded with the exponent, as for a float."""
    from nanograd_llm.models.base import count_text
    assert count_text(999 * 10 ** 398) == "1.0e+401"
    assert count_text(-9996 * 10 ** 397) == "-1.0e+401"
    assert count_text(10 ** 400) == "1.0e+400" and count_text(24 * 10 ** 399) == "2.4e+400"
    assert count_text(999 * 10 ** 298) == f"{999e298:.1e}" == "1.0e+301"
