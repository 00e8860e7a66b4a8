"""``wellposed.testing.strategies`` produces what each strategy's docstring promises."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wellposed import WellposedInputError
from wellposed.models.networks import BernoulliMLPDecoder, GaussianMLPDecoder, TabularEncoder
from wellposed.models.variance import Fixed, Floor, SoftClip, ValueClamp, VariancePolicy
from wellposed.testing import strategies as wst

FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FAST
@given(x=wst.distinct_points())
def test_distinct_points(x: np.ndarray) -> None:
    assert x.dtype == np.float64
    assert x.ndim == 2
    assert 1 <= x.shape[0] <= 5
    assert 1 <= x.shape[1] <= 3
    assert len(np.unique(x, axis=0)) == x.shape[0]


@FAST
@given(x=wst.with_duplicates())
def test_with_duplicates(x: np.ndarray) -> None:
    assert x.shape[0] >= 2
    assert len(np.unique(x, axis=0)) < x.shape[0]


@FAST
@given(x=wst.binary_data(), y=wst.binary_data(n=4, D=3, distinct=True))
def test_binary_data(x: np.ndarray, y: np.ndarray) -> None:
    assert np.isin(x, (0.0, 1.0)).all()
    assert x.dtype == np.float64
    assert y.shape == (4, 3)
    assert len(np.unique(y, axis=0)) == 4


@FAST
@given(x=wst.constant_coordinate_data())
def test_constant_coordinate_data(x: np.ndarray) -> None:
    assert np.any(np.ptp(x, axis=0) == 0.0)


@FAST
@given(x=wst.rank_deficient_data(), r=st.integers(1, 2))
def test_rank_deficient_data(x: np.ndarray, r: int) -> None:
    n, D = x.shape
    centred = x - x.mean(axis=0)
    rank = np.linalg.matrix_rank(centred, tol=1e-8 * max(1.0, np.abs(centred).max()))
    assert rank < D
    assert rank <= n - 1


@FAST
@given(x=wst.rank_deficient_data(n=5, D=4, rank=2))
def test_rank_deficient_data_fixed_rank(x: np.ndarray) -> None:
    centred = x - x.mean(axis=0)
    assert np.linalg.matrix_rank(centred, tol=1e-8 * max(1.0, np.abs(centred).max())) <= 2


@FAST
@given(x=wst.datasets(kinds=("duplicates",), n=st.just(3), D=st.just(2)))
def test_datasets_forwards_sizes(x: np.ndarray) -> None:
    assert x.shape == (3, 2)


@FAST
@given(policy=wst.variance_policies())
def test_variance_policies_have_floors_where_documented(policy: VariancePolicy) -> None:
    raw = torch.linspace(-50.0, 50.0, 101, dtype=torch.float64)
    out = policy(raw)
    assert torch.isfinite(out).all()
    floor = policy.log_var_floor
    if floor is not None:
        assert float(out.min()) >= floor - 1e-12


@FAST
@given(policy=wst.floored_policies())
def test_floored_policies(policy: VariancePolicy) -> None:
    assert isinstance(policy, (Floor, SoftClip, Fixed))
    assert not isinstance(policy, ValueClamp)
    assert math.isfinite(policy.log_var_floor)


@FAST
@given(w=wst.decoder_weights(2, 3, 4, max_log10_scale=4.0))
def test_decoder_weights_shapes_and_magnitudes(w: dict[str, np.ndarray]) -> None:
    assert {k: v.shape for k, v in w.items()} == {
        "W3": (3, 2),
        "b3": (3,),
        "W4": (4, 3),
        "b4": (4,),
        "W5": (4, 3),
        "b5": (4,),
    }
    assert all(np.isfinite(v).all() and np.abs(v).max(initial=0) < 1e4 * 10 for v in w.values())


def test_decoder_weights_reach_extreme_magnitudes() -> None:
    seen: list[float] = []

    @settings(FAST, max_examples=60)
    @given(w=wst.decoder_weights(1, 2, 2, max_log10_scale=3.0))
    def collect(w: dict[str, np.ndarray]) -> None:
        seen.append(max(float(np.abs(v).max()) for v in w.values()))

    collect()
    assert max(seen) > 300.0


@FAST
@given(dec=wst.gaussian_decoders(3), bern=wst.bernoulli_decoders(2))
def test_decoders_are_usable(dec: GaussianMLPDecoder, bern: BernoulliMLPDecoder) -> None:
    t = torch.zeros(4, dec.latent_dim, dtype=torch.float64)
    mean, log_var = dec(t)
    assert mean.shape == (4, 3)
    assert torch.isfinite(mean).all()
    assert torch.isfinite(log_var).all()
    assert bern(torch.zeros(2, bern.latent_dim, dtype=torch.float64)).shape == (2, 2)


@FAST
@given(enc=wst.tabular_encoders(3, 2, log_var=(-4.0, 1.0)))
def test_tabular_encoders(enc: TabularEncoder) -> None:
    m, lv = enc(torch.zeros(3, 1))
    lv = lv.detach()
    assert m.shape == (3, 2)
    assert float(lv.min()) >= -4.0
    assert float(lv.max()) <= 1.0


@FAST
@given(dec=wst.linear_decoders(3, 2, log_var=(-1.0, 0.5)))
def test_linear_decoders(dec) -> None:
    lv = dec.log_var_vector.detach()
    assert dec.W.shape == (3, 2)
    assert float(lv.min()) >= -1.0
    assert float(lv.max()) <= 0.5


@FAST
@given(ks=wst.schedules(2.0, 50.0, length=st.integers(2, 5)), M=wst.targets(1e6))
def test_schedules_and_targets(ks: list[float], M: float) -> None:
    assert 2 <= len(ks) <= 5
    assert all(2.0 <= k <= 50.0 for k in ks)
    assert all(b > a for a, b in zip(ks, ks[1:], strict=False))
    assert -10.0 <= M <= 1e6


def _draw_once(strategy: st.SearchStrategy) -> None:
    @settings(max_examples=1, database=None, derandomize=True)
    @given(strategy)
    def run(_value: object) -> None:
        pass

    run()


@pytest.mark.parametrize(
    "make",
    [
        lambda: _draw_once(wst.distinct_points(n=0)),
        lambda: _draw_once(wst.binary_data(n=5, D=2, distinct=True)),
        lambda: _draw_once(wst.rank_deficient_data(n=4, D=2, rank=2)),
        lambda: _draw_once(wst.decoder_weights(1, 1, 1, family="poisson")),
        lambda: wst.datasets(kinds=("nope",)),
        lambda: wst.variance_policies(("nope",)),
        lambda: wst.schedules(0.0, 1.0),
        lambda: wst.targets(float("inf")),
    ],
)
def test_bad_arguments_name_the_fix(make) -> None:
    with pytest.raises(WellposedInputError):
        make()
