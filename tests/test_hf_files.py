"""Hugging Face GPT-2 folders without `transformers`: tokenizer files and safetensors layouts
that `transformers` / `tokenizers` write (checked against the `tokenizers` library itself)."""
import json
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytest.importorskip("regex")
tk = pytest.importorskip("tokenizers")

from nanograd_llm.hf import load_hf_tokenizer  # noqa: E402

TRAIN_TEXT = ["The quick brown fox. Çabuk kahverengi tilki! merhaba dünya " * 30]


def _trained(**kw):
    bpe = tk.ByteLevelBPETokenizer(**kw)
    bpe.train_from_iterator(TRAIN_TEXT, vocab_size=300, min_frequency=1, show_progress=False)
    return bpe


@pytest.mark.parametrize("kw, edit, match", [
    ({"add_prefix_space": True}, None, "add_prefix_space"),
    ({"lowercase": True}, None, "normalizer 'Lowercase'"),
    ({}, lambda d: d["model"].update(dropout=0.1), "dropout"),
    ({}, lambda d: d["model"].update(ignore_merges=True), "ignore_merges"),
    ({}, lambda d: d["model"].update(end_of_word_suffix="</w>"), "end_of_word_suffix"),
    ({}, lambda d: d.update(pre_tokenizer=None), "pre_tokenizer"),
])
def test_tokenizer_json_settings_we_cannot_reproduce_are_refused(tmp_path, kw, edit, match):
    """A tokenizer.json that lowercases, adds a prefix space, … encodes text differently from
    GPT-2's BPE: loading it as if it were GPT-2's gave other ids without a word."""
    bpe = _trained(**kw)
    f = tmp_path / "tokenizer.json"
    bpe.save(str(f))
    if edit:
        data = json.loads(f.read_text(encoding="utf-8"))
        edit(data)
        f.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=match) as e:
        load_hf_tokenizer(tmp_path)
    assert str(f) in str(e.value)


@pytest.mark.parametrize("name, content, says", [
    ("added_tokens.json", {"\ud800": 300}, "added token '\\ud800'"),
    ("special_tokens_map.json", {"eos_token": "\ud800"}, "eos_token '\\ud800'"),
    ("tokenizer_config.json", {"eos_token": "\ud800"}, "eos_token '\\ud800'"),
])
def test_a_lone_surrogate_token_names_its_file(tmp_path, name, content, says):
    """Found while fuzzing the tokenizer files (the lone surrogate that
    scripts/fuzz/fuzz_tokenizer_char.py --sweep found, tried in each file of a GPT-2 folder):
    a token written as "\\ud800" (JSON's escape of a lone surrogate) was refused
    with `cannot encode text: character U+D800 at index 0 is a lone surrogate … (clean the text
    first …)`, which blames the user's text and names no file; or the error named only how two
    files disagree. The message names the file and the token."""
    _trained().save_model(str(tmp_path))
    (tmp_path / name).write_text(json.dumps(content))
    with pytest.raises(ValueError) as e:
        load_hf_tokenizer(tmp_path)
    assert str(e.value) == (f"{tmp_path / name}: {says} holds a lone surrogate, which is not "
                            f"valid Unicode (UTF-8 cannot encode it)")


_TEMPLATE = {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [300],
                                                  "tokens": ["<|endoftext|>"]}}}
_ROBERTA = {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 300],
            "cls": ["<|endoftext|>", 300], "trim_offsets": True, "add_prefix_space": False}
_PLAIN_TEMPLATE = {**_TEMPLATE, "single": _TEMPLATE["single"][1:], "special_tokens": {}}
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
               "use_regex": True}


@pytest.mark.parametrize("post, adds", [
    (_TEMPLATE, True), (_ROBERTA, True),
    ({"type": "Sequence", "processors": [_BYTE_LEVEL, _TEMPLATE]}, True),
    (None, False), (_BYTE_LEVEL, False), (_PLAIN_TEMPLATE, False),
    ({"type": "Sequence", "processors": [_BYTE_LEVEL, _PLAIN_TEMPLATE]}, False),
], ids=["template", "roberta", "sequence", "none", "bytelevel", "$A", "sequence of $A"])
def test_a_post_processor_that_adds_tokens_is_refused(tmp_path, post, adds):
    """tokenizer.json's post_processor was not read, while transformers applies it: a
    TemplateProcessing "<|endoftext|> $A" (or Bert/RobertaProcessing) put id 300 before every
    text transformers encodes, and not before ours. Refused; one that adds nothing loads."""
    d = _bpe_folder(tmp_path, endoftext=True, tokenizer_json=True)
    data = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    data["post_processor"] = post
    (d / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    text = "merhaba dünya"
    if adds:
        with pytest.raises(ValueError) as e:
            load_hf_tokenizer(d)
        assert str(e.value).startswith(f"{d / 'tokenizer.json'}: post_processor '") and \
            "is not supported: transformers puts the tokens it names around every text" in \
            str(e.value), str(e.value)
    else:
        got = load_hf_tokenizer(d).encode(text)
    try:
        import transformers
    except ImportError:
        return
    want = transformers.GPT2Tokenizer.from_pretrained(str(d)).encode(text)
    if adds:
        assert want[0] == 300
    else:
        assert got == want


def test_plain_gpt2_tokenizer_json_still_loads(tmp_path):
    bpe = _trained()
    bpe.save(str(tmp_path / "tokenizer.json"))
    text = "The Fox kahverengi, merhaba dünya!"
    assert load_hf_tokenizer(tmp_path).encode(text) == bpe.encode(text).ids


def _with_added(tmp_path, layout):
    """A GPT-2 tokenizer folder with <|pad|> and <|user|> added, as transformers saves it:
    vocab.json + merges.txt never hold added tokens; they are listed beside them."""
    bpe = _trained()
    bpe.save_model(str(tmp_path))
    n = bpe.get_vocab_size()
    bpe.add_special_tokens(["<|pad|>", "<|user|>"])
    ids = {"<|pad|>": n, "<|user|>": n + 1}
    if layout == "added_tokens.json":            # slow tokenizer, every transformers 4.x
        (tmp_path / "added_tokens.json").write_text(json.dumps(ids))
    elif layout == "tokenizer_config.json":      # transformers >= 4.34
        dec = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                        "single_word": False, "special": True} for t, i in ids.items()}
        (tmp_path / "tokenizer_config.json").write_text(
            json.dumps({"added_tokens_decoder": dec, "tokenizer_class": "GPT2Tokenizer"}))
    else:                                        # fast tokenizer: tokenizer.json beside them
        bpe.save(str(tmp_path / "tokenizer.json"))
    return bpe, ids


@pytest.mark.parametrize("layout", ["added_tokens.json", "tokenizer_config.json",
                                    "tokenizer.json"])
def test_added_tokens_beside_vocab_json_are_read(tmp_path, layout):
    """A fine-tuned GPT-2 with added tokens: they were ignored, so `<|pad|>` in a prompt was
    encoded byte by byte instead of as its one id."""
    bpe, ids = _with_added(tmp_path, layout)
    tok = load_hf_tokenizer(tmp_path)
    text = "<|user|>merhaba<|pad|> dünya"
    want = bpe.encode(text).ids
    assert ids["<|pad|>"] in want and ids["<|user|>"] in want
    assert tok.encode(text) == want
    assert tok.decode(want) == text
    # transformers' GPT2Tokenizer appends its default bos/eos/unk token after them: this
    # vocabulary has no <|endoftext|>
    assert tok.vocab_size == ids["<|user|>"] + 2
    assert tok.special_tokens["<|endoftext|>"] == ids["<|user|>"] + 1


def test_an_added_token_with_a_conflicting_id_is_a_clear_error(tmp_path):
    bpe, ids = _with_added(tmp_path, "added_tokens.json")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"added_tokens_decoder": {"5": {"content": "<|pad|>", "special": True}}}))
    with pytest.raises(ValueError, match=re.escape(
            "added_tokens.json lists the added token '<|pad|>' (id 300), but transformers "
            "reads only the added_tokens_decoder of tokenizer_config.json, which gives it id 5")):
        load_hf_tokenizer(tmp_path)


