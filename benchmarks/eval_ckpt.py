"""Evaluate a trained run directory more precisely than the trainer's `eval_iters` batches.

The trainer's val loss for the `baby` preset is a mean over 20 random batches of 12×64 tokens;
that estimate has its own sampling noise. This script reports, for one checkpoint:

* `full_val_loss`: the mean loss over every position of the validation split, read as
  consecutive non-overlapping windows of block_size + 1 tokens (each position predicted once,
  with a context of 0 … block_size − 1 earlier tokens, exactly as in training batches) — the
  figure `nanograd-llm eval --ckpt RUN_DIR` prints;
* `eval20_mean`, `eval20_std`: mean and spread of the trainer's 20-batch estimate over
  `--repeats` independent draws of 20 batches (how much a single reading can move by chance).

The validation split is the run's own: cut with the val_fraction and split rule its checkpoint
records (as `nanograd-llm eval` finds them); a value it does not record falls back to what the
trainer did then, with a note on stderr.

Usage: PYTHONPATH=. python3 benchmarks/eval_ckpt.py RUN_DIR DATA.txt [--repeats 50]
Prints one JSON line.

Unlike `nanograd-llm eval`, there is no --unknown option: the figures are those of a text the
run's tokenizer encodes in full (its own corpus); a DATA with characters the tokenizer lacks is
refused (`nanograd-llm eval --unknown skip` measures such a text). Bad input (a missing or
corrupt run directory, a missing DATA) ends with one `error:` line and exit status 1; counts
below their minimum (--repeats 2, --eval-iters and --batch-size 1) with argparse's usage error
and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from nanograd_llm.checkpoint import find_run_dir, load_model, load_run_tokenizer, read_manifest
from nanograd_llm.data import (SPLIT_BY_CHARACTERS, encode_corpus, encode_split_corpus, split_ids,
                               split_point, split_rule)
from nanograd_llm.evaluate import evaluate_ids, resolve_eval_data


def val_part(run_dir, data: str, tok, block_size: int, say=print) -> tuple[np.ndarray, float, str]:
    """The val ids of `data` as the run cut them off, and (val_fraction, split rule) used.

    The val_fraction and split rule are the run's recorded ones (train_config.val_fraction,
    extra.split_by), found as `nanograd-llm eval --ckpt RUN_DIR --data DATA --split val` finds
    them (evaluate.resolve_eval_data): a DATA that is not the run's corpus is cut by the
    tokenizer's rule (data.split_rule). What is not recorded falls back to what the trainer
    did then, and `say` tells which: val_fraction 0.1 (the trainer's default), split by
    tokens (a run saved before extra.split_by existed)."""
    manifest = read_manifest(find_run_dir(run_dir))
    text, label, _, val_fraction, split_by = resolve_eval_data(run_dir, None, data, "val")
    if "val_fraction" not in (manifest.get("train_config") or {}):
        say(f"note: {run_dir} records no val_fraction; using {val_fraction:g}, the trainer's "
            f"default")
    if split_by is None:
        # Without a recorded sha256 only the file is compared (data.same_source): a copy of the
        # corpus elsewhere may well be the same text
        other = (f"is not the text {run_dir} was trained on"
                 if (manifest.get("extra") or {}).get("data_sha256") else
                 f"is not the file {run_dir} was trained on (the run records no sha256 to tell "
                 f"whether it is the same text)")
        say(f"note: {label!r} {other}; its val part is cut by {split_rule(tok)}, the "
            f"tokenizer's rule")
    elif "split_by" not in (manifest.get("extra") or {}):
        say(f"note: {run_dir} records no split_by (saved before it was recorded); its val "
            f"part is cut by {split_by}, as such runs cut it")
    rule = split_rule(tok, split_by)
    if rule == SPLIT_BY_CHARACTERS:
        # The text is cut at the last val_fraction of its characters, each part encoded on its
        # own (a BPE run that records extra.split_by = "characters")
        ids, cut = encode_split_corpus(text, tok, split_point(len(text), val_fraction))
        part = split_ids(ids, block_size, val_fraction, cut=cut)
    else:
        # The last val_fraction of the whole text's ids (character runs, older BPE runs)
        part = split_ids(encode_corpus(text, tok), block_size, val_fraction)
    return np.asarray(part.val, dtype=np.int64), val_fraction, rule


def batch_loss(model, w) -> float:
    _, loss = model.forward(w[:, :-1], w[:, 1:])
    return float(loss)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("data")
    ap.add_argument("--repeats", type=int, default=50,
                    help="independent draws of --eval-iters batches (at least 2: a spread)")
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=12)
    args = ap.parse_args(argv)
    # --repeats 1 gave eval20_std NaN, 0 a traceback; --eval-iters 0 NaN means
    for name, least in (("repeats", 2), ("eval_iters", 1), ("batch_size", 1)):
        if getattr(args, name) < least:
            ap.error(f"--{name.replace('_', '-')} must be at least {least}, "
                     f"got {getattr(args, name)}")
    try:
        run(args)
    except UnicodeError as e:
        raise SystemExit(f"error: {args.data} is not UTF-8 text ({e})") from None
    except (OSError, ValueError) as e:
        msg = str(e)
        if "not in the tokenizer's vocabulary" in msg:
            # The library's message points to `--unknown`, which this script does not have
            msg = (msg.split("; to drop")[0] + "; eval_ckpt.py measures only texts the run's "
                   "tokenizer encodes in full (`nanograd-llm eval --unknown skip` leaves such "
                   "characters out)")
        raise SystemExit(f"error: {msg}") from None


def run(args) -> None:
    model = load_model(args.run_dir)
    model.eval()
    tok = load_run_tokenizer(args.run_dir)
    T = model.config.block_size
    val, val_fraction, rule = val_part(args.run_dir, args.data, tok, T,
                                       say=lambda line: print(line, file=sys.stderr))

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
                      "eval20_max": round(float(est.max()), 4), "repeats": args.repeats,
                      "val_fraction": val_fraction, "split_by": rule}))


if __name__ == "__main__":
    main()
