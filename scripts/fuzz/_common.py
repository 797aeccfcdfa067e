"""Shared pieces of the coverage-guided fuzz harnesses in scripts/fuzz/ (one file per reader of
a file a user may hand the package: checkpoint manifest and .npz files, tokenizer files, the
files of a Hugging Face GPT-2 folder, config files, the run folder's other files, text data,
atomic.load_json).

Not part of the test suite (pytest collects tests/ only) nor of the package's dependencies:
install atheris into your own environment (`pip install atheris`), then run one harness at a
time, e.g.

    .venv/bin/python scripts/fuzz/fuzz_checkpoint_npz.py -max_total_time=180

Any libFuzzer flag works (-runs=N, -timeout=S: 2 s by default here, -artifact_prefix=DIR/);
`--sweep` instead runs a short structure-aware pass over the JSON seeds (every value replaced
by odd ones, every key left out). Seeds are files the package itself saves (a two-step
training run, a GPT-2 folder), made once under $FUZZ_SEEDS (default /dev/shm/...).

Each harness hands the mutated bytes to a public loader. The invariant: the loader succeeds,
or raises what the command line reports as one clear `error: ...` line (cli.py's
report_errors catches ValueError, OSError and RuntimeError; MemoryError only as
ModelTooLargeError, the designed refusal of a model too big). Anything else is a finding, and
so are the subclasses of those that only look handled: UnicodeError (a decode error that names
no file) and RecursionError ("maximum recursion depth exceeded"). A finding is printed as
`[finding] TYPE@FILE:LINE` and its input saved under $FUZZ_FINDINGS, once per place, and the
fuzzing goes on (FUZZ_STOP=1: stop at the first, as libFuzzer does with a crash). A clear error
whose message names neither the file nor its folder is printed once as `[unnamed]`, one that
names it twice at its start ('PATH: PATH: ...') as `[doubled]`, for review.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

# tmpfs where there is one: every input is written to a file
SCRATCH = Path(os.environ.get("FUZZ_SCRATCH") or
               ("/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()))
SEEDS = Path(os.environ.get("FUZZ_SEEDS") or SCRATCH / "nanograd_fuzz_seeds")

CLEAR = (ValueError, OSError, RuntimeError)      # and models.base.ModelTooLargeError
NOT_CLEAR = (UnicodeError, RecursionError)

TEXT = ("Dikkat katmanı her belirtecin önceki belirteçlere bakmasını sağlar. "
        "Çağrı ılık şöyle İğde öğüş.\n") * 6

with atheris.instrument_imports(include=["nanograd_llm"]):
    import nanograd_llm  # noqa: F401
    from nanograd_llm import checkpoint, config, evaluate, hf, run_folder  # noqa: F401
    from nanograd_llm import atomic, data, tokenizers  # noqa: F401
    from nanograd_llm.tokenizers import bpe, char  # noqa: F401


class Finding(AssertionError):
    pass


FINDINGS = Path(os.environ.get("FUZZ_FINDINGS") or SCRATCH / "nanograd_fuzz_findings")
STOP = os.environ.get("FUZZ_STOP") == "1"       # stop at the first finding (libFuzzer's crash-*)
_current = [b""]
_signatures: set = set()


def _report(e: BaseException, what: str) -> None:
    """A finding: raised (FUZZ_STOP=1), else saved once per place it escapes from (the
    innermost nanograd_llm frame) under FINDINGS, and the fuzzing goes on."""
    import traceback
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "nanograd_llm" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    sig = f"{type(e).__name__}@{where}"
    if STOP:
        raise Finding(f"{sig}: {what}") from e
    if sig in _signatures:
        return
    _signatures.add(sig)
    FINDINGS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.@-]", "_", f"{Path(sys.argv[0]).stem}-{sig}")
    (FINDINGS / name).write_bytes(_current[0])
    print(f"\n[finding] {sig}: {what}\n  input saved: {FINDINGS / name}", file=sys.stderr)


_seen_unnamed: set = set()


def check(call, names=()) -> object:
    """call()'s result, or None where it raised. An exception the command line would not turn
    into a clear line is a finding (_report). A clear error whose message names none of
    `names` (the file, its folder) is printed once per message shape, for review."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except NOT_CLEAR as e:
        _report(e, f"{type(e).__name__} escapes: {e!r}"[:500])
    except CLEAR as e:
        msg = str(e)
        head = msg.split(": ", 1)[0]        # "PATH: PATH: ..." (a path added twice)
        doubled = any(n in head for n in names) and msg.startswith(f"{head}: {head}")
        if doubled:
            shape = "doubled:" + re.sub(r"\d+", "N", re.sub(r"\S*/\S*", "P", msg))[:60]
            if shape not in _seen_unnamed:
                _seen_unnamed.add(shape)
                print(f"\n[doubled] {type(e).__name__}: {msg[:300]}", file=sys.stderr)
        if names and not any(n in msg for n in names):
            shape = re.sub(r"\d+", "N", re.sub(r"\S*/\S*", "P", msg))[:60]
            if shape not in _seen_unnamed:
                _seen_unnamed.add(shape)
                print(f"\n[unnamed] {type(e).__name__}: {msg[:300]}", file=sys.stderr)
        return None
    except MemoryError as e:
        # ModelTooLargeError is the designed refusal of a model too big for this machine
        # (checked before any allocation): the command line prints "out of memory (...)" and
        # its advice. Any other MemoryError came from a size field read unchecked
        if type(e).__name__ != "ModelTooLargeError":
            _report(e, f"MemoryError from a file: {e!r}"[:500])
    except Exception as e:          # KeyError, TypeError, IndexError, struct.error, ...
        _report(e, f"{type(e).__name__} escapes: {e!r}"[:500])


