"""Command line interface: `nanograd-llm <command>` (same as `python -m nanograd_llm`)."""
from __future__ import annotations

import argparse
import sys


def _cmd_gradcheck(args) -> int:
    from .gradcheck import run_all
    return 0 if run_all(device=args.device) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanograd-llm",
                                     description="A GPT in NumPy with hand-written backprop.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("gradcheck", help="check every layer's and model's gradients")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.set_defaults(func=_cmd_gradcheck)
    _add_chat_command(sub)
    return parser


def _add_chat_command(sub) -> None:
    from .cli_generate import add_chat_args, chat_main
    p = sub.add_parser("chat", help="talk to a trained model (or a GPT-2 folder) line by line")
    add_chat_args(p)
    p.set_defaults(func=chat_main)


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
