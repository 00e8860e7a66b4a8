"""Positive controls: break an objective or the ledger on purpose; the gate must exit 1."""

from pathlib import Path

import pytest
import torch

from wellposed.claims import spike
from wellposed.cli import main
from wellposed.lines import exact
from wellposed.models import networks
from wellposed.models.variance import Floor, log_softplus

LEDGER = Path(__file__).parents[1] / "wellposed" / "ledger.toml"


@pytest.fixture(autouse=True)
def _fresh_spike_evidence():
    """The spike evidence is cached per run; a planted fault must not meet a cached value."""
    spike.spike_loglik.cache_clear()
    spike.spike_elbo.cache_clear()


def _check(capsys, *args):
    code = main(["check", "--no-report", "-q", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_dropping_the_floor_is_caught(monkeypatch, capsys):
    monkeypatch.setattr(Floor, "__call__", lambda self, raw: log_softplus(raw))
    code, text = _check(capsys, "S4")
    assert code == 1 and "S4:" in text


def test_flipping_the_kl_sign_is_caught(monkeypatch, capsys):
    real = exact.gaussian_kl
    monkeypatch.setattr(exact, "gaussian_kl", lambda m, lv: -real(m, lv))
    code, text = _check(capsys, "S8")
    assert code == 1 and "S8:" in text


def test_encoder_ignoring_its_width_is_caught(monkeypatch, capsys):
    def forward(self, x):
        return self.mean, torch.zeros_like(self.log_var)

    monkeypatch.setattr(networks.TabularEncoder, "forward", forward)
    code, text = _check(capsys, "S6")
    assert code == 1 and "S6:" in text


def test_edited_ledger_is_caught(tmp_path, capsys):
    text = LEDGER.read_text()
    marker = 'id = "S7"'
    head, tail = text.split(marker, 1)
    tail = tail.replace('verdict = "refuted"', 'verdict = "bounded"\nbound = "x"', 1)
    edited = tmp_path / "ledger.toml"
    edited.write_text(head + marker + tail)
    code, out = _check(capsys, "S7", "--ledger", str(edited))
    assert code == 1 and "S7: observed 'refuted', ledger expects 'bounded'" in out


def test_a_leaking_floored_family_is_caught(monkeypatch, capsys):
    """F6: a softclip'd Gaussian whose density escapes its floor bound by 100 nats."""
    from wellposed.audit import analytic

    real = analytic.log_softclip_gaussian
    monkeypatch.setattr(
        analytic, "log_softclip_gaussian", lambda x, loc, raw: real(x, loc, raw) + 100.0
    )
    code, text = _check(capsys, "F6")
    assert code == 1 and "F6:" in text


def _edited_ledger(tmp_path, claim_id: str, old: str, new: str) -> str:
    text = LEDGER.read_text()
    marker = f'id = "{claim_id}"'
    head, tail = text.split(marker, 1)
    assert old in tail.split("[[claim]]", 1)[0]
    edited = tmp_path / "ledger.toml"
    edited.write_text(head + marker + tail.replace(old, new, 1))
    return str(edited)


def test_edited_rate_formula_is_caught(tmp_path, capsys):
    """A derived rate edited in the ledger (D/2 -> D) no longer matches the fitted slope."""
    path = _edited_ledger(tmp_path, "S1", 'rate_expr = "D/2"', 'rate_expr = "D"')
    code, out = _check(capsys, "S1", "--ledger", path)
    assert code == 1 and "S1: fitted rate" in out and "rate_expr D" in out


def test_malformed_rate_formula_is_bad_input(tmp_path, capsys):
    path = _edited_ledger(tmp_path, "L4", 'rate_expr = "n*D/2"', 'rate_expr = "n*D/2 + k"')
    code, out = _check(capsys, "L4", "--ledger", path)
    assert code == 2 and "unknown symbol(s) ['k']" in out


def test_edited_bound_formula_is_caught(tmp_path, capsys):
    """An analytic bound edited in the ledger (2 pi xi -> pi xi) no longer matches the one
    the evidence was checked against."""
    path = _edited_ledger(tmp_path, "S4", "log(2*pi*xi)", "log(pi*xi)")
    code, out = _check(capsys, "S4", "--ledger", path)
    assert code == 1 and "S4: checked bound" in out and "bound_expr" in out


def test_mlp_encoder_ignoring_its_width_is_caught(monkeypatch, capsys):
    """The App. C.2 MLP encoder realising the co-adapted one: drop its variance head."""
    real = networks.GaussianMLPEncoder.forward

    def forward(self, x):
        m, lv = real(self, x)
        return m, torch.zeros_like(lv)

    monkeypatch.setattr(networks.GaussianMLPEncoder, "forward", forward)
    code, text = _check(capsys, "S6")
    assert code == 1 and "S6:" in text


def test_edited_part_of_a_rate_table_is_caught(tmp_path, capsys):
    """L1's ELBO rate is (D/2) Phi(1/0.3); the ledger saying D/2 is caught by the fit's own
    tolerance (a fixed 1% would have accepted it)."""
    path = _edited_ledger(tmp_path, "L1", 'elbo = "D/4*(1 + erf(5*sqrt(2)/3))"', 'elbo = "D/2"')
    code, out = _check(capsys, "L1", "--ledger", path)
    assert code == 1 and "rate_expr.elbo D/2" in out


def test_spike_density_through_torch_normal_is_caught(monkeypatch, capsys):
    """torch's Normal squares the scale: at the witness (log sigma^2 = -1050) it underflows,
    and the network is evaluated there."""
    from wellposed.models import densities

    def naive(x, mean, log_var):
        return torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).log_prob(x)

    monkeypatch.setattr(densities, "gaussian_log_prob", naive)
    monkeypatch.setattr(networks, "gaussian_log_prob", naive)
    code, text = _check(capsys, "S1")
    assert code == 1 and "S1:" in text