def fresh_copy(src: Path, name: str) -> Path:
    """A copy of seed folder `src` under SCRATCH that this harness may overwrite files in."""
    import atexit
    dst = SCRATCH / f"nanograd_fuzz_{name}_{os.getpid()}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    atexit.register(shutil.rmtree, dst, ignore_errors=True)
    return dst


def corpus(name: str, seeds: dict[str, bytes]) -> str:
    """A corpus folder holding `seeds` (file name -> bytes); its path, for atheris."""
    d = SCRATCH / f"nanograd_fuzz_corpus_{name}"
    d.mkdir(parents=True, exist_ok=True)
    for n, b in seeds.items():
        (d / n).write_bytes(b)
    return str(d)


def run(name: str, test_one_input, seeds: dict[str, bytes]) -> None:
    """atheris.Setup + Fuzz with the corpus of `seeds` (libFuzzer flags from the command line,
    e.g. -max_total_time=180 -timeout=2; a folder given there replaces the seed corpus)."""
    if "--sweep" in sys.argv:
        return sweep(test_one_input, seeds)
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        argv.append(corpus(name, seeds))
    if not any(a.startswith("-timeout=") for a in argv):
        argv.append("-timeout=2")
    def one(data: bytes) -> None:
        _current[0] = data
        test_one_input(data)
    atheris.Setup(argv, one)
    atheris.Fuzz()


ODD_VALUES = [None, True, -1, 0, 1.5, 10 ** 30, 3 * 10 ** 88, 10 ** 400, -10 ** 400,
              float("inf"), "", "\x00", "\ud800", "a/b", "..", "$$", "$x^$", "x" * 300, [], {},
              [[[]]], {"a": {}}]


