"""Command line interface: `nanograd-llm <command>` (same as `python -m nanograd_llm`)."""
from __future__ import annotations

import argparse
import codecs
import errno
import os
import stat
import sys
import warnings


# SIGTERM'ün istisnası ve onu kuran bağlam, signals_deferred'ın yanında atomic.py'dedir
# (yalnızca standart kitaplığı kullanır): train() Python'dan çağrıldığında da onları kurar ve
# içe aktarmalar tek yönde kalır (cli.py paketin geri kalanını içe aktarır, onu yalnızca
# __main__.py)
from .atomic import Terminated, _terminate, sigterm_raises  # noqa: F401  (cli.Terminated)
# Kopyalanacak komutlardaki yolların tırnaklanması da atomic.py'dedir: alt modüllerin iletileri
# (checkpoint, hf, run_folder) de onu kullanır; cli.shell_quote ve cli.shell_note örnekler için
# burada da durur
from .atomic import path_fault, shell_note, shell_quote


def _cmd_gradcheck(args) -> int:
    from .gradcheck import run_all
    return 0 if run_all(device=args.device) else 1


def report_stopped_run(result: dict, resume_command: str) -> int:
    """Print the one line for a training run stopped by Ctrl-C or SIGTERM (its last checkpoint
    is saved) with the command that continues it; return the exit status, 130 or 143."""
    # Ctrl-C: 130, SIGTERM: 143 (128 + sinyal numarası; kabuğun sinyalle ölen bir sürece
    # verdiği durum): bitmemiş bir eğitim, ardından gelen komutlara başarı bildirmez
    term = result.get("signal") == "SIGTERM"
    print(f"{'stopped by SIGTERM' if term else 'interrupted'}: checkpoint of step "
          f"{result['step']} saved in {result['out_dir']}; continue with `{resume_command}`"
          f"{shell_note(result['out_dir'])}", file=sys.stderr)
    return 143 if term else 130


def _cmd_train(args) -> int:
    from .train import make_config, parse_overrides, resume_config, sample_text, train
    overrides = parse_overrides(args.overrides)
    if args.resume and args.init_from:
        raise ValueError("--init-from starts a new run from a GPT-2 folder; --resume continues "
                         "the run in --out with its own weights (use one or the other)")
    build = resume_config if args.resume else make_config
    cfg = build(args.preset, config_file=args.config, overrides=overrides,
                data=args.data, out_dir=args.out, device=args.device,
                init_from=args.init_from)
    result = train(cfg, resume=args.resume, quiet=args.quiet, overwrite=args.overwrite)
    out = result["out_dir"]
    q = shell_quote(out)                 # paste-able even with spaces in the path
    if result.get("interrupted"):
        return report_stopped_run(result, f"nanograd-llm train --out {q} --resume")
    if result["val_loss"] is not None:
        when = (f"final (step {result['step']})" if result.get("eval_step") in
                (None, result["step"]) else
                f"step {result['step']}; last evaluation (step {result['eval_step']})")
        print(f"{when}: train loss {result['train_loss']:.4f}, "
              f"val loss {result['val_loss']:.4f}; {result['wall_s']:.1f} s; checkpoint in {out}")
    if result.get("best_dir") and result.get("best_step") != result["step"]:
        print(f"lowest val loss {result['best_val_loss']:.4f} at step {result['best_step']}: "
              f"those weights are kept in {result['best_dir']}")
    if cfg.sample_tokens > 0:
        from .backend import matmul_precision
        from .models.base import advice_when_out_of_memory
        # Örnek eğitimin bir parçasıdır: train() dönünce geri konan kabuk ayarıyla (CUPY_TF32)
        # değil, eğitimin hassasiyetiyle (precision) üretilir. Eğitim bitmiş ve kaydedilmiştir:
        # bellek burada yetmezse eğitimin ayarlarını (batch_size, block_size, model) küçültmek
        # yol göstermez (devam ettirilen bir eğitim onları reddeder de); öğüt, eğitimin
        # kaydedildiğini, örneğin sonra nasıl üretileceğini ve nasıl atlanacağını söyler
        with matmul_precision(cfg.precision), advice_when_out_of_memory(
                f"the run is trained and saved in {out}, only its closing sample failed: free "
                f"some memory and sample with `nanograd-llm sample --ckpt {q}`"
                f"{shell_note(out)}, or give sample_tokens=0 to leave the sample out"):
            text = sample_text(result["model"], result["tokenizer"], "", cfg.sample_tokens,
                               temperature=0.8, seed=cfg.seed)
        print("--- sample ---")
        print(text)
        print("--------------")
    print(f"sample more:  nanograd-llm sample --ckpt {q}   (--prompt TEXT to continue a text)")
    print(f"evaluate:     nanograd-llm eval --ckpt {q}")
    print(f"chat:         nanograd-llm chat --ckpt {q}")
    if shell_note(out):
        print(shell_note(out).lstrip())
    return 0


