"""Command line interface: `nanograd-llm <command>` (same as `python -m nanograd_llm`)."""
from __future__ import annotations

import argparse
import sys


def _cmd_gradcheck(args) -> int:
    from .gradcheck import run_all
    return 0 if run_all(device=args.device) else 1


def _cmd_train(args) -> int:
    from .train import make_config, parse_overrides, sample_text, train
    overrides = parse_overrides(args.overrides)
    cfg = make_config(args.preset, config_file=args.config, overrides=overrides,
                      data=args.data, out_dir=args.out, device=args.device)
    result = train(cfg, resume=args.resume, quiet=args.quiet)
    out = result["out_dir"]
    if result["val_loss"] is not None:
        print(f"final (step {result['step']}): train loss {result['train_loss']:.4f}, "
              f"val loss {result['val_loss']:.4f}; {result['wall_s']:.1f} s; checkpoint in {out}")
    if cfg.sample_tokens > 0:
        text = sample_text(result["model"], result["tokenizer"], "\n", cfg.sample_tokens,
                           temperature=0.8, seed=cfg.seed)
        print("--- sample ---")
        print(text)
        print("--------------")
    print(f"sample more:  nanograd-llm sample --ckpt {out} --prompt \"...\"")
    print(f"chat:         nanograd-llm chat --ckpt {out}")
    return 0


def _cmd_sample(args) -> int:
    from .checkpoint import load_model, load_run_tokenizer
    from .train import sample_text
    model = load_model(args.ckpt, device=args.device)
    tokenizer = load_run_tokenizer(args.ckpt)
    text = sample_text(model, tokenizer, args.prompt, args.max_new_tokens,
                       temperature=args.temperature, seed=args.seed)
    print(args.prompt + text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanograd-llm",
                                     description="A GPT in NumPy with hand-written backprop.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("gradcheck", help="check every layer's and model's gradients")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser("train", help="train a model (default: the `default` preset on the "
                                     "embedded Turkish corpus)")
    p.add_argument("--preset", default=None,
                   help="default, bigram, baby or shakespeare (default: default)")
    p.add_argument("--config", default=None, metavar="FILE", help="a .toml or .json config")
    p.add_argument("--data", default=None, metavar="PATH|NAME",
                   help="a UTF-8 text file, or embedded, tinyshakespeare, wizard_of_oz, seyfettin")
    p.add_argument("--out", default=None, metavar="DIR", help="run directory (checkpoints)")
    p.add_argument("--device", default=None, choices=["cpu", "cuda"])
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="override any config field, e.g. max_iters=100 dropout=0.1")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sample", help="generate text from a trained checkpoint")
    p.add_argument("--ckpt", required=True, metavar="DIR", help="run directory of `train`")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--max-new-tokens", type=int, default=300, metavar="N")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T")
    p.add_argument("--seed", type=int, default=None, metavar="S")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.set_defaults(func=_cmd_sample)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