def sweep(test_one_input, seeds: dict[str, bytes]) -> None:
    """`--sweep`: a structure-aware pass libFuzzer's byte mutations rarely make. In each JSON
    seed every value in turn (to a depth of 6, the first 5 items of a list) is replaced by
    each of ODD_VALUES, and every key is left out once."""
    import copy
    import json

    def paths(obj, at=()):
        yield at
        if len(at) < 6 and isinstance(obj, dict):
            for k, v in obj.items():
                yield from paths(v, at + (k,))
        elif len(at) < 6 and isinstance(obj, list):
            for i, v in enumerate(obj[:5]):
                yield from paths(v, at + (i,))

    def edited(doc, at, value, drop=False):
        doc = copy.deepcopy(doc)
        if not at:
            return value
        parent = doc
        for k in at[:-1]:
            parent = parent[k]
        if drop:
            del parent[at[-1]]
        else:
            parent[at[-1]] = value
        return doc

    n = 0
    for name, raw in seeds.items():
        for prefix, body in ((b"", raw), (raw[:1], raw[1:])):
            try:
                doc = json.loads(body)
            except ValueError:
                continue
            for at in paths(doc):
                inputs = [edited(doc, at, v) for v in ODD_VALUES]
                if at and isinstance(at[-1], str):
                    inputs.append(edited(doc, at, None, drop=True))
                for d in inputs:
                    data = prefix + json.dumps(d).encode()
                    _current[0] = data
                    test_one_input(data)
                    n += 1
            break
    print(f"sweep: {n} inputs, findings: {sorted(_signatures) or 'none'}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# seeds: files the package itself saves

def _tiny_run(folder: Path, tokenizer: str) -> Path:
    from nanograd_llm.train import make_config, train
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "corpus.txt"
    text.write_text(TEXT, encoding="utf-8")
    over = dict(n_layer=1, n_head=2, n_embd=8, block_size=8, batch_size=2, max_iters=2,
                eval_interval=2, eval_iters=1, warmup_iters=1, lr_decay_iters=2,
                sample_tokens=0, tokenizer=tokenizer)
    if tokenizer == "bpe":
        over["vocab_size"] = 300
    cfg = make_config("default", data=str(text), out_dir=str(folder / "run"),
                      overrides={k: str(v) for k, v in over.items()})
    train(cfg, quiet=True)
    return folder / "run"


def seed_run(tokenizer: str = "char") -> Path:
    """A finished two-step training run (char or BPE tokenizer)."""
    top = SEEDS / f"run_{tokenizer}"
    if not (top / "run" / "checkpoint.json").is_file():
        shutil.rmtree(top, ignore_errors=True)
        _tiny_run(top, tokenizer)
    return top / "run"


def seed_hf() -> Path:
    """A GPT-2 folder: config.json, model.safetensors, vocab.json, merges.txt, plus the
    tokenizer files transformers writes beside them (tokenizer_config.json,
    special_tokens_map.json, added_tokens.json)."""
    import json

    from nanograd_llm import GPT, GPTConfig
    from nanograd_llm.tokenizers.bpe import BPETokenizer
    d = SEEDS / "hf"
    if (d / "model.safetensors").is_file():
        return d
    shutil.rmtree(d, ignore_errors=True)
    tok = BPETokenizer.train(TEXT, 300, special_tokens=["<|endoftext|>"])
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=2,
                          n_embd=8), seed=1)
    model.save_hf(d)
    tok.save(str(d))
    # a folder as transformers writes it: no tokenizer_meta.json (that is this package's own
    # tokenizer), and with transformers installed its tokenizer.json and config files
    (d / "tokenizer_meta.json").unlink()
    eot = "<|endoftext|>"
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers
        t = Tokenizer(models.BPE.from_file(str(d / "vocab.json"), str(d / "merges.txt")))
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        t.decoder = decoders.ByteLevel()
        t.add_special_tokens([eot])
        t.save(str(d / "tokenizer.json"))
        (d / "tokenizer_config.json").write_text(json.dumps({
            "add_prefix_space": False, "bos_token": eot, "eos_token": eot, "unk_token": eot,
            "model_max_length": 8, "tokenizer_class": "GPT2Tokenizer"}))
    except ImportError:
        (d / "tokenizer_config.json").write_text(json.dumps({
            "add_prefix_space": False, "bos_token": eot, "eos_token": eot, "unk_token": eot,
            "model_max_length": 8, "tokenizer_class": "GPT2Tokenizer"}))
        (d / "special_tokens_map.json").write_text(json.dumps(
            {"bos_token": eot, "eos_token": eot, "unk_token": eot}))
        (d / "added_tokens.json").write_text(json.dumps({eot: tok.special_tokens[eot]}))
    return d


def printable(text) -> bytes:
    """`text` as the commands print it (UTF-8): a decoded text that cannot be printed (a lone
    surrogate a tokenizer file put in its vocabulary) is a finding too."""
    return text.encode("utf-8")


def first_ids(tok, n: int = 1000) -> list[int]:
    """The first n ids of `tok`'s vocabulary (a vocabulary may be millions of ids long)."""
    return list(range(min(tok.vocab_size, n)))


def pick(data: bytes, names: list[str]) -> tuple[str, bytes]:
    """(file name chosen by the first byte, the rest): one harness mutates several files."""
    if not data:
        return names[0], b""
    return names[data[0] % len(names)], data[1:]


def write_picked(folder: Path, data: bytes, original: dict) -> tuple[str, bytes]:
    """pick() one of `original`'s files by the first byte, write the rest of `data` as that
    file and every other file as it was in `original` ({name: bytes}). -> (name, body)"""
    name, body = pick(data, list(original))
    for n, was in original.items():
        (folder / n).write_bytes(body if n == name else was)
    return name, body