def _cmd_eval(args) -> int:
    import json
    from .cli_generate import load_for_generation
    from .evaluate import describe, evaluate_text, resolve_eval_data
    for name in ("context", "stride", "batch_size", "max_tokens"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    text, label, split, val_fraction, split_by = resolve_eval_data(args.ckpt, args.hf,
                                                                   args.data, args.split)
    model, tok = load_for_generation(args)
    result, skipped = evaluate_text(model, tok, text, split=split, val_fraction=val_fraction,
                                    split_by=split_by, unknown=args.unknown,
                                    max_tokens=args.max_tokens, context=args.context,
                                    stride=args.stride, batch_size=args.batch_size,
                                    progress=None if not args.json else False)
    if skipped:
        n = sum(skipped.values())
        chars = " ".join(repr(c) for c in list(skipped)[:20])
        print(f"left out {n} occurrence(s) of {len(skipped)} unknown character(s): {chars}",
              file=sys.stderr)
    source = args.ckpt or args.hf
    if args.json:
        print(json.dumps({"model": str(source), "data": label, "split": split,
                          **result.to_dict(), "skipped_characters": sum(skipped.values())}))
    else:
        print(describe(result, str(source), label, split))
    return 0


def _cmd_docs(args) -> int:
    from .docs import build_docs
    pages = build_docs(args.out, run_dir=args.run, images=not args.no_images)
    print(f"open {pages[0]}")
    return 0


def _cmd_attention(args) -> int:
    from .viz import check_picture_path, plot_attention, require_matplotlib
    # Resmin adı ve klasörü, matplotlib'in kurulu olduğu da model yüklenip ileri geçiş
    # çalışmadan önce denetlenir: iş bittikten sonra değil, hemen söylenir
    check_picture_path(args.out)
    require_matplotlib()
    try:
        from .checkpoint import load_model, load_run_tokenizer
    except ImportError as e:
        raise RuntimeError(f"loading checkpoints is not available in this build ({e})") from None
    from .chat import _Encoder, show_chars
    model = load_model(args.ckpt, device=args.device)
    tokenizer = load_run_tokenizer(args.ckpt, model=model)
    _, dropped = _Encoder(tokenizer, "skip")(args.prompt)
    if dropped:
        raise ValueError(f"prompt character(s) {show_chars(dropped)} not in the tokenizer's "
                         f"vocabulary")
    out = plot_attention(model, tokenizer, args.prompt, args.out)
    print(f"wrote {out}")
    return 0


# Options that name files or folders (their values get "~" expanded)
PATH_ARGS = ("out", "ckpt", "hf", "init_from", "config", "data", "run")


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose refusal of a choice (a command's name, --device, --split …)
    ends with the closest choice: "(did you mean train?)", on every Python."""

    # Python 3.14 öneriyi yalnızca suggest_on_error ile ve kendi sözcükleriyle verir; 3.10–3.13
    # hiç vermez. Seçimin denetimi (_check_value, alt komutun adı da ondan geçer) bu yüzden
    # burada yapılır: ileti her sürümde aynıdır ve ayarların, hazır ayarların reddiyle aynı
    # yardımcıyı (did_you_mean) kullanır. Alt komutların ayrıştırıcıları da bu sınıftandır
    # (add_subparsers, ayrıştırıcının kendi türünü kullanır)
    # Neyin geçerli olduğuna argparse'ın kendisi karar verir; yalnızca bir adın reddi yeniden
    # yazılır. Gelecekteki bir Python bu özel yöntemi başka bağımsız değişkenlerle çağırırsa
    # ya da yazılmış bir adı reddetmezse argparse'ın kendi davranışı olduğu gibi kalır (bir
    # TypeError hata izi yerine)
    def _check_value(self, action, value, *more, **named):
        try:
            return super()._check_value(action, value, *more, **named)
        except argparse.ArgumentError:
            choices = getattr(action, "choices", None)
            if more or named or choices is None or not isinstance(value, str):
                raise
        from .backend import did_you_mean
        listed = ", ".join(map(repr, choices))
        raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from "
                                             f"{listed}){did_you_mean(value, choices)}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nanograd-llm",
                     description="A GPT in NumPy with hand-written backprop.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("gradcheck", help="check every layer's and model's gradients")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser("train", help="train a model (default: the `default` preset on the "
                                     "embedded Turkish corpus)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="default, bigram, baby or shakespeare (default: default)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a .toml or .json file of config fields that change the preset's "
                        "(default: none)")
    p.add_argument("--data", default=None, metavar="PATH|NAME",
                   help="a UTF-8 text file, or embedded, tinyshakespeare, wizard_of_oz, "
                        "seyfettin (default: embedded; named corpora are downloaded on first "
                        "use)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory, where checkpoints go and where --resume looks "
                        "(default: out/PRESET, e.g. out/default)")
    p.add_argument("--device", default=None, choices=["cpu", "cuda"],
                   help="(default: cpu, or the device the config sets)")
    once = p.add_mutually_exclusive_group()
    once.add_argument("--resume", action="store_true",
                      help="continue the run in --out with its saved settings (key=value words "
                           "change them, e.g. max_iters=)")
    once.add_argument("--overwrite", action="store_true",
                      help="start a new run in an --out folder that already holds one "
                           "(deletes it)")
    p.add_argument("--init-from", default=None, metavar="DIR",
                   help="fine-tune a Hugging Face GPT-2 folder (config.json + model.safetensors "
                        "+ a tokenizer: tokenizer.json, vocab.json/merges.txt, or one saved by "
                        "this package) instead of starting from random weights "
                        "(default: random weights)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or log lines (warnings are still shown)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="override any config field, e.g. max_iters=100 dropout=0.1")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("docs", help="render the Turkish course to static HTML")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: new, empty, or an earlier docs output "
                        "(a folder of other files is refused)")
    p.add_argument("--run", default=None, metavar="DIR",
                   help="training run folder whose loss curve and attention maps to draw "
                        "(default: a few seconds' demo training inside the course)")
    p.add_argument("--no-images", action="store_true", help="skip drawing the pictures")
    p.set_defaults(func=_cmd_docs)

    p = sub.add_parser("attention", help="plot the attention weights of every head as heatmaps")
    p.add_argument("--ckpt", required=True, metavar="DIR",
                   help="a run directory written by `train`")
    p.add_argument("--prompt", required=True, metavar="TEXT",
                   help="text whose tokens to attend over")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="picture to write: .png, .svg or .pdf")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="(default: cpu)")
    p.set_defaults(func=_cmd_attention)

    _add_sample_command(sub)
    _add_chat_command(sub)
    _add_eval_command(sub)
    parser.commands = dict(sub.choices)      # name -> its parser (usage errors name the command)
    return parser


def _add_sample_command(sub) -> None:
    from .cli_generate import add_sampling_args, sample_main
    p = sub.add_parser("sample", help="generate text from a trained checkpoint (or a GPT-2 "
                                      "folder)")
    add_sampling_args(p)
    p.set_defaults(func=sample_main)


def _add_chat_command(sub) -> None:
    from .cli_generate import add_chat_args, chat_main
    p = sub.add_parser("chat", help="talk to a trained model (or a GPT-2 folder) line by line")
    add_chat_args(p)
    p.set_defaults(func=chat_main)


def _add_eval_command(sub) -> None:
    from .cli_generate import add_model_args
    p = sub.add_parser("eval", help="loss, perplexity and bits per character of a model on "
                                    "every position of a text")
    add_model_args(p)
    p.add_argument("--data", default=None, metavar="PATH|NAME",
                   help="text to evaluate on (default: the corpus the run was trained on)")
    p.add_argument("--split", default=None, choices=["val", "train", "all"],
                   help="which part of the text (default: val for the run's own corpus, all "
                        "for any other text)")
    p.add_argument("--context", type=int, default=None, metavar="N",
                   help="window length (default: the model's block_size; 256 for a bigram)")
    p.add_argument("--stride", type=int, default=None, metavar="S",
                   help="window step; each window counts only its last S positions, so every "
                        "position after the first window sees at least N-S+1 tokens of context "
                        "(default: N, windows one after another, as in training batches)")
    p.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="windows per forward pass (default: sized to the model)")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help="evaluate only the first N predicted tokens of the split "
                        "(default: all of them)")
    p.add_argument("--unknown", default="strict", choices=["strict", "skip"],
                   help="characters the tokenizer does not know: an error (default) or left "
                        "out of the text")
    p.add_argument("--json", action="store_true", help="print one JSON line (no progress bar)")
    p.set_defaults(func=_cmd_eval)


# Çıkışın kodlaması (PYTHONIOENCODING=ascii, Latin-1 yerel ayarı) bazı karakterleri yazamadı
# mı: öyleyse komutun sonunda bir kez not düşülür
_escaped = False


def _escape_and_remember(err: UnicodeEncodeError):
    global _escaped
    _escaped = True
    return codecs.backslashreplace_errors(err)


codecs.register_error("nanograd_llm.escape", _escape_and_remember)


def _escape_what_stdout_cannot_encode():
    """A stdout whose encoding is not UTF-8 (ascii, latin-1) writes the characters it cannot
    show as backslash escapes (\\u015f) instead of stopping the command half-way with a
    UnicodeEncodeError. -> a function that puts stdout's error handler back (main calls it
    when the command ends), or None when nothing was changed."""
    global _escaped
    _escaped = False
    out = sys.stdout
    if getattr(out, "errors", None) != "strict" or not hasattr(out, "reconfigure"):
        return None
    try:
        name = codecs.lookup(out.encoding).name
    except (LookupError, TypeError):
        return None
    if not name.startswith("utf"):
        out.reconfigure(errors="nanograd_llm.escape")
        return lambda: out.reconfigure(errors="strict")
    elif name == "utf-8":
        # UTF-8'in yazamadığı tek şey, UTF-8 olmayan bir dosya adının baytlarını tutan vekil
        # karakterlerdir ("\udcfe"): adın kendi baytları yazılır (ls'in yazdığı gibi); yoksa
        # bitmiş bir eğitim, özeti yerine "surrogates not allowed" hatası yazıp 1 ile çıkardı
        out.reconfigure(errors="surrogateescape")
        return lambda: out.reconfigure(errors="strict")
    return None


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv=None) -> int:
    # Uyarılar (ör. BPE eğitiminde "birleştirilecek çift kalmadı") kaynak satırıyla değil,
    # tek satırlık bir iletiyle yazılır. Bu biçim ve standart çıktının hata işleyicisi
    # sürecin tamamı için geçerli ayarlardır: komut bitince eski hâllerine döner (main'i bir
    # not defterinden ya da kendi programından çağıranın uyarıları yine dosya ve satırıyla
    # yazılır).
    before = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = before


def _reads_as_a_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def join_negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """argv with each option that takes a value and is followed by a word that starts with '-'
    and reads as a number (-inf, -nan, -1e3, -Infinity) written as one word, `--opt=-inf`."""
    # argparse bir değeri yalnızca -5 ya da -.5 biçimindeyse sayı sayar; -inf, -nan, -1e3 ise
    # bir seçenek sanılır ve `sample --temperature -inf` "expected one argument" kullanım
    # hatası verirdi, `--temperature=-inf` ise komutun kendi iletisiyle reddedilir. Sayı olarak
    # okunan bir sözcük hiçbir seçeneğin adı olamaz: değer seçeneğe `=` ile bağlanır, iki
    # yazım da aynı denetimden geçer. Seçeneğin kısaltması (--temp) argparse'taki gibi, tek
    # bir seçeneğin başıysa tanınır; `--`'dan sonrası olduğu gibi kalır
    sub, names, takes_value, out, i = None, [], {}, [], 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            out.extend(argv[i:])
            break
        if sub is None:
            if word in parser.commands:
                sub = parser.commands[word]
                names = [s for a in sub._actions for s in a.option_strings]
                takes_value = {s: a.nargs is None for a in sub._actions
                               for s in a.option_strings}
        elif word.startswith("--") and "=" not in word and i + 1 < len(argv) \
                and argv[i + 1].startswith("-") and _reads_as_a_number(argv[i + 1]):
            named = [word] if word in takes_value else [s for s in names if s.startswith(word)]
            if len(named) == 1 and takes_value[named[0]]:
                out.append(f"{word}={argv[i + 1]}")
                i += 2
                continue
        out.append(word)
        i += 1
    return out


def _unrecognized_hint(sub: argparse.ArgumentParser, command: str | None, extra: list) -> str:
    """What the first unrecognized option among `extra` was likely meant to be: ' (did you
    mean --device?)', for train a config setting written as an option ' (config settings are
    key=value words: max_iters=5)', or ''."""
    # Yanlış yazılmış bir seçenek adı (--devcie, --Preset, --temprature) ya da train'de
    # seçenek gibi yazılmış bir ayar (--max-iters=5): argparse yalnızca "tanınmayan
    # argüman" der
    from .backend import did_you_mean
    word = next((w for w in extra if w.startswith("--") and len(w) > 2), None)
    if word is None:
        return ""
    name, eq, value = word.partition("=")
    if command == "train":
        from .config import _field_types
        key = name.lstrip("-").replace("-", "_")
        if key in _field_types():
            return (f" (config settings are key=value words, not options: "
                    f"{key}={value if eq else 'VALUE'})")
    options = [s for a in sub._actions for s in a.option_strings if s.startswith("--")]
    return did_you_mean(name, options)


