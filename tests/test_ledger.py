"""The ledger: schema, loading, formulas, and one registered claim function per entry."""

import math
import tomllib
from pathlib import Path

import pytest

from wellposed.claims import registered
from wellposed.errors import WellposedInputError
from wellposed.ledger import load_ledger, validate_ledger

LEDGER = Path(__file__).parents[1] / "wellposed" / "ledger.toml"


def _raw():
    return tomllib.loads(LEDGER.read_text())


def test_ledger_ids_are_the_registered_claims():
    ids = [c.id for c in load_ledger()]
    assert sorted(ids) == sorted(registered())


def test_rate_and_bound_come_from_the_ledger_formulas():
    c = {c.id: c for c in load_ledger()}
    assert c["S1"].rate_at(D=3) == pytest.approx(1.5)
    assert c["S4"].bound_at(n=4, D=3, xi=0.01) == pytest.approx(-6 * math.log(2 * math.pi * 0.01))
    with pytest.raises(LookupError, match="needs sizes"):
        c["S1"].rate_at(n=3)
    with pytest.raises(LookupError, match="no bound_expr"):
        c["S1"].bound_at(n=3)


def test_thread_verdicts_as_in_claims_md():
    c = {c.id: c for c in load_ledger()}
    assert c["S7"].verdict == "refuted" and c["S8"].verdict == "refuted"
    assert c["S9"].conditions == {"identity_decoder": "bounded", "constant_decoder": "unbounded"}
    assert c["S2"].verdict == "identity" and c["S4"].verdict == "bounded"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.pop("title"), "missing field 'title'"),
        (lambda c: c.update(verdict="maybe"), "verdict 'maybe'"),
        (lambda c: c.update(evidence=["vibes"]), "evidence"),
        (lambda c: c.update(colour="red"), "unknown field"),
        (lambda c: c.update(id="X1"), "malformed"),
        (lambda c: c.update(verdict="conditional"), "without conditions"),
        (lambda c: c.update(quantity="loss"), "quantity"),
    ],
)
def test_schema_errors_name_the_field(mutate, message):
    raw = _raw()
    mutate(raw["claim"][0])
    with pytest.raises(WellposedInputError, match=message):
        validate_ledger(raw, "t.toml")


def test_duplicate_ids_rejected():
    raw = _raw()
    raw["claim"].append(dict(raw["claim"][0]))
    with pytest.raises(WellposedInputError, match="duplicate id"):
        validate_ledger(raw)


def test_unreadable_or_invalid_file(tmp_path):
    with pytest.raises(WellposedInputError, match="cannot read"):
        load_ledger(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[claim]\n")
    with pytest.raises(WellposedInputError, match="not valid TOML"):
        load_ledger(bad)


def test_rate_expr_table_names_a_rate_per_part():
    c = {c.id: c for c in load_ledger()}
    assert c["L1"].rate_at("log_likelihood", D=2) == 1.0
    assert c["L1"].rate_at("elbo", D=2) == pytest.approx(math.erf(10 / 3 / math.sqrt(2)) / 2 + 0.5)
    with pytest.raises(LookupError, match="ask for one of them"):
        c["L1"].rate_at(D=2)
    raw = _raw()
    raw["claim"][0]["rate_expr"] = {"elbo": "D/2 + k"}
    with pytest.raises(WellposedInputError, match="unknown symbol"):
        validate_ledger(raw, "t.toml")
    raw["claim"][0]["rate_expr"] = {"elbo": 3}
    with pytest.raises(WellposedInputError, match="rate_expr entry 3"):
        validate_ledger(raw, "t.toml")
