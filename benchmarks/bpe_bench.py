"""Benchmark of the byte-level BPE tokenizer (nanograd_llm/tokenizers/bpe.py).

    python3 benchmarks/bpe_bench.py [--data-dir /work/shared/data] [--vocab-sizes 1024 4096 8192]

For the Turkish (turkish_omer_seyfettin.txt) and the Shakespeare (tinyshakespeare.txt) corpora,
when present in --data-dir:
- training time of our BPE for each vocabulary size (trained on the first 90 % of the text) and,
  for reference, of the `tokenizers` library's ByteLevelBPETokenizer on the same text;
- the time to train a 4,096-token vocabulary on the whole corpus (target: under 30 s);
- characters per token on the held-out last 10 % for char level (1 by definition) and BPE;
- encode throughput in MB/s (UTF-8 bytes per second) of our encoder, cold (empty word cache)
  and warm, against the `tokenizers` library running the very same vocabulary, as a ratio
  measured in the same run; the ids are checked to be identical;
- GPT-2 import check: a vocabulary trained by `tokenizers` is loaded with
  BPETokenizer.from_files and must give the library's ids on the whole corpus.
Prints a Markdown report. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nanograd_llm.tokenizers.bpe import BPETokenizer  # noqa: E402

CORPORA = [("Turkish (Ömer Seyfettin)", "turkish_omer_seyfettin.txt"),
           ("Shakespeare (tiny)", "tinyshakespeare.txt")]
EOT = "<|endoftext|>"


def hf_from_files(directory):
    from tokenizers import Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    t = Tokenizer(BPE.from_file(os.path.join(directory, "vocab.json"),
                                os.path.join(directory, "merges.txt")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([EOT])
    return t


def best_time(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_corpus(name, text, vocab_sizes, repeat):
    from tokenizers import ByteLevelBPETokenizer
    split = int(len(text) * 0.9)
    train_text, held = text[:split], text[split:]
    nbytes = len(text.encode("utf-8"))
    rows = []
    line_rows = []
    print(f"\n### {name}: {len(text):,} characters, {nbytes:,} UTF-8 bytes, "
          f"{len(set(text))} distinct characters\n")
    t0, c0 = time.perf_counter(), time.process_time()
    full4k = BPETokenizer.train(text, 4096)
    t_full4k, c_full4k = time.perf_counter() - t0, time.process_time() - c0
    print(f"Training a 4,096-token vocabulary on the whole corpus: **{t_full4k:.2f} s** wall, "
          f"{c_full4k:.2f} s CPU (target < 30 s; {len(full4k.merges)} merges)\n")
    print("| tokenizer | train time (s, wall / CPU) | `tokenizers` train time (s, wall) | chars/token (held-out 10 %) "
          "| encode MB/s cold | encode MB/s warm | `tokenizers` MB/s | ours / `tokenizers` (warm) "
          "| ids identical |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| char level ({len(set(train_text))} symbols) | – | – | 1.000 | – | – | – | – | – |")
    for vs in vocab_sizes:
        t0, c0 = time.perf_counter(), time.process_time()
        tok = BPETokenizer.train(train_text, vs)
        t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
        hf_train = ByteLevelBPETokenizer()
        t0 = time.perf_counter()
        hf_train.train_from_iterator([train_text], vocab_size=vs, special_tokens=[EOT],
                                     show_progress=False)
        t_hf_train = time.perf_counter() - t0
        cpt = len(held) / len(tok.encode(held))
        with tempfile.TemporaryDirectory() as d:
            tok.save(d)
            hf = hf_from_files(d)

        def cold():
            tok._cache.clear()
            return tok.encode(text)
        t_cold, ids = best_time(cold, repeat)
        t_warm, ids_w = best_time(lambda: tok.encode(text), repeat)
        t_hf, hf_ids = best_time(lambda: hf.encode(text).ids, repeat)
        same = ids == ids_w == hf_ids
        mb = nbytes / 1e6
        print(f"| BPE {vs} | {t_train:.2f} / {c_train:.2f} | {t_hf_train:.2f} | {cpt:.3f} | {mb / t_cold:.2f} | "
              f"{mb / t_warm:.2f} | {mb / t_hf:.2f} | {t_hf / t_warm:.3f} | {same} |")
        # Satır satır: `tokenizers`'ın encode_batch'i (iş parçacıklarıyla, 2 çekirdek) ve bizim
        # tek iş parçacıklı döngümüz; aynı kimlikler beklenir.
        lines = text.splitlines(keepends=True)
        t_lines, ids_lines = best_time(lambda: [tok.encode(s) for s in lines], repeat)
        t_hf_lines, hf_lines = best_time(
            lambda: [e.ids for e in hf.encode_batch(lines)], repeat)
        same = same and ids_lines == hf_lines
        line_rows.append(f"| BPE {vs} | {mb / t_lines:.2f} | {mb / t_hf_lines:.2f} | "
                         f"{t_hf_lines / t_lines:.3f} | {ids_lines == hf_lines} |")
        rows.append((vs, t_train, cpt, same))

    from tokenizers import pre_tokenizers
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t_pre, _ = best_time(lambda: pre.pre_tokenize_str(text), 1)
    print(f"\n`tokenizers` ByteLevel pre-tokenisation alone on the whole text: "
          f"{nbytes / 1e6 / t_pre:.2f} MB/s")
    print("\nEncoding line by line (warm cache; `tokenizers` uses `encode_batch`, multi-threaded):\n")
    print("| tokenizer | ours MB/s | `tokenizers` encode_batch MB/s | ours / `tokenizers` "
          "| ids identical |")
    print("|---|---|---|---|---|")
    print("\n".join(line_rows))

    # GPT-2 içe aktarma denetimi: `tokenizers`'ın eğittiği sözlük bizim yükleyicimizle
    # yüklenir; bütün derlemde kütüphaneyle aynı kimlikler beklenir.
    hf_train = ByteLevelBPETokenizer()
    hf_train.train_from_iterator([text], vocab_size=8192, special_tokens=[EOT],
                                 show_progress=False)
    with tempfile.TemporaryDirectory() as d:
        hf_train.save_model(d)
        ours = BPETokenizer.from_files(os.path.join(d, "vocab.json"),
                                       os.path.join(d, "merges.txt"))
        hf = hf_from_files(d)
        agree = ours.encode(text) == hf.encode(text).ids
    print(f"\nImport check: an 8,192-token vocabulary trained by `tokenizers` on the whole corpus, "
          f"loaded with `BPETokenizer.from_files`, gives the library's ids on the whole corpus: "
          f"**{agree}**")
    return rows, agree


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default="/work/shared/data")
    ap.add_argument("--vocab-sizes", type=int, nargs="+", default=[1024, 4096, 8192])
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    args = ap.parse_args(argv)
    if args.repeat < 1 or min(args.vocab_sizes) < 257:
        ap.error(f"need --repeat >= 1 and every --vocab-sizes value >= 257 (256 byte tokens + "
                 f"1 special token), got {args.repeat} and {min(args.vocab_sizes)}")
    warnings.simplefilter("ignore")
    try:
        import tokenizers
    except ImportError as e:
        raise SystemExit(f"error: bpe_bench.py compares with the `tokenizers` library, which is "
                         f"not installed (pip install tokenizers): {e}") from None
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, tokenizers {tokenizers.__version__}")
    found = False
    ok = True
    for name, fname in CORPORA:
        path = os.path.join(args.data_dir, fname)
        if not os.path.exists(path):
            print(f"\n(skipped {name}: {path} not found)")
            continue
        found = True
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rows, agree = bench_corpus(name, text, args.vocab_sizes, args.repeat)
        ok = ok and agree and all(r[3] for r in rows)
    if not found:
        print(f"error: no corpus found in {args.data_dir}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
