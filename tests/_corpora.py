"""A named corpus for tests that cannot be downloaded (no network is used)."""
import hashlib

from nanograd_llm import data as D


def offline_tiny_corpus(monkeypatch, blob: bytes = b"the corpus\n") -> str:
    """Register the named corpus "tiny" (file tiny.txt, the sha256 of `blob`) whose every
    download fails as an offline machine's does; returns the digest."""
    digest = hashlib.sha256(blob).hexdigest()
    monkeypatch.setitem(D.CORPORA, "tiny", D.Corpus("tiny", "tiny.txt", digest,
                                                    (("http://127.0.0.1:9/t", digest),), "t"))

    def offline(url, timeout=60.0):
        raise OSError(f"could not download {url} (offline)")
    monkeypatch.setattr(D, "_fetch", offline)
    return digest