def _main(argv) -> int:
    parser = build_parser()
    argv = join_negative_values(parser, list(sys.argv[1:] if argv is None else argv))
    args, extra = parser.parse_known_args(argv)
    if args.command == "train" and "--" in extra:
        extra = [w for w in extra if w != "--"]      # `train ... -- max_iters=3`: usual separator
    if extra:
        # argparse gives a positional list only its first run of words; key=value words that
        # come after an option (train max_iters=3 --quiet lr=1e-3) arrive here, in order.
        if args.command == "train" and all("=" in w and not w.startswith("-") for w in extra):
            args.overrides = list(args.overrides) + extra
        else:
            sub = parser.commands.get(args.command, parser)
            sub.error(f"unrecognized arguments: {' '.join(extra)}"
                      f"{_unrecognized_hint(sub, args.command, extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    for name in PATH_ARGS:
        # "~/x" reaches us unexpanded after "--opt=~/x" or in quotes: expand it everywhere
        value = getattr(args, name, None)
        if isinstance(value, str):
            option = f"--{name.replace('_', '-')}"
            if not value.strip():
                parser.commands[args.command].error(f"{option} is empty")
            value = os.path.expanduser(value)
            # Bilinmeyen bir kullanıcının ~adı os.path.expanduser'dan olduğu gibi döner; komutlar
            # onu ya "Could not determine home directory." diye (Path.expanduser) ya da
            # çalışılan klasörde "~ad" adlı bir klasör açarak karşılardı: seçenek ve değeriyle
            # reddedilir
            fault = path_fault(value)
            if fault:
                parser.commands[args.command].error(f"{option} {value!r} {fault}")
            setattr(args, name, value)
    if sys.stdout is None:
        # Kapalı standart çıktı (`nanograd-llm sample ... >&-`): Python sys.stdout'u None
        # yapar; ilk yazma bir AttributeError hata izi verirdi
        print("error: standard output is closed", file=sys.stderr)
        return 1
    put_back = _escape_what_stdout_cannot_encode()
    try:
        return report_errors(lambda: args.func(args), _memory_advice(args.command))
    finally:
        if _escaped:
            print(f"note: the output encoding ({sys.stdout.encoding}) cannot show some "
                  f"characters; they were written as backslash escapes (set "
                  f"PYTHONIOENCODING=utf-8 to see them)", file=sys.stderr)
        if put_back is not None:
            try:
                put_back()
            except (OSError, ValueError):     # stdout closed by the command (a pipe that left)
                pass


def _silence_stdout() -> None:
    # Python'un çıkışta kapalı boruya yazmaya çalışıp hata basmaması için
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)           # stdout holds its own copy now


