"""Proofs from the model's own graph: decoys written in plain torch, as a user would."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from wellposed.audit.attack import AuditedModel, build_model, draws, objective_value
from wellposed.audit.proof import prove
from wellposed.models.variance import SoftClip

D, LATENT, HID = 16, 2, 8
LOG_2PI = math.log(2 * math.pi)
X = np.random.default_rng(3).uniform(0.05, 0.95, size=(12, D))
N = X.shape[0]


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(D, HID)
        self.m, self.lv = nn.Linear(HID, LATENT), nn.Linear(HID, LATENT)

    def forward(self, x):
        h = torch.tanh(self.body(x))
        return self.m(h), self.lv(h)


class Base(nn.Module):
    """A trunk and a mean head; subclasses choose the scale."""

    latent_dim = LATENT

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(LATENT, HID), nn.Tanh())
        self.mean = nn.Linear(HID, D)
        self.raw = nn.Linear(HID, D)


class UnusedPolicy(Base):
    def __init__(self) -> None:
        super().__init__()
        self.variance = SoftClip(-6.0)  # held, never used by forward

    def forward(self, t):
        h = self.trunk(t)
        return self.mean(h), self.raw(h)


class SoftplusVar(Base):
    def forward(self, t):
        h = self.trunk(t)
        return self.mean(h), torch.log(0.05 + F.softplus(self.raw(h)))


class HandSoftClip(Base):
    def forward(self, t):
        h = self.trunk(t)
        lo = -4.0
        log_sigma = lo + F.softplus(self.raw(h) - lo)
        return tdist.Independent(tdist.Normal(self.mean(h), log_sigma.exp()), 1)


class ClampLogVar(Base):
    def forward(self, t):
        h = self.trunk(t)
        return self.mean(h), self.raw(h).clamp(min=-8.0)


class ExpTanh(Base):
    def forward(self, t):
        h = self.trunk(t)
        return tdist.Normal(self.mean(h), torch.exp(torch.tanh(self.raw(h))) * 0.3)


class UnitVariance(Base):
    def forward(self, t):
        mu = self.mean(self.trunk(t))
        return tdist.Normal(mu, torch.ones_like(mu))


class ZeroLogVar(Base):
    def forward(self, t):
        mu = self.mean(self.trunk(t))
        return mu, torch.zeros_like(mu)


class NamedNormal(Base):
    """``Normal`` imported by name; the scale clamped from a free parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(D))

    def forward(self, t):
        mu = self.mean(self.trunk(t))
        return Normal(loc=mu, scale=self.log_scale.exp().clamp(min=1e-2))


class FreeLogVar(Base):
    def __init__(self) -> None:
        super().__init__()
        self.log_var = nn.Parameter(torch.zeros(D))

    def forward(self, t):
        mu = self.mean(self.trunk(t))
        return mu, self.log_var.expand_as(mu)


class FloorTimesFree(Base):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, t):
        h = self.trunk(t)
        return tdist.Normal(self.mean(h), (0.05 + F.softplus(self.raw(h))) * self.gain)


class FakeFloor(Base):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("eps", torch.tensor(1e-8))

    def forward(self, t):
        h = self.trunk(t)
        return tdist.Normal(self.mean(h), F.softplus(self.raw(h)) + self.eps * 0)


class ConvDecoder(nn.Module):
    latent_dim = LATENT

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(LATENT, 4 * 2 * 2)
        self.up = nn.ConvTranspose2d(4, 2, kernel_size=2, stride=2)  # 2x2 -> 4x4: D = 16
        self.positive = nn.Softplus(beta=2.0)

    def forward(self, t):
        h = F.relu(self.fc(t)).view(-1, 4, 2, 2)
        out = self.up(h).reshape(t.shape[:-1] + (2 * D,))  # (..., n, 2 * 16)
        mean, raw = out[..., :D], out[..., D:]
        return tdist.Normal(mean, 0.1 + self.positive(raw))


