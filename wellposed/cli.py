"""Command-line interface: ``wellposed check | train | audit-family | audit-data | audit-model``.

Exit status 0 ok, 1 a claim regressed or ``--fail-on`` was met, 2 bad usage or input; JSON
documents and each command: README.md, "Command line".  Only this module imports inside
functions: no ``wellposed ... --help`` imports numpy, scipy or torch (tests check it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wellposed import __version__
from wellposed.errors import WellposedInputError
from wellposed.evidence.vocabulary import NO_WITNESS, OUTSIDE_SUPPORT, Verdict
from wellposed.training.options import add_train_parser

UNBOUNDED, BOUNDED = Verdict.UNBOUNDED.value, Verdict.BOUNDED.value

__all__ = ["JSON_SCHEMA_VERSION", "add_audit_parsers", "build_parser", "main"]

#: ``schema_version`` of every JSON document the command line writes
JSON_SCHEMA_VERSION = 1
#: observations shown in the audit-family text table (all of them are in the JSON)
MAX_ROWS = 50

_EXIT_CHECK = """\
exit status:
  0  every observed verdict equals the ledger's and the evaluation lines agree
  1  a claim regressed (each problem is printed on stderr)
  2  bad usage or input (message on stderr; nothing is written)
  3  an internal error of wellposed (message and traceback on stderr: please report it)"""
_EXIT_AUDIT = """\
exit status:
  0  the audit ran (whatever its verdicts)
  2  bad usage or input (message on stderr; nothing is written)
  3  an internal error of wellposed (message and traceback on stderr: please report it)"""
_EXIT_AUDIT_FAIL = """\
exit status:
  0  the audit ran (whatever its verdicts, unless --fail-on is met)
  1  --fail-on unbounded was given and met
  2  bad usage or input (message on stderr; nothing is written)
  3  an internal error of wellposed (message and traceback on stderr: please report it)"""
_EXIT_MAIN = """\
exit status:
  0  ok (check: every verdict as the ledger says; audit-*: the audit ran)
  1  check: a claim regressed
  2  bad usage or input (message on stderr; nothing is written)
  3  an internal error of wellposed (message and traceback on stderr: please report it)

