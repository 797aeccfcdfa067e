"""Robustness of the file side: tokenizer files checked against the manifest, readers racing a
writer, corpus temp files cleaned up, data-size hints, malformed tokenizer files."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from nanograd_llm import GPT, BigramLM, checkpoint as ckpt, data as D
from nanograd_llm.models.gpt import GPTConfig
from nanograd_llm.optim import AdamW
from nanograd_llm.tokenizers import CharTokenizer, load_tokenizer


def _gpt(vocab=10, seed=1):
    return GPT(GPTConfig(vocab_size=vocab, block_size=8, n_layer=1, n_head=2, n_embd=8),
               seed=seed)


def _save(d, tok, model=None, step=1, optimizer=True):
    model = model or _gpt(tok.vocab_size)
    opt = None
    if optimizer:
        opt = AdamW(model)
        model.grad_flat[...] = 0.01
        opt.step()
    ckpt.save_checkpoint(d, model, opt, tok, step, train_config={"seed": 1})
    return model


def _bpe(text="hello world, merhaba dünya! "):
    pytest.importorskip("regex")
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    return BPETokenizer.train(text * 20, 270)


# -- 5. malformed tokenizer files --------------------------------------------------------------

def _char_file(d, obj):
    d.mkdir(exist_ok=True)
    (d / "tokenizer_meta.json").write_text(json.dumps({"type": "char"}))
    (d / "tokenizer.json").write_text(json.dumps(obj))


@pytest.mark.parametrize("chars,message", [
    ([1, 2], r"'chars' must be a list of single characters, but entry 0 is 1 \(int\)"),
    (["a", None], r"entry 1 is None"),
    (["a", ["b"]], r"entry 1 is \['b'\]"),
    (["ab"], "single characters"),
    ([], "at least one character"),
    (["a", "a"], "duplicate"),
])
def test_char_tokenizer_file_with_bad_entries(tmp_path, chars, message):
    _char_file(tmp_path / "t", {"format": "nanograd_llm.char_tokenizer", "version": 1,
                                "chars": chars})
    with pytest.raises(ValueError, match=message) as e:
        load_tokenizer(tmp_path / "t")
    assert str(e.value).startswith(str(tmp_path / "t" / "tokenizer.json"))
    assert "normalize()" not in str(e.value)


def test_char_tokenizer_constructor_names_a_non_string_entry():
    with pytest.raises(TypeError, match="vocabulary entries must be strings, got 3"):
        CharTokenizer(["a", 3])


@pytest.mark.parametrize("meta", [[], "char", {"kind": "char"}, {"type": ["char"]}])
def test_malformed_tokenizer_meta_names_the_file(tmp_path, meta):
    (tmp_path / "tokenizer_meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="tokenizer_meta.json"):
        load_tokenizer(tmp_path)


@pytest.mark.parametrize("file,content,message", [
    ("tokenizer_meta.json", {"type": "bpe", "special_tokens": [1]}, "'special_tokens' must"),
    ("tokenizer_meta.json", {"type": "bpe", "special_tokens": [""]}, "'special_tokens' must"),
    ("tokenizer_meta.json", {"type": "bpe", "special_tokens": "x"}, "'special_tokens' must"),
    ("tokenizer_meta.json", {"type": "bpe", "pattern": 5}, "'pattern' must be a string"),
    ("tokenizer_meta.json", {"type": "bpe", "pattern": "(unclosed"}, "invalid pre-token"),
    ("vocab.json", ["a", "b"], "expected a non-empty JSON object"),
    ("vocab.json", {"a": "0"}, "must be a non-negative integer"),
    ("vocab.json", {"a": 1.5}, "must be a non-negative integer"),
    ("vocab.json", {"a": 10 ** 12}, "larger than any vocabulary"),
])
def test_malformed_bpe_files_name_the_file(tmp_path, file, content, message):
    _bpe().save(tmp_path)
    (tmp_path / file).write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message) as e:
        load_tokenizer(tmp_path)
    assert str(e.value).startswith(str(tmp_path / file))
