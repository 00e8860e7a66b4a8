"""wellposed.audit.intrinsic and the data audit's manifold finding (Dai & Wipf 2019)."""

from __future__ import annotations

import numpy as np
import pytest

from wellposed.audit import audit_data
from wellposed.audit.intrinsic import intrinsic_dimension
from wellposed.cli import main


def _manifold(n: int = 800, seed: int = 1) -> np.ndarray:
    """A 2-D nonlinear manifold in 20 dimensions (affine rank 20)."""
    rng = np.random.default_rng(seed)
    t, s = rng.uniform(0, 3 * np.pi, n), rng.uniform(-1, 1, n)
    F = np.stack([np.cos(t), np.sin(t), t / 3, s, s * np.cos(t), np.sin(2 * s)], 1)
    return np.tanh(F @ rng.normal(size=(6, 20)))


def test_estimate_near_the_true_dimension() -> None:
    est = intrinsic_dimension(_manifold())
    assert est.estimate == pytest.approx(2.0, abs=0.2)
    assert est.lower < 2.0 < est.upper + 0.1 and est.se > 0
    flat = intrinsic_dimension(
        np.random.default_rng(0).normal(size=(800, 5))
        @ np.random.default_rng(1).normal(size=(5, 20))
    )
    assert flat.estimate == pytest.approx(5.0, abs=0.5)
    few = intrinsic_dimension(np.zeros((30, 3)))
    assert few.estimate is None and "distinct rows" in few.reason


def test_data_audit_names_the_shared_variance_objective() -> None:
    X = _manifold()
    res = audit_data(X, latent_dim=3)
    assert res.rank == 20  # the affine check alone would reassure
    f = [f for f in res.findings if f.kind == "low_intrinsic_dimension"]
    assert f and "shared learned variance" in f[0].objectives[0] and f[0].unbounded
    assert res.breaks_an_objective()
    assert "low_intrinsic_dimension" not in audit_data(X, latent_dim=2).kinds()
    default = audit_data(X)  # no latent size: the finding states for which d
    g = [f for f in default.findings if f.kind == "low_intrinsic_dimension"][0]
    assert "d >= 3" in g.detail and not g.unbounded
    assert "intrinsic dimension" in default.render_text()
    assert default.to_dict()["intrinsic_dimension"]["estimate"] == pytest.approx(2.0, abs=0.2)


def test_fail_on_unbounded_exit_codes(tmp_path, capsys) -> None:
    p = tmp_path / "m.npy"
    np.save(p, _manifold(400))
    assert main(["audit-data", str(p), "--latent-dim", "3", "--fail-on", "unbounded"]) == 1
    assert main(["audit-data", str(p), "--latent-dim", "2", "--fail-on", "unbounded"]) == 0
    assert main(["audit-data", str(p), "--latent-dim", "3"]) == 0  # no --fail-on: exit 0
    assert main(["audit-data", str(tmp_path / "no.npy"), "--fail-on", "unbounded"]) == 2
    assert main(["audit-family", "normal", "--values", "0.5", "--fail-on", "unbounded"]) == 1
    assert main(["audit-family", "bernoulli", "--values", "0,1", "--fail-on", "unbounded"]) == 0
    assert main(["audit-family", "normal", "--values", "0.5"]) == 0
    assert main(["audit-family", "nosuch", "--values", "1", "--fail-on", "unbounded"]) == 2
    capsys.readouterr()
