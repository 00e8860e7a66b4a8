"""Family and data audits: is sup over parameters of log p(x | params) finite, and which data
features make common objectives unbounded?

The public names below load their module on first use (PEP 562), so that the CLI can list
the built-in families (:mod:`wellposed.audit.analytic`, no torch) without importing torch.

* :mod:`wellposed.audit.analytic`: closed-form per-observation suprema per family;
* :mod:`wellposed.audit.search`: the numerical search over ``torch.distributions`` parameters;
* :mod:`wellposed.audit.probes`: what torch's own ``log_prob`` does at extreme parameters;
* :mod:`wellposed.audit.densities`: the log densities and witness sequences, in log space;
* :mod:`wellposed.audit.structured`: vector/matrix parameters, parameter-dependent supports
  and saturating implementations, decided along witnesses in log space;
* :mod:`wellposed.audit.family`: :func:`audit_family`, combining per-observation verdicts;
* :mod:`wellposed.audit.standard`: the audits behind reports/families.md;
* :mod:`wellposed.audit.intrinsic`: the intrinsic-dimension estimate of the data audit;
* :mod:`wellposed.audit.data`: :func:`audit_data`, the data audit;
* :mod:`wellposed.audit.model`: :func:`audit_model`, a user's decoder / encoder attacked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wellposed._lazy import lazy_attributes

__all__ = [
    "FAMILY_NAMES",
    "AuditInputError",
    "DataAudit",
    "DataFinding",
    "FamilyAudit",
    "ModelAudit",
    "ObservationResult",
    "ProbeRow",
    "audit_data",
    "audit_family",
    "audit_model",
    "builtin_families",
    "load_data",
    "report_family_audits",
    "torch_univariate_families",
    "validate_data",
]

#: the names :func:`builtin_families` returns, spelled out here (no numpy) for
#: ``wellposed audit-family --help``; tests/test_light_imports.py checks they agree
FAMILY_NAMES = (
    "normal",
    "laplace",
    "studentt",
    "logistic",
    "lognormal",
    "gamma",
    "beta",
    "vonmises",
    "continuous_bernoulli",
    "bernoulli",
    "discretized_gaussian",
    "discretized_logistic",
    "softclip_gaussian",
    "studentt_floor",
    "gaussian_nll_loss",
    "gaussian_nll_loss_default",
    "global_logvar_gaussian",
)

_LAZY = {
    "AuditInputError": "wellposed.audit.data",
    "DataAudit": "wellposed.audit.data",
    "DataFinding": "wellposed.audit.data",
    "audit_data": "wellposed.audit.data",
    "load_data": "wellposed.audit.data",
    "validate_data": "wellposed.audit.data",
    "builtin_families": "wellposed.audit.analytic",
    "torch_univariate_families": "wellposed.audit.search",
    "ProbeRow": "wellposed.audit.probes",
    "FamilyAudit": "wellposed.audit.family",
    "ObservationResult": "wellposed.audit.family",
    "audit_family": "wellposed.audit.family",
    "ModelAudit": "wellposed.audit.model",
    "audit_model": "wellposed.audit.model",
    "report_family_audits": "wellposed.audit.standard",
}

if TYPE_CHECKING:
    from wellposed.audit.analytic import builtin_families
    from wellposed.audit.data import (
        AuditInputError,
        DataAudit,
        DataFinding,
        audit_data,
        load_data,
        validate_data,
    )
    from wellposed.audit.family import FamilyAudit, ObservationResult, audit_family
    from wellposed.audit.model import ModelAudit, audit_model
    from wellposed.audit.probes import ProbeRow
    from wellposed.audit.search import torch_univariate_families
    from wellposed.audit.standard import report_family_audits


__getattr__, __dir__ = lazy_attributes("wellposed.audit", _LAZY)
