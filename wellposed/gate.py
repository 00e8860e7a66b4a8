"""The gate: run the registered claims, compare them with the ledger, decide the exit status.

A claim is ``ok`` iff its observed verdict equals the ledger's, every comparison of the
evaluation lines agrees, every evidence kind the ledger lists was produced by a computation
that ran, and the ledger's ``rate_expr`` / ``bound_expr`` match the rates fitted and the
bounds checked.  :func:`exit_status` turns results into the CLI's exit code (0 all ok,
1 any regression); input errors raise :class:`~wellposed.errors.WellposedInputError` (2).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field

import numpy as np
import torch

from wellposed.claims.registry import Context, registered
from wellposed.errors import WellposedInputError
from wellposed.evidence.records import (
    Attainment,
    BoundCheck,
    Certification,
    Evidence,
    EvidenceItem,
    LineCheck,
    RateFit,
    Witness,
    evidence_kinds,
    jsonable,
)
from wellposed.evidence.vocabulary import (
    ERROR,
    NO_RUNNER,
    VerdictValue,
    as_verdict,
    format_verdict,
)
from wellposed.executor import open_executor
from wellposed.ledger import EVIDENCE_KINDS, GROUPS, Claim, load_ledger, parse_expr
from wellposed.lines import certify as certify_line
from wellposed.lines import exact
from wellposed.lines.montecarlo import resolve_device

__all__ = ["MAX_SEED", "ClaimResult", "cost_hint", "default_jobs", "exit_status", "run_claims"]


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of one claim: verdicts, agreement of the lines and the evidence records."""

    id: str
    title: str
    source: str
    expected: VerdictValue
    observed: VerdictValue
    ok: bool
    lines_agree: bool
    summary: str
    formula: str
    evidence: Evidence = field(repr=False)
    problems: tuple[str, ...] = ()
    #: wall-clock seconds of the claim (shown by the CLI, never written to a report)
    seconds: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        # a verdict given as its word or the ledger's text is read into its type once, here
        object.__setattr__(self, "expected", as_verdict(self.expected))
        object.__setattr__(self, "observed", as_verdict(self.observed))

    @property
    def attained(self) -> str | dict[str, str]:
        """Is the supremum attained (``yes`` / ``no`` / ``unknown``; per bounded condition when
        conditional), from the evidence's ``attained`` records; ``""`` when none was computed."""
        return _attained(self.evidence)

    @property
    def certified(self) -> str:
        """The ``certified`` cell: ``yes`` when every exact value the claim used is enclosed
        and nothing else decides it, else what is not (``""``: not certified in this run)."""
        found = self.evidence.get("certification")
        return found.certified if isinstance(found, Certification) else ""

    @property
    def line_modes(self) -> dict[str, int]:
        """How many line comparisons were statistical, numerical and code-path checks."""
        counts = {"statistical": 0, "numerical": 0, "code path": 0}
        for line in _lines(self.evidence):
            counts[line.mode] = counts.get(line.mode, 0) + 1
        return counts

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "expected": format_verdict(self.expected),
            "observed": format_verdict(self.observed),
            "ok": self.ok,
            "lines_agree": self.lines_agree,
            "attained": self.attained,
            "line_modes": self.line_modes,
            "certified": self.certified,
            "summary": self.summary,
            "formula": self.formula,
            "problems": list(self.problems),
            "evidence": jsonable(self.evidence),
        }


def _lines(evidence: Evidence) -> list[LineCheck]:
    """The line comparisons in ``evidence`` (the records under ``"lines"``), or none."""
    lines = evidence.get("lines", ())
    return [c for c in lines if isinstance(c, LineCheck)] if isinstance(lines, list | tuple) else []


