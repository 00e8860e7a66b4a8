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
from wellposed.audit import model as audit_model_module
from wellposed.audit.attack import build_model, load_factory
from wellposed.audit.model import (
    BOUND_VIOLATED,
    BOUNDED,
    NO_WITNESS,
    TARGET_LOG_SCALE,
    audit_model,
)
from wellposed.audit.proof import Proof, prove
from wellposed.errors import WellposedInputError

ROOT = Path(__file__).parents[2]  # examples/ is a package here, outside wellposed
LOG_2PI = math.log(2 * math.pi)
X = np.random.default_rng(0).uniform(0.05, 0.95, size=(16, 8))


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    """A user's module with good and bad factories, importable as ``userpkg``."""
    (tmp_path / "userpkg.py").write_text(
        textwrap.dedent('''
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

        def wrong_width():
            return c2_logvar_head.Decoder(5), c2_logvar_head.Encoder(8)

        def swapped(data_dim=8):
            return c2_logvar_head.Encoder(data_dim), c2_logvar_head.Decoder(data_dim)

        class Float32Inside(nn.Module):
            latent_dim = 2
            def __init__(self, data_dim):
                super().__init__()
                self.proj = torch.randn(2, data_dim)  # a plain attribute: stays float32
            def forward(self, t):
                mean = t @ self.proj
                return mean, torch.zeros_like(mean)

        def float32_inside(data_dim=8):
            return Float32Inside(data_dim), c2_logvar_head.Encoder(data_dim)

        class Chatty(c2_logvar_head.Decoder):
            def forward(self, t):
                print("hello from forward")
                return super().forward(t)

        def chatty(data_dim=8):
            print("hello from the factory")
            return Chatty(data_dim), c2_logvar_head.Encoder(data_dim)
        '''),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.syspath_prepend(str(tmp_path))
    np.save(tmp_path / "x.npy", X)
    return tmp_path


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no_colon", "PKG.MODULE:FACTORY"),
        ("no_such_module_xyz:factory", "cannot import"),
        ("examples.c2_logvar_head:nothing", "no callable"),
    ],
)
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


def test_proved_bounds_have_their_closed_forms(monkeypatch) -> None:
    """The examples' hand-written floors and clamps, proved on the objective over rows."""
    monkeypatch.syspath_prepend(str(ROOT))
    rows = X[:2]
    floor, _, _ = prove(_model("floored_variance"), rows, "Normal")
    assert floor is not None and floor.kind == "floor"
    assert floor.bound == pytest.approx(-2 * 8 * 0.5 * (LOG_2PI + math.log(1e-3)), rel=1e-12)
    clip, _, _ = prove(_model("sigma_vae_softclip"), rows, "Normal")
    assert clip is not None and clip.bound == pytest.approx(2 * 8 * (6 - 0.5 * LOG_2PI))
    nll, _, _ = prove(_model("gaussian_nll_loss"), rows, "Normal")
    assert nll is not None and nll.kind == "clamp"
    assert nll.bound == pytest.approx(2 * 8 * (-0.5 * math.log(1e-6) - 0.5 * LOG_2PI))
    bern, _, _ = prove(_model("bernoulli"), (rows > 0.5).astype(float), "Bernoulli")
    assert bern is not None and bern.kind == "family" and bern.bound == pytest.approx(0.0)
    none, fam, _ = prove(_model("c2_logvar_head"), rows, "Normal")
    assert none is None and fam is not None and fam.verdict == "unbounded"
    decoy, _, _ = prove(_model("decoy_policy"), rows, "Normal")
    assert decoy is None  # it holds a floor module that forward never calls


def test_a_hand_written_floor_is_bounded_and_never_exceeded(user_pkg) -> None:
    res = audit_model("userpkg:hand_floor", X, steps=24, audits=False)
    assert res.verdict == BOUNDED and res.proof is not None
    floor = 16 * 8 * -0.5 * (LOG_2PI + math.log(1e-3))
    assert res.proof.bound == pytest.approx(floor, abs=1e-6)
    assert max(res.trace_value) <= floor + 1e-9


