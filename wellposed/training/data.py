"""Training data sets: scikit-learn's digits, synthetic sets with known answers, user arrays.

Every set is a :class:`TrainingData`: float64 observations ``x`` of shape ``(n, D)`` split
into a training and a held-out part by a seeded permutation (:func:`split`), and, for
quantised data, the number of grid steps ``levels`` (``x = k / levels`` with integer
``k`` in ``0..levels``), which the discrete objectives need.

* ``digits``: ``sklearn.datasets.load_digits`` (1797 images of 8 x 8 pixels, integer
  intensities 0..16), scaled to ``x = k / 16``; pixels that are 0 in every image are the
  data audit's constant coordinates (docs/claims.md, L6).
* ``manifold``: points on a 2-dimensional nonlinear manifold in R^16 (``x = tanh(A s + c)``,
  ``s ~ N(0, I_2)``): with latent size ``d >= 2`` a shared variance ``-> 0`` is the optimum
  (Dai & Wipf 2019; docs/claims.md, L5).
* ``constant``: 8 coordinates of a 2-D manifold plus one coordinate fixed at 0.5 (L6).
* ``quantised``: the manifold set in R^8 rounded to a grid of 8 steps (``levels = 8``).
* a user ``.npy`` array (``--data``), loaded and validated like ``wellposed audit-data``
  (:func:`wellposed.audit.data.load_data`).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import numpy as np

from wellposed.audit.data import AuditInputError, load_data, validate_data
from wellposed.errors import WellposedInputError

__all__ = [
    "BUILTIN_SETS",
    "DATA_SEED",
    "HELD_OUT_FRACTION",
    "TrainingData",
    "load_digits_data",
    "load_training_data",
    "split",
    "synthetic",
]

#: seed of the synthetic sets' generators and of every train / held-out split
DATA_SEED = 20180
#: fraction of the points held out (at least one point on each side)
HELD_OUT_FRACTION = 0.2
BUILTIN_SETS = ("digits", "manifold", "constant", "quantised")
_MAX_LEVELS = 255
_INSTALL_HINT = (
    "the digits data set needs scikit-learn: pip install 'wellposed[train]' "
    "(or pip install scikit-learn)"
)


@dataclass(frozen=True)
class TrainingData:
    """A data set split for training: ``train`` and ``held_out`` rows of ``(n, D)`` float64.

    ``levels``: grid steps of quantised data (``x = k / levels``, integer ``k``), else None;
    ``name`` names the set in reports; ``split_seed`` is the seed of the permutation.
    """

    name: str
    train: np.ndarray
    held_out: np.ndarray
    levels: int | None
    split_seed: int
    shape: tuple[int, int] = (0, 0)  # (rows of image, columns of image) when the set is images

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])

    @property
    def in_unit_interval(self) -> bool:
        """Every value in ``[0, 1]`` (needed by the Bernoulli objectives)."""
        both = np.concatenate([self.train, self.held_out])
        return bool(np.all((both >= 0.0) & (both <= 1.0)))


def split(
    x: np.ndarray, seed: int = DATA_SEED, fraction: float = HELD_OUT_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)``: a permutation drawn from ``default_rng(seed)``; the last
    ``max(1, round(fraction n))`` permuted rows are held out.  Needs at least 2 rows."""
    n = len(x)
    if n < 2:
        raise WellposedInputError(
            f"training needs at least 2 observations, got {n}; pass a larger data set"
        )
    held = min(n - 1, max(1, round(fraction * n)))
    perm = np.random.default_rng(seed).permutation(n)
    return x[perm[: n - held]].copy(), x[perm[n - held :]].copy()


def load_digits_data() -> np.ndarray:
    """The 1797 x 64 integer intensities (0..16) of ``sklearn.datasets.load_digits``.

    Raises :class:`WellposedInputError` (exit 2) naming ``pip install 'wellposed[train]'``
    when scikit-learn is not installed.
    """
    try:
        datasets = importlib.import_module("sklearn.datasets")
    except ImportError as exc:
        raise WellposedInputError(_INSTALL_HINT) from exc
    return np.asarray(datasets.load_digits().data, dtype=np.float64)


def synthetic(name: str, n: int = 1000, seed: int = DATA_SEED) -> tuple[np.ndarray, int | None]:
    """A synthetic set ``(x, levels)`` (see the module docstring); ``seed`` fixes it."""
    rng = np.random.default_rng([seed, BUILTIN_SETS.index(name)])
    if name == "manifold":
        return _manifold(rng, n, 16), None
    if name == "constant":
        x = _manifold(rng, n, 8)
        return np.concatenate([x, np.full((n, 1), 0.5)], axis=1), None
    if name == "quantised":
        levels = 8
        return np.round(_manifold(rng, n, 8) * levels) / levels, levels
    raise WellposedInputError(f"unknown synthetic set {name!r}; choose from {BUILTIN_SETS[1:]}")


def _manifold(rng: np.random.Generator, n: int, D: int) -> np.ndarray:
    """``x = (1 + tanh(A s + c)) / 2`` in ``(0, 1)^D``, ``s ~ N(0, I_2)``: a smooth 2-D
    manifold (rank D as a set, so linear PCA does not find it)."""
    A = rng.normal(size=(D, 2)) * 1.5
    c = rng.normal(size=D) * 0.5
    s = rng.normal(size=(n, 2))
    return 0.5 * (1.0 + np.tanh(s @ A.T + c + 0.3 * np.sin(2.0 * s @ A.T)))


def _integer_levels(x: np.ndarray) -> int | None:
    """``max(x)`` when every value is an integer in ``0..255`` (a quantised image-like set)."""
    if np.all(x == np.round(x)) and x.min() >= 0 and 0 < x.max() <= _MAX_LEVELS:
        return int(x.max())
    return None


def load_training_data(
    name: str | None = None, path: str | os.PathLike[str] | None = None, *, seed: int = DATA_SEED
) -> TrainingData:
    """The set ``name`` (one of :data:`BUILTIN_SETS`) or the ``.npy`` array at ``path``.

    A user array is validated like ``audit-data`` (2-D ``(n, D)``, finite, numeric; a 1-D
    array is one coordinate).  Integer arrays in ``0..255`` are treated as quantised with
    ``levels = max`` and scaled to ``[0, 1]``; anything else is used as it is.
    """
    if (name is None) == (path is None):
        raise WellposedInputError(
            "give exactly one of a built-in data set name "
            f"({', '.join(BUILTIN_SETS)}) or --data FILE.npy"
        )
    shape = (0, 0)
    if path is not None:
        try:
            x = load_data(path)
        except AuditInputError as exc:
            raise WellposedInputError(str(exc)) from exc
        x = x.reshape(len(x), -1)
        levels = _integer_levels(x)
        if levels is not None:
            x = x / levels
        label = os.path.basename(os.fspath(path))
    elif name == "digits":
        x, levels, label, shape = load_digits_data() / 16.0, 16, "digits", (8, 8)
    elif name in BUILTIN_SETS:
        x, levels = synthetic(name, seed=seed)
        label = name
    else:
        raise WellposedInputError(
            f"unknown data set {name!r}; choose from "
            f"{', '.join(BUILTIN_SETS)} or pass --data FILE.npy"
        )
    x = validate_data(x, name=label)
    train, held = split(x, seed)
    return TrainingData(label, train, held, levels, seed, shape)
