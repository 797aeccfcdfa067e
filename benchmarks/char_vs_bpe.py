"""Char-level GPT vs BPE GPT on the same corpus, same model size, same training time.

Reports the validation loss in bits per character, the measure that is comparable across
tokenizers: a BPE token covers several characters, so its loss per token is not.

    bits/char = val_loss (nats per token) * (val tokens / val characters) / ln 2

    python3 benchmarks/char_vs_bpe.py --data ../shared/data/turkish_omer_seyfettin.txt \
        --seconds 150 --vocab-size 1024

The time budget is matched by calibrating each run's step time on a short run first
(one thread, so the two runs do not fight over the cores). Run as a script it sets every
thread-count variable (NANOGRAD_LLM_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
MKL_NUM_THREADS) to 1, whatever the shell holds, before NumPy is loaded.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARS = ("NANOGRAD_LLM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS")


def pin_one_thread(environ) -> None:
    """One thread for everything: OpenBLAS, and nanograd_llm's data-parallel split, which reads
    NANOGRAD_LLM_THREADS, then OMP_NUM_THREADS, then OPENBLAS_NUM_THREADS (backend.num_threads):
    a value of any of them left in the shell would give the runs more threads than stated."""
    for var in THREAD_VARS:
        environ[var] = "1"


if __name__ == "__main__":      # before NumPy (and its OpenBLAS pool) is loaded below
    pin_one_thread(os.environ)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nanograd_llm.data import (  # noqa: E402
    SPLIT_BY_CHARACTERS, encode_corpus, encode_split_corpus, load_text, split_point)
from nanograd_llm.train import make_config, split_rule, train  # noqa: E402

MODEL = dict(n_layer="3", n_head="4", n_embd="128", block_size="128", batch_size="16",
             dropout="0.1", lr="2e-3", min_lr="2e-4", warmup_iters="50", eval_iters="40",
             sample_tokens="0")


def run(data: str, tokenizer: str, vocab_size: int, iters: int, out: str,
        eval_iters: str = MODEL["eval_iters"]) -> dict:
    over = dict(MODEL, tokenizer=tokenizer, vocab_size=str(vocab_size), max_iters=str(iters),
                lr_decay_iters=str(iters), eval_interval=str(iters), eval_iters=eval_iters)
    cfg = make_config("default", data=data, out_dir=out, overrides=over)
    return train(cfg, quiet=True, overwrite=True)   # a rerun replaces its runs


def bits_per_char(result: dict, data: str) -> tuple[float, float]:
    tok = result["tokenizer"]
    text, _ = load_text(data)
    # The run's own val part (train.prepare_data): a BPE run cuts the text at the last 10% of
    # its characters and encodes each part on its own; a character run takes the last 10% of
    # the ids
    if split_rule(tok) == SPLIT_BY_CHARACTERS:
        ids, cut = encode_split_corpus(text, tok, split_point(len(text), 0.1))
    else:
        ids = encode_corpus(text, tok)
        cut = split_point(ids.size, 0.1)
    val = ids[cut:]
    chars = len(tok.decode(val.tolist()))
    tokens_per_char = val.size / chars
    return result["val_loss"] * tokens_per_char / math.log(2), chars / val.size


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "turkish_omer_seyfettin.txt"))
    ap.add_argument("--seconds", type=float, default=150.0, help="training time per model")
    ap.add_argument("--vocab-size", type=int, default=1024)
    args = ap.parse_args(argv)
    if not args.seconds > 0 or args.vocab_size < 257:
        ap.error(f"need --seconds > 0 and --vocab-size >= 257 (256 byte tokens + 1 special "
                 f"token), got {args.seconds} and {args.vocab_size}")
    try:
        load_text(args.data)       # a missing or unreadable file before any training
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tokenizer in ("char", "bpe"):
            try:
                # A text too short for the model (block_size 128) fails here, in its
                # calibration run: the trainer's message, not its traceback
                cal = run(args.data, tokenizer, args.vocab_size, 30, f"{tmp}/{tokenizer}-cal",
                          "1")
            except (OSError, ValueError) as e:
                raise SystemExit(f"error: the {tokenizer} model cannot be trained on "
                                 f"{args.data}: {e}") from None
            per_step = cal["wall_s"] / 30
            iters = max(30, int(args.seconds / per_step))
            t = time.perf_counter()
            res = run(args.data, tokenizer, args.vocab_size, iters, f"{tmp}/{tokenizer}")
            bpc, cpt = bits_per_char(res, args.data)
            rows.append({"tokenizer": tokenizer, "vocab": res["tokenizer"].vocab_size,
                         "params": res["n_params"], "iters": iters,
                         "train_s": round(res["wall_s"], 1),
                         "total_s": round(time.perf_counter() - t, 1),
                         "val_loss_per_token": round(res["val_loss"], 4),
                         "chars_per_token": round(cpt, 3), "val_bits_per_char": round(bpc, 4)})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| tokenizer | vocab | params | iters | train s | val loss/token | chars/token | val bits/char |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['tokenizer']} | {r['vocab']} | {r['params']:,} | {r['iters']} | {r['train_s']} "
              f"| {r['val_loss_per_token']} | {r['chars_per_token']} | {r['val_bits_per_char']} |")


if __name__ == "__main__":
    main()
