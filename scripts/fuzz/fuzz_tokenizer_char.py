"""Fuzz a character tokenizer's files (tokenizer.json, tokenizer_meta.json).

    .venv/bin/python scripts/fuzz/fuzz_tokenizer_char.py -max_total_time=120

Seed: the files a two-step run saved (first input byte: which file). Loader: load_tokenizer,
then what `sample` does with it (start_ids, decode).
"""
import _common as c
from _common import tokenizers

D = c.fresh_copy(c.seed_run("char"), "char")
FILES = ["tokenizer.json", "tokenizer_meta.json"]
ORIGINAL = {n: (D / n).read_bytes() for n in FILES}


def one(data: bytes) -> None:
    name, body = c.write_picked(D, data, ORIGINAL)
    tok = c.check(lambda: tokenizers.load_tokenizer(D), (str(D),))
    if tok is not None:
        ids = c.check(lambda: tokenizers.start_ids(tok))
        c.check(lambda: c.printable(tok.decode(c.first_ids(tok) + list(ids or []))))
        c.check(lambda: tok.encode(c.TEXT[:40], errors="replace"))


if __name__ == "__main__":
    c.run("char", one, {f"seed{i}": bytes([i]) + ORIGINAL[n] for i, n in enumerate(FILES)})
