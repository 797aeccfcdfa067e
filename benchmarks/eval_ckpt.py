"""Evaluate a trained run directory more precisely than the trainer's `eval_iters` batches.

The trainer's val loss for the `baby` preset is a mean over 20 random batches of 12×64 tokens;
that estimate has its own sampling noise. This script reports, for one checkpoint:

* `full_val_loss`: the mean loss over every position of the validation split, read as
  consecutive non-overlapping windows of block_size + 1 tokens (each position predicted once,
  with a context of 0 … block_size − 1 earlier tokens, exactly as in training batches) — the
  figure `nanograd-llm eval --ckpt RUN_DIR` prints;
* `eval20_mean`, `eval20_std`: mean and spread of the trainer's 20-batch estimate over
  `--repeats` independent draws of 20 batches (how much a single reading can move by chance).

Usage: PYTHONPATH=. python3 benchmarks/eval_ckpt.py RUN_DIR DATA.txt [--repeats 50]
Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from nanograd_llm.checkpoint import load_model, load_run_tokenizer, read_manifest
from nanograd_llm.data import (SPLIT_BY_CHARACTERS, encode_corpus, encode_split_corpus, load_text,
                               split_ids, split_point)
from nanograd_llm.evaluate import evaluate_ids


def batch_loss(model, w) -> float:
    _, loss = model.forward(w[:, :-1], w[:, 1:])
    return float(loss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("data")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=12)
    args = ap.parse_args()

    model = load_model(args.run_dir)
    model.eval()
    tok = load_run_tokenizer(args.run_dir)
    T = model.config.block_size
    text, _ = load_text(args.data)
    # The run's own val part: a BPE run that records extra.split_by = "characters" cut its text
    # at the last 10% of the characters and encoded each part on its own; others (character
    # runs, older BPE runs) took the last 10% of the ids
    if (read_manifest(args.run_dir).get("extra") or {}).get("split_by") == SPLIT_BY_CHARACTERS:
        ids, cut = encode_split_corpus(text, tok, split_point(len(text), 0.1))
        data = split_ids(ids, T, cut=cut)
    else:
        data = split_ids(encode_corpus(text, tok), T)
    val = np.asarray(data.val, dtype=np.int64)

    # Whole validation split in non-overlapping windows (nanograd-llm eval's default)
    full = evaluate_ids(model, val)
    model.eval()

    rng = np.random.default_rng(12345)
    estimates = []
    for _ in range(args.repeats):
        ix = rng.integers(0, val.size - T, size=(args.eval_iters, args.batch_size))
        estimates.append(np.mean([batch_loss(model, val[i[:, None] + np.arange(T + 1)])
                                  for i in ix]))
    est = np.array(estimates)
    print(json.dumps({"run_dir": args.run_dir, "full_val_loss": round(full.loss, 4),
                      "val_positions": full.tokens, "eval20_mean": round(float(est.mean()), 4),
                      "eval20_std": round(float(est.std(ddof=1)), 4),
                      "eval20_min": round(float(est.min()), 4),
                      "eval20_max": round(float(est.max()), 4), "repeats": args.repeats}))


if __name__ == "__main__":
    main()
