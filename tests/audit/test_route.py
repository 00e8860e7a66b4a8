"""The route through convolution stacks, on conv decoders written in plain torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributions as tdist
from torch import nn

from wellposed.audit.construct import LEVELS, construct
from wellposed.audit.route import _taps_1d, plan_route
from wellposed.audit.usermodel import build_model, draws, evaluate, loc_log_scale

d, SIDE = 2, 8
D = SIDE * SIDE


class ConvDec(nn.Module):
    """``t -> Linear -> ReLU -> Linear -> (C, 2, 2) -> [ConvT(4, 2, 1) -> act] x 2 -> (mean,
    log-var)`` on 8x8 images, the last layer a transposed or a same-padded convolution;
    ``floor``: the log-variance clamped below (a floor: no route may fake a spike)."""

    def __init__(
        self, c0: int = 24, last: str = "convT", act: type[nn.Module] = nn.ReLU, floor=None
    ) -> None:
        super().__init__()
        self.c0, self.floor = c0, floor
        self.dense = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, c0 * 2 * 2), act())
        if last in ("convT", "batchnorm"):
            norm = nn.BatchNorm2d(8) if last == "batchnorm" else nn.Identity()
            if isinstance(norm, nn.BatchNorm2d):  # trained statistics, not the identity
                gen = torch.Generator().manual_seed(0)
                with torch.no_grad():
                    norm.running_mean.copy_(1.0 + torch.rand(8, generator=gen))
                    norm.running_var.copy_(0.5 + torch.rand(8, generator=gen))
                    norm.bias.copy_(-0.5 * torch.rand(8, generator=gen))
            self.up = nn.Sequential(
                nn.ConvTranspose2d(c0, 8, 4, 2, 1), norm, act(), nn.ConvTranspose2d(8, 2, 4, 2, 1)
            )
        elif last == "conv":
            self.up = nn.Sequential(
                nn.ConvTranspose2d(c0, 8, 4, 2, 1),
                act(),
                nn.ConvTranspose2d(8, 8, 4, 2, 1),
                act(),
                nn.Conv2d(8, 2, 3, padding=1),
            )
        else:  # nearest upsampling: no tap set is one to one
            self.up = nn.Sequential(nn.Upsample(scale_factor=4), nn.Conv2d(c0, 2, 3, padding=1))

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        lead = t.shape[:-1]
        h = self.dense(t.reshape(-1, d)).reshape(-1, self.c0, 2, 2)
        out = self.up(h).reshape(*lead, 2, D)
        lv = out[..., 1, :] if self.floor is None else out[..., 1, :].clamp(min=self.floor)
        return tdist.Independent(tdist.Normal(out[..., 0, :], torch.exp(0.5 * lv)), 1)


class FcConvDec(nn.Module):
    """The most common conv decoder: one ``Linear`` from the latent to the map, then the
    transposed convolutions (``act``: the activation after the ``Linear``, or none)."""

    def __init__(self, act: type[nn.Module] | None = nn.ReLU, c0: int = 40) -> None:
        super().__init__()
        self.c0 = c0
        self.fc = nn.Linear(d, c0 * 2 * 2)
        self.act = act() if act is not None else nn.Identity()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(c0, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 2, 4, 2, 1)
        )

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        lead = t.shape[:-1]
        h = self.act(self.fc(t.reshape(-1, d))).view(-1, self.c0, 2, 2)
        out = self.up(h).reshape(*lead, 2, D)
        return tdist.Independent(tdist.Normal(out[..., 0, :], torch.exp(0.5 * out[..., 1, :])), 1)


class Heads(nn.Module):
    """No convolution: a ReLU layer and one Linear head for both halves (the detector is a
    pair of units, saturating past the row)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.head = nn.Linear(d, 24), nn.Linear(24, 2 * D)

    def forward(self, t: torch.Tensor) -> tdist.Distribution:
        mu, lv = self.head(torch.relu(self.inp(t))).chunk(2, dim=-1)
        return tdist.Independent(tdist.Normal(mu, torch.exp(0.5 * lv)), 1)


