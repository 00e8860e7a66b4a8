"""Family and data audits: is sup over parameters of log p(x | params) finite, and which data
features make common objectives unbounded?

The public names below load their module on first use (PEP 562), so that the CLI can list
the built-in families (:mod:`wellposed.audit.analytic`, no torch) without importing torch.

* :mod:`wellposed.audit.analytic`: closed-form per-observation suprema per family;
* :mod:`wellposed.audit.search`: the numerical search over ``torch.distributions`` parameters;
* :mod:`wellposed.audit.probes`: what torch's own ``log_prob`` does at extreme parameters;
* :mod:`wellposed.audit.family`: :func:`audit_family`, combining per-observation verdicts;
* :mod:`wellposed.audit.data`: :func:`audit_data`, the data audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wellposed._lazy import lazy_attributes

__all__ = [
    "AuditInputError",
    "DataAudit",
    "DataFinding",
    "FamilyAudit",
    "ObservationResult",
    "ProbeRow",
    "audit_data",
    "audit_family",
    "builtin_families",
    "load_data",
    "report_family_audits",
    "torch_univariate_families",
    "validate_data",
]

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
    "report_family_audits": "wellposed.audit.family",
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
    from wellposed.audit.family import (
        FamilyAudit,
        ObservationResult,
        audit_family,
        report_family_audits,
    )
    from wellposed.audit.probes import ProbeRow
    from wellposed.audit.search import torch_univariate_families


__getattr__, __dir__ = lazy_attributes("wellposed.audit", _LAZY)