def test_special_tokens_map_tokens_inside_vocab_json_are_not_split(tmp_path):
    """A tokenizer trained with <s>, <pad>, </s> keeps them in vocab.json; transformers'
    GPT2Tokenizer reads which are special from special_tokens_map.json and never splits them.
    We split them into bytes, so `<s>` in a prompt became three tokens."""
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(TRAIN_TEXT, vocab_size=300, min_frequency=1, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<|user|>"])
    bpe.save_model(str(tmp_path))
    assert json.loads((tmp_path / "vocab.json").read_text())["<s>"] == 0
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "pad_token": "<pad>",
        "eos_token": {"content": "</s>", "lstrip": False, "normalized": True, "rstrip": False,
                      "single_word": False},
        "additional_special_tokens": ["<|user|>"]}))
    tok = load_hf_tokenizer(tmp_path)
    text = "<s><|user|>merhaba dünya</s><pad>"
    want = bpe.encode(text).ids
    assert want[:2] == [0, 3] and want[-2:] == [2, 1]
    assert tok.encode(text) == want
    assert tok.decode(want) == text


def test_a_special_token_that_is_also_a_merged_token_stays_a_bpe_token(tmp_path):
    bpe = _trained()
    bpe.save_model(str(tmp_path))
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    merged = next(t for t in vocab if len(t) > 2 and t.startswith("Ġ"))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"pad_token": merged,
                                                                  "unk_token": "!"}))
    text = "The quick brown fox. merhaba dünya"
    assert load_hf_tokenizer(tmp_path).encode(text) == bpe.encode(text).ids


def test_an_added_token_already_in_the_vocabulary_loads_and_round_trips(tmp_path):
    """`add_tokens(["merhaba"])` for a word the merges already build: tokenizer.json lists it
    as an added token with its vocab id. Loading it failed ("token 'merhaba' is not in its
    model.vocab") since a special token was taken out of the BPE the merges need."""
    from nanograd_llm.tokenizers import load_tokenizer
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["merhaba dünya şapka " * 30], vocab_size=290, min_frequency=1,
                            show_progress=False)
    assert "merhaba" in bpe.get_vocab()
    bpe.add_tokens(["merhaba"])
    bpe.save(str(tmp_path / "tokenizer.json"))
    tok = load_hf_tokenizer(tmp_path)
    text = "merhaba dünya merhabalar, şapka"
    want = bpe.encode(text).ids
    assert tok.encode(text) == want and tok.decode(want) == text
    tok.save(str(tmp_path / "ours"))
    again = load_tokenizer(tmp_path / "ours")
    assert again.encode(text) == want and again.decode(want) == text


