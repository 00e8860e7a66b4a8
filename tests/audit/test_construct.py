"""The constructive spike and its sites, on decoders written in plain torch without this project."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as tdist
import torch.nn.functional as F
from torch import nn

from wellposed.audit.construct import LEVELS, construct
from wellposed.audit.sites import find_sites, placement
from wellposed.audit.usermodel import build_model, draws, evaluate

D, d, H = 16, 2, 24


class Enc(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, H), act)
        self.out = nn.Linear(H, 2 * d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, lv = self.out(self.body(x)).chunk(2, dim=-1)
        return m, lv


class OneHead(nn.Module):
    """One Linear layer for both halves, split with chunk; functional activation."""

    def __init__(self, act: str) -> None:
        super().__init__()
        self.inp, self.head, self.act = nn.Linear(d, H), nn.Linear(H, 2 * D), act

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        h = getattr(F, self.act)(self.inp(t))
        mu, lv = self.head(h).chunk(2, dim=-1)
        return tdist.Independent(tdist.Normal(mu, torch.exp(0.5 * lv)), 1)


class SoftplusScale(nn.Module):
    """``sigma = softplus(s)``: no floor (softplus tends to 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.h = nn.Sequential(nn.Linear(d, H), nn.ELU())
        self.mu, self.s = nn.Linear(H, D), nn.Linear(H, D)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        h = self.h(t)
        return tdist.Normal(self.mu(h), F.softplus(self.s(h)))


class Floored(SoftplusScale):
    """``sigma = 0.05 + softplus(s)``: bounded."""

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        h = self.h(t)
        return tdist.Normal(self.mu(h), 0.05 + F.softplus(self.s(h)))


class Shared(nn.Module):
    """One learned log-variance shared by every coordinate and row."""

    def __init__(self) -> None:
        super().__init__()
        self.h = nn.Sequential(nn.Linear(d, H), nn.Tanh(), nn.Linear(H, D))
        self.log_var = nn.Parameter(torch.zeros(()))

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.h(t)
        return mu, self.log_var.expand_as(mu)


def _data(n: int = 40) -> torch.Tensor:
    rng = np.random.default_rng(3)
    return torch.as_tensor(rng.uniform(0.05, 0.95, size=(n, D)))


def _path(dec: nn.Module, enc: nn.Module, x: torch.Tensor):
    model = build_model(lambda: (dec, enc), D, seed=1)
    eps = draws(0, 2, x.shape[0], d)
    before = {k: v.clone() for k, v in model.decoder.module.state_dict().items()}
    out = construct(model, x, eps, seed=0)
    after = model.decoder.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the start state is restored"
    return model, eps, out


@pytest.mark.parametrize(
    ("dec", "act"),
    [
        (OneHead("relu"), nn.ReLU()),
        (OneHead("tanh"), nn.Tanh()),
        (OneHead("leaky_relu"), nn.LeakyReLU(0.2)),
        (OneHead("silu"), nn.GELU()),
        (SoftplusScale(), nn.Softplus()),
    ],
    ids=["relu-chunk", "tanh-chunk", "leaky-two-units", "silu-gelu", "softplus-scale"],
)
def test_path_rises_linearly_in_k(dec: nn.Module, act: nn.Module) -> None:
    x = _data()
    model, eps, out = _path(dec, Enc(act), x)
    assert out.stopped == "" and len(out.k) == len(LEVELS), out.stopped
    assert out.k == pytest.approx(list(LEVELS), abs=1e-6)
    slope = np.polyfit(out.k, out.value, 1)[0]
    assert 0.5 * (D - d) / 2 < slope < 1.1 * (D - d) / 2  # the row's (D - d)/2 per unit k
    # with fresh draws the top level is above the first by the row's growth
    fresh = []
    for state in (out.states[0], out.states[-1]):
        model.load(state)
        fresh.append(evaluate(model, x, samples=256, seed=99))
    (low, se_low), (top, se_top) = fresh
    rise = 0.5 * (D - d) / 2 * (LEVELS[-1] - LEVELS[0])
    assert top - 4 * se_top > low + 4 * se_low + rise


def test_leaky_relu_needs_two_units() -> None:
    sites, _ = find_sites(OneHead("leaky_relu").double(), torch.zeros(3, d, dtype=torch.float64))
    assert [s.units for s in sites] == [2] and sites[0].from_input


@pytest.mark.parametrize("dec", [Floored(), Shared()], ids=["floor-0.05", "shared-log-var"])
def test_no_path_where_the_row_cannot_be_singled_out(dec: nn.Module) -> None:
    _, _, out = _path(dec, Enc(nn.Tanh()), _data())
    assert out.k == [] and "cannot reconstruct row" in out.stopped


def test_conv_stack_after_the_unit_is_routed() -> None:
    class Conv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 8 * 4 * 4))
            self.up = nn.ConvTranspose2d(8, 2, 4, 2, 1)

        def forward(self, t: torch.Tensor) -> tdist.Distribution:
            lead = t.shape[:-1]  # fx cannot trace *lead: the sites come from torch.export
            out = self.up(self.dense(t.reshape(-1, d)).reshape(-1, 8, 4, 4))
            out = out.reshape(*lead, 2, 64)
            return tdist.Independent(tdist.Normal(out[..., 0, :], torch.exp(out[..., 1, :])), 1)

    sites, why = find_sites(Conv().double(), torch.zeros(3, d, dtype=torch.float64))
    assert why == "" and [s.name for s in sites] == ["dense.0"]
    assert sites[0].from_input
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.uniform(0.05, 0.95, size=(12, 64)))
    model = build_model(lambda: (Conv(), _Enc64()), 64, seed=0)
    out = construct(model, x, draws(0, 2, 12, d), seed=0)
    assert out.stopped == "" and len(out.k) == len(LEVELS), out.stopped
    assert "the convolutions after dense.0: a pixel shuffle of 4 location channels" in out.rewired


