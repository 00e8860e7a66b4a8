"""audit-model: loading factories, recognised bounds, verdicts and the CLI's exit codes."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from wellposed import cli
from wellposed.audit.model import (
    NO_WITNESS,
    audit_model,
    build_model,
    load_factory,
    recognised_bound,
)
from wellposed.errors import WellposedInputError

ROOT = Path(__file__).parents[2]  # examples/ is a package here, outside wellposed
LOG_2PI = math.log(2 * math.pi)
X = np.random.default_rng(0).uniform(0.05, 0.95, size=(16, 8))


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    """A user's module with good and bad factories, importable as ``userpkg``."""
    (tmp_path / "userpkg.py").write_text(textwrap.dedent('''
        import torch
        from torch import nn
        from examples import c2_logvar_head

        def not_modules():
            return 1, 2

        def raises():
            raise RuntimeError("boom")

        class HandFloor(c2_logvar_head.Decoder):
            """sigma^2 = 1e-3 + softplus(raw), written by hand: bounded, not recognised."""
            def forward(self, t):
                mean, raw = super().forward(t)
                return mean, torch.log(1e-3 + nn.functional.softplus(raw))

        def hand_floor(data_dim=8):
            return HandFloor(data_dim), c2_logvar_head.Encoder(data_dim)
        '''), encoding="utf-8")
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.syspath_prepend(str(tmp_path))
    np.save(tmp_path / "x.npy", X)
    return tmp_path


@pytest.mark.parametrize(("spec", "match"), [
    ("no_colon", "PKG.MODULE:FACTORY"),
    ("no_such_module_xyz:factory", "cannot import"),
    ("examples.c2_logvar_head:nothing", "no callable"),
])
def test_bad_factory_specs_are_input_errors(spec, match, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    with pytest.raises(WellposedInputError, match=match):
        load_factory(spec)


def test_a_factory_must_return_modules(user_pkg) -> None:
    with pytest.raises(WellposedInputError, match="must return"):
        build_model(load_factory("userpkg:not_modules"), 8)
    with pytest.raises(WellposedInputError, match="raised RuntimeError: boom"):
        build_model(load_factory("userpkg:raises"), 8)


def _model(name: str):
    return build_model(load_factory(f"examples.{name}:factory"), 8)


def test_recognised_bounds_have_their_closed_forms(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    rows = X[:2]
    floor, _ = recognised_bound(_model("floored_variance"), rows, "Normal")
    assert floor is not None and floor.kind == "floor"
    assert floor.bound == pytest.approx(-2 * 8 * 0.5 * (LOG_2PI + math.log(1e-3)), rel=1e-12)
    clip, _ = recognised_bound(_model("sigma_vae_softclip"), rows, "Normal")
    assert clip is not None and clip.bound == pytest.approx(2 * 8 * (6 - 0.5 * LOG_2PI))
    nll, _ = recognised_bound(_model("gaussian_nll_loss"), rows, "Normal")
    assert nll is not None and nll.kind == "clamp"
    assert nll.bound == pytest.approx(2 * 8 * (-0.5 * math.log(1e-6) - 0.5 * LOG_2PI))
    bern, _ = recognised_bound(_model("bernoulli"), (rows > 0.5).astype(float), "Bernoulli")
    assert bern is not None and bern.kind == "family" and bern.bound == pytest.approx(0.0)
    none, fam = recognised_bound(_model("c2_logvar_head"), rows, "Normal")
    assert none is None and fam is not None and fam.verdict == "unbounded"


@pytest.mark.slow  # a 3-second attack that must not be called bounded
def test_an_unrecognised_floor_is_never_called_bounded(user_pkg) -> None:
    res = audit_model("userpkg:hand_floor", X, budget=3.0, audits=False)
    assert res.verdict == NO_WITNESS and res.proof is None
    floor = 8 * -0.5 * (LOG_2PI + math.log(1e-3))  # what it cannot exceed, though unproved
    assert max(res.trace_value) <= floor + 1e-9


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_bad_input_exits_2(user_pkg, capsys) -> None:
    data = str(user_pkg / "x.npy")
    for spec in ("no_such_module_xyz:factory", "userpkg:not_modules"):
        code, _, err = _run(["audit-model", spec, "--data", data], capsys)
        assert code == 2 and "wellposed: error:" in err
    bad = user_pkg / "bad.npy"
    np.save(bad, np.array([[np.nan, 1.0]]))
    code, _, err = _run(["audit-model", "examples.bernoulli:factory", "--data", str(bad)],
                        capsys)
    assert code == 2 and "NaN" in err
    code, _, err = _run(["audit-model", "examples.bernoulli:factory", "--data", data,
                         "--budget", "0"], capsys)
    assert code == 2 and "budget must be a positive number" in err


def test_cli_json_document(user_pkg, capsys) -> None:
    xb = (X > 0.5).astype(float)
    np.save(user_pkg / "xb.npy", xb)
    code, out, _ = _run(["audit-model", "examples.bernoulli:factory", "--data",
                         str(user_pkg / "xb.npy"), "--budget", "2", "--json", "-",
                         "--fail-on", "unbounded"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["command"] == "audit-model" and doc["schema_version"] == 1
    assert doc["verdict"] == "bounded" and doc["proof"]["kind"] == "family"
    assert doc["bound"]["max_value"] <= doc["proof"]["bound"]
    assert doc["family_audit"]["family"].startswith("Bernoulli")
    assert "data_audit" in doc and doc["inputs"]["budget"] == 2.0
    with torch.no_grad():
        assert all(v <= 0.0 for v in doc["trace"]["value"])