class LaplaceFloor(Base):
    def forward(self, t):
        h = self.trunk(t)
        return tdist.Laplace(self.mean(h), 0.2 + F.softplus(self.raw(h)))


class StudentFloor(Base):
    def __init__(self) -> None:
        super().__init__()
        self.log_df = nn.Parameter(torch.zeros(()))

    def forward(self, t):
        h = self.trunk(t)
        return tdist.StudentT(1.0 + self.log_df.exp(), self.mean(h), 0.2 + F.softplus(self.raw(h)))


class DataDependent(Base):
    def forward(self, t):
        h = self.trunk(t)
        if h.sum() > 0:  # python control flow on a traced value
            h = -h
        return self.mean(h), torch.log(0.05 + F.softplus(self.raw(h)))


class MeanOnly(Base):
    def forward(self, t):
        return self.mean(self.trunk(t))


def optimal_sigma(decoder, encoder, x):
    """sigma-VAE "optimal sigma": sigma^2 the batch's mean squared residual, soft-clipped."""
    m, lv = encoder(x)
    t = m + torch.exp(0.5 * lv) * torch.randn_like(m)
    x_hat = decoder(t)
    log_sigma = ((x - x_hat) ** 2).mean().sqrt().log()
    log_sigma = -6 + F.softplus(log_sigma + 6)
    rec = 0.5 * ((x - x_hat) / log_sigma.exp()) ** 2 + log_sigma + 0.5 * math.log(2 * math.pi)
    kl = -0.5 * torch.sum(1 + lv - m.pow(2) - lv.exp())
    return -(rec.sum() + kl)


def model(decoder: type[nn.Module], objective=None) -> AuditedModel:
    def factory():
        return (decoder(), Encoder()) if objective is None else (decoder(), Encoder(), objective)

    return build_model(factory, D)


def normal_bound(variance: float) -> float:
    return N * D * -0.5 * math.log(2 * math.pi * variance)


@pytest.mark.parametrize(
    ("decoder", "expected"),
    [
        (SoftplusVar, normal_bound(0.05)),
        (HandSoftClip, normal_bound(math.exp(-8.0))),
        (ClampLogVar, normal_bound(math.exp(-8.0))),
        (ExpTanh, normal_bound((0.3 / math.e) ** 2)),
        (UnitVariance, normal_bound(1.0)),
        (ZeroLogVar, normal_bound(1.0)),
        (NamedNormal, normal_bound(1e-4)),
        (ConvDecoder, normal_bound(0.1**2)),
        (LaplaceFloor, N * D * -math.log(2 * 0.2)),
        (StudentFloor, normal_bound(0.2**2)),
    ],
)
def test_real_floors_are_proved_at_the_supremum(decoder, expected) -> None:
    proof, _, notes = prove(model(decoder), X, "Normal")
    assert proof is not None, notes
    assert proof.kind == "floor"
    assert proof.bound >= expected  # sound: never below the true supremum
    assert proof.bound == pytest.approx(expected, abs=1e-6)
    assert proof.nodes and proof.nodes[-1].split(" ")[0].endswith(("scale", "Normal.scale"))


def test_a_proof_names_the_nodes_it_rests_on() -> None:
    proof, _, _ = prove(model(SoftplusVar), X, "Normal")
    assert proof is not None
    assert any(n.startswith("softplus") for n in proof.nodes)
    assert any(n.startswith("add") for n in proof.nodes)
    assert "softplus" in proof.reason and ">= 0.05" in proof.reason
    assert proof.floor == pytest.approx(math.log(0.05)) and proof.floor <= math.log(0.05)


@pytest.mark.parametrize(
    ("decoder", "culprit"),
    [
        (UnusedPolicy, "raw"),
        (FreeLogVar, "log_var"),
        (FloorTimesFree, "gain"),
        (FakeFloor, "softplus"),
    ],
)
def test_no_floor_no_proof_and_the_unbounded_node_is_named(decoder, culprit) -> None:
    proof, fam, notes = prove(model(decoder), X, "Normal")
    assert proof is None
    assert fam is not None and fam.verdict == "unbounded"
    assert any("no floor proved" in n and culprit in n for n in notes), notes


