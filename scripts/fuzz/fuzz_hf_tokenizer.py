"""Fuzz the tokenizer files of a Hugging Face GPT-2 folder: tokenizer.json (written by the
`tokenizers` library), vocab.json, merges.txt, tokenizer_config.json, and added_tokens.json and
special_tokens_map.json where transformers writes them.

    .venv/bin/python scripts/fuzz/fuzz_hf_tokenizer.py -max_total_time=180

Seed: a GPT-2 folder this package saved (save_hf + the BPE tokenizer); the first input byte
picks the file. vocab.json and merges.txt are read from a copy without tokenizer.json (where
it is there, transformers and this package read it alone). Loader: load_hf_tokenizer.
"""
import json

import _common as c
from _common import hf, tokenizers

SEED = c.seed_hf()
WITH_TJ = c.fresh_copy(SEED, "hftok_tj")
PLAIN = c.fresh_copy(SEED, "hftok_plain")
(PLAIN / "tokenizer.json").unlink(missing_ok=True)
EOT = "<|endoftext|>"
EXTRA = {"added_tokens.json": json.dumps({EOT: 299}).encode(),
         "special_tokens_map.json": json.dumps({"bos_token": EOT, "eos_token": EOT}).encode()}
FILES = ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
         "added_tokens.json", "special_tokens_map.json"]
ORIGINAL = {n: (SEED / n).read_bytes() if (SEED / n).is_file() else EXTRA.get(n)
            for n in FILES}


def one(data: bytes) -> None:
    name, body = c.pick(data, FILES)
    d = WITH_TJ if name in ("tokenizer.json", "tokenizer_config.json") else PLAIN
    for n in FILES:
        if n == "tokenizer.json" and d is PLAIN:
            continue
        if n in EXTRA and n != name:
            (d / n).unlink(missing_ok=True)
        else:
            (d / n).write_bytes(body if n == name else ORIGINAL[n])
    tok = c.check(lambda: hf.load_hf_tokenizer(d), (str(d),))
    if tok is not None:
        ids = c.check(lambda: tok.encode("merhaba dünya " + EOT))
        c.check(lambda: tokenizers.start_ids(tok))
        c.check(lambda: c.printable(tok.decode(list(ids or []) + c.first_ids(tok))))


if __name__ == "__main__":
    c.run("hftok", one, {f"seed{i}": bytes([i]) + ORIGINAL[n]
                         for i, n in enumerate(FILES) if ORIGINAL[n] is not None})