class _StdoutWatch:
    """sys.stdout while a command runs on Windows: the same stream, remembering the OSError its
    own write or flush raised (the only EINVAL that can mean a reader that left)."""

    def __init__(self, stream):
        self.stream = stream
        self.failed = None

    def write(self, text):
        try:
            return self.stream.write(text)
        except OSError as e:
            self.failed = e
            raise

    def flush(self):
        try:
            return self.stream.flush()
        except OSError as e:
            self.failed = e
            raise

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _windows_broken_pipe(e: OSError, watch: _StdoutWatch | None) -> bool:
    """Whether `e` is how Windows reports a write to a stdout pipe whose reader has gone: an
    EINVAL OSError from stdout's own write or flush (`watch` saw it), not BrokenPipeError
    (CPython issue 79935)."""
    # Windows'ta okuyanı giden bir boruya yazma çoğu zaman EPIPE değil EINVAL ("[Errno 22]
    # Invalid argument") verir: `nanograd-llm sample ... | more` "error: [Errno 22] Invalid
    # argument" yazıp 1 ile çıkar, Python da çıkışta bir "Exception ignored" iletisi basardı.
    # Standart çıktı bir boruyken yalnızca onun kendi yazmasından (ya da tamponunu
    # boşaltmasından) gelen EINVAL sayılır: başka bir işlemden gelen EINVAL (geçersiz bir yol
    # adı, bir dosyada geçersiz bir konum) olağan bir hata olarak kalır; yoksa komut hiçbir şey
    # söylemeden 141 ile çıkardı
    if sys.platform != "win32" or e.errno != errno.EINVAL or watch is None or \
            e is not watch.failed:
        return False
    try:
        return stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