class _Enc64(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(64, 16), nn.Linear(16, 2 * d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, lv = self.b(torch.relu(self.a(x))).chunk(2, -1)
        return m, lv


def test_placement_keeps_other_rows_mass_off_the_half_space() -> None:
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(30, d, generator=gen, dtype=torch.float64)
    s = 0.3 + torch.rand(30, d, generator=gen, dtype=torch.float64)
    k = 30.0
    v, c0, mstar = placement(m, s, k, 31, D, seed=0)
    # each other row's Gaussian mass past c0: Phi(-(c0 - v.m_j) / |v s_j|) < e^{-k} / (n D)
    z = (c0 - m @ v) / torch.sqrt((s * s) @ (v * v))
    tail = 0.5 * torch.erfc(z / math.sqrt(2.0))
    assert float(tail.max()) < math.exp(-k) / (31 * D)
    assert float(mstar @ v) > c0


class Deep(nn.Module):
    """Two hidden layers before the heads (the detector passes through the middle one)."""

    def __init__(self, act: type[nn.Module]) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, H), act(), nn.Linear(H, H), act())
        self.mu, self.log_var = nn.Linear(H, D), nn.Linear(H, D)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(t)
        return self.mu(h), self.log_var(h)


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.LeakyReLU], ids=["relu", "tanh", "leaky"])
def test_the_detector_passes_through_hidden_layers(act: type[nn.Module]) -> None:
    _, _, out = _path(Deep(act), Enc(act()), _data())
    assert out.stopped == "" and len(out.k) == len(LEVELS), out.stopped
    assert np.polyfit(out.k, out.value, 1)[0] > 0.5 * (D - d) / 2


class TwoBranches(nn.Module):
    """A mean network and a separate log-variance network, each reading the latent."""

    def __init__(self) -> None:
        super().__init__()
        self.mean = nn.Sequential(nn.Linear(d, H), nn.ReLU(), nn.Linear(H, D))
        self.log_var = nn.Sequential(nn.Linear(d, H), nn.Tanh(), nn.Linear(H, D))

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean(t), self.log_var(t)


def test_a_detector_in_each_branch_that_reads_the_latent() -> None:
    _, _, out = _path(TwoBranches(), Enc(nn.ReLU()), _data())
    assert out.stopped == "" and len(out.k) == len(LEVELS), out.stopped
    assert "mean.0, log_var.0" in out.rewired


