"""The `sample` and `chat` subcommands (argument definitions and entry functions).

cli.py registers them: `add_sampling_args(parser)` + `set_defaults(func=sample_main)`, and
`add_chat_args(parser)` + `set_defaults(func=chat_main)`. Everything heavy is imported lazily.
"""
from __future__ import annotations

import argparse
import io
import re
import sys


# The escapes --stop reads (STOP_ESCAPES_HELP says them): a backslash and one of these letters
_STOP_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
STOP_ESCAPES_HELP = ("\\n is a newline, \\t a tab, \\r a carriage return and \\\\ one "
                     "backslash, so \\\\n is a backslash and n; any other backslash stays as "
                     "typed")


def _unescape(s: str | None) -> str | None:
    """--stop's escapes, read left to right: '\\n' typed on the command line -> a newline (so
    --stop '\\n\\n' works), '\\t' a tab, '\\r' a carriage return, '\\\\' one backslash;
    any other backslash stays as typed."""
    # Kaçışlar soldan sağa, her biri bir kez okunur: `\\n` bir ters eğik çizgi ve n harfidir.
    # Eskiden `\n` metnin her yerinde satır sonuna çevrilirdi; ters eğik çizgiden sonra gelen
    # bir n harfi hiç verilemezdi
    if s is None:
        return None
    return re.sub(r"\\([ntr\\])", lambda m: _STOP_ESCAPES[m.group(1)], s)


def _typed_float(text: str) -> float:
    """argparse's type for the float flags: float(text), keeping `text` (.text) for the
    messages, as a config file's floats do (config._parse_float)."""
    # float("1e999") hata vermeden inf, float("1e-999") 0.0 döndürür: `--temperature 1e999`
    # eskiden "got inf" diye, kullanıcının yazdığı metin söylenmeden reddedilirdi. Yazılan metin
    # saklanır; _check onu eğitim ayarlarındaki gibi (config._float_from_text) denetler
    from .config import _parse_float
    return _parse_float(text)


