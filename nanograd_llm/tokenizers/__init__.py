"""Tokenizers: character level (char.py) and byte-level BPE (bpe.py)."""
