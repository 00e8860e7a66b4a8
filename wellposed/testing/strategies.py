"""Hypothesis strategies for data sets, parameterizations, schedules and targets.

Modelled on ``xarray.testing.strategies``: a small public surface, every strategy
documented, arguments validated up front.  Structure (sizes, kinds, policies,
magnitudes) is drawn with Hypothesis strategies so it shrinks well; bulk numbers (the
entries of a data set or a weight matrix) come from ``numpy.random.default_rng(seed)``
with a drawn ``seed``, as in scipy's ``stats/tests/test_continuous.py``.  Every value is
float64.

Data sets (``(n, D)`` float64 arrays; the notation of docs/claims.md):

* :func:`distinct_points`: ``n`` pairwise distinct rows (S1, L1, L2).
* :func:`with_duplicates`: at least one row repeated (S5, L3 counts ``n_u``).
* :func:`binary_data`: entries in ``{0, 1}`` (S5, L3, F4), duplicates allowed.
* :func:`constant_coordinate_data`: at least one column constant (L6, Heywood case).
* :func:`rank_deficient_data`: rows in an affine subspace of dimension ``rank`` (L5).
* :func:`datasets`: any of the real-valued kinds above.

Parameterizations: :func:`decoder_weights` (App. C.2 weight dicts for
``set_weights``, magnitudes up to ``10**max_log10_scale``), :func:`gaussian_decoders`,
:func:`bernoulli_decoders`, :func:`linear_decoders`, :func:`encoder_params`,
:func:`tabular_encoders`, :func:`variance_policies` (with their floors),
:func:`floored_policies`.  Schedules and targets: :func:`schedules` (increasing ``k``)
and :func:`targets` (a level ``M`` an unbounded objective must exceed).

Example::

    from hypothesis import given
    from wellposed.testing import strategies as wst

    @given(x=wst.distinct_points(), policy=wst.floored_policies())
    def test_something(x, policy): ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from wellposed.errors import WellposedInputError
from wellposed.models.networks import (
    BernoulliMLPDecoder,
    GaussianMLPDecoder,
    LinearGaussianDecoder,
    TabularEncoder,
)
from wellposed.models.variance import (
    Fixed,
    Floor,
    Learned,
    SharedScalar,
    SoftClip,
    ValueClamp,
    VariancePolicy,
)

__all__ = [
    "DATA_KINDS",
    "POLICY_KINDS",
    "bernoulli_decoders",
    "binary_data",
    "constant_coordinate_data",
    "datasets",
    "decoder_weights",
    "distinct_points",
    "encoder_params",
    "floored_policies",
    "gaussian_decoders",
    "linear_decoders",
    "rank_deficient_data",
    "schedules",
    "seeds",
    "tabular_encoders",
    "targets",
    "variance_policies",
    "with_duplicates",
]

DATA_KINDS = ("distinct", "duplicates", "constant_coordinate", "rank_deficient")
"""Real-valued data-set kinds :func:`datasets` can draw (binary data: :func:`binary_data`)."""

POLICY_KINDS = ("learned", "shared", "fixed", "floor", "softclip", "value_clamp")
"""Variance policies :func:`variance_policies` can draw (names as in
``wellposed.models.variance``)."""

_SEED_MAX = 2**32 - 1


# --------------------------------------------------------------------------- helpers


_INTEGERS_1_2 = st.integers(1, 2)
_INTEGERS_1_3 = st.integers(1, 3)
_INTEGERS_1_4 = st.integers(1, 4)
_INTEGERS_1_5 = st.integers(1, 5)
_INTEGERS_1_6 = st.integers(1, 6)
_INTEGERS_2_4 = st.integers(2, 4)
_INTEGERS_2_5 = st.integers(2, 5)
_INTEGERS_2_6 = st.integers(2, 6)
_INTEGERS_3_6 = st.integers(3, 6)


def _size(value: object, name: str, low: int) -> st.SearchStrategy[int]:
    """Accept a fixed int or a strategy of ints; validate fixed ints against ``low``."""
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise WellposedInputError(
            f"{name} must be an int >= {low} or a Hypothesis strategy, got {value!r}; "
            f"e.g. {name}={low} or {name}=st.integers({low}, {low + 3})"
        )
    return st.just(int(value))


def _check_range(lo: float, hi: float, name: str) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise WellposedInputError(f"{name}: need finite bounds lo <= hi, got ({lo!r}, {hi!r})")


def _distinct_rows(rng: np.random.Generator, n: int, D: int, scale: float) -> np.ndarray:
    """``n`` rows of ``N(0, scale^2 I_D)``, rounded to 6 decimals, redrawn until distinct."""
    while True:
        x = np.round(rng.normal(scale=scale, size=(n, D)), 6)
        if len(np.unique(x, axis=0)) == n:
            return x


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``numpy.random.default_rng`` / ``torch.Generator`` (``0 .. 2**32 - 1``)."""
    return st.integers(0, _SEED_MAX)


