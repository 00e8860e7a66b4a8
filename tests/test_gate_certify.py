"""The gate's certification: planted exact-line shifts fail it; conservative ends decide."""

import dataclasses

import numpy as np
import pytest

from wellposed.audit import analytic
from wellposed.errors import WellposedInputError
from wellposed.evidence.records import BoundCheck, Certification, Witness
from wellposed.gate import _conservative, _uncertified, run_claims
from wellposed.ledger import load_ledger
from wellposed.lines import certify, exact
from wellposed.lines.enclosures import Enclosure


def _shifted(fn, rel):
    """``fn`` with every value moved by ``rel`` relative (tuples element by element)."""

    def moved(*args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(np.asarray(v) * (1 + rel) for v in out)
        return np.asarray(out) * (1 + rel) if not np.isscalar(out) else out * (1 + rel)

    return moved


@pytest.mark.parametrize(("claim", "name"), [("L7", "gmm_log_lik"), ("L7", "floor_bound")])
def test_a_planted_1e7_shift_fails_the_gate(monkeypatch, claim, name):
    (clean,) = run_claims([claim], device="cpu", jobs=1)
    found = clean.evidence["certification"]
    assert clean.ok and found.ok and found.values > 0 and clean.certified == "yes"
    monkeypatch.setattr(exact, name, _shifted(getattr(exact, name), 1e-7))
    (bad,) = run_claims([claim], device="cpu", jobs=1)
    cert = bad.evidence["certification"]
    assert not bad.ok and not cert.ok and cert.outside
    assert all(f"exact.{name} " in p for p in cert.outside)
    assert any(p.startswith("not certified: exact.") for p in bad.problems)
    assert bad.certified.startswith("no:")


def test_no_certify_records_nothing():
    (r,) = run_claims(["L7"], device="cpu", jobs=1, certify=False)
    assert "certification" not in r.evidence and r.certified == ""


def test_recording_restores_exact_and_skips_nested_calls():
    before = {n: getattr(exact, n) for n in certify.MIRRORS}
    with certify.recording() as calls:
        exact.floor_bound(4, 3, 0.01)
    assert {n: getattr(exact, n) for n in certify.MIRRORS} == before
    assert [c.name for c in calls] == ["floor_bound"]
    cert = certify.certify_calls(calls)
    assert len(cert.values) == 1 and not cert.outside and not cert.not_certified


def _cert(value, lo, hi):
    return certify.Certified((("thread_elbo", value, Enclosure(lo, hi)),), (), ())


def test_witness_needs_the_enclosure_low_end_above_the_target():
    w = Witness({"k": 1.0}, 10.0, 9.999999, True)
    assert _conservative({"witness": w}, _cert(10.0, 9.9999995, 10.0000005)) == []
    failed = _conservative({"witness": w}, _cert(10.0, 9.99999, 10.00001))
    assert len(failed) == 1 and "target" in failed[0]
    # a value from another line (no recorded enclosure) is not judged here
    assert _conservative({"witness": w}, _cert(11.0, 9.0, 12.0)) == []
    # a witness that did not pass decides nothing at either end
    failed_already = Witness({"k": 1.0}, 10.0, 10.5, False)
    assert _conservative({"witness": failed_already}, _cert(10.0, 9.0, 11.0)) == []


def test_bound_check_needs_the_enclosure_high_end_below_the_bound():
    b = BoundCheck(1.0, {"constructions": 1.0}, 3, 1.0, 0.0, 1e-9, True)
    assert _conservative({"bound": b}, _cert(1.0, 1.0, 1.0 + 1e-10)) == []
    assert len(_conservative({"bound": [b]}, _cert(1.0, 1.0, 1.0 + 1e-6))) == 1
    # a float64 bound that is an exact value counts at its enclosure's low end
    near = BoundCheck(2.0, {"search": 2.0 - 1e-10}, 3, 2.0 - 1e-10, 1e-10, 1e-9, True)
    assert _conservative({"bound": near}, _cert(2.0, 2.0 - 1e-12, 2.0 + 1e-12)) == []
    assert len(_conservative({"bound": near}, _cert(2.0, 2.0 - 1e-6, 2.0 + 1e-6))) == 1


def test_certified_cell_names_what_is_not_certified():
    assert Certification(5).certified == "yes"
    assert Certification(0, uncertified="MC only").certified == "MC only"
    assert Certification(3, outside=("x",)).certified == "no: 1 outside"
    assert not Certification(3, conservative=("w",)).ok
    assert Certification(3).to_dict()["certified"] == "yes"


def _plant_softclip(monkeypatch):
    monkeypatch.setattr(analytic, "SOFTCLIP_BOUND", analytic.SOFTCLIP_BOUND * (1 + 1e-7))


def _plant_entropy(monkeypatch):
    monkeypatch.setattr(analytic, "binary_entropy", _shifted(analytic.binary_entropy, 1e-7))


def _plant_spike(monkeypatch):
    normal = analytic.ANALYTIC["normal"]
    spike = dataclasses.replace(normal, spike=_shifted(normal.spike, 1e-7))
    monkeypatch.setitem(analytic.ANALYTIC, "normal", spike)


def _plant_cb_sup(monkeypatch):
    original = analytic.cb_sup_interior

    def moved(x):
        sup, eta = original(x)
        return sup * (1 + 1e-7), eta

    monkeypatch.setattr(analytic, "cb_sup_interior", moved)


@pytest.mark.parametrize(
    ("claim", "plant", "name"),
    [
        ("F6", _plant_softclip, "family.softclip_sup"),
        ("F4", _plant_entropy, "family.bernoulli_sup"),
        ("F1", _plant_spike, "family.spike"),
        ("F3", _plant_cb_sup, "family.cb_interior_sup"),
    ],
)
def test_a_planted_1e7_shift_in_a_family_closed_form_fails_the_gate(
    monkeypatch, claim, plant, name
):
    plant(monkeypatch)
    (bad,) = run_claims([claim], device="cpu", jobs=1)
    cert = bad.evidence["certification"]
    assert not bad.ok and not cert.ok and cert.outside
    assert all(f"{name} " in p for p in cert.outside)
    assert bad.certified.startswith("no:")


def test_family_claims_are_certified_closed_forms():
    results = run_claims(["F1", "F2", "F3", "F4", "F5", "F6"], device="cpu", jobs=1)
    for r in results:
        cert = r.evidence["certification"]
        assert r.ok and cert.ok and cert.values > 0 and r.certified == "yes", (r.id, cert)


def test_an_audit_with_no_closed_form_names_the_torch_probe():
    f4 = next(c for c in load_ledger() if c.id == "F4")
    assert _uncertified(f4, 3) == ""
    assert _uncertified(f4, 0) == "torch probe (float64)"
    assert Certification(0, uncertified="torch probe (float64)").certified == (
        "torch probe (float64)"
    )


def test_record_feeds_only_an_open_recording():
    assert certify.record("family.discretized_sup", 0.0) == 0.0  # nothing open: no-op
    with certify.recording() as calls:
        certify.record("family.softclip_sup", analytic.SOFTCLIP_BOUND, analytic.SOFTCLIP_MIN)
    assert [c.name for c in calls] == ["family.softclip_sup"]
    assert not certify.certify_calls(calls).outside
    with pytest.raises(WellposedInputError, match="no family closed form"):
        certify.record("family.nope", 1.0)
