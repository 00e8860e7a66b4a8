"""Command-line interface: ``wellposed check | audit-family | audit-data``."""

from __future__ import annotations

import argparse
import sys

from . import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wellposed",
        description="Machine-checked verdicts on whether VAE objectives are bounded above.",
    )
    parser.add_argument("--version", action="version", version=f"wellposed {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))
