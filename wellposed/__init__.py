"""wellposed: machine-checked verdicts on whether VAE objectives are bounded above.

The public names below load on first use (PEP 562), so ``wellposed --help`` and other
commands that need no model answer without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wellposed._lazy import lazy_attributes

__version__ = "0.3.0"

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


__getattr__, __dir__ = lazy_attributes("wellposed", _LAZY)