def test_bfloat16_safetensors_load_exactly_as_float32(tmp_path):
    """transformers often saves bf16-trained models in bfloat16, which is not a NumPy dtype
    (safetensors' NumPy reader refuses the whole file). Such a file is read by hand: each
    bfloat16 value is the top half of a float32, so the upcast is exact; other tensors in the
    same file keep their dtypes."""
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    import numpy as np
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import load_hf, read_hf_tensors, save_hf
    model = GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=3)
    save_hf(model, tmp_path)
    tensors = read_hf_tensors(tmp_path)
    bf = {k: torch.from_numpy(v.copy()).to(torch.bfloat16) for k, v in tensors.items()}
    bf["extra.f16"] = torch.arange(6, dtype=torch.float16).reshape(2, 3)
    stt.save_file(bf, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    got = read_hf_tensors(tmp_path)
    for k, v in bf.items():
        want = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        assert got[k].dtype == want.dtype and got[k].shape == want.shape
        assert type(got[k]) is np.ndarray                       # a copy, not a view of the file
        np.testing.assert_array_equal(got[k], want)
    del bf["extra.f16"]
    stt.save_file(bf, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    loaded = load_hf(tmp_path)
    idx = np.arange(8)[None] % 17
    ref = GPT(model.config, seed=3)
    for name, p in ref.params.items():
        p[...] = torch.from_numpy(model.params[name].copy()).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(loaded.forward(idx)[0], ref.forward(idx)[0])
    # a damaged byte range is a clear error, not a reshape traceback
    raw = bytearray((tmp_path / "model.safetensors").read_bytes())
    (tmp_path / "model.safetensors").write_bytes(bytes(raw[:-10]))
    with pytest.raises(ValueError, match="cannot read .*byte range"):
        read_hf_tensors(tmp_path)


@pytest.mark.parametrize("field", ["data_offsets", "shape"])
def test_an_infinite_number_in_a_bfloat16_header_names_the_file(tmp_path, capsys, field):
    """Found while fuzzing model.safetensors (the bfloat16 seed of
    scripts/fuzz/fuzz_hf_weights.py, which the loader reads by a path of its own): a file's
    header with 1e999 (JSON's infinity) as a byte offset or a dimension stopped the loader with
    an OverflowError traceback (cannot convert float infinity to integer). It is a ValueError
    naming the file, and `sample --hf` says so in one line."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.cli import main
    from nanograd_llm.hf import read_hf_tensors, save_hf
    save_hf(GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=8)),
            tmp_path)
    info = {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}
    header = json.dumps({"wte.weight": {**info, field: [0, "INF"]}}).replace('"INF"', "1e999")
    f = tmp_path / "model.safetensors"
    f.write_bytes(len(header).to_bytes(8, "little") + header.encode() + bytes(4))
    with pytest.raises(ValueError, match=f"^cannot read {re.escape(str(f))}: "):
        read_hf_tensors(tmp_path)
    capsys.readouterr()
    assert main(["sample", "--hf", str(tmp_path), "--max-new-tokens", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read {f}: ") and "Traceback" not in err


_GPT2_KEYS = {"vocab_size": 50, "n_positions": 16, "n_embd": 8, "n_layer": 1, "n_head": 2}


@pytest.mark.parametrize("edit, message", [
    ({"n_embd": 7}, "n_embd=7 must be divisible by n_head=2"),
    ({"layer_norm_epsilon": float("inf")}, "layer_norm_epsilon must be a finite number > 0"),
])
def test_config_json_values_our_gpt_refuses_name_the_file(tmp_path, capsys, edit, message):
    """Found by fuzzing config.json (scripts/fuzz/fuzz_hf_weights.py): values that pass
    config_from_hf's own checks but not GPTConfig's (n_embd not divisible by n_head, an
    infinite epsilon) gave `error: n_embd=7 must be divisible by n_head=2`, naming neither the
    file nor the folder. The message starts with config.json's path; a bad dropout, the
    caller's argument, is still not blamed on the file."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.cli import main
    from nanograd_llm.hf import config_from_hf, save_hf
    with pytest.raises(ValueError) as e:
        config_from_hf({**_GPT2_KEYS, **edit}, source="somewhere/config.json")
    assert str(e.value).startswith(f"somewhere/config.json: {message}")
    with pytest.raises(ValueError) as e:
        config_from_hf(dict(_GPT2_KEYS), dropout=1.5, source="somewhere/config.json")
    assert str(e.value).startswith("dropout must be a number in [0, 1)")
    assert config_from_hf(dict(_GPT2_KEYS), dropout=0.25).dropout == 0.25
    save_hf(GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=8)),
            tmp_path)
    f = tmp_path / "config.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), **edit}))
    capsys.readouterr()
    assert main(["sample", "--hf", str(tmp_path), "--max-new-tokens", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {f}: {message}") and "Traceback" not in err


@pytest.mark.parametrize("key", ["layer_norm_epsilon", "n_inner", "model_type",
                                 "tie_word_embeddings"])
def test_a_config_json_integer_past_a_float_is_refused_in_a_short_line(key):
    """layer_norm_epsilon = 10**400 (an integer no float holds) passed the check 'a positive
    number' and stopped sample --hf with an OverflowError traceback from float(); such a value
    of n_inner, model_type or tie_word_embeddings was written out in full, 401 digits → refused as not
    finite, and every config.json value in a message is shortened (backend.shown)."""
    from nanograd_llm.hf import config_from_hf
    with pytest.raises(ValueError) as e:
        config_from_hf({**_GPT2_KEYS, key: 10 ** 400}, source="somewhere/config.json")
    msg = str(e.value)
    assert msg.startswith(f"somewhere/config.json: {key}") and len(msg) < 250, msg
    assert "(401 characters)" in msg, msg


@pytest.mark.parametrize("edit, message", [
    ({"vocab_size": -1}, "vocab_size must be a positive integer, got -1"),
    ({"n_head": "2"}, "n_head must be a positive integer, got '2'"),
    ({"n_layer": None, "n_positions": None, "n_ctx": None}, "lacks 'n_positions'"),
])
def test_a_config_json_size_that_is_no_positive_integer_names_the_file_once(edit, message):
    """The previous test's fix (config.json's path before GPTConfig's errors) also caught
    config_from_hf's own errors for vocab_size, n_positions, n_layer and n_head, which name the
    file already: 'error: DIR/config.json: DIR/config.json: vocab_size must be a positive
    integer, got -1' → the path is written once."""
    from nanograd_llm.hf import config_from_hf
    with pytest.raises(ValueError) as e:
        config_from_hf({**_GPT2_KEYS, **edit}, source="somewhere/config.json")
    assert str(e.value) in (f"somewhere/config.json: {message}",
                            f"somewhere/config.json {message}"), str(e.value)


@pytest.mark.parametrize("vocab_size, shown", [(3 * 10 ** 88, "vocab_size=3.0e+88 has about "
                                                               "2.4e+89 parameters"),
                                              (10 ** 400, "vocab_size=1.0e+400 has about "
                                                          "8.0e+400 parameters")],
                         ids=["3e88", "1e400"])
def test_a_huge_config_json_size_is_refused_with_short_numbers(tmp_path, capsys, vocab_size,
                                                                shown):
    """A config.json with vocab_size=3e88 (written as an integer) was refused as too large for
    the machine with the 89-digit size, its 90-digit parameter count and an 81-digit number of
    GiB written out in full; with 10**400, more than a float holds, the GiB division stopped
    the command with an OverflowError traceback → the numbers are in scientific notation."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.cli import main
    from nanograd_llm.hf import save_hf
    save_hf(GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=8)),
            tmp_path)
    f = tmp_path / "config.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), "vocab_size": vocab_size}))
    capsys.readouterr()
    assert main(["sample", "--hf", str(tmp_path), "--max-new-tokens", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (a GPT with n_layer=1, n_embd=8, ") \
        and shown in err and "Traceback" not in err, err
    assert not re.search(r"\d{16}", err.replace(",", "")), err


def test_config_json_keys_that_are_absent_take_gpt2s_defaults():
    """GPT-2's own config.json has no tie_word_embeddings and older ones no
    layer_norm_epsilon or activation_function: transformers' defaults apply (tied, 1e-5,
    gelu_new)."""
    from nanograd_llm.hf import config_from_hf
    cfg = config_from_hf(dict(_GPT2_KEYS))
    assert cfg.tie_weights is True and cfg.layer_norm_epsilon == 1e-5
    assert cfg.activation == "gelu" and cfg.block_size == 16


def test_config_json_n_positions_comes_before_n_ctx():
    """n_positions sizes wpe (transformers reads it); n_ctx is only its older spelling."""
    from nanograd_llm.hf import config_from_hf
    keys = dict(_GPT2_KEYS, n_ctx=1024)
    assert config_from_hf(keys).block_size == 16
    del keys["n_positions"]
    assert config_from_hf(keys).block_size == 1024


@pytest.mark.parametrize("edit, match", [
    ({"model_type": "gpt_neo"}, "model_type 'gpt_neo' is not supported"),
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=True"),
    ({"add_cross_attention": True}, "add_cross_attention=True"),
    ({"scale_attn_weights": False}, "scale_attn_weights=False"),
])
def test_config_json_settings_our_gpt_does_not_have_are_refused(edit, match):
    from nanograd_llm.hf import config_from_hf
    with pytest.raises(ValueError, match=match):
        config_from_hf(dict(_GPT2_KEYS, **edit))


def test_written_config_names_the_end_of_text_id_only_when_it_exists():
    from nanograd_llm import GPTConfig
    from nanograd_llm.hf import config_to_hf
    base = dict(block_size=8, n_layer=1, n_head=2, n_embd=8)
    for V, eot in ((50257, 50256), (50304, 50256), (50256, None), (97, None)):
        out = config_to_hf(GPTConfig(vocab_size=V, **base))
        assert out["bos_token_id"] == out["eos_token_id"] == eot, V



def test_written_config_gives_transformers_the_models_dropout_everywhere():
    """config.json's three dropout rates are the model's one dropout (GPTConfig.dropout),
    which transformers applies when it fine-tunes the saved model; a fixed rate (GPT-2's 0.1)
    in any of them would change that training without a word."""
    from nanograd_llm import GPTConfig
    from nanograd_llm.hf import config_to_hf
    for p in (0.0, 0.25):
        out = config_to_hf(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=8,
                                     dropout=p))
        assert out["resid_pdrop"] == out["embd_pdrop"] == out["attn_pdrop"] == p

def _tiny_hf_folder(tmp_path):
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import read_hf_tensors, save_hf
    save_hf(GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0),
            tmp_path)
    return read_hf_tensors(tmp_path)


def test_a_tensor_written_with_and_without_its_prefix_is_refused(tmp_path):
    """transformer.wte.weight and wte.weight name the same parameter: which one to load?"""
    stn = pytest.importorskip("safetensors.numpy")
    from nanograd_llm.hf import load_hf
    tensors = _tiny_hf_folder(tmp_path)
    tensors["wte.weight"] = tensors["transformer.wte.weight"] + 1
    stn.save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="tensor 'wte.weight' appears twice"):
        load_hf(tmp_path)


def test_a_tensor_of_integers_is_refused(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    import numpy as np
    from nanograd_llm.hf import load_hf
    tensors = _tiny_hf_folder(tmp_path)
    tensors["transformer.wpe.weight"] = np.ones_like(tensors["transformer.wpe.weight"],
                                                     dtype=np.int32)
    stn.save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="'wpe.weight' has dtype int32, expected floats"):
        load_hf(tmp_path)


def test_end_of_text_stays_special_beside_added_tokens(tmp_path):
    """A GPT-2 vocabulary with <|endoftext|> and an added <|pad|>: both are special tokens."""
    bpe = _trained()
    bpe.save_model(str(tmp_path))
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    vocab["<|endoftext|>"] = n = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<|pad|>": n + 1}))
    tok = load_hf_tokenizer(tmp_path)
    assert tok.special_tokens == {"<|endoftext|>": n, "<|pad|>": n + 1}
    assert tok.encode("a<|endoftext|>b<|pad|>")[1::2] == [n, n + 1]


def test_a_normalizer_sequence_that_changes_the_text_is_refused(tmp_path):
    """An empty Sequence normalizer is no normalizer; one holding Lowercase still lowercases."""
    bpe = _trained()
    f = tmp_path / "tokenizer.json"
    bpe.save(str(f))
    data = json.loads(f.read_text(encoding="utf-8"))
    data["normalizer"] = {"type": "Sequence", "normalizers": []}
    f.write_text(json.dumps(data), encoding="utf-8")
    assert load_hf_tokenizer(tmp_path).encode("The Fox") == bpe.encode("The Fox").ids
    data["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Lowercase"}]}
    f.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="normalizer 'Sequence' is not supported"):
        load_hf_tokenizer(tmp_path)


def test_a_tokenizer_larger_than_the_model_is_refused(tmp_path):
    """init_from_hf: a tokenizer with one id more than the model's embedding rows."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import init_from_hf, save_hf
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    tok = BPETokenizer.train("merhaba dünya " * 20, 261)
    tok.save(str(tmp_path))
    for V, ok in ((261, True), (260, False)):
        save_hf(GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=8)),
                tmp_path)
        if ok:
            assert init_from_hf(tmp_path)[1].vocab_size == 261
        else:
            with pytest.raises(ValueError, match="has 261 tokens but the model only 260"):
                init_from_hf(tmp_path)


def _special_token_not_in_the_vocabulary(tmp_path):
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(["wow!! quick quicker quickly lowly " * 30], vocab_size=290,
                            min_frequency=1, show_progress=False)
    bpe.save_model(str(tmp_path))
    n = len(json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8")))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(
        {"pad_token": "<pad>", "eos_token": "!", "additional_special_tokens": ["<|user|>"]}))
    return n


def test_a_special_token_missing_from_the_vocabulary_is_refused(tmp_path):
    """special_tokens_map.json naming <pad>, which neither vocab.json nor any added-token file
    holds: it was ignored, so "<pad>" in a text became five byte tokens where transformers gives
    it one new id. With several such tokens (here also <|user|> and GPT2Tokenizer's default
    <|endoftext|>) their ids follow transformers' own order: refused; listed in
    added_tokens.json they load as one token each, and the one left is appended."""
    n = _special_token_not_in_the_vocabulary(tmp_path)
    with pytest.raises(ValueError) as e:
        load_hf_tokenizer(tmp_path)
    assert str(e.value) == (
        f"{tmp_path}: transformers appends '<|endoftext|>' (GPT2Tokenizer's default bos/eos/unk "
        f"token), '<pad>' (pad_token in special_tokens_map.json), '<|user|>' "
        f"(additional_special_tokens in special_tokens_map.json) to the vocabulary, as they are "
        f"in neither vocab.json nor the folder's added tokens; their ids (from {n} on) follow "
        f"an order of its own, which the model may not have: list each with its id in "
        f"added_tokens.json, or have special_tokens_map.json and tokenizer_config.json name "
        f"tokens the vocabulary holds (null for none)")
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<pad>": n, "<|user|>": n + 1}))
    tok = load_hf_tokenizer(tmp_path)
    assert tok.encode("wow<pad>!<|user|><|endoftext|>")[1:] == [n, tok.encode("!")[0], n + 1,
                                                              n + 2]