class Enc(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(D, 24), nn.Linear(24, 2 * d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, lv = self.b(torch.relu(self.a(x))).chunk(2, -1)
        return m, lv


def _cloud() -> torch.Tensor:
    return torch.randn(30, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _data(n: int = 12) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(0).uniform(0.05, 0.95, size=(n, D)))


@pytest.mark.parametrize(
    ("conv", "n_in", "n_out", "taps"),
    [
        (nn.ConvTranspose2d(1, 1, 4, 2, 1), 7, 14, [1, 2]),
        (nn.ConvTranspose2d(1, 1, 2, 2, 0), 7, 14, [0, 1]),
        (nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1), 7, 14, [1, 2]),
        (nn.Conv2d(1, 1, 3, padding=1), 14, 14, [1]),
        (nn.Conv2d(1, 1, 5, padding=2), 14, 14, [2]),
        (nn.Conv2d(1, 1, 3, padding=0), 14, 12, [0]),
        (nn.ConvTranspose2d(1, 1, 4, 3, 1), 7, 20, [0, 1, 2]),
        (nn.ConvTranspose2d(1, 1, 1, 2, 0), 7, 13, None),  # odd outputs read nothing
    ],
)
def test_taps_partition_the_output_grid(conv, n_in: int, n_out: int, taps) -> None:
    assert _taps_1d(conv, 0, n_in, n_out) == taps


@pytest.mark.parametrize("last", ["convT", "conv"])
def test_route_maps_each_unit_to_one_pixel(last: str) -> None:
    dec = ConvDec(last=last).double()
    probe = torch.randn(1, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    route, why = plan_route(dec, dec.dense[2], probe, _cloud())
    assert route is not None, why
    assert sorted(route.pixel.tolist()) == list(range(D))
    assert sorted(int(p) for b in route.blocks for p in b) == list(range(D))
    assert "pixel shuffle" in route.rewired
    # the wiring is real: a unit's column entry moves its pixel's location by that much
    unit, pixel = int(route.free[5]), int(route.pixel[5])
    with torch.no_grad():
        before = dec(probe).base_dist.loc.reshape(-1)
        dec.dense[2].bias[unit] += 0.25
        after = dec(probe).base_dist.loc.reshape(-1)
    moved = torch.nonzero(after != before).flatten().tolist()
    assert moved == [pixel] and float(after[pixel] - before[pixel]) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("dec", "why"),
    [
        (ConvDec(c0=6), "too few channels"),
        (ConvDec(last="upsample"), "Upsample"),
    ],
    ids=["few-channels", "upsample"],
)
def test_route_declines_with_a_reason(dec: nn.Module, why: str) -> None:
    dec = dec.double()
    route, reason = plan_route(dec, dec.dense[2], torch.zeros(1, d, dtype=torch.float64), _cloud())
    assert route is None and why in reason


def _construct(dec: nn.Module, x: torch.Tensor):
    model = build_model(lambda: (dec, Enc()), D, seed=1)
    return model, construct(model, x, draws(0, 2, x.shape[0], d), seed=0)


@pytest.mark.parametrize(
    ("act", "last"),
    [(nn.ReLU, "convT"), (nn.ELU, "convT"), (nn.LeakyReLU, "conv"), (nn.ReLU, "batchnorm")],
    ids=["relu", "elu", "leaky-conv2d", "batchnorm"],
)
def test_conv_path_rises_at_the_rows_rate(act: type[nn.Module], last: str) -> None:
    x = _data()
    model, out = _construct(ConvDec(act=act, last=last), x)
    assert out.stopped == "" and len(out.k) == len(LEVELS), out.stopped
    assert "pixel shuffle" in out.rewired
    slope = np.polyfit(out.k, out.value, 1)[0]
    assert 0.9 * (D - d) / 2 < slope < 1.1 * (D - d) / 2  # (D - d) / 2 per unit k
    fresh = []
    for state in (out.states[0], out.states[-1]):
        model.load(state)
        fresh.append(evaluate(model, x, samples=256, seed=99))
    (low, se_low), (top, se_top) = fresh
    assert top - 4 * se_top > low + 4 * se_low + 0.9 * (D - d) / 2 * (LEVELS[-1] - LEVELS[0])


def test_a_floored_conv_decoder_gets_no_path() -> None:
    _, out = _construct(ConvDec(floor=-3.0), _data())
    assert out.k == [] and "cannot reconstruct row" in out.stopped


def test_a_linear_reading_the_latent_is_its_own_detector() -> None:
    x = _data()
    model, out = _construct(FcConvDec(), x)
    assert len(out.k) >= len(LEVELS) - 2, out.stopped  # float64 may end it a level or two early
    assert out.stopped == "" or "float64 cannot place the location" in out.stopped
    assert "by the decoder's fc; the convolutions after fc: a pixel shuffle of 32" in out.rewired
    slope = np.polyfit(out.k, out.value, 1)[0]
    assert 0.9 * (D - d) / 2 < slope < 1.1 * (D - d) / 2


@pytest.mark.parametrize("act", [nn.LeakyReLU, None], ids=["leaky-relu", "no-activation"])
def test_a_latent_linear_that_cannot_switch_off_is_declined(act) -> None:
    _, out = _construct(FcConvDec(act=act), _data())
    assert out.k == [] and "does not switch its units off" in out.stopped


@pytest.mark.parametrize(
    "dec", [FcConvDec, ConvDec, Heads], ids=["latent-linear", "dense-trunk", "heads"]
)
def test_the_scale_route_saturates_past_the_row(dec: type[nn.Module]) -> None:
    """The exact objective, not only the recorded draws: past ``m*`` the routed log-scales
    stay at their level (a ReLU detector alone would keep lowering them, and the other rows'
    Gaussian tails beyond the half-space would then cost without bound)."""
    x = _data()
    model, out = _construct(dec(), x)
    assert out.k, out.stopped
    model.load(out.states[-1])
    with torch.no_grad():
        m = model.encoder(x[out.row : out.row + 1])[0]
        far = [m + step * (m / m.norm()) for step in (0.0, 0.5, 5.0)]
        lows = [float(loc_log_scale(model.decoder.module(t))[1].min()) for t in far]
    assert lows[0] < -20 and max(lows) - min(lows) < 10.0, lows  # unsaturated: ~500
