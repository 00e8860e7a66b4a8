"""Cost of certifying the exact line: a `wellposed check` run, then every exact value it used.

    python benchmarks/bench_certify.py            # every core claim (-j 1, minutes)
    python benchmarks/bench_certify.py L4 L1 S8   # selected claims

The check runs in this process (``-j 1``) with each exact.py function in
``certify.MIRRORS`` wrapped to record its outermost calls (arguments and float64 result).
Then each recorded call is certified (``certify.certify``) and every float64 value is
checked against its enclosure (``certify.disagreements``).  Printed: the uncertified
check's wall time, the certification's, their ratio (certified check = check +
certification), and any value outside its enclosure.  A measurement, never an assertion.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from collections.abc import Callable

from wellposed import cli
from wellposed.lines import certify, exact

Call = tuple[str, tuple, dict, object]


def _record(calls: list[Call]) -> Callable[[], None]:
    """Wrap the mirrored exact.py functions; nested calls (construction_values ->
    staircase_values) are recorded once, at the outermost level.  Returns the undo (the
    certified mirrors call exact.py too: those calls must not be recorded)."""
    depth = [0]

    def wrap(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(fn)
        def recorded(*args: object, **kwargs: object) -> object:
            depth[0] += 1
            try:
                out = fn(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                calls.append((name, args, kwargs, out))
            return out

        return recorded

    originals = {name: getattr(exact, name) for name in certify.MIRRORS}
    for name, fn in originals.items():
        setattr(exact, name, wrap(name, fn))
    return lambda: [setattr(exact, name, fn) for name, fn in originals.items()] and None


def main(ids: list[str]) -> None:
    calls: list[Call] = []
    undo = _record(calls)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = cli.main(["check", "--device", "cpu", "-j", "1", "-q", "--report-dir", tmp, *ids])
        t_check = time.perf_counter() - t0
    undo()
    t0 = time.perf_counter()
    n_values, outside, by_name = 0, [], {}
    for name, args, kwargs, out in calls:
        t1 = time.perf_counter()
        encs = certify.certify(name, *args, **kwargs)
        by_name[name] = by_name.get(name, 0.0) + time.perf_counter() - t1
        n_values += len(certify.pairs(out, encs))
        outside += [(name, v, e) for v, e in certify.disagreements(name, out, args, kwargs, encs)]
    t_cert = time.perf_counter() - t0
    print(f"check exit status {rc}; {len(calls)} exact calls, {n_values} values")
    print(f"uncertified check: {t_check:.1f} s; certification: {t_cert:.1f} s; "
          f"certified / uncertified: {(t_check + t_cert) / t_check:.2f}")
    for name, secs in sorted(by_name.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {secs:8.2f} s")
    for name, value, enc in outside:
        print(f"OUTSIDE: exact.{name} = {value!r} not in [{enc.lo!r}, {enc.hi!r}]")


if __name__ == "__main__":
    main(sys.argv[1:])
