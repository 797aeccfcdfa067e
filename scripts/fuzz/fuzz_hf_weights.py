"""Fuzz the model files of a Hugging Face GPT-2 folder: config.json and model.safetensors (an
8-byte header length, a JSON header, raw tensor bytes).

    .venv/bin/python scripts/fuzz/fuzz_hf_weights.py -max_total_time=180

Seed: a GPT-2 folder this package saved (save_hf), and its weights as bfloat16 (read by a path
of their own); the first input byte picks the file.
Loaders: load_hf (what `sample --hf`, `eval --hf` and init_from read) and read_hf_config.
"""
import json

import numpy as np

import _common as c
from _common import hf

SEED = c.seed_hf()
D = c.fresh_copy(SEED, "hfw")
FILES = ["model.safetensors", "bf16", "config.json"]
ORIGINAL = {n: (SEED / n).read_bytes() for n in FILES if n != "bf16"}


def _as_bf16(raw: bytes) -> bytes:
    """The safetensors file `raw` (float32 tensors) with bfloat16 tensors: the loader reads
    those by a path of its own (_open_file_with_bf16)."""
    n = int.from_bytes(raw[:8], "little")
    header, data, out, at = json.loads(raw[8:8 + n]), raw[8 + n:], [], 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        half = (np.frombuffer(data[lo:hi], "<u4") >> 16).astype("<u2").tobytes()
        info.update(dtype="BF16", data_offsets=[at, at + len(half)])
        out.append(half)
        at += len(half)
    h = json.dumps(header).encode()
    return len(h).to_bytes(8, "little") + h + b"".join(out)


SEEDS = {**ORIGINAL, "bf16": _as_bf16(ORIGINAL["model.safetensors"])}


def one(data: bytes) -> None:
    name, body = c.pick(data, FILES)
    (D / "model.safetensors").write_bytes(body if name in ("model.safetensors", "bf16") else
                                          ORIGINAL["model.safetensors"])
    (D / "config.json").write_bytes(body if name == "config.json" else ORIGINAL["config.json"])
    c.check(lambda: hf.read_hf_config(D), (str(D),))
    model = c.check(lambda: hf.load_hf(D), (str(D),))
    if model is not None:
        model.flat.sum()


if __name__ == "__main__":
    c.run("hfw", one, {f"seed{i}": bytes([i]) + SEEDS[n] for i, n in enumerate(FILES)})
