"""wellposed: machine-checked verdicts on whether VAE objectives are bounded above.

The public names below load on first use (PEP 562), so ``wellposed --help`` and other
commands that need no model answer without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_LAZY = {
    "BernoulliMLPDecoder": "wellposed.models.networks",
    "GaussianMLPDecoder": "wellposed.models.networks",
    "GaussianMLPEncoder": "wellposed.models.networks",
    "LinearGaussianDecoder": "wellposed.models.networks",
    "TabularEncoder": "wellposed.models.networks",
    "Estimate": "wellposed.lines.objectives",
    "elbo": "wellposed.lines.objectives",
    "log_likelihood": "wellposed.lines.objectives",
    "Fixed": "wellposed.models.variance",
    "Floor": "wellposed.models.variance",
    "Learned": "wellposed.models.variance",
    "SharedScalar": "wellposed.models.variance",
    "SoftClip": "wellposed.models.variance",
    "ValueClamp": "wellposed.models.variance",
    "WellposedInputError": "wellposed.errors",
}

# spelled out (not computed from _LAZY) so type checkers and linters see the exports;
# tests/test_packaging.py checks it against _LAZY
__all__ = [
    "BernoulliMLPDecoder",
    "Estimate",
    "Fixed",
    "Floor",
    "GaussianMLPDecoder",
    "GaussianMLPEncoder",
    "Learned",
    "LinearGaussianDecoder",
    "SharedScalar",
    "SoftClip",
    "TabularEncoder",
    "ValueClamp",
    "WellposedInputError",
    "__version__",
    "elbo",
    "log_likelihood",
]

if TYPE_CHECKING:
    from wellposed.errors import WellposedInputError
    from wellposed.lines.objectives import Estimate, elbo, log_likelihood
    from wellposed.models.networks import (
        BernoulliMLPDecoder,
        GaussianMLPDecoder,
        GaussianMLPEncoder,
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
    )


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wellposed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
