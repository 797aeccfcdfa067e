"""Hugging Face GPT-2 folders without `transformers`: tokenizer files and safetensors layouts
that `transformers` / `tokenizers` write (checked against the `tokenizers` library itself)."""
import json

import pytest

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


def test_plain_gpt2_tokenizer_json_still_loads(tmp_path):
    bpe = _trained()
    bpe.save(str(tmp_path / "tokenizer.json"))
    text = "The Fox kahverengi, merhaba dünya!"
    assert load_hf_tokenizer(tmp_path).encode(text) == bpe.encode(text).ids
