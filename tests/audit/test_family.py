"""wellposed.audit.family: combining per-observation verdicts, resolving families, the table."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch.distributions as tdist

import wellposed.audit
from wellposed.audit import AuditInputError, audit_family
from wellposed.render import render_families_markdown


def test_public_api_resolves() -> None:
    for name in wellposed.audit.__all__:
        assert getattr(wellposed.audit, name) is not None, name
    with pytest.raises(AttributeError):
        wellposed.audit.no_such_name  # noqa: B018


def test_multicoordinate_rates_add() -> None:
    X = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    res = audit_family("normal", X)
    assert [o.rate for o in res.observations] == [3.0, 3.0]
    assert res.rate == pytest.approx(6.0)


def test_counts_and_json_speak_the_verdict_words() -> None:
    res = audit_family("lognormal", np.array([-1.0, 0.0, 2.0]), probe=False)
    assert res.verdict == "unbounded"
    assert res.counts() == {"unbounded": 1, "bounded": 0, "inconclusive": 0, "outside support": 2}
    d = res.to_dict()
    assert d["observations"][0]["bound"] == "-inf"  # jsonable's spelling
    assert "diverges" not in json.dumps(d)
    inside = audit_family("normal", np.array([0.0]), probe=False)
    assert inside.counts() == {"unbounded": 1, "bounded": 0, "inconclusive": 0}  # as before
    assert inside.to_dict()["counts"]["outside support"] == 0  # the JSON always lists it


def test_outside_the_support_is_a_verdict_and_all_outside_an_input_error() -> None:
    res = audit_family("beta", np.array([2.0, 0.5, 0.25]), probe=False)
    assert [o.verdict for o in res.observations] == ["outside support", "unbounded", "unbounded"]
    assert res.observations[0].reason == "outside the support of beta (x in [0, 1])"
    assert res.verdict == "unbounded" and res.rate == pytest.approx(1.0)  # over the inside
    assert res.notes == (
        "1 of 3 observations are outside the support of beta (x in [0, 1]); "
        "they are left out of the verdict (an objective over all of them "
        "is -inf)",
    )
    assert len(res.in_support().observations) == 2
    bounded = audit_family("bernoulli", np.array([0.5, 0.25]), probe=False)
    assert bounded.in_support() is bounded
    two = audit_family("gamma", np.array([[1.0, -1.0], [1.0, 2.0]]), probe=False)
    assert [o.verdict for o in two.observations] == ["outside support", "unbounded"]
    assert two.observations[0].coordinates == 1
    with pytest.raises(
        AuditInputError,
        match=r"the observation x = -1 is outside the support "
        r"of gamma \(x >= 0\)",
    ):
        audit_family("gamma", np.array([-1.0]))
    with pytest.raises(
        AuditInputError,
        match=r"all 2 observations \(x = -1, 0\) are outside "
        r"the support of lognormal \(x > 0\)",
    ):
        audit_family("lognormal", np.array([[0.0, 2.0], [1.0, -1.0]]))
    ex = audit_family(tdist.Exponential, np.array([-1.0, 0.5]), method="numerical")
    assert ex.observations[0].verdict == "outside support"
    assert ex.observations[0].reason == "outside the support of Exponential (x >= 0)"


def test_unknown_family_and_bad_data_raise() -> None:
    with pytest.raises(AuditInputError, match="unknown family"):
        audit_family("nope", np.array([1.0]))
    with pytest.raises(AuditInputError, match="NaN"):
        audit_family("normal", np.array([np.nan]))
    with pytest.raises(AuditInputError, match="method"):
        audit_family("normal", np.array([1.0]), method="magic")


def test_to_dict_is_json_and_deterministic() -> None:
    a = audit_family(tdist.Exponential, np.array([0.0, 0.5]), seed=3, method="numerical")
    b = audit_family(tdist.Exponential, np.array([0.0, 0.5]), seed=3, method="numerical")
    sa = json.dumps(a.to_dict(), sort_keys=True)
    assert sa == json.dumps(b.to_dict(), sort_keys=True)
    assert json.loads(sa)["seed"] == 3


def test_render_markdown_deterministic_and_escaped() -> None:
    res = [
        audit_family("continuous_bernoulli", np.array([0.0, 0.4])),
        audit_family(tdist.Exponential, np.array([0.0, 0.5]), method="numerical"),
        audit_family("softclip_gaussian", np.array([0.2])),
    ]
    md1 = render_families_markdown(res)
    md2 = render_families_markdown(res)
    assert md1 == md2
    # a table wider than 160 characters is split over its columns (docs/design.md, "Reports")
    for table in md1.strip().split("\n\n"):
        lines = table.splitlines()
        assert (
            lines[0].startswith("| family")
            and max(map(len, lines)) <= 160
            or len(lines[0].split(" | ")) == 2
        )  # one column too wide on its own stays whole
        ncols = lines[0].count(" | ")
        for line in lines[2:]:  # every row has the same number of (unescaped) separators
            assert line.replace("\\|", "").count(" | ") == ncols
    assert "5.08106" in md1