def test_the_ids_of_a_special_token_missing_from_the_vocabulary_follow_transformers(tmp_path):
    """What transformers (5.x) does with such a folder: it appends the token, and <|endoftext|>
    (GPT2Tokenizer's default bos/eos/unk) too, in an order of its own, so no id can be assumed;
    once added_tokens.json lists the tokens, both read the same ids."""
    transformers = pytest.importorskip("transformers")
    n = _special_token_not_in_the_vocabulary(tmp_path)
    hf = transformers.GPT2Tokenizer.from_pretrained(str(tmp_path))
    assert hf.convert_tokens_to_ids("<pad>") >= n                  # a new token, not ignored
    with pytest.raises(ValueError, match=re.escape("'<|user|>' (additional_special_tokens in "
                                                   "special_tokens_map.json) to the vocabulary, "
                                                   "as they are in neither")):
        load_hf_tokenizer(tmp_path)
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<pad>": n, "<|user|>": n + 1}))
    hf = transformers.GPT2Tokenizer.from_pretrained(str(tmp_path))
    text = "wow<pad> quick!!<|user|> lowly<pad>"
    want = hf.encode(text)
    assert n in want and n + 1 in want
    assert load_hf_tokenizer(tmp_path).encode(text) == want


# -- the special tokens transformers' GPT2Tokenizer reads beside the BPE ----------------------
SPECIAL_TEXT = ("<s>merhaba<|endoftext|> dünya<pad> quick</s><unk><|user|> fox<|bot|>! "
                "<|pad|>The")


def _bpe_folder(d, specials=(), endoftext=False, tokenizer_json=False, files=None):
    """A byte-level BPE folder: vocab.json + merges.txt as `tokenizers` saves them (trained with
    `specials` at its first ids; <|endoftext|> last when `endoftext`), or a tokenizer.json;
    `files` are the JSON files written beside it."""
    d.mkdir(parents=True, exist_ok=True)
    bpe = tk.ByteLevelBPETokenizer()
    bpe.train_from_iterator(TRAIN_TEXT, vocab_size=300, min_frequency=1, show_progress=False,
                            special_tokens=list(specials))
    if tokenizer_json:
        if endoftext:
            bpe.add_special_tokens(["<|endoftext|>"])
        bpe.save(str(d / "tokenizer.json"))
    else:
        bpe.save_model(str(d))
        if endoftext:                                 # the real GPT-2 layout: the last id
            vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
            vocab["<|endoftext|>"] = len(vocab)
            (d / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False),
                                          encoding="utf-8")
    for name, data in (files or {}).items():
        (d / name).write_text(json.dumps(data), encoding="utf-8")
    return d


def _saved_by_transformers(d):
    """A GPT-2 vocabulary given a pad token and two extra special tokens with transformers'
    add_special_tokens, then written by its own save_pretrained."""
    transformers = pytest.importorskip("transformers")
    src = _bpe_folder(d.parent / (d.name + "-src"), endoftext=True)
    hf = transformers.GPT2Tokenizer.from_pretrained(str(src))
    hf.add_special_tokens({"pad_token": "<pad>",
                           "additional_special_tokens": ["<|user|>", "<|bot|>"]})
    hf.save_pretrained(str(d))
    return d


