"""GPT-2's pre-tokenisation pattern vs TURKISH_PATTERN on a Turkish corpus.

For each vocabulary size, trains the BPE on the first 90 % of the text with each pattern and
reports characters per token on the last 10 %, the mean number of tokens of the held-out words
that contain an apostrophe (`Gelibolu'da`), and how one such word is split.

    python3 benchmarks/bpe_patterns.py [--data ../shared/data/turkish_omer_seyfettin.txt]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import regex  # noqa: E402

from nanograd_llm.tokenizers.bpe import PATTERNS, BPETokenizer  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data",
                                                   "turkish_omer_seyfettin.txt"))
    ap.add_argument("--vocab-sizes", type=int, nargs="+", default=[512, 1024, 4096])
    ap.add_argument("--word", default=" Gelibolu'da")
    args = ap.parse_args(argv)
    if min(args.vocab_sizes) < 257:          # BPETokenizer.train's ValueError, after the file
        ap.error(f"--vocab-sizes: each must be at least 257 (256 byte tokens + 1 special "
                 f"token), got {min(args.vocab_sizes)}")
    try:
        with open(args.data, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeError) as e:
        raise SystemExit(f"error: cannot read --data {args.data}: {e}") from None
    if not text:        # no held-out part: a ZeroDivisionError after the first training
        raise SystemExit(f"error: --data {args.data} is empty")
    cut = int(len(text) * 0.9)
    train, val = text[:cut], text[cut:]
    apostrophe_words = regex.findall(r"\p{L}+['’]\p{L}+", val)
    print(f"{args.data}: {len(text):,} characters; {len(apostrophe_words)} held-out words "
          f"with an apostrophe")
    print("| vocab | pattern | train s | val chars/token | tokens per apostrophe word | split |")
    print("|---:|---|---:|---:|---:|---|")
    for v in args.vocab_sizes:
        for name, pat in PATTERNS.items():
            t = time.perf_counter()
            tok = BPETokenizer.train(train, v, pattern=pat)
            dt = time.perf_counter() - t
            per_word = (sum(len(tok.encode(w)) for w in apostrophe_words)
                        / max(len(apostrophe_words), 1))
            split = " + ".join(repr(tok.decode([i])) for i in tok.encode(args.word))
            print(f"| {v} | {name} | {dt:.1f} | {len(val) / len(tok.encode(val)):.3f} | "
                  f"{per_word:.2f} | {split} |")


if __name__ == "__main__":
    main()
