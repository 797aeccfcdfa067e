"""Fuzz this package's BPE tokenizer files (vocab.json, merges.txt, tokenizer_meta.json).

    .venv/bin/python scripts/fuzz/fuzz_tokenizer_bpe.py -max_total_time=180

Seed: the files a two-step run with tokenizer=bpe saved (first input byte: which file).
Loader: load_tokenizer, then start_ids, encode and decode as `sample`/`eval` use it.
"""
import _common as c
from _common import tokenizers

D = c.fresh_copy(c.seed_run("bpe"), "bpe")
FILES = ["vocab.json", "merges.txt", "tokenizer_meta.json"]
ORIGINAL = {n: (D / n).read_bytes() for n in FILES}


def one(data: bytes) -> None:
    name, body = c.write_picked(D, data, ORIGINAL)
    tok = c.check(lambda: tokenizers.load_tokenizer(D), (str(D),))
    if tok is not None:
        ids = c.check(lambda: tok.encode(c.TEXT[:60]))
        c.check(lambda: tokenizers.start_ids(tok))
        c.check(lambda: c.printable(tok.decode(list(ids or []) + c.first_ids(tok))))


if __name__ == "__main__":
    c.run("bpe", one, {f"seed{i}": bytes([i]) + ORIGINAL[n] for i, n in enumerate(FILES)})