def test_tracing_failure_says_why_and_proves_nothing() -> None:
    proof, _, notes = prove(model(DataDependent), X, "Normal")
    assert proof is None
    assert any("tracing the decoder failed" in n and "control flow" in n for n in notes), notes


def test_gaussian_nll_loss_is_proved_by_its_clamp() -> None:
    proof, _, _ = prove(model(FreeLogVar, nn.GaussianNLLLoss(eps=1e-4, full=True)), X, "Normal")
    assert proof is not None and proof.kind == "clamp"
    assert proof.bound == pytest.approx(N * D * (-0.5 * math.log(1e-4) - 0.5 * LOG_2PI), abs=1e-6)
    floored, _, _ = prove(model(SoftplusVar, nn.GaussianNLLLoss(eps=1e-4)), X, "Normal")
    assert floored is not None  # the traced floor 0.05 beats eps = 1e-4
    assert floored.bound == pytest.approx(N * D * -0.5 * math.log(0.05), abs=1e-6)


def test_the_optimal_sigma_objective_is_proved_from_its_graph() -> None:
    proof, _, notes = prove(model(MeanOnly, optimal_sigma), X, "Normal")
    assert proof is not None, notes
    assert proof.kind == "objective"
    # rec: -log sigma <= 6 per coordinate; KL >= 0 needs lv - exp(lv) <= -1 (linear forms)
    assert proof.bound == pytest.approx(N * D * (6 - 0.5 * LOG_2PI), rel=1e-9)


def test_a_custom_objective_without_a_floor_is_not_proved() -> None:
    def free_sigma(decoder, encoder, x):
        x_hat = decoder(encoder(x)[0])
        log_sigma = ((x - x_hat) ** 2).mean().sqrt().log()
        return -(0.5 * ((x - x_hat) / log_sigma.exp()) ** 2 + log_sigma).sum()

    proof, _, notes = prove(model(MeanOnly, free_sigma), X, "Normal")
    assert proof is None and any("no upper bound" in n for n in notes)


def test_non_gaussian_families_keep_the_family_route() -> None:
    class Bern(Base):
        def forward(self, t):
            return tdist.Bernoulli(logits=self.mean(self.trunk(t)))

    proof, fam, _ = prove(model(Bern), (X > 0.5).astype(float), "Bernoulli")
    assert proof is not None and proof.kind == "family" and proof.bound == pytest.approx(0.0)
    assert fam is not None and fam.verdict == "bounded"


@pytest.mark.parametrize(
    "decoder",
    [
        SoftplusVar,
        HandSoftClip,
        ClampLogVar,
        ExpTanh,
        UnitVariance,
        ConvDecoder,
        LaplaceFloor,
        StudentFloor,
    ],
)
def test_random_parameters_never_exceed_the_proof(decoder) -> None:
    """The ELBO at wild parameter draws (and with the mean on the data) stays below B."""
    m = model(decoder)
    proof, _, _ = prove(m, X, "Normal")
    assert proof is not None
    x = torch.as_tensor(X, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for draw in range(20):
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * (1 + draw))
            value = float(objective_value(m, x, draws(draw, 4, N, LATENT), draw))
            assert not value > proof.bound