def _attained(evidence: Evidence) -> str | dict[str, str]:
    """The ``attained`` answer(s) in ``evidence`` (an :class:`Attainment`, or a map from
    condition to one) as words of :class:`~wellposed.evidence.Attained`, or ``""``."""
    found = evidence.get("attained")
    if isinstance(found, Attainment):
        return found.attained.value
    if isinstance(found, Mapping):
        return {str(k): v.attained.value for k, v in found.items() if isinstance(v, Attainment)}
    return ""


def _attained_problems(claim: Claim, evidence: Evidence) -> list[str]:
    """The ledger's ``attained`` must be what the evidence decided (a maximiser found, or a
    supremum approached at strictly positive gaps): a changed answer is a regression."""
    if not claim.attained:
        return []
    observed = _attained(evidence)
    if not observed:
        return [f"the ledger gives attained = {claim.attained!r} but no attainment was computed"]
    if observed != claim.attained:
        return [f"attained: observed {observed!r}, ledger expects {claim.attained!r}"]
    return []


def _records(value: EvidenceItem, kind: str) -> list[RateFit | BoundCheck]:
    """Every evidence record of ``kind`` (``"rate"`` / ``"bound"``) with recorded ``symbols``."""
    if isinstance(value, RateFit | BoundCheck):
        return [] if value.symbols is None or value.kind != kind else [value]
    if isinstance(value, Mapping):
        return [r for v in value.values() for r in _records(v, kind)]
    if isinstance(value, list | tuple):
        return [r for v in value for r in _records(v, kind)]
    return []


def _formula_problems(claim: Claim, evidence: Evidence) -> list[str]:
    """The ledger's ``rate_expr`` / ``bound_expr``, evaluated at the sizes each fitted rate /
    checked bound records, must match it (a rate within the fit's ``rtol``, a bound to 1e-9
    relative): editing a derived formula in the ledger is a regression too."""
    problems = []
    checks: list[tuple[str, str, str, EvidenceItem]] = [
        ("bound_expr", "bound", claim.bound_expr, evidence.get("bound"))
    ]
    if isinstance(claim.rate_expr, dict):  # one formula per named part of the rate evidence
        rates = evidence.get("rate")
        parts: dict[str, EvidenceItem] = rates if isinstance(rates, dict) else {}
        checks += [
            (f"rate_expr.{part}", "rate", text, parts.get(part))
            for part, text in claim.rate_expr.items()
        ]
    else:
        checks.append(("rate_expr", "rate", claim.rate_expr, evidence.get("rate")))
    for name, kind, text, found in checks:
        if not text:
            continue
        expr = parse_expr(text, name.split(".")[0], f"claim {claim.id}")
        records = _records(found, kind)
        if not records:
            problems.append(f"the ledger gives {name} = {text!r} but no {kind} was computed")
        for rec in records:
            want = float(expr.subs(rec.symbols).evalf())
            if isinstance(rec, RateFit):
                got, tol, scale, what = rec.slope, rec.rtol, abs(want) or 1.0, "fitted rate"
            else:
                got, tol, scale, what = rec.bound, 1e-9, max(1.0, abs(want)), "checked bound"
            if not abs(got - want) <= tol * scale:
                problems.append(
                    f"{what} {got:.10g} disagrees with the ledger's {name} {text} "
                    f"= {want:.10g} at {rec.symbols}"
                )
    return problems


def _all(value: object, cls: type[Witness] | type[BoundCheck]) -> list[Witness | BoundCheck]:
    """Every record of class ``cls`` anywhere in ``value`` (mappings and sequences walked)."""
    if isinstance(value, cls):
        return [value]
    if isinstance(value, Mapping):
        return [r for v in value.values() for r in _all(v, cls)]
    if isinstance(value, list | tuple):
        return [r for v in value for r in _all(v, cls)]
    return []