@pytest.mark.slow
def test_one_shared_variance_is_not_called_unbounded_on_one_row(monkeypatch) -> None:
    """One shared learned log-variance: a spiked row makes the other rows' terms fall, so
    the objective over all rows is not passed; the verdict is never unbounded."""
    monkeypatch.chdir(ROOT)
    res = audit_model("examples.global_logvar:factory", X, steps=120, audits=False)
    assert res.verdict == NO_WITNESS
    assert res.trace.ended in ("steps spent", "target reached")


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
    code, _, err = _run(["audit-model", "examples.bernoulli:factory", "--data", str(bad)], capsys)
    assert code == 2 and "NaN" in err
    code, _, err = _run(
        ["audit-model", "examples.bernoulli:factory", "--data", data, "--max-seconds", "0"], capsys
    )
    assert code == 2 and "max-seconds must be a positive number" in err
    code, _, err = _run(
        ["audit-model", "examples.bernoulli:factory", "--data", data, "--steps", "0"], capsys
    )
    assert code == 2 and "steps must be an integer" in err


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("userpkg:wrong_width", "columns"),
        ("userpkg:swapped", "swapped|order"),
        ("userpkg:float32_inside", "float64|dtype|Float|Double"),
        ("userpkg:raises", "raised RuntimeError: boom"),
    ],
)
def test_mismatches_exit_2_with_a_message_and_no_traceback(user_pkg, capsys, spec, match) -> None:
    code, out, err = _run(
        ["audit-model", spec, "--data", str(user_pkg / "x.npy"), "--steps", "8"], capsys
    )
    assert code == 2 and "Traceback" not in err and out == ""
    import re

    assert re.search(match, err), err


def test_prints_in_a_factory_do_not_corrupt_json_on_stdout(user_pkg, capsys) -> None:
    code, out, err = _run(
        [
            "audit-model",
            "userpkg:chatty",
            "--data",
            str(user_pkg / "x.npy"),
            "--steps",
            "8",
            "--json",
            "-",
        ],
        capsys,
    )
    doc = json.loads(out)  # stdout is the JSON document alone
    assert code == 0 and doc["command"] == "audit-model"
    assert "hello from the factory" in err and "hello from forward" in err


def test_a_time_cap_is_reported(user_pkg, capsys) -> None:
    code, out, _ = _run(
        [
            "audit-model",
            "userpkg:hand_floor",
            "--data",
            str(user_pkg / "x.npy"),
            "--steps",
            "100000",
            "--max-seconds",
            "0.5",
        ],
        capsys,
    )
    assert code == 0 and "ended: time cap" in out and "--max-seconds 0.5" in out


def test_cli_json_document(user_pkg, capsys) -> None:
    xb = (X > 0.5).astype(float)
    np.save(user_pkg / "xb.npy", xb)
    code, out, _ = _run(
        [
            "audit-model",
            "examples.bernoulli:factory",
            "--data",
            str(user_pkg / "xb.npy"),
            "--steps",
            "16",
            "--max-seconds",
            "2",
            "--json",
            "-",
            "--fail-on",
            "unbounded",
        ],
        capsys,
    )
    doc = json.loads(out)
    assert code == 0 and doc["command"] == "audit-model" and doc["schema_version"] == 1
    assert doc["verdict"] == "bounded" and doc["proof"]["kind"] == "family"
    assert doc["bound"]["max_value"] <= doc["proof"]["bound"]
    assert doc["family_audit"]["family"].startswith("Bernoulli")
    assert "data_audit" in doc and doc["inputs"]["max_seconds"] == 2.0
    with torch.no_grad():
        assert all(v <= 0.0 for v in doc["trace"]["value"])


def test_the_target_level_is_beyond_every_recognised_floor(monkeypatch) -> None:
    """A row's level ``D (T - log(2 pi)/2)`` must lie above the per-row supremum of the
    weakest floor an example proves (GaussianNLLLoss's eps = 1e-6: 6.0 nats a coordinate):
    a lower target would let a hand-written, unrecognised floor pass as unbounded."""
    monkeypatch.syspath_prepend(str(ROOT))
    rows = X[:2]
    per_row = []
    for name in ("floored_variance", "sigma_vae_softclip", "gaussian_nll_loss"):
        proof, _, _ = prove(_model(name), rows, "Normal")
        assert proof is not None
        per_row.append(proof.bound / len(rows))
    level = 8 * (TARGET_LOG_SCALE - 0.5 * LOG_2PI)
    assert max(per_row) == pytest.approx(8 * (-0.5 * math.log(1e-6) - 0.5 * LOG_2PI))
    assert level > max(per_row) + 1.0


def test_an_attack_above_a_proved_bound_is_a_violation_not_bounded(user_pkg, monkeypatch):
    """audit-model holds the attack's values against the proved bound: a (planted, wrong)
    proof whose bound lies below the model's own starting value must read bound violated."""
    wrong = Proof("floor", -1e6, "planted: a bound below every value of the model")
    monkeypatch.setattr(audit_model_module, "prove", lambda *a, **k: (wrong, None, []))
    res = audit_model("userpkg:hand_floor", X, steps=8, audits=False)
    assert res.bound is not None and not res.bound.ok
    assert res.verdict == BOUND_VIOLATED