class Reshaped(nn.Module):
    """``x.reshape(*lead, -1)`` (torch.fx cannot trace it) and activations called as
    functions (forward hooks cannot see them): the sites come from torch.export."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.mu, self.lv = nn.Linear(d, H), nn.Linear(H, D), nn.Linear(H, D)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead = t.shape[:-1]
        h = F.silu(self.inp(t.reshape(-1, d)))
        return self.mu(h).reshape(*lead, -1), self.lv(h).reshape(*lead, -1)


def test_sites_from_torch_export_where_fx_fails() -> None:
    sites, why = find_sites(Reshaped().double(), torch.zeros(3, d, dtype=torch.float64))
    assert why == "" and [(s.name, s.from_input) for s in sites] == [("inp", True)]
    assert [c for c, _ in sites[0].consumers] == ["mu", "lv"]
    _, _, out = _path(Reshaped(), Enc(nn.ReLU()), _data())
    assert out.stopped == "" and len(out.k) == len(LEVELS), out.stopped


def test_an_identity_is_no_activation() -> None:
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(d, H), nn.Linear(H, 2 * D)

        def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mu, lv = self.b(nn.functional.dropout(self.a(t), 0.1, training=False)).chunk(2, -1)
            return mu, lv

    sites, why = find_sites(Plain().double(), torch.zeros(3, d, dtype=torch.float64))
    assert sites == [] and "no Linear layer whose activation" in why


class Branchy(nn.Module):
    """Control flow on a value (torch.fx and torch.export both refuse it): the sites come
    from forward hooks on one real call (module activations only)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, H), nn.Tanh())
        self.mu, self.lv = nn.Linear(H, D), nn.Linear(H, D)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(t)
        if float(h.abs().max()) > 2.0:  # never true for tanh: a data-dependent branch
            h = h / 2
        return self.mu(h), self.lv(h)


def test_sites_from_hooks_where_tracing_and_export_fail() -> None:
    sites, why = find_sites(Branchy().double(), torch.zeros(3, d, dtype=torch.float64))
    assert why == "" and [(s.name, s.from_input) for s in sites] == [("body.0", True)]
    _, _, out = _path(Branchy(), Enc(nn.Tanh()), _data())
    assert out.stopped == "" and len(out.k) == len(LEVELS), out.stopped


class DeepEnc(nn.Module):
    """Two hidden layers: the site's inputs are the first layer's ReLU features."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(D, H)
        self.body = nn.Sequential(nn.Linear(H, H), nn.ReLU())
        self.out = nn.Linear(H, 2 * d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, lv = self.out(self.body(torch.relu(self.first(x)))).chunk(2, dim=-1)
        return m, lv


def test_an_encoder_silenced_by_the_fit_is_revived_with_its_outputs_unchanged() -> None:
    x = _data()
    model = build_model(lambda: (OneHead("relu"), DeepEnc()), D, seed=1)
    initial = model.state()
    with torch.no_grad():  # what a fit that collapsed the encoder leaves: every row alike
        model.encoder.module.first.weight.zero_()  # (a constant, nonzero: it must be folded)
        model.encoder.module.first.bias.fill_(0.5)
        fitted = [t.clone() for t in model.encoder(x)]
    eps = draws(0, 2, x.shape[0], d)
    dead = construct(model, x, eps, seed=0)
    assert dead.k == [] and "can single out one row (its inputs are the same" in dead.stopped
    out = construct(model, x, eps, seed=0, revive=initial["encoder"])
    assert out.revived and out.stopped == "" and len(out.k) == len(LEVELS), out.stopped
    assert "silenced by the fit, back at their initial values" in out.rewired
    # every other row's encoder output at the built levels is the fitted one
    model.load(out.states[0])
    with torch.no_grad():
        now = model.encoder(x)
    others = [i for i in range(x.shape[0]) if i != out.row]
    for a, b in zip(now, fitted, strict=True):
        assert torch.allclose(a[others], b[others], rtol=1e-9, atol=1e-9)