# argparse, çevrilemeyen bir değeri türün adıyla bildirir: "invalid float value: 'abc'"
_typed_float.__name__ = "float"


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--ckpt DIR | --hf DIR, --device, --dtype (sample, chat and eval)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", metavar="DIR", help="a run directory written by `train`")
    src.add_argument("--hf", metavar="DIR",
                     help="a Hugging Face GPT-2 folder (config.json, model.safetensors, "
                          "vocab.json, merges.txt)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="parameter dtype for --hf models (default float32)")


def _add_sampler_args(p: argparse.ArgumentParser, temperature: float,
                      unknown_default: str = "skip", max_new_tokens: int = 500,
                      tokens_help: str = "tokens to generate") -> None:
    p.add_argument("--max-new-tokens", type=int, default=max_new_tokens, metavar="N",
                   help=f"{tokens_help} (default {max_new_tokens})")
    p.add_argument("--temperature", type=_typed_float, default=temperature, metavar="T",
                   help=f"0 = greedy (default {temperature})")
    p.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="sample only among the K most likely tokens (default: all)")
    p.add_argument("--top-p", type=_typed_float, default=None, metavar="P",
                   help="nucleus sampling: the smallest set of tokens with probability >= P "
                        "(default: off)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="seed for reproducible sampling (default: none, a different text "
                        "each time)")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute the whole context at every step (slow; for checking)")
    choices = ["skip", "replace"] + (["strict"] if unknown_default == "strict" else [])
    p.add_argument("--unknown", default=unknown_default, choices=choices,
                   help=f"what to do with characters the tokenizer does not know "
                        f"(default {unknown_default})")


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """Arguments of `nanograd-llm sample`."""
    add_model_args(p)
    p.add_argument("--prompt", default="", metavar="TEXT",
                   help="text to continue (default: a newline, or a space when the vocabulary "
                        "has no newline)")
    _add_sampler_args(p, temperature=0.8, unknown_default="strict")
    p.add_argument("--no-stream", action="store_true",
                   help="print the text at the end instead of token by token")


def add_chat_args(p: argparse.ArgumentParser) -> None:
    """Arguments of `nanograd-llm chat`."""
    add_model_args(p)
    _add_sampler_args(p, temperature=0.8, max_new_tokens=200,
                      tokens_help="most tokens in one reply")
    p.add_argument("--stop", default=None, metavar="TEXT",
                   help=f"end a reply when this text is produced ({STOP_ESCAPES_HELP}; "
                        f"default: none, a reply ends after N new tokens)")


def load_for_generation(args):
    """(model, tokenizer) from --ckpt (trainer's run directory) or --hf (GPT-2 folder)."""
    if args.hf:
        from .hf import init_from_hf
        return init_from_hf(args.hf, dtype=args.dtype, device=args.device)
    try:
        from .checkpoint import load_model, load_run_tokenizer
    except ImportError as e:
        raise RuntimeError(f"loading a run directory needs nanograd_llm.checkpoint and "
                           f"nanograd_llm.tokenizers.load_tokenizer ({e})") from None
    model = load_model(args.ckpt, device=args.device)
    return model, load_run_tokenizer(args.ckpt, model=model)


def _check(args) -> None:
    from .backend import shown
    from .config import _float_from_text
    from .generate import check_sampling_args
    # Bir float'un tutamadığı bir sayı (1e999 → inf, 1e-999 → 0), yazıldığı metinle ve eğitim
    # ayarlarının iletileriyle reddedilir: "bad value for --temperature: '1e999' is too large…"
    for flag, value in (("--temperature", args.temperature), ("--top-p", args.top_p)):
        text = getattr(value, "text", None)
        if text is not None:
            _float_from_text(flag, text.strip(), shown(text))
    try:
        check_sampling_args(args.max_new_tokens, args.temperature, args.top_k, args.top_p)
    except ValueError as e:
        # Hata, kullanıcının yazdığı seçeneğin adını söylesin (max_new_tokens → --max-new-tokens).
        # Python'daki "(or None)" komut satırında yazılamaz (`--top-k None` bir argparse
        # hatasıdır; süzgeci kapatmak için seçenek hiç verilmez): ileti None'ı önermez
        msg = str(e).replace(" (or None)", "")
        for name in ("max_new_tokens", "temperature", "top_k", "top_p"):
            if msg.startswith(name + " "):
                msg = "--" + name.replace("_", "-") + msg[len(name):]
        raise ValueError(msg) from None
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {shown(args.seed)}")


def _write(s: str) -> None:
    sys.stdout.write(s)
    sys.stdout.flush()


def sample_main(args) -> int:
    """`nanograd-llm sample`: continue --prompt, streaming the text to the terminal."""
    from .chat import _Encoder, describe_dropped, show_chars
    from .generate import TextStreamer, iter_generate
    from .tokenizers import end_id, start_ids
    _check(args)
    model, tok = load_for_generation(args)
    encode = _Encoder(tok, "skip" if args.unknown == "strict" else args.unknown)
    if args.prompt:
        ids, dropped = encode(args.prompt)
    else:
        ids, dropped = start_ids(tok), []
    if dropped and args.unknown == "strict":
        raise ValueError(f"prompt character(s) {show_chars(dropped)} not in the tokenizer's vocabulary "
                         f"(use --unknown skip or --unknown replace to drop or replace them)")
    if dropped:
        print(describe_dropped(dropped, args.unknown, encode._replacement), file=sys.stderr)
    if not ids:
        raise ValueError("the prompt has no characters the tokenizer knows")
    pieces: list[str] = []
    out = pieces.append if args.no_stream else _write
    streamer = TextStreamer(tok.decode, out)
    # Önce modelin gerçekten gördüğü metin yazılır (--prompt yoksa başlangıç belirteci, ör. bir
    # satır sonu). Okuyan taraf erken giderse (`nanograd-llm sample ... | head`) yazmalar
    # BrokenPipeError verir; burada yakalanmaz: cli.report_errors onu, her komutta olduğu gibi,
    # sessizce 141 çıkış koduna çevirir.
    out(tok.decode(ids) if dropped or not args.prompt else args.prompt)
    end = end_id(tok)
    for nxt in iter_generate(model, ids, args.max_new_tokens, args.temperature, args.top_k,
                             args.top_p, args.seed, not args.no_cache,
                             vocab_limit=getattr(tok, "vocab_size", None)):
        if end is not None and int(nxt[0]) == end:
            break                        # metin sonu belirteci: model bu metni bitirdi
        streamer(nxt[0])
    streamer.flush()
    out("\n")
    if args.no_stream:
        _write("".join(pieces))
    return 0


def chat_main(args) -> int:
    """`nanograd-llm chat`: an interactive prompt loop (exit with Ctrl-D or Ctrl-C)."""
    from .chat import chat_loop, check_stop
    _check(args)
    # Boş bir --stop, model yüklenmeden reddedilir; belirteçleyicinin bilmediği karakterler
    # ise yüklendikten sonra
    stop = check_stop(_unescape(args.stop), name="--stop")
    model, tok = load_for_generation(args)
    stop = check_stop(stop, tok, name="--stop")
    # Kapalı standart girdi (`<&-`): Python sys.stdin'i None yapar; boş bir girdi gibidir
    stdin = sys.stdin if sys.stdin is not None else io.StringIO()
    interactive = stdin.isatty()
    # UTF-8 olmayan bir bayt oturumu bitirmesin: vekil karaktere dönüşür, sonra bilinmeyen
    # karakter olarak atlanır (ya da değiştirilir) ve bildirilir
    if hasattr(stdin, "reconfigure"):
        stdin.reconfigure(errors="surrogateescape")
    # Okuyan taraf boruyu kapatırsa (`... | head -1`) BrokenPipeError burada yakalanmaz,
    # cli.report_errors'a ulaşır: komut 141 ile çıkar
    return chat_loop(model, tok, None if interactive else stdin, sys.stdout,
                     max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                     top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                     use_cache=not args.no_cache, stop=stop,
                     unknown=args.unknown, banner=interactive)