class DecayingBuffer(Base):
    """The floor is a buffer the forward halves in place: not fixed across calls."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("floor", torch.tensor(0.05))

    def forward(self, t):
        h = self.trunk(t)
        self.floor.mul_(0.5)
        return self.mean(h), torch.log(self.floor + F.softplus(self.raw(h)))


class ItemFloor(Base):
    """A 'floor' read from a free tensor as a Python number: it is not a constant."""

    def forward(self, t):
        h = self.trunk(t)
        raw = self.raw(h)
        return self.mean(h), torch.log(F.softplus(raw) + raw.max().item())


class MaskedFloor(Base):
    def forward(self, t):
        h = self.trunk(t)
        raw = self.raw(h)
        sel = raw[raw > 0]  # shape depends on values
        return self.mean(h), torch.log(0.05 + F.softplus(raw)) + sel.sum() * 0


@pytest.mark.parametrize(
    ("decoder", "why"),
    [
        (DecayingBuffer, "in place"),
        (ItemFloor, "no floor proved"),
        (MaskedFloor, "depends on values"),
    ],
)
def test_values_that_are_not_constants_prove_nothing(decoder, why) -> None:
    proof, _, notes = prove(model(decoder), X, "Normal")
    assert proof is None and any(why in n for n in notes), notes


def test_proving_leaves_the_users_modules_unchanged() -> None:
    m = model(DecayingBuffer)
    before = float(m.decoder.module.floor)
    prove(m, X, "Normal")
    assert float(m.decoder.module.floor) == before


def test_a_literal_zero_times_a_floor_is_zero() -> None:
    class Literal(Base):
        def forward(self, t):
            h = self.trunk(t)
            return tdist.Normal(self.mean(h), F.softplus(self.raw(h)) + 1e-8 * 0)

    proof, _, notes = prove(model(Literal), X, "Normal")
    assert proof is None and any("no floor proved" in n for n in notes)


def test_batch_norm_statistics_do_not_block_a_floor() -> None:
    class Normed(Base):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.BatchNorm1d(HID)

        def forward(self, t):
            h = self.norm(self.trunk(t))
            return self.mean(h), torch.log(0.05 + F.softplus(self.raw(h)))

    proof, _, notes = prove(model(Normed), X, "Normal")
    assert proof is not None, notes
    assert proof.bound == pytest.approx(normal_bound(0.05), abs=1e-6)


def _kl(m, lv):
    return -0.5 * torch.sum(1 + lv - m.pow(2) - lv.exp())


def nll_objective(decoder, encoder, x):
    m, lv = encoder(x)
    mu, log_var = decoder(m + torch.exp(0.5 * lv) * torch.randn_like(m))
    nll = F.gaussian_nll_loss(mu, x, log_var.exp(), full=True, eps=1e-3, reduction="sum")
    return -nll - _kl(m, lv)


def mse_objective(decoder, encoder, x):
    m, lv = encoder(x)
    return -F.mse_loss(decoder(m), x, reduction="sum") - _kl(m, lv)


def bce_objective(decoder, encoder, x):
    m, lv = encoder(x)
    return -F.binary_cross_entropy_with_logits(decoder(m), x, reduction="sum") - _kl(m, lv)


@pytest.mark.parametrize(
    ("decoder", "objective", "expected"),
    [
        (FreeLogVar, nll_objective, N * D * (-0.5 * math.log(1e-3) - 0.5 * LOG_2PI)),
        (MeanOnly, mse_objective, 0.0),
        (MeanOnly, bce_objective, 0.0),
    ],
)
def test_custom_objectives_with_torch_losses_are_proved(decoder, objective, expected) -> None:
    proof, _, notes = prove(model(decoder, objective), X, "Normal")
    assert proof is not None, notes
    assert expected <= proof.bound <= expected + 1e-6 * max(1.0, abs(expected))
    x = torch.as_tensor(X, dtype=torch.float64)
    m = model(decoder, objective)
    with torch.no_grad():
        for draw in range(10):
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, dtype=p.dtype) * (1 + 3 * draw))
            assert not float(objective(m.decoder.module, m.encoder.module, x)) > proof.bound


def test_many_rows_prove_the_same_floor_and_audit_every_row() -> None:
    """A floor proof over 200 rows is the 200-row supremum, and the family audit decides
    every row (a location-scale family's identical witness sequences are decided once)."""
    many = np.random.default_rng(4).uniform(0.05, 0.95, size=(200, D))
    proof, fam, _ = prove(model(SoftplusVar), many, "Normal")
    assert proof is not None and proof.kind == "floor"
    assert proof.bound == pytest.approx(200 / N * normal_bound(0.05), abs=1e-6)
    assert fam is not None and fam.verdict == "unbounded"
    assert len(fam.observations) == 200
