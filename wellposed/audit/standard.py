"""The standard set of family audits behind reports/families.md (deterministic for a seed).

Every built-in family on seeded data, every univariate ``torch.distributions`` family with a
scale-like parameter on representative data inside its support, and the vector-valued,
wrapped and parameter-dependent-support families of :mod:`wellposed.audit.structured`.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from torch.distributions import constraints

from wellposed.audit.family import TORCH_TO_ANALYTIC, FamilyAudit, audit_family
from wellposed.audit.search import torch_univariate_families
from wellposed.audit.structured import STRUCTURED

__all__ = ["report_family_audits"]


def report_family_audits(seed: int = 0) -> list[FamilyAudit]:
    """The standard set of audits behind reports/families.md (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    real = np.round(rng.normal(size=5), 6)
    pos = np.round(np.exp(rng.normal(size=5)), 6)
    unit = np.round(rng.uniform(0.05, 0.95, size=5), 6)
    binary = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    grid = np.round(rng.integers(0, 256, size=5) / 255.0, 6)
    specs: list[tuple[Any, np.ndarray, str, str]] = [
        ("normal", real, "any real data", "auto"),
        ("laplace", real, "any real data", "auto"),
        ("studentt", real, "any real data", "auto"),
        ("logistic", real, "any real data", "auto"),
        ("lognormal", pos, "x > 0", "auto"),
        ("gamma", pos, "x > 0 (interior)", "auto"),
        ("beta", unit, "x in (0, 1) (interior)", "auto"),
        ("vonmises", real, "any angle", "auto"),
        ("continuous_bernoulli", unit, "x in (0, 1)", "auto"),
        (
            "continuous_bernoulli",
            np.concatenate([unit[:3], [0.0, 1.0]]),
            "some x exactly 0 or 1",
            "auto",
        ),
        ("bernoulli", binary, "binary x", "auto"),
        ("bernoulli", unit, "fractional x in (0, 1) (BCE)", "auto"),
        ("discretized_gaussian", grid, "8-bit grid in [0, 1]", "auto"),
        ("discretized_logistic", grid, "8-bit grid in [0, 1]", "auto"),
        ("softclip_gaussian", real, "any real data", "auto"),
        ("studentt_floor", real, "any real data", "auto"),
        ("gaussian_nll_loss", real, "any real data (full=True)", "auto"),
        ("gaussian_nll_loss_default", real, "any real data (default full=False)", "auto"),
        ("global_logvar_gaussian", real, "mean fits exactly", "auto"),
    ]
    out = [audit_family(f, x, seed=seed, data_label=lab, method=m) for f, x, lab, m in specs]
    for name, cls in torch_univariate_families().items():
        if name in TORCH_TO_ANALYTIC:
            continue
        x, lab = _default_data(cls)
        out.append(
            audit_family(
                cls,
                x,
                seed=seed,
                data_label=lab,
                method="auto" if name in STRUCTURED else "numerical",
            )
        )
    rows = np.round(rng.normal(size=(3, 4)), 6)
    simplex = np.round(rng.dirichlet(np.ones(3), size=3), 6)
    simplex[:, -1] = 1.0 - simplex[:, :-1].sum(axis=1)
    for fam, x, lab in [
        ("MultivariateNormal", rows, "rows in R^4"),
        ("LowRankMultivariateNormal", rows, "rows in R^4"),
        ("Independent(Normal)", rows, "rows in R^4"),
        ("MixtureSameFamily(Normal)", rows[:, 0], "any real data"),
        ("Dirichlet", simplex, "rows in the open simplex (K = 3)"),
        ("RelaxedOneHotCategorical", simplex, "rows in the open simplex (K = 3)"),
        ("Categorical", np.array([0.0, 2.0]), "integers x in {0, 2}"),
        ("OneHotCategorical", np.eye(3), "one-hot rows (K = 3)"),
        ("Multinomial", np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]]), "count rows (N = 3)"),
        ("Uniform", real, "any real data"),
    ]:
        out.append(audit_family(fam, x, seed=seed, data_label=lab))
    return out


def _default_data(cls: type) -> tuple[np.ndarray, str]:
    """Representative observations inside the class's declared support."""
    special_cases = {
        "Binomial": (np.array([0.0, 3.0]), "integers x in {0, 3}"),
        "Pareto": (np.array([0.5, 2.0]), "x > 0 (support depends on scale)"),
        "GeneralizedPareto": (
            np.array([-1.3, 0.0, 2.5]),
            "any real data (support depends on the parameters)",
        ),
    }
    if cls.__name__ in special_cases:
        return special_cases[cls.__name__]
    sup = inspect.getattr_static(cls, "support", None)
    s = str(sup)
    if isinstance(sup, constraints._Boolean):
        return np.array([0.0, 1.0]), "x in {0, 1}"
    if "Integer" in s or not isinstance(sup, constraints.Constraint):
        if cls.__name__ in ("Pareto", "GeneralizedPareto"):
            return np.array([0.5, 2.0]), "x > 0 (support depends on parameters)"
        return np.array([0.0, 3.0]), "integers x in {0, 3}"
    if isinstance(sup, constraints._Interval):
        return np.array([0.3, 0.8]), "x in (0, 1) (interior)"
    if isinstance(sup, constraints._GreaterThanEq):
        return np.array([0.0, 0.5, 2.0]), "x in {0, 0.5, 2} (0 on the support boundary)"
    if isinstance(sup, constraints._GreaterThan):
        return np.array([0.5, 2.0]), "x > 0"
    return np.array([-1.3, 0.0, 2.5]), "any real data"
