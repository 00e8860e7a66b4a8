"""Cost of certifying the exact line: `wellposed check --no-certify` vs `--certify`.

    python benchmarks/bench_certify.py            # every core claim (minutes)
    python benchmarks/bench_certify.py L4 L1 S8   # selected claims (claims only)

First the claims alone, in this process (``-j 1``): uncertified, then certified (each
claim's exact.py calls recorded and enclosed, :func:`wellposed.gate.certification`).  With
no ids, then the full ``wellposed check`` as the nox sessions run it (one worker per core,
family audits, figures and reports into a temporary folder), ``--no-certify`` then
``--certify``.  Printed: each wall time, the ratios, the exact values enclosed per claim,
and every claim whose certification failed.  A measurement, never an assertion.
"""

from __future__ import annotations

import sys
import tempfile
import time

from wellposed import cli
from wellposed.evidence.records import Certification
from wellposed.gate import run_claims


def _timed(ids: list[str], certify: bool) -> tuple[float, list]:
    """Wall seconds of one check of ``ids`` (all core claims when empty) and its results."""
    t0 = time.perf_counter()
    results = run_claims(ids or None, device="cpu", jobs=1, certify=certify)
    return time.perf_counter() - t0, results


def _full(certify: bool) -> float:
    """Wall seconds of a full ``wellposed check`` (reports into a temporary folder)."""
    flag = "--certify" if certify else "--no-certify"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cli.main(["check", "--device", "cpu", "-q", "--report-dir", tmp, flag])
        return time.perf_counter() - t0


def main(ids: list[str]) -> None:
    t_plain, _ = _timed(ids, certify=False)
    t_cert, results = _timed(ids, certify=True)
    certs = {r.id: r.evidence.get("certification") for r in results}
    n_values = sum(c.values for c in certs.values() if isinstance(c, Certification))
    print(f"{len(results)} claims; {n_values} exact values enclosed")
    print(
        f"claims only (-j 1): uncertified {t_plain:.1f} s; certified {t_cert:.1f} s; "
        f"certified / uncertified: {t_cert / t_plain:.2f}"
    )
    if not ids:
        f_plain, f_cert = _full(certify=False), _full(certify=True)
        print(
            f"full check: uncertified {f_plain:.1f} s; certified {f_cert:.1f} s; "
            f"certified / uncertified: {f_cert / f_plain:.2f}"
        )
    for r in results:
        c = certs[r.id]
        if isinstance(c, Certification):
            print(f"  {r.id:4s} {c.values:6d} values  certified: {c.certified}")
            for p in (*c.outside, *c.not_certified, *c.conservative):
                print(f"    NOT CERTIFIED: {p}")


if __name__ == "__main__":
    main(sys.argv[1:])