--json PATH writes one JSON document to PATH; --json - writes it to stdout.
A full `wellposed check` writes ./reports (created if missing)."""
_JSON_HELP = "write the JSON document to PATH (directories are created), or to stdout with -"


# ----------------------------------------------------------------------------------------
# output paths and JSON documents
# ----------------------------------------------------------------------------------------


def _check_dir_creatable(path: Path, option: str) -> None:
    """WellposedInputError unless ``path`` is a directory or can be created (writes nothing)."""
    if path.exists():
        if not path.is_dir():
            raise WellposedInputError(f"{option} {path} is a file, not a directory")
        if not os.access(path, os.W_OK):
            raise WellposedInputError(f"{option}: directory {path} is not writable")
        return
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise WellposedInputError(f"{option} {path}: {parent} is a file, not a "
                                          "directory")
            if not os.access(parent, os.W_OK):
                raise WellposedInputError(f"{option} {path}: cannot create it, {parent} is "
                                          "not writable")
            return


def _check_json_path(path: str | None, data: str | None = None) -> None:
    """The ``--json`` target must be ``-`` or a file whose directory exists or can be made."""
    if path is None or path == "-":
        return
    p = Path(path)
    if p.is_dir():
        raise WellposedInputError(f"--json {path} is a directory; give a file name, or - for "
                                  "stdout")
    if data is not None and os.path.abspath(path) == os.path.abspath(data):
        raise WellposedInputError(f"--json {path} is the data file; give another file name")
    _check_dir_creatable(p.parent, "--json")


def _make_dir(path: Path, option: str) -> list[Path]:
    """Create ``path`` (and parents); return the directories created, outermost first."""
    missing = [d for d in (path, *path.parents) if not d.exists()][::-1]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WellposedInputError(f"{option}: cannot create directory {path} "
                                  f"({exc.strerror or exc})") from exc
    return missing


def _remove_empty(dirs: list[Path]) -> None:
    """Undo :func:`_make_dir` after a failed write (only directories still empty)."""
    for d in reversed(dirs):
        try:
            d.rmdir()
        except OSError:
            return


def _write_text(path: str, text: str) -> None:
    """``text`` to stdout (``-``) or atomically to ``path`` (its directory created)."""
    if path == "-":
        sys.stdout.write(text)
        return
    from wellposed.report.files import write_text

    target = Path(path)
    created = _make_dir(target.parent, "--json")
    try:
        write_text(target, text)
    except OSError as exc:
        _remove_empty(created)
        raise WellposedInputError(f"cannot write {path} ({exc.strerror or exc})") from exc
    print(f"wrote {path}", file=sys.stderr)


def _json_document(command: str, inputs: dict[str, Any], body: dict[str, Any]) -> str:
    """One JSON document: ``schema_version``, ``command``, ``inputs``, then ``body``."""
    import json

    from wellposed.evidence.records import jsonable

    head = {"schema_version": JSON_SCHEMA_VERSION, "command": command,
            "inputs": jsonable(inputs)}
    rest = {k: v for k, v in body.items() if k not in head}  # the CLI's inputs win
    return json.dumps({**head, **rest}, indent=2, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------------------
# check
# ----------------------------------------------------------------------------------------


def _progress(done: int, total: int, claim_id: str) -> None:
    print(f"[{done}/{total}] {claim_id} done", file=sys.stderr, flush=True)


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:  # progress on stderr; check -q prints none
        print(f"check: {message}", file=sys.stderr, flush=True)


def _check(args: argparse.Namespace) -> int:
    _say(args, "loading torch, numpy, scipy and the claims ...")
    import json

    from wellposed.audit import report_family_audits
    from wellposed.evidence.vocabulary import FAIL, OK, format_verdict
    from wellposed.gate import run_claims
    try:
        from wellposed.render import attained_text, lines_text, render_json, write_reports
    except ModuleNotFoundError as exc:  # matplotlib (the report extra) draws the figures
        raise WellposedInputError(f"{exc.name} missing: pip install 'wellposed[report]'") from exc
    from wellposed.report.text import markdown_table

    report_dir = args.report_dir
    if args.ids and args.group is not None:
        raise WellposedInputError("give claim IDS or --group, not both")
    full = not args.ids and args.group in (None, "core")  # the whole default group
    default_dir = report_dir is None and full
    if default_dir:
        report_dir = "reports"  # a full run refreshes ./reports (created if missing)
    if args.no_report:
        report_dir = None
    if report_dir is not None:  # fail before minutes of computation, not after
        _check_dir_creatable(Path(report_dir), "--report-dir")
    _check_json_path(args.json)
    start = time.perf_counter()
    _say(args, f"running the claims ({args.executor} executor; each worker process imports "
               "torch first) ...")
    results = run_claims(args.ids or None, seed=args.seed, device=args.device,
                         progress=None if args.quiet else _progress, ledger=args.ledger,
                         jobs=args.jobs, group=args.group, executor=args.executor,
                         certify=args.certify)
    families = None
    if report_dir is not None and full:  # a full run also refreshes families.md
        import torch  # the audits' searches are tiny tensors: one thread beats two

        _say(args, "auditing the output families for families.md (~30 s) ...")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            families = report_family_audits(args.seed)
        finally:
            torch.set_num_threads(threads)
    created = [] if report_dir is None else _make_dir(Path(report_dir), "--report-dir")
    if report_dir is not None:
        _say(args, f"rendering the reports and figures into {report_dir} ...")
    try:
        written = write_reports(results, seed=args.seed, report_dir=report_dir,
                                json_path=None, families=families)
    except BaseException:
        _remove_empty(created)
        raise
    if created:
        print(f"created directory {Path(report_dir).absolute()}", file=sys.stderr)
    for path in written:
        print(f"wrote {path.absolute() if default_dir else path}", file=sys.stderr)
    if args.json is not None:
        inputs = {"ids": list(args.ids), "seed": args.seed, "device": args.device,
                  "ledger": args.ledger}
        _write_text(args.json, _json_document("check", inputs, json.loads(
            render_json(results, seed=args.seed))))
    rows = [[r.id, r.title, format_verdict(r.expected), format_verdict(r.observed),
             attained_text(r), lines_text(r),
             f"{r.seconds:.1f}", OK if r.ok else FAIL] for r in results]
    print(markdown_table(rows, ["id", "title", "expected", "observed", "attained", "lines",
                                "s", "ok"]),
          file=sys.stderr if args.json == "-" else sys.stdout)
    elapsed = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"\n{len(failed)} of {len(results)} claim(s) regressed ({elapsed:.0f} s):",
              file=sys.stderr)
        for r in failed:
            for problem in r.problems:
                print(f"  {r.id}: {problem}", file=sys.stderr)
        return 1
    what = f"all {len(results)} claims" if len(results) > 1 else f"claim {results[0].id}"
    print(f"\n{what} ok ({elapsed:.0f} s)", file=sys.stderr)
    return 0


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="run the claims ledger and write reports/claims.{md,json}",
                       description="Run the claims (all by default) and compare the observed "
                                   "verdicts with the ledger.",
                       epilog=_EXIT_CHECK, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="*", metavar="ID", help="claim ids (e.g. S1 L5); default: all")
    p.add_argument("--json", metavar="PATH", help=_JSON_HELP + " (the table then goes to "
                   "stderr)")
    p.add_argument("--report-dir", default=None, metavar="DIR",
                   help="directory for claims.md / claims.json / families.md, created if "
                        "missing (default: ./reports when all claims run; a run of selected "
                        "IDS writes no report unless DIR is given, so it cannot overwrite the "
                        "full one)")
    p.add_argument("--no-report", action="store_true", help="do not write DIR/claims.*")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="device for the Monte Carlo line (default: auto)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for every random draw, 0 to 4294967295 (default 0)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per core; 1 runs in this process)")
    p.add_argument("--executor", choices=("local", "dask"), default="local", help="local pool "
                   "or dask: $WELLPOSED_DASK_SCHEDULER or N local workers (same results)")
    p.add_argument("--certify", action=argparse.BooleanOptionalAction, default=True,
                   help="enclose every exact-line value a claim used in ball arithmetic and "
                        "fail the claim on any value outside (default: on; docs/design.md)")
    p.add_argument("--ledger", metavar="PATH", default=None,
                   help="ledger TOML to check against (default: $WELLPOSED_LEDGER or the "
                        "package's ledger.toml)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--group", choices=("core", "training"), default=None,
                   help="run a group instead of IDS: core (default: all but the T-claims) or "
                        "training (T1.., minutes; no report unless --report-dir is given)")
    p.set_defaults(func=_check)


def _train(args: argparse.Namespace) -> int:  # parser: wellposed.training.options
    from wellposed.training.command import run_train

    return run_train(args)


# ----------------------------------------------------------------------------------------
# audit-family / audit-data
# ----------------------------------------------------------------------------------------


def _parse_values(text: str) -> Any:
    import numpy as np

    from wellposed.audit import AuditInputError

    try:
        return np.array([float(t) for t in text.split(",") if t.strip()], dtype=np.float64)
    except ValueError as exc:
        raise AuditInputError(f"--values must be comma-separated numbers, got {text!r}") from exc


def _cmd_audit_family(ns: argparse.Namespace) -> int:
    from wellposed.audit import AuditInputError, audit_family, load_data, validate_data

    if (ns.data is None) == (ns.values is None):
        raise AuditInputError("give exactly one of --data FILE.npy or --values 0,0.5,1")
    _check_json_path(ns.json, ns.data)
    X = load_data(ns.data) if ns.data is not None else validate_data(_parse_values(ns.values),
                                                                     name="--values")
    res = audit_family(ns.family, X, seed=ns.seed, method=ns.method)
    if ns.json != "-":
        from wellposed.render import render_family_text

        sys.stdout.write(render_family_text(res, MAX_ROWS))
    if ns.json is not None:
        inputs = {"family": ns.family, "data": ns.data,
                  "values": None if ns.values is None else [float(v) for v in X],
                  "seed": ns.seed, "method": ns.method}
        _write_text(ns.json, _json_document("audit-family", inputs, res.to_dict()))

    return 1 if ns.fail_on == Verdict.UNBOUNDED and res.verdict == Verdict.UNBOUNDED else 0


def _cmd_audit_data(ns: argparse.Namespace) -> int:
    from wellposed.audit import audit_data, load_data

    _check_json_path(ns.json, ns.path)
    X = load_data(ns.path)
    res = audit_data(X, latent_dim=ns.latent_dim, seed=ns.seed)
    if ns.json != "-":
        sys.stdout.write(res.render_text())
    if ns.json is not None:
        inputs = {"data": ns.path, "latent_dim": ns.latent_dim}  # the seed: in the record
        _write_text(ns.json, _json_document("audit-data", inputs, res.to_dict()))

    return 1 if ns.fail_on == Verdict.UNBOUNDED and res.breaks_an_objective() else 0


def add_audit_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                      families: Sequence[str] | None = None) -> None:
    """Register ``audit-family`` and ``audit-data`` on an argparse subparsers object.

    Each sets ``func(namespace) -> int`` (0 ok; bad input raises
    :class:`~wellposed.errors.WellposedInputError`, which :func:`main` reports with exit 2).
    ``families``: the built-in names for the help text; by default they come from
    :mod:`wellposed.audit.analytic` (numpy and scipy, no torch).
    """
    if families is None:
        from wellposed.audit import builtin_families

        families = builtin_families()
    names = ", ".join(families) if families else "see wellposed audit-family --help"
    fmt = argparse.RawDescriptionHelpFormatter
    pf = subparsers.add_parser(
        "audit-family", help="per-observation boundedness of a family",
        description="Is sup over parameters of log p(x | params) finite at each observation? "
        f"Observations outside the family's support get the verdict '{OUTSIDE_SUPPORT}' and are "
        "left out of the overall verdict; if every observation is outside it, that is an "
        "input error (exit 2).", epilog=_EXIT_AUDIT_FAIL, formatter_class=fmt)
    pf.add_argument("family", help=f"built-in name ({names}), a torch.distributions class "
                    "name, or module:ClassName")
    pf.add_argument("--data", help=".npy file of observations (1-D or (n, D))")
    pf.add_argument("--values", help="comma-separated observations, e.g. 0,0.5,1 (or -1,2)")
    pf.add_argument("--seed", type=int, default=0)
    pf.add_argument("--method", choices=("auto", "analytic", "numerical"), default="auto")
    pf.add_argument("--json", metavar="PATH", help=_JSON_HELP)
    pf.add_argument("--fail-on", choices=(UNBOUNDED,), default=None,
                    help=f"exit 1 when the verdict over the data is {UNBOUNDED} (for CI)")
    pf.set_defaults(func=_cmd_audit_family)
    pd = subparsers.add_parser("audit-data", help="data features that break objectives",
                               description="Find constant coordinates, exact 0/1 values, low "
                               "rank, a low intrinsic (manifold) dimension, duplicate rows and "
                               "quantization in a .npy data set.",
                               epilog=_EXIT_AUDIT_FAIL, formatter_class=fmt)
    pd.add_argument("path", help=".npy file, shape (n,) or (n, D)")
    pd.add_argument("--latent-dim", type=int, default=None,
                    help="latent size d: pPCA is unbounded if rank <= d, a shared learned "
                    "variance if the intrinsic dimension is below d (default: none given; the "
                    "report then says for which d each objective breaks)")
    pd.add_argument("--seed", type=int, default=0,
                    help="seed of the subsample for the intrinsic-dimension estimate (default 0)")
    pd.add_argument("--json", metavar="PATH", help=_JSON_HELP)
    pd.add_argument("--fail-on", choices=(UNBOUNDED,), default=None,
                    help="exit 1 when a finding makes a named objective unbounded on these "
                    "data (constant coordinate, exact 0/1, low rank, low intrinsic dimension)")
    pd.set_defaults(func=_cmd_audit_data)


# ----------------------------------------------------------------------------------------
# audit-model (the work is in wellposed.audit.model.run_audit_model)
# ----------------------------------------------------------------------------------------


def _cmd_audit_model(ns: argparse.Namespace) -> int:
    from wellposed.audit import load_data
    from wellposed.audit.model import run_audit_model

    _check_json_path(ns.json, ns.data)
    if ns.out is not None:
        _check_dir_creatable(Path(ns.out), "--out")
    res, body, text = run_audit_model(ns.factory, load_data(ns.data), steps=ns.steps,
                                      max_seconds=ns.max_seconds, budget=ns.budget,
                                      rows=ns.rows, seed=ns.seed, out=ns.out)
    if ns.json != "-":
        sys.stdout.write(text)
    if ns.json is not None:
        inputs = {k: v for k, v in vars(ns).items() if k not in ("func", "command")}
        _write_text(ns.json, _json_document("audit-model", inputs, body))

    return 1 if ns.fail_on == Verdict.UNBOUNDED and res.verdict == Verdict.UNBOUNDED else 0


def _add_audit_model(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit-model", help="attack your own decoder / encoder on your data",
                       description="Audit PKG.MODULE:FACTORY (returns decoder, encoder[, "
                       f"objective]) on --data: {UNBOUNDED} (witness), {BOUNDED} (a recognised "
                       f"proof) or '{NO_WITNESS}'; docs/your-model.md.",
                       epilog=_EXIT_AUDIT.replace("2  bad usage", "1  --fail-on unbounded "
                                                  "met\n  2  bad usage"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("factory", help="PKG.MODULE:FACTORY importable from the current directory")
    p.add_argument("--data", required=True, help=".npy training data, shape (n, D)")
    p.add_argument("--steps", type=int, default=200, help="attack budget (default 200)")
    p.add_argument("--max-seconds", type=float, metavar="S", help="cap (ends it early)")
    p.add_argument("--budget", type=float, metavar="S", help="deprecated: --max-seconds")
    p.add_argument("--rows", type=int, help="objective over the first N rows (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fail-on", choices=(UNBOUNDED,), default=None)
    p.add_argument("--json", metavar="PATH", help=_JSON_HELP)
    p.add_argument("--out", metavar="DIR", help="where witness.pt goes when unbounded")
    p.set_defaults(func=_cmd_audit_model)


def build_parser(*, list_families: bool = True) -> argparse.ArgumentParser:
    """The ``wellposed`` parser (``list_families``: name them in ``audit-family --help``)."""
    from wellposed.audit import FAMILY_NAMES

    parser = argparse.ArgumentParser(
        prog="wellposed",
        description="Machine-checked verdicts on whether VAE objectives are bounded above.",
        epilog=_EXIT_MAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"wellposed {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_check(sub)
    add_train_parser(sub, _train)
    add_audit_parsers(sub, FAMILY_NAMES if list_families else ())
    _add_audit_model(sub)
    return parser


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--values -1,2`` -> ``--values=-1,2`` (argparse takes ``-1,2`` for an option)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] == "--values" and nxt[:1] == "-" and (
                nxt[1:2].isdigit() or nxt[1:2] == "." or nxt[1:4].lower() in ("inf", "nan")):
            out.append(f"--values={nxt}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _silence_broken_pipe() -> None:
    """The reader left (``wellposed ... | head``): point stdout (and a broken stderr) at
    /dev/null, so neither this nor the interpreter's final flush prints a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(devnull, stream.fileno())


def main(argv: list[str] | None = None) -> int:
    argv = _join_negative_values(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser(list_families="audit-family" in argv)
    try:
        args = parser.parse_args(argv)  # usage errors exit 2 (argparse)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        if getattr(args, "seed", 0) is not None and getattr(args, "seed", 0) < 0:
            parser.error("--seed must be a non-negative integer")
        code = int(args.func(args))
        sys.stdout.flush()  # inside the try: a reader that left shows up here
        return code
    except WellposedInputError as exc:
        print(f"wellposed: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `wellposed check | head`: the reader left, no traceback
        _silence_broken_pipe()
        return 1
    except Exception:  # a bug of ours: never the exit status of a verdict (1)
        traceback.print_exc(file=sys.stderr)
        print(
            "wellposed: internal error (exit 3): the traceback above is a bug of wellposed, "
            "not a verdict; please report it with the command that gave it",
            file=sys.stderr,
        )
        return 3
    except SystemExit:  # --help, --version, usage errors: flush here, not at interpreter exit
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_broken_pipe()
        raise