def _scales() -> st.SearchStrategy[float]:
    return st.sampled_from((0.1, 1.0, 3.0))


# --------------------------------------------------------------------------- data sets


@st.composite
def distinct_points(
    draw: st.DrawFn,
    n: int | st.SearchStrategy[int] = _INTEGERS_1_5,
    D: int | st.SearchStrategy[int] = _INTEGERS_1_3,
) -> np.ndarray:
    """``n`` pairwise distinct points in ``R^D`` (Gaussian entries, drawn scale)."""
    n_, D_ = draw(_size(n, "n", 1)), draw(_size(D, "D", 1))
    rng = np.random.default_rng(draw(seeds()))
    return _distinct_rows(rng, n_, D_, draw(_scales()))


@st.composite
def with_duplicates(
    draw: st.DrawFn,
    n: int | st.SearchStrategy[int] = _INTEGERS_2_6,
    D: int | st.SearchStrategy[int] = _INTEGERS_1_3,
) -> np.ndarray:
    """``n >= 2`` points, at least one of them repeated (``u`` distinct rows, ``u < n``)."""
    n_, D_ = max(draw(_size(n, "n", 2)), 2), draw(_size(D, "D", 1))
    u = draw(st.integers(1, n_ - 1))
    rng = np.random.default_rng(draw(seeds()))
    base = _distinct_rows(rng, u, D_, draw(_scales()))
    rows = np.concatenate([np.arange(u), rng.integers(0, u, size=n_ - u)])
    return np.asarray(base[rng.permutation(rows)])


@st.composite
def binary_data(
    draw: st.DrawFn,
    n: int | st.SearchStrategy[int] = _INTEGERS_1_6,
    D: int | st.SearchStrategy[int] = _INTEGERS_1_3,
    *,
    distinct: bool = False,
) -> np.ndarray:
    """``n`` rows in ``{0, 1}^D`` (float64); with ``distinct=True`` needs ``n <= 2^D``."""
    n_, D_ = draw(_size(n, "n", 1)), draw(_size(D, "D", 1))
    rng = np.random.default_rng(draw(seeds()))
    if distinct:
        if n_ > 2**D_:
            raise WellposedInputError(
                f"binary_data(distinct=True): {n_} distinct rows do not fit in {{0,1}}^{D_}; "
                "use a smaller n or a larger D"
            )
        codes = rng.choice(2**D_, size=n_, replace=False)
    else:
        p = draw(st.sampled_from((0.2, 0.5, 0.8)))
        return (rng.random((n_, D_)) < p).astype(np.float64)
    bits = (codes[:, None] >> np.arange(D_)[None, :]) & 1
    return bits.astype(np.float64)


@st.composite
def constant_coordinate_data(
    draw: st.DrawFn,
    n: int | st.SearchStrategy[int] = _INTEGERS_2_5,
    D: int | st.SearchStrategy[int] = _INTEGERS_1_3,
) -> np.ndarray:
    """Points with at least one constant column (L6): between 1 and ``D`` columns are set to
    one drawn value each, so the rows are distinct only when some column stays free (with
    ``D = 1``, or when every column is drawn constant, all rows are the same point).
    """
    n_, D_ = draw(_size(n, "n", 2)), draw(_size(D, "D", 1))
    rng = np.random.default_rng(draw(seeds()))
    x = _distinct_rows(rng, n_, D_, draw(_scales()))
    n_const = draw(st.integers(1, D_))
    cols = rng.choice(D_, size=n_const, replace=False)
    x[:, cols] = np.round(rng.normal(size=n_const), 6)
    return x