_TRAINED = ["<s>", "<pad>", "</s>", "<unk>"]
_ADDED = {"<|user|>": 300, "<|endoftext|>": 301}
_FOLDERS = {
    # vocab.json holds <|endoftext|> (id 300, the last); tokenizer_config.json as on the Hub
    "gpt2 layout": lambda d: _bpe_folder(d, endoftext=True,
                                         files={"tokenizer_config.json":
                                                {"model_max_length": 1024}}),
    # gpt2 as transformers 4.x saves it: both files, pad_token null, the encode options false
    "gpt2 saved by transformers 4.x": lambda d: _bpe_folder(d, endoftext=True, files={
        "special_tokens_map.json": {k: "<|endoftext|>" for k in ("bos_token", "eos_token",
                                                                  "unk_token")},
        "tokenizer_config.json": {
            "add_bos_token": False, "add_prefix_space": False, "bos_token": "<|endoftext|>",
            "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": None,
            "added_tokens_decoder": {"300": {"content": "<|endoftext|>", "special": True}},
            "errors": "replace", "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}}),
    # tokenizers' save_model alone: GPT2Tokenizer appends its default <|endoftext|> (id 300)
    "vocab.json alone": lambda d: _bpe_folder(d),
    # special tokens trained into vocab.json, named only in tokenizer_config.json, which also
    # lists an added token (as transformers 4.x saves it, without special_tokens_map.json)
    "tokenizer_config.json only": lambda d: _bpe_folder(d, _TRAINED, files={
        "tokenizer_config.json": {
            "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
            "additional_special_tokens": ["<|user|>"],
            "added_tokens_decoder": {str(i): {"content": t, "special": True}
                                     for t, i in _ADDED.items()}}}),
    # the same names in both files, as transformers 4.x writes them (AddedToken objects too)
    "both files agree": lambda d: _bpe_folder(d, _TRAINED, files={
        "special_tokens_map.json": {
            "bos_token": {"content": "<s>", "lstrip": False, "normalized": True},
            "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
            "additional_special_tokens": ["<|user|>"]},
        "tokenizer_config.json": {
            "bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>",
            "unk_token": "<unk>", "pad_token": "<pad>",
            "additional_special_tokens": ["<|user|>"]},
        "added_tokens.json": _ADDED}),
    # bos/eos/unk named, so <|endoftext|> in vocab.json is an ordinary (split) string
    "no default token": lambda d: _bpe_folder(d, [*_TRAINED, "<|endoftext|>"], files={
        "tokenizer_config.json": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "</s>"}}),
    # tokenizer.json with <|endoftext|>; its pad token is named in tokenizer_config.json only
    "tokenizer.json + a named pad": lambda d: _bpe_folder(
        d, endoftext=True, tokenizer_json=True,
        files={"tokenizer_config.json": {"pad_token": "<|pad|>"}}),
    "saved by transformers": _saved_by_transformers,
    # a tokenizer.json beside a vocab.json + merges.txt of another training: transformers
    # reads tokenizer.json
    "vocab.json and another tokenizer.json": lambda d: _stale_vocab_json(
        _bpe_folder(d, endoftext=True, tokenizer_json=True)),
    # a model's own named tokens (as multimodal models name image_token): special in
    # transformers 5, one appended (<|user|>: 301), one trained into the vocabulary
    "a model's own named tokens": lambda d: _bpe_folder(d, ["<s>"], endoftext=True, files={
        "tokenizer_config.json": {"image_token": "<|user|>",
                                  "boi_token": {"__type": "AddedToken", "content": "<s>"}}}),
    # tokenizer.json with tokens added in added_tokens.json beside it
    "tokenizer.json + added_tokens.json": lambda d: _bpe_folder(
        d, endoftext=True, tokenizer_json=True,
        files={"added_tokens.json": {"<|user|>": 301, "<|bot|>": 302}}),
}


def _stale_vocab_json(d):
    """Put the vocab.json + merges.txt of a smaller training beside d's tokenizer.json."""
    other = tk.ByteLevelBPETokenizer()
    other.train_from_iterator(["merhaba dünya " * 30], vocab_size=270, min_frequency=1,
                              show_progress=False)
    other.save_model(str(d))
    return d


@pytest.mark.parametrize("layout", list(_FOLDERS))
def test_our_ids_equal_transformers_gpt2_tokenizer(tmp_path, layout):
    """The special tokens named in tokenizer_config.json (bos_token, eos_token, unk_token,
    pad_token, additional/extra special tokens) were not read, so "<s>" in a prompt became three
    byte tokens where transformers gives its one id; nor was the <|endoftext|> GPT2Tokenizer
    adds to a vocabulary that lacks it. Every id now equals transformers'."""
    transformers = pytest.importorskip("transformers")
    d = _FOLDERS[layout](tmp_path / "tok")
    hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
    tok = load_hf_tokenizer(d)
    want = hf.encode(SPECIAL_TEXT)
    assert tok.encode(SPECIAL_TEXT) == want
    assert tok.vocab_size == len(hf)
    assert tok.decode(want) == hf.decode(want)
    for t in hf.all_special_tokens:
        assert tok.encode(t) == [hf.convert_tokens_to_ids(t)], t


@pytest.mark.parametrize("files, says", [
    ({"special_tokens_map.json": {"eos_token": "<s>"}, "tokenizer_config.json": {"eos_token":
                                                                                "</s>"}},
     "special_tokens_map.json and tokenizer_config.json name different tokens as eos_token "
     "('<s>' and '</s>'); make them agree"),
    ({"special_tokens_map.json": {"additional_special_tokens": ["<s>"]},
      "tokenizer_config.json": {"extra_special_tokens": ["</s>"]}},
     "special_tokens_map.json's additional_special_tokens and tokenizer_config.json's "
     "extra_special_tokens list different special tokens (['<s>'] and ['</s>']); make them "
     "agree"),
    ({"added_tokens.json": {"<|pad|>": 305}},
     "added token '<|pad|>' has id 305, but transformers numbers the added tokens vocab.json "
     "lacks from 301 (its size) on, in the order of their ids, so it gets 301; renumber"),
    ({"tokenizer_config.json": {"add_prefix_space": True}},
     "tokenizer_config.json: add_prefix_space is true: transformers then reads every text with "
     "a space before it ('Hi' as ' Hi'); nanograd_llm's GPT-2 tokenizer does not, so set it to "
     "false"),
    ({"tokenizer_config.json": {"add_bos_token": True, "bos_token": "<s>"}},
     "add_bos_token is true: transformers then puts its bos_token before every text"),
    ({"tokenizer_config.json": {"add_eos_token": True}},
     "add_eos_token is true: transformers then puts its eos_token after every text"),
    ({"tokenizer_config.json": {"split_special_tokens": True}},
     "split_special_tokens is true: transformers then encodes the special tokens in a text as "
     "ordinary text ('<|x|>' as byte pieces, not its one id); nanograd_llm's GPT-2 tokenizer "
     "does not, so set it to false"),
])
def test_special_token_settings_we_cannot_match_are_refused(tmp_path, files, says):
    """Two files naming different tokens (transformers silently prefers one), an added token
    whose id transformers does not keep, and settings that make transformers encode a text to
    other ids: refused with the file, where it was read with other ids than transformers'."""
    d = _bpe_folder(tmp_path, _TRAINED, endoftext=True, files=files)
    with pytest.raises(ValueError) as e:
        load_hf_tokenizer(d)
    assert says in str(e.value) and str(tmp_path) in str(e.value), str(e.value)


@pytest.mark.parametrize("name, key, value", [
    ("tokenizer_config.json", "image_token", "<|user|>"),
    ("tokenizer_config.json", "boi_token", {"__type": "AddedToken", "content": "<|user|>"}),
    ("special_tokens_map.json", "image_token", {"content": "<|user|>"}),
])
def test_a_models_own_named_token_is_special(tmp_path, name, key, value):
    """transformers 5 makes the token of any *_token key special (image_token of a multimodal
    model): "<|user|>" got its one id (appended: 301) there and six byte tokens from us."""
    d = _bpe_folder(tmp_path, endoftext=True, files={name: {key: value}})
    tok = load_hf_tokenizer(d)
    assert tok.encode("x<|user|>y") == [tok.encode("x")[0], 301, tok.encode("y")[0]]
    assert tok.vocab_size == 302
    # a plain object in tokenizer_config.json is no token to transformers, nor to us
    if name == "tokenizer_config.json":
        (d / name).write_text(json.dumps({key: {"content": "<|user|>"}}))
        assert 301 not in load_hf_tokenizer(d).encode("x<|user|>y")


def test_split_special_tokens_makes_transformers_split_them(tmp_path):
    """split_special_tokens true: transformers encodes "<|endoftext|>" as its bytes while we
    gave its one id; such a folder is refused (above), and without it the ids agree."""
    transformers = pytest.importorskip("transformers")
    d = _bpe_folder(tmp_path, endoftext=True,
                    files={"tokenizer_config.json": {"split_special_tokens": True}})
    text = "a<|endoftext|>b"
    assert 300 not in transformers.GPT2Tokenizer.from_pretrained(str(d)).encode(text)
    (d / "tokenizer_config.json").write_text(json.dumps({"split_special_tokens": False}))
    want = transformers.GPT2Tokenizer.from_pretrained(str(d)).encode(text)
    assert 300 in want and load_hf_tokenizer(d).encode(text) == want


def test_a_model_without_a_row_for_the_appended_token_is_refused_clearly(tmp_path):
    """A model of 300 rows beside a vocabulary of 300 without <|endoftext|>: transformers'
    tokenizer has 301 ids; loading it for sampling or fine-tuning says why and what to do."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import init_from_hf, save_hf
    d = _bpe_folder(tmp_path / "hf")
    save_hf(GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, n_embd=8)), d)
    with pytest.raises(ValueError) as e:
        init_from_hf(d)
    assert str(e.value).startswith(
        f"the tokenizer in {d} has 301 tokens but the model only 300: the model has no row for "
        f"'<|endoftext|>' (id 300), a special token the vocabulary lacks that transformers' "
        f"GPT2Tokenizer appends too")
    (d / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": None, "eos_token": None, "unk_token": None}))
    model, tok = init_from_hf(d)
    assert tok.vocab_size == 300 and "<|endoftext|>" not in tok.special_tokens


def test_added_tokens_the_model_has_no_rows_for_are_not_called_appended(tmp_path):
    """A tokenizer given new special tokens (add_special_tokens) and saved beside a model whose
    embeddings were not resized: the folder's added tokens number <pad>, <|user|>, <|bot|> from
    301 on, past the model's 301 rows. The error said transformers appends them because the
    vocabulary lacks them, and told the user to rename tokens in special_tokens_map.json."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import init_from_hf, save_hf
    d = _saved_by_transformers(tmp_path / "hf")
    save_hf(GPT(GPTConfig(vocab_size=301, block_size=8, n_layer=1, n_head=2, n_embd=8)), d)
    with pytest.raises(ValueError) as e:
        init_from_hf(d)
    msg = str(e.value)
    assert msg == (
        f"the tokenizer in {d} has 304 tokens but the model only 301: the model has no row for "
        f"'<pad>' (id 301), '<|user|>' (id 302), '<|bot|>' (id 303), which the folder's "
        f"tokenizer files number themselves: tokens added to the tokenizer after the model "
        f"was saved (in transformers, model.resize_token_embeddings(len(tokenizer)) before "
        f"save_pretrained gives them rows); use a model with a row for each, or remove them "
        f"from the tokenizer files")


def test_added_and_appended_tokens_without_rows_are_both_named(tmp_path):
    """A vocabulary of 300 without <|endoftext|>, an added token <|user|> (id 300) and a model
    of 300 rows: transformers numbers the appended <|endoftext|> 301. The error named only
    <|user|>, so a model with a row for it, or the folder without it, was refused again."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import init_from_hf, save_hf
    d = _bpe_folder(tmp_path / "hf", files={"added_tokens.json": {"<|user|>": 300}})
    save_hf(GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, n_embd=8)), d)
    with pytest.raises(ValueError) as e:
        init_from_hf(d)
    msg = str(e.value)
    assert msg.startswith(
        f"the tokenizer in {d} has 302 tokens but the model only 300: the model has no row for "
        f"'<|user|>' (id 300), which the folder's tokenizer files number themselves: ")
    assert msg.endswith(
        "remove it from the tokenizer files; it has no row either for '<|endoftext|>' (id 301), "
        "a special token the vocabulary lacks that transformers' GPT2Tokenizer appends too; "
        "have special_tokens_map.json and tokenizer_config.json name tokens the vocabulary "
        "holds (null for none: bos_token, eos_token and unk_token default to "
        "'<|endoftext|>'), or give the model a row for each")


def test_a_token_numbered_in_tokenizer_json_vocabulary_is_not_called_appended(tmp_path):
    """The GPT-2 vocabulary (<|endoftext|> its last id, 300) saved as a tokenizer.json by
    `tokenizers`, beside a model of 300 rows: the file numbers the token in its vocabulary,
    so it is not one transformers appends and the error says so, as for a vocab.json."""
    pytest.importorskip("safetensors")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.hf import init_from_hf, save_hf
    d = _bpe_folder(tmp_path / "hf", endoftext=True)
    tk.ByteLevelBPETokenizer.from_file(str(d / "vocab.json"), str(d / "merges.txt")).save(
        str(d / "tokenizer.json"))
    (d / "vocab.json").unlink()
    (d / "merges.txt").unlink()
    save_hf(GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, n_embd=8)), d)
    with pytest.raises(ValueError, match=r"the model has no row for '<\|endoftext\|>' \(id 300\), "
                                         r"which the folder's tokenizer files number "
                                         r"themselves: .*remove it from the tokenizer files$"):
        init_from_hf(d)


@pytest.mark.parametrize("added", [None, "added_tokens.json"])
def test_tokenizer_json_is_read_before_a_vocab_json_beside_it(tmp_path, added):
    """transformers reads tokenizer.json where there is one; we read vocab.json + merges.txt
    when they were there too, so a folder whose files disagree (a stale copy) gave other ids
    than transformers without a word. And with only a tokenizer.json, the tokens added in
    added_tokens.json were ignored ("<|user|>" split into bytes)."""
    bpe = _trained()
    bpe.add_special_tokens(["<|endoftext|>"])
    bpe.save(str(tmp_path / "tokenizer.json"))
    n = bpe.get_vocab_size()
    if added == "added_tokens.json":
        (tmp_path / "added_tokens.json").write_text(json.dumps({"<|user|>": n}))
    if added:
        bpe.add_special_tokens(["<|user|>"])
    else:
        _stale_vocab_json(tmp_path)
    text = "The quick<|user|> brown fox<|endoftext|> merhaba dünya"
    want = bpe.encode(text).ids
    tok = load_hf_tokenizer(tmp_path)
    assert tok.encode(text) == want and tok.decode(want) == text
    if added:
        assert n in want


_DECODER = {"tokenizer_config.json": {"added_tokens_decoder": {
    "0": {"content": "<pad>", "special": True}, "1": {"content": "<s>", "special": True},
    "300": {"content": "<|endoftext|>", "special": True}}}}


@pytest.mark.parametrize("layout, says", [
    ({"added_tokens.json": {"<|user|>": 301}},
     "added_tokens.json lists the added token '<|user|>' (id 301), but transformers reads only "
     "the added_tokens_decoder of tokenizer_config.json, which does not list it; list it there "
     "with that id, or remove it from added_tokens.json"),
    ({"tokenizer.json": None},
     "tokenizer.json: added_tokens lists the added token '<|user|>' (id 301), but transformers "
     "reads only the added_tokens_decoder of tokenizer_config.json, which does not list it"),
    ({"special_tokens_map.json": {"mask_token": "<mask>", "eos_token": "<|endoftext|>"}},
     "special_tokens_map.json names '<mask>' (mask_token in special_tokens_map.json), but "
     "transformers does not read special_tokens_map.json when tokenizer_config.json has an "
     "added_tokens_decoder, and reads '<mask>' in a text as ordinary text; name it in "
     "tokenizer_config.json too, or remove it from special_tokens_map.json"),
], ids=["added_tokens.json", "tokenizer.json", "special_tokens_map.json"])
def test_files_transformers_skips_beside_an_added_tokens_decoder_are_not_read(tmp_path,
                                                                               layout, says):
    """Where tokenizer_config.json has an added_tokens_decoder, transformers 5 reads neither
    added_tokens.json, tokenizer.json's added_tokens nor special_tokens_map.json: a token listed
    only there is ordinary text to it ("<|user|>" six byte tokens), while we gave it one id.
    Such a folder is refused, naming the file; one whose files agree still loads."""
    tokenizer_json = "tokenizer.json" in layout
    d = _bpe_folder(tmp_path / "tok", ["<pad>", "<s>"], endoftext=True,
                    tokenizer_json=tokenizer_json,
                    files={**_DECODER, **{k: v for k, v in layout.items() if v is not None}})
    if tokenizer_json:
        data = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
        data["added_tokens"].append({"id": 301, "content": "<|user|>", "special": True})
        (d / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_hf_tokenizer(d)
    assert str(e.value).startswith(str(d / next(iter(layout)))) and says in str(e.value), \
        str(e.value)
    try:
        import transformers
    except ImportError:
        return
    hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
    token = "<mask>" if "special_tokens_map.json" in layout else "<|user|>"
    assert len(hf.encode(token)) > 1                 # transformers splits it: never one id


def test_files_that_agree_with_the_added_tokens_decoder_are_read(tmp_path):
    """As transformers 4.x saves a folder: the same tokens in every file."""
    d = _bpe_folder(tmp_path / "tok", ["<pad>"], endoftext=True, tokenizer_json=True, files={
        "tokenizer_config.json": {"pad_token": "<pad>", "added_tokens_decoder": {
            "0": {"content": "<pad>", "special": True},
            "300": {"content": "<|endoftext|>", "special": True},
            "301": {"content": "<|user|>", "special": True}}},
        "added_tokens.json": {"<|user|>": 301},
        "special_tokens_map.json": {"pad_token": "<pad>", "eos_token": "<|endoftext|>"}})
    data = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    data["added_tokens"].append({"id": 301, "content": "<|user|>", "special": True})
    (d / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    tok = load_hf_tokenizer(d)
    text = "<pad>a<|user|>b<|endoftext|>"
    assert tok.encode(text)[::2] == [0, 301, 300]
    try:
        import transformers
    except ImportError:
        return
    assert tok.encode(text) == transformers.GPT2Tokenizer.from_pretrained(str(d)).encode(text)


_PROBE = [" <|a|> x", "x<|a|>y", "The  <|a|>  quick", "ab<|a|>\n\nc"]


def _flagged_folder(d, source, flag, value=True):
    """A folder whose token <|a|> carries `flag` in `source`: an added token of
    tokenizer_config.json's added_tokens_decoder or of tokenizer.json, or a special token
    named with its flags in special_tokens_map.json or tokenizer_config.json."""
    obj = {"content": "<|a|>", "lstrip": False, "rstrip": False, "single_word": False,
           "normalized": False, "special": True, flag: value}
    if source == "tokenizer.json":
        d = _bpe_folder(d, endoftext=True, tokenizer_json=True)
        data = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
        data["added_tokens"].append({"id": 301, **obj})
        (d / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
        return d
    files = {
        "added_tokens_decoder": {"tokenizer_config.json": {"added_tokens_decoder": {
            "300": {"content": "<|endoftext|>", "special": True}, "301": obj}}},
        "special_tokens_map.json": {"special_tokens_map.json": {"pad_token": obj}},
        "tokenizer_config.json": {"tokenizer_config.json": {
            "pad_token": {"__type": "AddedToken", **obj}}},
    }[source]
    return _bpe_folder(d, endoftext=True, files=files)


@pytest.mark.parametrize("flag", ["lstrip", "rstrip", "single_word"])
@pytest.mark.parametrize("source", ["added_tokens_decoder", "tokenizer.json",
                                    "special_tokens_map.json", "tokenizer_config.json"])
def test_added_token_flags_transformers_honours_are_refused(tmp_path, source, flag):
    """lstrip, rstrip and single_word on an added or special token were ignored: transformers
    takes the spaces beside such a token into it (or matches it only as a word of its own), so
    " <|a|> x" got other ids than transformers gives. Refused, naming the file and the flag."""
    d = _flagged_folder(tmp_path / "tok", source, flag)
    with pytest.raises(ValueError) as e:
        load_hf_tokenizer(d)
    f = "tokenizer.json" if source == "tokenizer.json" else \
        "special_tokens_map.json" if source == "special_tokens_map.json" else \
        "tokenizer_config.json"
    assert str(e.value).startswith(f"{d / f}: ") and \
        f"'<|a|>' has {flag} true: transformers then " in str(e.value) and \
        str(e.value).endswith(f"so set {flag} to false"), str(e.value)
    plain = _flagged_folder(tmp_path / "plain", source, flag, False)
    tok = load_hf_tokenizer(plain)
    try:
        import transformers
    except ImportError:
        return
    hf = transformers.GPT2Tokenizer.from_pretrained(str(plain))
    assert [tok.encode(t) for t in _PROBE] == [hf.encode(t) for t in _PROBE]
    hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
    assert [tok.encode(t) for t in _PROBE] != [hf.encode(t) for t in _PROBE]   # it honours it


def test_flags_transformers_does_not_apply_are_read(tmp_path):
    """normalized changes nothing (GPT2Tokenizer does not normalise), and a special token's
    flags in special_tokens_map.json give way to those of the added token it names (here
    added_tokens.json's, all false): both folders load, with transformers' ids."""
    folders = [_flagged_folder(tmp_path / "a", "added_tokens_decoder", "normalized"),
               _bpe_folder(tmp_path / "b", endoftext=True, files={
                   "added_tokens.json": {"<|a|>": 301},
                   "special_tokens_map.json": {"pad_token": {"content": "<|a|>",
                                                             "lstrip": True}}})]
    toks = [load_hf_tokenizer(d) for d in folders]
    try:
        import transformers
    except ImportError:
        return
    for d, tok in zip(folders, toks):
        hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
        assert [tok.encode(t) for t in _PROBE] == [hf.encode(t) for t in _PROBE], d


def _dec(*tokens):
    """tokenizer_config.json with an added_tokens_decoder of (content, special: None for
    unset) from id 301 on, <|endoftext|> (vocab.json's last id, 300) first."""
    dec = {"300": {"content": "<|endoftext|>", "special": True}}
    dec.update({str(301 + k): {"content": t, **({} if sp is None else {"special": sp})}
                for k, (t, sp) in enumerate(tokens)})
    return {"tokenizer_config.json": {"added_tokens_decoder": dec}}


# (files, the two tokens as named in the error, a text where transformers' ids differ from
# one pass's)
_TWO_PASSES = {
    # a special token (normalized false, first pass) and an ordinary one (true, second pass):
    # 'x<a>' is x + <a> to transformers, x<a + > in one pass
    "the end of one the start of the other": (_dec(("<a>", True), ("x<a", False)),
                                              ("<a>", "x<a"), "x<a>"),
    # the special one inside the ordinary one: '<|a|>b' is <|a|> + b to transformers
    "first inside later": (_dec(("<|a|>", True), ("<|a|>b", False)), ("<|a|>", "<|a|>b"),
                           "<|a|>b"),
    # added_tokens.json's tokens are normalized unless a file names them as special tokens
    "added_tokens.json + a pad_token": (
        {"added_tokens.json": {"<a>": 301, "x<a": 302},
         "tokenizer_config.json": {"pad_token": "<a>"}}, ("<a>", "x<a"), "x<a>"),
    # <|endoftext|> (named: normalized false) and an ordinary added token ending in '<|'
    "the default <|endoftext|>": ({"added_tokens.json": {"b<|": 301}},
                                  ("<|endoftext|>", "b<|"), "b<|endoftext|>"),
}


@pytest.mark.parametrize("layout", list(_TWO_PASSES))
def test_tokens_transformers_matches_in_two_passes_are_refused_where_they_overlap(tmp_path,
                                                                                  layout):
    """transformers looks for the added tokens with normalized false first, then for the
    others in what is left; we took the longest token that starts first, so where two such
    tokens overlap ('<a>' special, 'x<a' not: 'x<a>') the ids differed. Refused, naming both."""
    files, (first, later), text = _TWO_PASSES[layout]
    d = _bpe_folder(tmp_path, endoftext=True, files=files)
    with pytest.raises(ValueError) as e:
        load_hf_tokenizer(d)
    assert str(e.value).startswith(f"{d}: the tokens {first!r} and {later!r} overlap in a text "
                                   f"such as "), str(e.value)
    assert "first those with normalized false" in str(e.value)
    try:
        import transformers
    except ImportError:
        return
    hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
    assert later not in hf.convert_ids_to_tokens(hf.encode(text))    # not the longest first


@pytest.mark.parametrize("files, text", [
    # the same pass (both ordinary added tokens): the longest that starts first, as we do
    ({"added_tokens.json": {"<a>": 301, "x<a": 302}}, "x<a> <a>x<a"),
    ({"tokenizer_config.json": {"added_tokens_decoder": _dec(
        ("<a>", True), ("x<a", True))["tokenizer_config.json"]["added_tokens_decoder"]}},
     "x<a> <a>x<a"),
    # the ordinary token only inside the special one, or starting where the special one
    # ends: the special one starts first (or at the same place and longer), both take it
    (_dec(("<|a|>b", True), ("<|a|>", False)), "<|a|>b<|a|> <|a|><|a|>bb"),
    (_dec(("x<a", True), ("a>", False)), "x<a> a>x<a>>"),
    # '  ' (ordinary) ends where '   ' (special) starts, but '   ' starts there too
    (_dec(("   ", True), ("  ", False)), "x" + " " * 9 + "y  z    "),
], ids=["added_tokens.json", "both special", "later inside first", "first ends, later starts",
        "runs of spaces"])
def test_overlapping_tokens_matched_alike_in_one_pass_load(tmp_path, files, text):
    d = _bpe_folder(tmp_path, endoftext=True, files=files)
    tok = load_hf_tokenizer(d)
    try:
        import transformers
    except ImportError:
        return
    hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
    assert tok.encode(text) == hf.encode(text)


def test_the_normalized_flags_we_read_are_transformers(tmp_path):
    """_transformers_normalized follows transformers' own steps: each flag it gives is the one
    transformers' GPT2Tokenizer holds (named tokens, objects, defaults, added_tokens.json)."""
    transformers = pytest.importorskip("transformers")
    from nanograd_llm.hf import _transformers_normalized
    layouts = [
        {"added_tokens.json": {"<a>": 301, "x<a": 302},
         "special_tokens_map.json": {"additional_special_tokens": ["<a>"]}},
        {"added_tokens.json": {"<a>": 301, "x<a": 302},
         "tokenizer_config.json": {"additional_special_tokens": ["<a>"], "pad_token": "x<a"}},
        {"added_tokens.json": {"<a>": 301},
         "special_tokens_map.json": {"pad_token": {"content": "<a>", "normalized": True}}},
        _dec(("<a>", True), ("x<a", False), ("y", None)),
        {"tokenizer_config.json": {"pad_token": "x<a", "added_tokens_decoder": _dec(
            ("x<a", False))["tokenizer_config.json"]["added_tokens_decoder"]}},
        {"tokenizer_config.json": {"image_token": {"__type": "AddedToken", "content": "<a>",
                                                   "normalized": True}}},
        # extra special tokens as special_tokens_map.json writes them: a list, or an object of
        # a model's own named tokens (in either file)
        {"added_tokens.json": {"<a>": 301, "x<a": 302},
         "special_tokens_map.json": {"extra_special_tokens": ["<a>"]}},
        {"added_tokens.json": {"<a>": 301},
         "tokenizer_config.json": {"extra_special_tokens": {"image_token": "<img>"}}},
        {"added_tokens.json": {"<a>": 301},
         "special_tokens_map.json": {"extra_special_tokens": {"image_token": "<img>"}}},
    ]
    for k, files in enumerate(layouts):
        d = _bpe_folder(tmp_path / str(k), endoftext=True, files=files)
        hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
        want = {t.content: t.normalized for t in hf.added_tokens_decoder.values()}
        assert _transformers_normalized(d) == want, files


@pytest.mark.parametrize("file", ["tokenizer_config.json", "special_tokens_map.json"])
def test_a_model_token_object_in_extra_special_tokens_keeps_its_normalized_flag(tmp_path, file):
    """transformers 5 writes a model's own named tokens as an extra_special_tokens object
    ({"image_token": …}); an AddedToken there with normalized true is looked for in the second
    pass. Its flag was dropped, so 'x<a' (normalized) and '<a>' (special) were taken as one
    pass: "x<a>" became 'x<a' + '>' where transformers gives 'x' + '<a>'. Now refused."""
    transformers = pytest.importorskip("transformers")
    from nanograd_llm.hf import _transformers_normalized
    files = {"tokenizer_config.json": {"pad_token": "<a>"}}
    files.setdefault(file, {})["extra_special_tokens"] = {"image_token": {
        "__type": "AddedToken", "content": "x<a", "normalized": True}}
    d = _bpe_folder(tmp_path, specials=("<a>",), endoftext=True, files=files)
    hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
    assert _transformers_normalized(d) == {t.content: t.normalized
                                           for t in hf.added_tokens_decoder.values()}
    assert hf.encode("x<a>")[1:] == [0]                                 # 'x' + '<a>'
    with pytest.raises(ValueError, match="the tokens '<a>' and 'x<a' overlap"):
        load_hf_tokenizer(d)


# -- a differential fuzz against transformers' GPT2Tokenizer ---------------------------------
# Every folder layout we read (and a few with overlapping added tokens) against transformers:
# texts of Turkish letters, decomposed (NFD) marks, emoji and keycaps, runs of whitespace, digits,
# contractions, any Unicode character, with the folder's added and special tokens (and pieces of
# them) at random places; then random folders (added tokens from each file, with their flags,
# named as special tokens in either file): each is refused, or gives transformers' ids.


def _in_vocab_added(d):
    """added_tokens.json listing 'x' (a byte token of vocab.json, with its id) beside new
    tokens; the byte '!' named as unk_token."""
    d = _bpe_folder(d, endoftext=True)
    vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
    (d / "added_tokens.json").write_text(json.dumps({"x": vocab["x"], "<|user|>": 301}))
    (d / "special_tokens_map.json").write_text(json.dumps({"unk_token": "!"}))
    return d


_FUZZ_FOLDERS = {
    **_FOLDERS,
    # ordinary added tokens that overlap (one pass: the longest that starts first)
    "overlapping added tokens": lambda d: _bpe_folder(d, endoftext=True, files={
        "added_tokens.json": {"<a>": 301, "x<a": 302, "<|a|>": 303, "<|a|>b": 304}}),
    # an ordinary token inside a special one; special tokens that overlap
    "tokens inside special ones": lambda d: _bpe_folder(d, endoftext=True, files=_dec(
        ("<|a|>b", True), ("<|a|>", False), ("b!", True))),
    "added tokens in the vocabulary": _in_vocab_added,
}
_FUZZ_PIECES = ["merhaba", " dünya", "İstanbul", " ışık", "ŞEKER", "ğüşiöç", "s\u0327eker",
                "g\u0306", "I\u0307", "o\u0308", "\u0301", "2\ufe0f\u20e3", "#\ufe0f\u20e3",
                "❤️", "👍🏽", "🇹🇷", "👨\u200d👩\u200d👧", "123", " 4567", "'s", "'t", "'re",
                "'ve", "'m", "'ll", "'d", "Ankara'da", "don't", "’", " ", "  ", "   ", "\t",
                "\t\t", "\r\n", "\n", "\n\n", " \n", "\u00a0", "\u3000", "\x85", "\u2028", "...",
                "!", "x", "<", ">", "|", "<|", "|>", "b"]


@pytest.fixture(scope="module")
def fuzz_folders(tmp_path_factory):
    """layout -> (our tokenizer, transformers', its added and special tokens)."""
    transformers = pytest.importorskip("transformers")
    out = {}
    for name, make in _FUZZ_FOLDERS.items():
        d = make(tmp_path_factory.mktemp("fuzz") / "tok")
        hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
        out[name] = (load_hf_tokenizer(d), hf,
                     sorted(set(hf.get_added_vocab()) | set(hf.all_special_tokens)))
    return out


def _fuzz_text(tokens):
    piece = st.one_of(st.sampled_from(_FUZZ_PIECES), st.sampled_from(tokens),
                      st.characters(codec="utf-8"), st.text(max_size=3))
    return st.lists(piece, max_size=10).map("".join)


def test_the_empty_text_is_no_ids_on_every_layout(fuzz_folders):
    for name, (tok, hf, _) in fuzz_folders.items():
        assert tok.encode("") == hf.encode("") == [] and tok.decode([]) == "", name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_our_ids_equal_transformers_on_every_layout(fuzz_folders, data):
    """ids equal transformers' for any text, and decode gives the text back wherever
    transformers' decode does."""
    name = data.draw(st.sampled_from(sorted(fuzz_folders)), label="layout")
    tok, hf, tokens = fuzz_folders[name]
    text = data.draw(_fuzz_text(tokens), label="text")
    want = hf.encode(text)
    assert tok.encode(text) == want
    if hf.decode(want) == text:
        assert tok.decode(want) == text


_POOL = ["<a>", "x<a", "<|a|>", "<|a|>b", "a>", "b<|", "|>", "<|user|>", "  ", "   ", "x"]
_X = 87                     # the id of the byte token 'x' (GPT-2 numbers the bytes from '!')


@pytest.fixture(scope="module")
def fuzz_bases(tmp_path_factory):
    """A folder of vocab.json + merges.txt (bases/False) and one of tokenizer.json
    (bases/True), both with <|endoftext|> at id 300, to copy into each random folder."""
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("bases")
    for tj in (False, True):
        _bpe_folder(root / str(tj), endoftext=True, tokenizer_json=tj)
    assert json.loads((root / "False" / "vocab.json").read_text())["x"] == _X
    assert json.loads((root / "True" / "tokenizer.json").read_text())["model"]["vocab"]["x"] == _X
    return root


_FLAG = st.sampled_from([None, True, False])


@st.composite
def _random_folder(draw):
    """(tokenizer.json?, {file: JSON}) of a folder with added tokens from one file and a token
    named as special in one of the two files that name them."""
    tj = draw(st.booleans())
    tokens = draw(st.lists(st.sampled_from(_POOL), min_size=1, max_size=4, unique=True))
    source = draw(st.sampled_from(["added_tokens.json", "added_tokens_decoder"]
                                  + ["tokenizer.json"] * tj))
    ids, k = {}, 301
    for t in tokens:
        ids[t] = _X if t == "x" else k          # 'x' is a byte token of the vocabulary
        k += t != "x"
    objs = {t: {"content": t, **{f: v for f, v in (("special", draw(_FLAG)),
                                                   ("normalized", draw(_FLAG))) if v is not None}}
            for t in tokens}
    files = {}
    if source == "added_tokens.json":
        files["added_tokens.json"] = ids
    elif source == "added_tokens_decoder":
        files["tokenizer_config.json"] = {"added_tokens_decoder": {
            "300": {"content": "<|endoftext|>", "special": True},
            **{str(ids[t]): objs[t] for t in tokens}}}
    else:
        files["tokenizer.json"] = [
            {"id": ids[t], "lstrip": False, "rstrip": False, "single_word": False,
             "special": bool(objs[t].get("special")),
             "normalized": objs[t].get("normalized", not objs[t].get("special")),
             "content": t} for t in tokens]
    where = draw(st.sampled_from([None, "tokenizer_config.json", "special_tokens_map.json"]))
    if where and not (where == "special_tokens_map.json" and source == "added_tokens_decoder"):
        key = draw(st.sampled_from(["pad_token", "additional_special_tokens", "image_token"]))
        tok = draw(st.sampled_from(tokens + ["<|endoftext|>"]))
        # (an object in special_tokens_map.json's list: transformers 5.24 fails to load it)
        if draw(st.booleans()) and not (key.endswith("tokens") and where[0] == "s"):
            tok = {"content": tok, "normalized": draw(st.booleans()),
                   **({"__type": "AddedToken"} if where == "tokenizer_config.json" else {})}
        files.setdefault(where, {})[key] = [tok] if key.endswith("tokens") else tok
    return tj, files


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(folder=_random_folder())
def test_fuzz_a_folder_we_read_gives_transformers_ids(fuzz_bases, tmp_path_factory, folder):
    """No silent mismatch: a random folder is refused, or every text of its tokens put next to
    each other (where overlapping tokens are told apart) gives transformers' ids."""
    import transformers
    tj, files = folder
    d = tmp_path_factory.mktemp("random")
    for f in (fuzz_bases / str(tj)).iterdir():
        shutil.copy(f, d / f.name)
    for name, data in files.items():
        if name == "tokenizer.json":
            whole = json.loads((d / name).read_text(encoding="utf-8"))
            whole["added_tokens"] += data
            data = whole
        (d / name).write_text(json.dumps(data), encoding="utf-8")
    try:
        tok = load_hf_tokenizer(d)
    except ValueError as e:
        assert str(d) in str(e)                         # a clear error, naming the folder
        return
    hf = transformers.GPT2Tokenizer.from_pretrained(str(d))
    assert tok.vocab_size == len(hf)
    tokens = sorted(set(hf.get_added_vocab()) | set(hf.all_special_tokens))
    for a in tokens + [""]:
        for b in tokens:
            # side by side, and overlapping wherever the end of a is the start of b
            merged = [a + b[k:] for k in range(1, min(len(a), len(b))) if a.endswith(b[:k])]
            for text in (a + b, f"x{a} {b}b", f"{a}{b}{a}", *merged, *(f"<{m}|" for m in merged)):
                assert tok.encode(text) == hf.encode(text), text


@pytest.mark.parametrize("name", ["vocab.json alone", "tokenizer.json + a named pad",
                                  "tokenizer.json + added_tokens.json",
                                  "a model's own named tokens", "gpt2 layout"])
def test_a_folder_loads_without_writing_temporary_files(tmp_path, monkeypatch, name):
    """A folder whose tokenizer gains an added token (vocab.json alone: GPT2Tokenizer appends
    <|endoftext|>), and every tokenizer.json, was loaded through a vocab.json / merges.txt
    written to the system's temporary folder: with that folder full (or unwritable) `sample
    --hf` stopped with a bare '[Errno 28] No space left on device'. The tokenizer is now built
    in memory: a temporary folder that cannot be used changes nothing."""
    import tempfile
    d = _FOLDERS[name](tmp_path / "hf")
    expected = load_hf_tokenizer(d).encode(SPECIAL_TEXT)
    unusable = tmp_path / "not-a-folder"
    unusable.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(unusable))     # mkdtemp/mkstemp fail there
    assert load_hf_tokenizer(d).encode(SPECIAL_TEXT) == expected