def _conservative(evidence: Evidence, cert: certify_line.Certified) -> list[str]:
    """The passing checks that fail at the conservative end of an enclosure: a witness whose
    value is an enclosed exact value needs ``lo > M``; a bound check needs the largest value
    found (its enclosure's ``hi`` where it is an exact value) ``<= bound + tol max(1,
    |bound|)`` with the bound at its enclosure's ``lo`` where the bound is an exact value."""
    failed = []
    for w in _all(evidence, Witness):
        assert isinstance(w, Witness)
        enc = cert.enclosure_of(w.value)
        if w.passed and enc is not None and not enc.lo > w.target:
            failed.append(
                f"witness {w.value!r}: enclosure [{enc.lo!r}, {enc.hi!r}] is not "
                f"above the target {w.target!r}"
            )
    for b in _all(evidence, BoundCheck):
        assert isinstance(b, BoundCheck)
        top, bound = cert.enclosure_of(b.max_value), cert.enclosure_of(b.bound)
        hi = b.max_value if top is None else top.hi
        lo = b.bound if bound is None else bound.lo
        slack = b.tol * max(1.0, abs(b.bound))
        if b.ok and (top is not None or bound is not None) and not hi <= lo + slack:
            failed.append(
                f"bound {b.bound!r} (certified low end {lo!r}): the largest value "
                f"found {b.max_value!r} (certified high end {hi!r}) is above it"
            )
    return failed


def _uncertified(claim: Claim, n_values: int) -> str:
    """What the verdict rests on besides the enclosed values: ``training`` (a training run),
    ``torch probe (float64)`` (a family audit that enclosed no closed form: only torch's
    values), ``network (float64)`` (no exact value but a network's quadrature or search),
    ``MC only`` (no exact value, only Monte Carlo), or ``""``."""
    if claim.group == "training" or "training" in claim.evidence:
        return "training"
    if "audit" in claim.evidence:
        return "" if n_values else "torch probe (float64)"
    if n_values == 0:
        if {"quadrature", "search"} & set(claim.evidence):
            return "network (float64)"
        return "MC only" if "mc" in claim.evidence else "no exact values"
    return ""


def certification(
    claim: Claim, evidence: Evidence, calls: list[certify_line.Call]
) -> Certification:
    """Certify the exact calls a claim made (:func:`wellposed.lines.certify.certify_calls`)
    and judge its evidence at the enclosures' conservative ends (:func:`_conservative`)."""
    cert = certify_line.certify_calls(calls)
    outside = tuple(f"exact.{n} = {v!r} not in [{e.lo!r}, {e.hi!r}]" for n, v, e in cert.outside)
    return Certification(
        len(cert.values),
        outside,
        cert.not_certified,
        tuple(_conservative(evidence, cert)),
        _uncertified(claim, len(cert.values)),
    )


def _certification_problems(found: Certification) -> list[str]:
    """A value outside its enclosure, a call no mirror encloses or a verdict that fails at
    an enclosure's conservative end is a regression."""
    return [
        f"not certified: {p}" for p in (*found.outside, *found.not_certified, *found.conservative)
    ]