@st.composite
def rank_deficient_data(
    draw: st.DrawFn,
    n: int | st.SearchStrategy[int] = _INTEGERS_3_6,
    D: int | st.SearchStrategy[int] = _INTEGERS_2_4,
    rank: int | st.SearchStrategy[int] | None = None,
) -> np.ndarray:
    """Points ``c + A z_i`` in an affine subspace of dimension ``rank < D`` (L5).

    ``rank`` defaults to a drawn value in ``1 .. min(D, n) - 1``; ``rank = 0`` gives
    ``n`` copies of one point.
    """
    n_, D_ = max(draw(_size(n, "n", 2)), 2), max(draw(_size(D, "D", 2)), 2)
    r = draw(st.integers(1, min(D_, n_) - 1) if rank is None else _size(rank, "rank", 0))
    if r >= D_:
        raise WellposedInputError(f"rank_deficient_data needs rank < D={D_}, got rank={r}")
    rng = np.random.default_rng(draw(seeds()))
    centre = rng.normal(size=D_)
    basis = np.linalg.qr(rng.normal(size=(D_, D_)))[0][:, :r]
    coords = rng.normal(scale=draw(_scales()), size=(n_, r))
    return np.asarray(centre + coords @ basis.T)


def datasets(
    kinds: Sequence[str] = DATA_KINDS,
    n: int | st.SearchStrategy[int] | None = None,
    D: int | st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """Real-valued data sets of the given ``kinds`` (see :data:`DATA_KINDS`)."""
    makers = {
        "distinct": distinct_points,
        "duplicates": with_duplicates,
        "constant_coordinate": constant_coordinate_data,
        "rank_deficient": rank_deficient_data,
    }
    unknown = [k for k in kinds if k not in makers]
    if unknown or not kinds:
        raise WellposedInputError(f"datasets(kinds=...) takes a non-empty subset of {DATA_KINDS}")
    sizes = {}
    if n is not None:
        sizes["n"] = n
    if D is not None:
        sizes["D"] = D
    return st.one_of(*(makers[k](**sizes) for k in kinds))


# --------------------------------------------------------------------------- policies


def variance_policies(kinds: Sequence[str] = POLICY_KINDS) -> st.SearchStrategy[VariancePolicy]:
    """Variance policies of the given ``kinds`` with drawn floors / levels.

    Floors: ``Floor(xi)`` with ``xi in [1e-4, 1]``; ``SoftClip(m)`` with ``m in [-6, 0]``
    (``-6`` is sigma-VAE's value); ``Fixed(sigma2)`` with ``sigma2 in [1e-3, 10]``;
    ``ValueClamp(c)`` with ``c = log 1e-6`` or drawn in ``[-8, 0]``; ``SharedScalar(lv)``
    with ``lv in [-20, 5]``.
    """
    makers: dict[str, st.SearchStrategy[VariancePolicy]] = {
        "learned": st.just(Learned()),
        "shared": st.floats(-20.0, 5.0).map(SharedScalar),
        "fixed": st.floats(-3.0, 1.0).map(lambda e: Fixed(10.0**e)),
        "floor": st.floats(-4.0, 0.0).map(lambda e: Floor(10.0**e)),
        "softclip": st.one_of(st.just(-6.0), st.floats(-6.0, 0.0)).map(SoftClip),
        "value_clamp": st.one_of(st.just(math.log(1e-6)), st.floats(-8.0, 0.0)).map(ValueClamp),
    }
    unknown = [k for k in kinds if k not in makers]
    if unknown or not kinds:
        raise WellposedInputError(
            f"variance_policies(kinds=...) takes a non-empty subset of {POLICY_KINDS}"
        )
    return st.one_of(*(makers[k] for k in kinds))


def floored_policies() -> st.SearchStrategy[VariancePolicy]:
    """Policies whose ``log sigma^2`` really is ``>= log_var_floor`` in value and gradient.

    ``Floor``, ``SoftClip`` and ``Fixed`` (S2, S4, L2, F6).  ``ValueClamp`` is excluded:
    its value is floored but its gradient is not (F6).
    """
    return variance_policies(("floor", "softclip", "fixed"))


# --------------------------------------------------------------------------- weights


def _tensor_scales(max_log10_scale: float) -> st.SearchStrategy[float]:
    """A per-tensor scale ``10**e``, ``e in [-2, max]``, with the extremes drawn often."""
    return st.one_of(
        st.sampled_from((0.0, 10.0**max_log10_scale)),
        st.floats(-2.0, max_log10_scale).map(lambda e: 10.0**e),
    )


@st.composite
def decoder_weights(
    draw: st.DrawFn,
    latent_dim: int,
    hidden: int,
    data_dim: int,
    *,
    family: str = "gaussian",
    max_log10_scale: float = 3.0,
) -> dict[str, np.ndarray]:
    """App. C.2 weights ``W3, b3, W4, b4`` (and ``W5, b5`` for ``family="gaussian"``).

    Each tensor is ``scale * N(0, 1)`` entries from a drawn seed, with its own drawn
    scale in ``{0} U [1e-2, 10**max_log10_scale]`` (extremes drawn often), so a raw
    variance head ``W5 h + b5`` reaches ``|log sigma^2| ~ 10**max_log10_scale``.
    Pass the dict to ``decoder.set_weights(**weights)``.
    """
    for name, v in (("latent_dim", latent_dim), ("hidden", hidden), ("data_dim", data_dim)):
        _size(v, name, 1)
    if family not in {"gaussian", "bernoulli"}:
        raise WellposedInputError(f"family must be 'gaussian' or 'bernoulli', got {family!r}")
    _check_range(-2.0, max_log10_scale, "max_log10_scale")
    shapes = {
        "W3": (hidden, latent_dim),
        "b3": (hidden,),
        "W4": (data_dim, hidden),
        "b4": (data_dim,),
    }
    if family == "gaussian":
        shapes |= {"W5": (data_dim, hidden), "b5": (data_dim,)}
    rng = np.random.default_rng(draw(seeds()))
    scales = {name: draw(_tensor_scales(max_log10_scale)) for name in shapes}
    return {name: scales[name] * rng.normal(size=shape) for name, shape in shapes.items()}


@st.composite
def gaussian_decoders(
    draw: st.DrawFn,
    data_dim: int,
    latent_dim: int | st.SearchStrategy[int] = _INTEGERS_1_2,
    hidden: int | st.SearchStrategy[int] = _INTEGERS_1_4,
    variance: st.SearchStrategy[VariancePolicy] | None = None,
    *,
    max_log10_scale: float = 3.0,
) -> GaussianMLPDecoder:
    """A :class:`GaussianMLPDecoder` with drawn weights (:func:`decoder_weights`) and policy."""
    d, H = draw(_size(latent_dim, "latent_dim", 1)), draw(_size(hidden, "hidden", 1))
    policy = draw(variance if variance is not None else variance_policies())
    dec = GaussianMLPDecoder(d, H, int(data_dim), policy)
    return dec.set_weights(
        **draw(decoder_weights(d, H, int(data_dim), max_log10_scale=max_log10_scale))
    )


@st.composite
def bernoulli_decoders(
    draw: st.DrawFn,
    data_dim: int,
    latent_dim: int | st.SearchStrategy[int] = _INTEGERS_1_2,
    hidden: int | st.SearchStrategy[int] = _INTEGERS_1_4,
    *,
    max_log10_scale: float = 3.0,
) -> BernoulliMLPDecoder:
    """A :class:`BernoulliMLPDecoder` (App. C.1) with drawn weights."""
    d, H = draw(_size(latent_dim, "latent_dim", 1)), draw(_size(hidden, "hidden", 1))
    dec = BernoulliMLPDecoder(d, H, int(data_dim))
    weights = decoder_weights(
        d, H, int(data_dim), family="bernoulli", max_log10_scale=max_log10_scale
    )
    return dec.set_weights(**draw(weights))


@st.composite
def linear_decoders(
    draw: st.DrawFn,
    data_dim: int,
    latent_dim: int | st.SearchStrategy[int] = 1,
    *,
    log_var: tuple[float, float] = (-3.0, 2.0),
    per_coordinate: bool | None = None,
) -> LinearGaussianDecoder:
    """A :class:`LinearGaussianDecoder` ``N(W t + b, diag e^log_var)`` with drawn parameters.

    ``log_var`` bounds the (scalar or per-coordinate, drawn unless ``per_coordinate``
    is given) log-variance.
    """
    _check_range(*log_var, "log_var")
    d = draw(_size(latent_dim, "latent_dim", 1))
    D = int(data_dim)
    rng = np.random.default_rng(draw(seeds()))
    W = draw(_scales()) * rng.normal(size=(D, d))
    b = rng.normal(size=D)
    per = draw(st.booleans()) if per_coordinate is None else per_coordinate
    lv = rng.uniform(*log_var, size=D if per else None)
    return LinearGaussianDecoder(W, b, lv)


@st.composite
def encoder_params(
    draw: st.DrawFn,
    n: int,
    latent_dim: int,
    *,
    max_abs_mean: float = 3.0,
    log_var: tuple[float, float] = (-8.0, 2.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Per-point variational parameters ``(m, log s^2)``, each ``(n, latent_dim)``.

    Means are ``N(0, 1)`` clipped to ``[-max_abs_mean, max_abs_mean]``; log-variances uniform in
    ``log_var``, or all equal to an end point (narrow / wide encoders) when drawn so.
    """
    _size(n, "n", 1)
    _size(latent_dim, "latent_dim", 1)
    _check_range(*log_var, "log_var")
    rng = np.random.default_rng(draw(seeds()))
    mean = np.clip(rng.normal(size=(n, latent_dim)), -max_abs_mean, max_abs_mean)
    how = draw(st.sampled_from(("uniform", "low", "high")))
    if how == "uniform":
        lv = rng.uniform(*log_var, size=(n, latent_dim))
    else:
        lv = np.full((n, latent_dim), log_var[0] if how == "low" else log_var[1])
    return mean, lv


@st.composite
def tabular_encoders(
    draw: st.DrawFn,
    n: int,
    latent_dim: int,
    *,
    max_abs_mean: float = 3.0,
    log_var: tuple[float, float] = (-8.0, 2.0),
) -> TabularEncoder:
    """A :class:`TabularEncoder` built from :func:`encoder_params`."""
    return TabularEncoder(
        *draw(encoder_params(n, latent_dim, max_abs_mean=max_abs_mean, log_var=log_var))
    )


# --------------------------------------------------------------------------- schedules


def schedules(
    min_k: float = 1.0, max_k: float = 200.0, length: int | st.SearchStrategy[int] = 4
) -> st.SearchStrategy[list[float]]:
    """Strictly increasing schedules ``k_1 < ... < k_L`` of steepness / precision in
    ``[min_k, max_k]``."""
    _check_range(min_k, max_k, "schedules(min_k, max_k)")
    if min_k <= 0:
        raise WellposedInputError(f"schedules need min_k > 0, got {min_k!r}")
    lengths = _size(length, "length", 2)
    return lengths.flatmap(
        lambda L: st.lists(st.floats(min_k, max_k), min_size=L, max_size=L, unique=True).map(sorted)
    ).filter(lambda ks: all(b > a * (1 + 1e-9) for a, b in zip(ks, ks[1:], strict=False)))


def targets(max_target: float = 1e6) -> st.SearchStrategy[float]:
    """Target levels ``M`` in ``[-10, max_target]`` (log-uniform above 1, ends included)."""
    if not (math.isfinite(max_target) and max_target >= 1.0):
        raise WellposedInputError(f"targets needs a finite max_target >= 1, got {max_target!r}")
    top = math.log10(max_target)
    return st.one_of(
        st.sampled_from((0.0, float(max_target))),
        st.floats(-10.0, 1.0),
        st.floats(0.0, top).map(lambda e: 10.0**e),
    )
