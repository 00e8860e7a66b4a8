"""Command-line interface: ``wellposed check | audit-family | audit-data``.

``wellposed check [IDS...] [--json PATH] [--report-dir DIR] [--device auto|cpu|cuda]
[--seed N] [--ledger PATH]`` runs the claims, prints a table (progress on stderr), writes
``DIR/claims.md`` and ``DIR/claims.json`` and exits

* 0 when every observed verdict equals the ledger's and the evaluation lines agree,
* 1 on any regression (each one printed),
* 2 on bad usage or input (unknown id, unreadable ledger, missing report directory);
  nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wellposed import __version__
from wellposed.errors import WellposedInputError

__all__ = ["build_parser", "main"]


def _progress(i: int, total: int, claim_id: str) -> None:
    print(f"[{i + 1}/{total}] {claim_id} ...", file=sys.stderr, flush=True)


def _check(args: argparse.Namespace) -> int:
    from wellposed.gate import run_claims
    from wellposed.render import write_reports

    report_dir = args.report_dir
    if report_dir is None and not args.ids:
        report_dir = "reports"  # a full run refreshes the committed reports
    if args.no_report:
        report_dir = None
    for target in ([Path(report_dir)] if report_dir else []) + (
        [Path(args.json).parent] if args.json else []
    ):  # fail before minutes of computation, not after
        if not target.is_dir():
            raise WellposedInputError(
                f"output directory {target} does not exist; create it or pass an existing "
                "--report-dir / --json path"
            )
    results = run_claims(args.ids or None, seed=args.seed, device=args.device,
                         progress=None if args.quiet else _progress, ledger=args.ledger)
    families = None
    if report_dir is not None and not args.ids:  # a full run also refreshes families.md
        from wellposed.audit import report_family_audits

        families = report_family_audits(args.seed)
    written = write_reports(results, seed=args.seed, report_dir=report_dir,
                            json_path=args.json, families=families)
    from tabulate import tabulate

    rows = [[r.id, r.expected, r.observed, "yes" if r.lines_agree else "NO",
             "ok" if r.ok else "FAIL"] for r in results]
    print(tabulate(rows, headers=["id", "expected", "observed", "lines agree", "ok"],
                   tablefmt="github", disable_numparse=True))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"\n{len(failed)} claim(s) regressed:", file=sys.stderr)
        for r in failed:
            for problem in r.problems:
                print(f"  {r.id}: {problem}", file=sys.stderr)
        return 1
    print(f"\nall {len(results)} claims ok", file=sys.stderr)
    return 0


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="run the claims ledger and write reports/claims.{md,json}",
                       description="Run the claims (all by default) and compare the observed "
                                   "verdicts with the ledger. Exit 0: all ok; 1: a regression; "
                                   "2: bad usage or input.")
    p.add_argument("ids", nargs="*", metavar="ID", help="claim ids (e.g. S1 L5); default: all")
    p.add_argument("--json", metavar="PATH", help="also write the JSON report to PATH")
    p.add_argument("--report-dir", default=None, metavar="DIR",
                   help="directory for claims.md / claims.json / families.md (default: "
                        "reports when all claims run; a run of selected IDS writes no report "
                        "unless DIR is given, so it cannot overwrite the full one)")
    p.add_argument("--no-report", action="store_true", help="do not write DIR/claims.*")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="device for the Monte Carlo line (default: auto)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random draw (default 0)")
    p.add_argument("--ledger", metavar="PATH", default=None,
                   help="ledger TOML to check against (default: $WELLPOSED_LEDGER or the "
                        "package's ledger.toml)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wellposed",
        description="Machine-checked verdicts on whether VAE objectives are bounded above.",
    )
    parser.add_argument("--version", action="version", version=f"wellposed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_check(sub)
    try:
        from wellposed.audit import add_audit_parsers
    except ImportError:  # the audit module is being written; its commands appear with it
        add_audit_parsers = None
    if add_audit_parsers is not None:
        add_audit_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit 2 (argparse)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "seed", 0) is not None and getattr(args, "seed", 0) < 0:
        parser.error("--seed must be a non-negative integer")
    try:
        return int(args.func(args))
    except WellposedInputError as exc:
        print(f"wellposed: error: {exc}", file=sys.stderr)
        return 2
