"""wellposed: machine-checked verdicts on whether VAE objectives are bounded above."""

from wellposed.errors import WellposedInputError
from wellposed.models.networks import (
    BernoulliMLPDecoder,
    GaussianMLPDecoder,
    GaussianMLPEncoder,
    LinearGaussianDecoder,
    TabularEncoder,
)
from wellposed.lines.objectives import Estimate, elbo, log_likelihood
from wellposed.models.variance import Fixed, Floor, Learned, SharedScalar, SoftClip, ValueClamp

__version__ = "0.1.0"

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
