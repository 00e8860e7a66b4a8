"""Variance policies at extreme raw head outputs, against 50-digit mpmath references."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from wellposed.errors import WellposedInputError
from wellposed.models.variance import (
    Fixed,
    Floor,
    Learned,
    SharedScalar,
    SoftClip,
    ValueClamp,
    VariancePolicy,
    log_softplus,
    softplus,
)

T = torch.float64
RAW = [
    -1e300,
    -2e4,
    -1e3,
    -60.0,
    -30.5,
    -30.0,
    -29.5,
    -1.0,
    0.0,
    1.0,
    19.9,
    20.1,
    700.0,
    2e4,
    1e300,
]
mpmath.mp.dps = 50


def _raw() -> torch.Tensor:
    return torch.tensor(RAW, dtype=T)


def _mp_log_softplus(r: float) -> mpmath.mpf:
    return mpmath.log(mpmath.log1p(mpmath.exp(mpmath.mpf(r))))


def _assert_close_mp(got: torch.Tensor, want: list[mpmath.mpf], rtol: float) -> None:
    for g, w, r in zip(got.tolist(), want, RAW, strict=True):
        assert math.isfinite(g), f"raw={r}: got {g}"
        assert abs(g - float(w)) <= rtol * abs(float(w)) + 1e-300, f"raw={r}: {g} vs {w}"


def test_log_softplus_matches_mpmath_across_the_switch_at_minus_30() -> None:
    _assert_close_mp(log_softplus(_raw()), [_mp_log_softplus(r) for r in RAW], 1e-12)


def test_softplus_has_full_precision_above_torchs_threshold() -> None:
    want = [mpmath.log1p(mpmath.exp(mpmath.mpf(r))) for r in RAW]
    got = softplus(_raw())
    for g, w, r in zip(got.tolist(), want, RAW, strict=True):
        assert g == pytest.approx(float(w), rel=1e-14, abs=1e-320), f"raw={r}"


def test_softplus_gradient_is_the_sigmoid() -> None:
    raw = torch.tensor([-2e4, -40.0, 0.0, 40.0, 2e4], dtype=T, requires_grad=True)
    softplus(raw).sum().backward()
    np.testing.assert_allclose(raw.grad.numpy(), torch.sigmoid(raw.detach()).numpy(), rtol=1e-14)


def test_learned_is_the_identity_with_no_floor() -> None:
    raw = _raw()
    assert torch.equal(Learned()(raw), raw)
    assert Learned().log_var_floor is None


@pytest.mark.parametrize("xi", [1e-300, 1e-8, 1e-3, 1.0, 1e3])
def test_floor_never_goes_below_xi_and_matches_mpmath(xi: float) -> None:
    out = Floor(xi)(_raw())
    assert (out >= math.log(xi)).all(), "sigma^2 = xi + softplus(r) must be >= xi"
    assert Floor(xi).log_var_floor == math.log(xi)
    want = [mpmath.log(mpmath.mpf(xi) + mpmath.log1p(mpmath.exp(mpmath.mpf(r)))) for r in RAW]
    _assert_close_mp(out, want, 1e-12)


def test_floor_reaches_xi_for_very_negative_raw() -> None:
    out = Floor(1e-3)(torch.tensor([-2e4, -1e300], dtype=T))
    assert torch.equal(out, torch.full((2,), math.log(1e-3), dtype=T))


def test_softclip_floor_is_e_minus_12_and_matches_mpmath() -> None:
    policy = SoftClip()
    out = policy(_raw())
    assert policy.log_var_floor == -12.0
    assert (out >= -12.0).all()
    assert float(out[0]) == -12.0  # raw = -1e300: sigma^2 = e^{-12} exactly
    m = mpmath.mpf(-6)
    want = [2 * (m + mpmath.log1p(mpmath.exp(mpmath.mpf(r) / 2 - m))) for r in RAW]
    _assert_close_mp(out, want, 1e-12)


@pytest.mark.parametrize("sigma2", [1e-300, 1e-6, 1.0, 1e300])
def test_fixed_ignores_the_head(sigma2: float) -> None:
    out = Fixed(sigma2)(_raw())
    assert torch.equal(out, torch.full((len(RAW),), math.log(sigma2), dtype=T))
    assert Fixed(sigma2).log_var_floor == math.log(sigma2)
    assert not Fixed(sigma2).uses_head


@pytest.mark.parametrize("lv", [-2e4, 0.0, 2e4])
def test_shared_scalar_is_constant_and_unfloored(lv: float) -> None:
    out = SharedScalar(lv)(_raw())
    assert torch.equal(out, torch.full((len(RAW),), lv, dtype=T))
    assert SharedScalar(lv).log_var_floor is None


def test_value_clamp_value_is_exactly_max_and_gradient_passes_through() -> None:
    c = math.log(1e-6)
    raw = _raw().requires_grad_(True)
    out = ValueClamp(c)(raw)
    expected = torch.clamp(torch.tensor(RAW, dtype=T), min=c)
    assert torch.equal(out.detach(), expected)  # also at raw = -1e300
    out.sum().backward()
    assert torch.equal(raw.grad, torch.ones(len(RAW), dtype=T))
    assert ValueClamp(c).log_var_floor == c


POLICIES: list[VariancePolicy] = [
    Learned(),
    SharedScalar(-3.0),
    Fixed(0.5),
    Floor(1e-3),
    SoftClip(),
    ValueClamp(),
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_policy_is_finite_with_finite_gradients_at_extremes(policy: VariancePolicy) -> None:
    raw = torch.tensor([-2e4, -1e3, 0.0, 1e3, 2e4], dtype=T, requires_grad=True)
    out = policy(raw)
    assert out.dtype == T
    assert out.shape == raw.shape
    assert torch.isfinite(out).all()
    if policy.uses_head:
        out.sum().backward()
        assert torch.isfinite(raw.grad).all()
    floor = policy.log_var_floor
    if floor is not None:
        assert (out.detach() >= floor).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Floor(0.0),
        lambda: Floor(-1e-3),
        lambda: Floor(math.nan),
        lambda: Floor(math.inf),
        lambda: Fixed(0.0),
        lambda: Fixed(-1.0),
    ],
    ids=["floor0", "floor-neg", "floor-nan", "floor-inf", "fixed0", "fixed-neg"],
)
def test_non_positive_floor_or_variance_is_rejected_with_a_fix(make: object) -> None:
    with pytest.raises(WellposedInputError, match=r"(> 0|finite).*e\.g\."):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SharedScalar(math.inf),
        lambda: SoftClip(math.nan),
        lambda: ValueClamp(-math.inf),
        lambda: Floor("small"),
    ],
    ids=["shared-inf", "softclip-nan", "clamp-inf", "floor-str"],
)
def test_non_finite_policy_parameters_are_rejected(make: object) -> None:
    with pytest.raises(WellposedInputError, match=r"e\.g\."):
        make()  # type: ignore[operator]


def test_policies_keep_numpy_free_float64() -> None:
    raw = torch.tensor(np.linspace(-5, 5, 7), dtype=T)
    for policy in POLICIES:
        assert policy(raw).dtype == T


@pytest.mark.parametrize(
    "policy",
    [Learned(), SharedScalar(-3.0), Fixed(0.5), Floor(1e-3), SoftClip(-6.0), ValueClamp(-4.0)],
    ids=lambda p: p.name,
)
@pytest.mark.parametrize("raw", [-800.0, -40.0, -3.0, 0.0, 2.5, 60.0])
def test_numpy_map_is_the_torch_map(policy, raw):
    """The exact line reads log sigma^2 = policy.log_var_of(raw); it must be the network's."""
    want = float(policy(torch.full((1,), raw, dtype=torch.float64))[0])
    assert policy.log_var_of(raw) == pytest.approx(want, rel=1e-13, abs=1e-300)