# What an out-of-memory error advises (one that is not a model too large for the machine, whose
# raiser says what to change), for a command without settings that shrink its memory
GENERAL_MEMORY_ADVICE = "free some memory, or use a machine with more"


def _memory_advice(command: str) -> str:
    """What an out-of-memory error in `command` advises: what that command can change."""
    if command == "train":
        from .models.base import TRAIN_MEMORY_ADVICE     # train() gives each run its own
        return TRAIN_MEMORY_ADVICE
    if command == "eval":
        return "use a smaller --batch-size (or a shorter --context)"
    return GENERAL_MEMORY_ADVICE


def report_errors(call, memory_advice: str = GENERAL_MEMORY_ADVICE) -> int:
    """call()'s exit status, with the errors every command reports the same way: a line
    (`error: …`, `interrupted`, `terminated`) and an exit status instead of a traceback. A
    SIGTERM while call() runs is handled as a Ctrl-C is (see sigterm_raises), with
    `terminated` and 143. The examples (examples/train_char_gpt.py) run their work through it
    too. `memory_advice`: what an out-of-memory error advises, unless it carries its own
    (`command_line_advice`, else `advice`: a ModelTooLargeError's, or one train() gave)."""
    watch = None
    if sys.platform == "win32" and sys.stdout is not None:
        watch = sys.stdout = _StdoutWatch(sys.stdout)
    try:
        return _report_errors(call, watch, memory_advice)
    finally:
        if watch is not None and sys.stdout is watch:
            sys.stdout = watch.stream


