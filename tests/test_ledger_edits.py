"""Every derived formula in the ledger is checked against mathematics, not against itself.

Each ``bound_expr`` and ``rate_expr`` (each entry of a table-valued one) is edited in turn in
a temporary copy of the ledger, by a factor (x 1.5) and by a shift (+ 3), and where a formula
has ``n**2`` (L8) by dropping it to ``n``; the gate must fail
that claim, and a control claim run beside it on the same edited ledger must stay ok.  A claim
that read its bound or rate back from the ledger would pass every such edit.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from wellposed.claims import spike
from wellposed.gate import run_claims

pytestmark = pytest.mark.slow

LEDGER = Path(__file__).parents[1] / "wellposed" / "ledger.toml"
EDITS = {
    "x1.5": "({})*3/2".format,
    "+3": "({}) + 3".format,
    # a size dependence dropped: the bound is compared at n = 3, so n**2 -> n shows
    "n**2->n": lambda f: f.replace("n**2", "n"),
}
CONTROL, SPARE = "L6", "L4"  # cheap claims whose entries no edit below touches


def _blocks(text: str) -> dict[str, str]:
    """Each claim's ``[[claim]]`` block of the ledger text, by id."""
    return {
        re.search(r'^id = "([^"]+)"', b, re.M).group(1): b  # type: ignore[union-attr]
        for b in text.split("[[claim]]")[1:]
    }


def _formulas() -> list[tuple[str, str, str]]:
    """``(claim id, field, formula)`` for every bound_expr / rate_expr (table entries apart)."""
    data = tomllib.loads(LEDGER.read_text())
    out = []
    for claim in data["claim"]:
        for name in ("bound_expr", "rate_expr"):
            value = claim.get(name)
            if isinstance(value, str):
                out.append((claim["id"], name, value))
            elif isinstance(value, dict):
                out += [(claim["id"], f"{name}.{part}", v) for part, v in value.items()]
    return out


def _edit(text: str, cid: str, name: str, formula: str, new: str) -> str:
    """``text`` with ``formula`` of ``name`` in claim ``cid``'s block replaced by ``new``."""
    block = _blocks(text)[cid]
    key = name.split(".")[-1]
    old = f'{key} = "{formula}"'
    assert block.count(old) == 1, (cid, old)
    return text.replace(block, block.replace(old, f'{key} = "{new}"'), 1)


CASES = [
    (cid, name, formula, label)
    for cid, name, formula in _formulas()
    for label in EDITS
    if label != "n**2->n" or "n**2" in formula
]


def test_every_derived_formula_is_covered():
    """The cases below reach every claim that has a derived formula (a new one is picked up)."""
    ids = {cid for cid, *_ in CASES}
    assert {"S2", "S4", "L2", "L7", "L8"} <= ids and ("L8", "n**2->n") in {
        (c, lab) for c, *_, lab in CASES
    }


@pytest.mark.parametrize(
    ("cid", "name", "formula", "label"), CASES, ids=[f"{c}-{n}-{lab}" for c, n, _, lab in CASES]
)
def test_edited_formula_fails_that_claim_only(tmp_path, cid, name, formula, label):
    """The edited claim fails its formula comparison; the control claim, run on the same
    edited ledger, is ok."""
    spike.spike_loglik.cache_clear()
    spike.spike_elbo.cache_clear()
    text = LEDGER.read_text()
    edited = tmp_path / "ledger.toml"
    edited.write_text(_edit(text, cid, name, formula, EDITS[label](formula)))
    others = _blocks(edited.read_text())
    assert all(others[k] == v for k, v in _blocks(text).items() if k != cid)
    control = SPARE if cid == CONTROL else CONTROL
    results = {r.id: r for r in run_claims([cid, control], device="cpu", jobs=1, ledger=edited)}
    print(f"| {cid} | {name} {label} | caught={not results[cid].ok} |")
    assert not results[cid].ok, f"{cid}: {name} edited {label} was not caught"
    # caught by the comparison of the ledger with the independently derived number itself
    assert any(f"disagrees with the ledger's {name} " in p for p in results[cid].problems), results[
        cid
    ].problems
    assert results[control].ok, results[control].problems
