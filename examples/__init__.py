"""The decoders people write, each with a ``factory()`` for ``wellposed audit-model``.

Every module here defines ``factory(data_dim=8)`` returning ``(decoder, encoder)`` or
``(decoder, encoder, objective)`` following the model protocol of
:mod:`wellposed.models.protocol` (docs/your-model.md).  Audit one with::

    wellposed audit-model examples.c2_logvar_head:factory --data X.npy

The verdicts are tabulated in the README ("Check your own VAE") and checked by
``tests/test_examples.py``.
"""

__all__ = [
    "bernoulli",
    "c2_logvar_head",
    "continuous_bernoulli",
    "floored_variance",
    "gaussian_nll_loss",
    "global_logvar",
    "sigma_vae_softclip",
]