def _report_errors(call, watch: _StdoutWatch | None, memory_advice: str) -> int:
    """report_errors(call), with `watch` the stdout it put in place (None: it put none)."""
    rc = None
    try:
        with sigterm_raises():
            rc = call()
            sys.stdout.flush()       # a reader that left (`| head`) is found here, not at exit
    except BrokenPipeError:
        # The reader of our output left early (`nanograd-llm eval ... | head`): stop without
        # an error message. Its output (e.g. gradcheck's table with a FAIL further down) was
        # cut, so it must not report success: 141 = 128 + SIGPIPE, the status a shell shows for
        # `yes | head`. That holds also when the command had already returned 0: stdout into a
        # pipe is block-buffered, so its whole output was still waiting for the flush above.
        # A failure status the command returned (gradcheck's 1) stands.
        _silence_stdout()
        return 141 if not rc else rc
    except (ValueError, OSError, RuntimeError) as e:
        if isinstance(e, OSError) and _windows_broken_pipe(e, watch):
            _silence_stdout()           # as BrokenPipeError above
            return 141 if not rc else rc
        # Python API'si ile komut satırında farklı öğüt veren hatalar (ör. checkpoint.
        # HuggingFaceFolderError) komut satırının iletisini taşır
        print(f"error: {getattr(e, 'command_line_message', None) or e}", file=sys.stderr)
        return 1
    except MemoryError as e:
        what = f" ({e})" if str(e) else ""
        # Ağırlıklar (ya da eğitimin dört katı) makineye sığmıyorsa batch_size ve block_size
        # hiçbir şey değiştirmez: yalnızca daha küçük bir model yardım eder
        from .models.base import ModelTooLargeError
        # Hatanın kendi öğüdü, varsa komut satırının sözcükleriyle (--overwrite, --init-from)
        own = getattr(e, "command_line_advice", None) or getattr(e, "advice", None)
        if isinstance(e, ModelTooLargeError):
            advice = own or "use a smaller model (n_layer, n_embd, vocab_size)"
        else:
            # Öğüt komuta göredir: eğitimin batch_size/block_size ayarları yalnızca train'de
            # vardır (train() her eğitime, devam ettirilene ve ince ayara da, kendi öğüdünü
            # verir), eval'in --batch-size seçeneği vardır, ötekilerin bellek için bir ayarı
            # yoktur
            advice = own or memory_advice
        print(f"error: out of memory{what}; {advice}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        # SIGTERM (Terminated) 143 ile, Ctrl-C 130 ile çıkar. İşin sonuna ertelenen bir sinyal
        # (atomic.signals_deferred) işin kendi hatasından sonra geldiyse istisnası o hataya
        # bağlıdır (`from`): hata da söylenir (ör. hangi dosyaların yeni, hangilerinin eski
        # olduğu), yoksa kullanıcı yalnızca "interrupted" görürdü
        status = getattr(e, "exit_status", 130)
        cause = e.__cause__
        error = f"\nerror: {getattr(cause, 'command_line_message', None) or cause}" \
            if isinstance(cause, (ValueError, OSError, RuntimeError)) else ""
        print(f"{error}\n{'terminated' if status == 143 else 'interrupted'}", file=sys.stderr)
        return status
    return rc


if __name__ == "__main__":
    sys.exit(main())
