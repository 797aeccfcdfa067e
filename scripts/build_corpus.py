#!/usr/bin/env python3
"""Build the embedded training corpus, nanograd_llm/corpus/turkce_aciklamalar.txt.

The corpus is this project's own Turkish writing: every module's docstring (the Markdown
explanation at the top of each file) and the `#` comment blocks beside the code, gathered from
the package's .py files and then the examples' in a fixed order. Only text with a Turkish
letter is taken; English comments are left out. Run it again after the explanations change:

    python3 scripts/build_corpus.py            # rewrite the file
    python3 scripts/build_corpus.py --check    # exit 1 if the committed file is stale
"""
from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "nanograd_llm"
OUT = PKG / "corpus" / "turkce_aciklamalar.txt"
TURKISH = set("çğıöşüÇĞİÖŞÜ")


def is_turkish(text: str) -> bool:
    """True when the text holds a Turkish letter (English-only comments are left out)."""
    return any(c in TURKISH for c in text)


def module_docstring(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    doc = ast.get_docstring(tree, clean=True)
    return doc if doc and is_turkish(doc) else None


def comment_blocks(source: str) -> list[str]:
    """Consecutive `#` comments merged into blocks; inline and code-like comments kept as text."""
    blocks, cur, last_line = [], [], -2
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    for tok in toks:
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string.lstrip("#").strip()
        if not text or text.startswith("!") or text.startswith("-*-"):
            continue
        line = tok.start[0]
        if line != last_line + 1 and cur:
            blocks.append(" ".join(cur))
            cur = []
        cur.append(text)
        last_line = line
    if cur:
        blocks.append(" ".join(cur))
    return [b for b in blocks if is_turkish(b)]


def gather() -> str:
    parts = []
    files = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)
    files += sorted((ROOT / "examples").glob("*.py"))
    for path in files:
        src = path.read_text(encoding="utf-8")
        doc = module_docstring(src)
        comments = comment_blocks(src)
        if not doc and not comments:
            continue
        chunk = []
        if doc:
            chunk.append(doc.strip())
        if comments:
            chunk.append("\n".join(comments))
        parts.append("\n\n".join(chunk))
    text = "\n\n".join(parts) + "\n"
    return unicodedata.normalize("NFC", text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check the committed file")
    args = ap.parse_args(argv)
    text = gather()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date; run scripts/build_corpus.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # newline="\n": on Windows text mode would write every line end as CRLF, a file unlike the
    # committed one (and unlike every other file of the package)
    OUT.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {OUT} ({len(text.encode('utf-8')):,} bytes, {len(text):,} characters, "
          f"{len(set(text))} distinct)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
