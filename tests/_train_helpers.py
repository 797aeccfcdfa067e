"""Shared tiny training settings for the trainer/checkpoint tests, and a tiny GPT-2 folder."""
import numpy as np

from nanograd_llm.train import make_config

TEXT = ("Dikkat katmanı her belirtecin önceki belirteçlere bakmasını sağlar. "
        "Geri yayılım, kaybın her parametreye göre türevini zincir kuralıyla hesaplar. "
        "Çağrı ılık şöyle İğde öğüş.\n") * 12


def trained_tiny_run(tmp_path_factory, name: str):
    """A finished two-step run (for a module-scoped fixture): its folder."""
    from nanograd_llm.train import train
    tmp = tmp_path_factory.mktemp(name)
    train(tiny_config(tmp, max_iters=2, eval_interval=2), quiet=True)
    return tmp / "run"


def tiny_config(tmp_path, name="run", **kw):
    data = tmp_path / "corpus.txt"
    if not data.exists():
        data.write_text(TEXT, encoding="utf-8")
    base = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, max_iters=12,
                eval_interval=4, eval_iters=2, warmup_iters=2, lr_decay_iters=12, dropout=0.1,
                lr=3e-3, sample_tokens=0)
    base.update(kw)
    return make_config("default", data=str(data), out_dir=str(tmp_path / name),
                       overrides={k: str(v) for k, v in base.items()})


def weights(model):
    return np.asarray(model.flat).copy()


GPT2_TEXT = "merhaba dünya, nasılsın? güneş doğuyor. " * 30


def tiny_gpt2_folder(folder, vocab_size, fill=None):
    """A GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt): a random one-layer
    GPT and a byte-level BPE of vocab_size tokens trained on GPT2_TEXT; with `fill`, every
    weight is that value (NaN: a broken download). -> (model, tokenizer)"""
    import pytest
    pytest.importorskip("safetensors")
    pytest.importorskip("regex")
    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    tok = BPETokenizer.train(GPT2_TEXT, vocab_size)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2,
                          n_embd=8), seed=1)
    if fill is not None:
        model.flat[...] = fill
    model.save_hf(folder)
    tok.save(str(folder))
    return model, tok


def fail_mkdir_after_parents(monkeypatch, out):
    """Path.mkdir fails with ENOSPC at `out` once mkdir -p has made its parents (a disk that
    fills up halfway), as a start that creates --out meets it."""
    import errno
    from pathlib import Path
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if self == out and self.parent.exists():      # mkdir -p made the parents, then failed
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_mkdir(self, *a, **k)
    monkeypatch.setattr(Path, "mkdir", mkdir)


def sigint_as_in_a_terminal():
    """A generator for an autouse fixture: a suite a script started in the background inherits
    SIGINT ignored, which the trainer leaves ignored; the Ctrl-C tests need Python's usual
    SIGINT handler for their duration."""
    import signal
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
