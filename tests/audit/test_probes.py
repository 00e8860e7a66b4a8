"""wellposed.audit.probes: what torch's own log_prob returns at extreme parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist

from wellposed.audit import ProbeRow, audit_family

LOG2PI_2 = 0.5 * math.log(2 * math.pi)


def test_torch_continuous_bernoulli_cap_value() -> None:
    eps = np.finfo(np.float64).eps
    cap = math.log(math.log((1 - eps) / eps))
    assert cap == pytest.approx(3.5847, abs=1e-3)
    v = tdist.ContinuousBernoulli(
        logits=torch.tensor(-1e6, dtype=torch.float64), validate_args=False
    ).log_prob(torch.tensor(0.0, dtype=torch.float64))
    assert float(v) == pytest.approx(cap, abs=1e-9)
    res = audit_family("continuous_bernoulli", np.array([0.0]))
    capped = [r for r in res.probe if r.kind == "capped"]
    assert capped and capped[0].torch_value == pytest.approx(cap, abs=1e-9)
    assert "3.58473" in res.implementation


def test_gaussian_nll_loss_gradient_passes_through_the_clamp() -> None:
    var = torch.tensor([1e-9], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.3], dtype=torch.float64)
    loss = torch.nn.GaussianNLLLoss(eps=1e-6, full=True)(x, x, var)
    loss.backward()
    assert float(var.grad[0]) == pytest.approx(0.5 / 1e-6)  # non-zero below eps
    assert -float(loss.detach()) == pytest.approx(-0.5 * math.log(1e-6) - LOG2PI_2)
    res = audit_family("gaussian_nll_loss", np.array([0.3]))
    assert "500000" in res.implementation and "no_grad" in res.implementation


def test_global_logvar_unbounded_and_torch_nan() -> None:
    res = audit_family("global_logvar_gaussian", np.array([[0.1, 0.2, 0.3]]))
    assert res.verdict == "unbounded"
    assert res.rate == pytest.approx(3.0)
    assert any(r.kind == "nan" for r in res.probe)


def test_torch_normal_probe_reports_nan_and_validate_args() -> None:
    res = audit_family("normal", np.array([1.0]))
    kinds = [r.kind for r in res.probe]
    assert kinds[0] == "ok" and "nan" in kinds
    assert "ValueError" in res.implementation


def test_probe_rows_serialise_with_the_one_json_policy() -> None:
    row = ProbeRow(750.0, math.inf, -math.inf, "-inf", "")
    assert row.to_dict() == {
        "k": 750.0,
        "exact": "inf",
        "torch": "-inf",
        "kind": "-inf",
        "note": "",
        "machine_dependent": False,
    }
    assert ProbeRow(15.0, 5.99, 6.0, "roundoff").to_dict()["machine_dependent"] is True
    assert ProbeRow(1.0, None, math.nan, "nan").to_dict()["torch"] == "nan"


def test_reports_never_print_torchs_round_off_digits() -> None:
    """StudentT at df = 1e15 is lgamma cancellation noise (10 with torch's default kernels, 6
    with AVX2): the sentence says where the round-off takes over and that the value exceeds
    the bound, not its digits; a converged search's escape ray (a round-off direction) is
    described by what holds along it, not by torch's values there."""
    res = audit_family("studentt_floor", np.array([0.3]))
    kinds = {int(r.k): r.kind for r in res.probe}
    assert kinds[10] == "ok" and kinds[15] == kinds[20] == "roundoff"
    assert "from df = 1e15" in res.implementation and "above the bound at df = 1e15" in (
        res.implementation
    )
    noise = [r.torch_value for r in res.probe if r.kind == "roundoff"]
    assert all(f"{v:.6g}" not in res.implementation.split("from df")[1] for v in noise)
    fs = audit_family(tdist.FisherSnedecor, np.array([0.5, 2.0]), seed=0)
    assert "the search converged" in fs.implementation and "t=16:" not in fs.implementation