def _clear_exact_caches() -> None:
    """Forget the cached results of claim functions that call the exact line (e.g. the
    spike evidence S1, S3 and L1 share), so each claim's own exact calls are recorded."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("wellposed.claims.") or getattr(module, "exact", None) is not exact:
            continue
        for value in vars(module).values():
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


def _kinds_present(evidence: Evidence) -> set[str]:
    """Evidence kinds produced: the kind of every typed record (a bare mapping filed under a
    kind's name shows nothing), and the lines of every comparison except code-path checks (a
    zero-variance Monte Carlo estimate is not Monte Carlo evidence)."""
    kinds = evidence_kinds({k: v for k, v in evidence.items() if k != "lines"})
    for line in _lines(evidence):
        if line.mode != "code path":
            kinds.update((line.line, line.reference_line))
    return kinds & set(EVIDENCE_KINDS)


def _evaluate(claim: Claim, ctx: Context, certify: bool = False) -> ClaimResult:
    """Run one claim's registered function and judge it against its ledger entry; with
    ``certify``, record its exact calls and certify them (:func:`certification`)."""
    start = time.perf_counter()
    runner = registered().get(claim.id)
    problems: list[str] = []
    evidence: Evidence
    observed: VerdictValue
    if runner is None:
        observed, evidence, summary, lines_ok = NO_RUNNER, {}, "no runner for this id", False
        problems.append(f"no runner is registered for {claim.id}")
    else:
        try:
            # closed forms evaluate both branches of np.where (e.g. 0 * inf in a discarded
            # branch); a NaN that reaches a result still fails the checks
            if certify:
                _clear_exact_caches()
            recorder: contextlib.AbstractContextManager[list[certify_line.Call]] = (
                certify_line.recording() if certify else contextlib.nullcontext([])
            )
            with (
                recorder as calls,
                np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"),
            ):
                out = runner(ctx, claim)
        except Exception as exc:  # a crash (even an input error raised inside a runner:
            # the user's input was validated before the run) is a regression, exit 1
            observed, evidence, summary, lines_ok = (
                ERROR,
                {},
                f"{type(exc).__name__}: {exc}",
                False,
            )
            problems.append(f"runner raised {type(exc).__name__}: {exc}")
        else:
            observed = as_verdict(out.observed)
            evidence = dict(out.evidence)
            evidence["lines"] = list(out.lines)
            summary = out.summary
            lines_ok = all(c.ok for c in out.lines)
            problems.extend(
                f"line disagrees: {c.label} ({c.line} vs {c.reference_line})"
                for c in out.lines
                if not c.ok
            )
            problems.extend(_formula_problems(claim, evidence))
            problems.extend(_attained_problems(claim, evidence))
            if certify:  # after the recording stopped: the mirrors call exact.py too
                found = certification(claim, evidence, calls)
                evidence["certification"] = found
                problems.extend(_certification_problems(found))
            missing = sorted(set(claim.evidence) - _kinds_present(evidence))
            if missing:
                problems.append(f"missing evidence: {', '.join(missing)}")
    expected = claim.expected
    if observed != expected:
        problems.insert(
            0, f"observed {format_verdict(observed)!r}, ledger expects {format_verdict(expected)!r}"
        )
    ok = not problems
    return ClaimResult(
        claim.id,
        claim.title,
        claim.source,
        expected,
        observed,
        ok,
        lines_ok,
        summary,
        claim.formula,
        evidence,
        tuple(problems),
        time.perf_counter() - start,
    )


#: seeds are recorded in the reports and salted per draw site; keep them in uint32
MAX_SEED = 2**32 - 1


def _choose(
    claims: list[Claim], ids: Iterable[str] | None, group: str | None = None
) -> list[Claim]:
    """The ledger entries named by ``ids``, in ledger order; with no ids, those of ``group``
    (default ``"core"``: the training claims run only by id or with their group)."""
    if ids is None:
        group = "core" if group is None else group
        if group not in GROUPS:
            raise WellposedInputError(
                f"unknown claim group {group!r}; choose from {', '.join(GROUPS)}"
            )
        return [c for c in claims if c.group == group]
    by_id = {c.id: c for c in claims}
    wanted = [str(i).upper() for i in ids]
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise WellposedInputError(
            f"unknown claim id(s) {', '.join(unknown)}; choose from {', '.join(by_id)}"
        )
    return [c for c in claims if c.id in set(wanted)]


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise WellposedInputError(
            f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}; e.g. --seed 0"
        )
    return seed


def _evaluate_alone(claim: Claim, ctx: Context, certify: bool = False) -> ClaimResult:
    """One claim in a worker process: one intra-op thread (the claims evaluate many tiny
    tensors, where one thread per process beats several contending ones)."""
    torch.set_num_threads(1)
    return _evaluate(claim, ctx, certify)


#: rough CPU seconds of each claim (one thread, seed 0; S2's includes torch.optim's first
#: import): only the order in which the pool is fed, slowest first, so that no long claim
#: starts last and leaves the other workers idle (results never depend on it)
_COST_HINT = {  # seconds in one warm process (2-core VM), without certification (which clears
    # the claims' caches first, so S3, S10 and L1 then recompute the spike S1 / S6 computed)
    "S2": 2.6,
    "S1": 2.3,
    "S6": 1.8,
    "L3": 1.7,
    "S4": 1.3,
    "L5": 1.2,
    "S5": 1.0,
    "F2": 0.9,
    "F1": 0.9,
    "F3": 0.85,
    "L8": 0.8,
    "S7": 0.8,
    "L7": 0.7,
    "S8": 0.6,
    "L2": 0.6,
    "S9": 0.55,
    "L4": 0.2,
    "L6": 0.07,
    "S3": 0.05,
    "F6": 0.04,
    "F5": 0.03,
    "S10": 0.01,
    "F4": 0.01,
    "L1": 0.0,
}
_UNKNOWN_COST = 2.0  # a claim without a hint (a new one) is fed early: it may be slow


def cost_hint(claim_id: str) -> float:
    """The claim's rough CPU seconds (:data:`_COST_HINT`; a claim without a hint counts as
    slow): the seed sweep gives the cheap ones more seeds."""
    return _COST_HINT.get(claim_id, _UNKNOWN_COST)


def _slowest_first(claims: list[Claim]) -> list[Claim]:
    """``claims`` by decreasing :data:`_COST_HINT` (ledger order among equals)."""
    return sorted(claims, key=lambda c: -cost_hint(c.id))


def default_jobs() -> int:
    """Worker processes for a run: the cores this process may use."""
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


def run_claims(
    ids: Iterable[str] | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    progress: Callable[[int, int, str], None] | None = None,
    ledger: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    group: str | None = None,
    executor: str = "local",
    certify: bool = True,
) -> list[ClaimResult]:
    """Run the claims ``ids`` (by default every claim of ``group``, itself by default
    ``"core"``: all but the training claims) and return their results in ledger order.

    Claims are independent, so they run in ``jobs`` worker processes (default: one per
    core; ``jobs=1`` runs in this process), or on a Dask cluster with ``executor="dask"``
    (:func:`wellposed.executor.open_executor`); every claim draws from generators seeded by
    ``(seed, draw site)`` only, so the results are those of a one-process run.
    ``progress(done, total, claim_id)`` is called as each claim finishes.  Unknown ids, a
    bad seed or device raise :class:`WellposedInputError` before anything runs.
    ``certify`` (default) records each claim's exact-line calls in the process that runs it,
    encloses them rigorously and fails the claim on any value outside its enclosure
    (:func:`certification`; docs/design.md, "What certified means").
    """
    resolve_device(device)  # validate up front (unknown device / cuda without CUDA)
    chosen = _choose(load_ledger(ledger), ids, group)
    ctx = Context(seed=_check_seed(seed), device=device)
    jobs = min(default_jobs() if jobs is None else max(1, int(jobs)), len(chosen))
    done: dict[str, ClaimResult] = {}
    if (jobs <= 1 and executor == "local") or torch.device(resolve_device(device)).type == "cuda":
        threads = torch.get_num_threads()
        try:
            for claim in chosen:
                done[claim.id] = _evaluate_alone(claim, ctx, certify)
                if progress is not None:
                    progress(len(done), len(chosen), claim.id)
        finally:
            torch.set_num_threads(threads)
    else:
        with open_executor(executor, jobs) as pool:
            futures = {
                pool.submit(_evaluate_alone, claim, ctx, certify): claim.id
                for claim in _slowest_first(chosen)
            }
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                if progress is not None:
                    progress(len(done), len(chosen), futures[future])
    return [done[c.id] for c in chosen]


def exit_status(results: Sequence[ClaimResult]) -> int:
    """0 when every claim is ok, 1 on any regression."""
    return 0 if all(r.ok for r in results) else 1
