"""Tokenizers: character level (char.py) and byte-level BPE (bpe.py)."""
from __future__ import annotations

import json
from pathlib import Path

from ..atomic import load_json
from .char import CharTokenizer

__all__ = ["CharTokenizer", "load_tokenizer", "start_ids", "TOKENIZER_TYPES"]

TOKENIZER_TYPES = ("char", "bpe")


def _bpe_class():
    try:
        from .bpe import BPETokenizer
    except ImportError as e:
        if getattr(e, "name", None) in (__name__ + ".bpe", "bpe"):
            raise RuntimeError("the BPE tokenizer (nanograd_llm/tokenizers/bpe.py) is not "
                               "available in this installation") from None
        raise RuntimeError(f"the BPE tokenizer needs an optional dependency ({e}); "
                           'install it with `pip install regex` (in a source checkout: '
                           '`pip install -e ".[bpe]"`)') from None
    return BPETokenizer


def start_ids(tokenizer) -> list[int]:
    """Token ids to start generating from when no prompt is given: a newline where the
    tokenizer knows it, else a space, else token 0 (a corpus without line breaks has no
    newline character in a character-level vocabulary)."""
    for text in ("\n", " "):
        try:
            ids = list(tokenizer.encode(text))
        except (ValueError, KeyError):
            continue
        if ids:
            return ids
    return [0]


END_OF_TEXT = "<|endoftext|>"


def end_id(tokenizer) -> int | None:
    """The id of the tokenizer's end-of-text special token (GPT-2's `<|endoftext|>`), or None
    (a character tokenizer has none). Generation for a user stops there."""
    specials = getattr(tokenizer, "special_tokens", None)
    if isinstance(specials, dict) and END_OF_TEXT in specials:
        return int(specials[END_OF_TEXT])
    return None


def load_tokenizer(directory):
    """Load whichever tokenizer `directory` holds (its tokenizer_meta.json names the type)."""
    return _load_tokenizer(directory)


def _load_tokenizer(directory, meta_bytes: bytes | None = None):
    """load_tokenizer; meta_bytes: the bytes of tokenizer_meta.json where the caller has read
    them already (checkpoint.load_run_tokenizer, which checked their sha256)."""
    meta_path = Path(directory) / "tokenizer_meta.json"
    if meta_bytes is None:
        if not meta_path.is_file():
            raise FileNotFoundError(f"no tokenizer metadata file: {meta_path}")
        meta_bytes = meta_path.read_bytes()
    # İletide Python'un iç hata adları (TypeError('list indices …'), JSONNestedTooDeep(…))
    # değil, dosyanın neyinin yanlış olduğu durur
    try:
        meta = load_json(meta_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{meta_path} is not a valid tokenizer metadata file (not valid "
                         f"JSON: {e})") from None
    if not isinstance(meta, dict) or "type" not in meta:
        raise ValueError(f"{meta_path} is not a valid tokenizer metadata file (expected a "
                         f"JSON object with a 'type' entry)")
    kind = meta["type"]
    if kind == "char":
        return CharTokenizer.load(directory)
    if kind == "bpe":
        # Dosya bir kez okunur: ayrıştırılmış hâli yükleyiciye verilir
        return _bpe_class().load(directory, meta=meta)
    raise ValueError(f"{meta_path}: unknown tokenizer type {kind!r} "
                     f"(expected one of {', '.join(TOKENIZER_TYPES)})")
