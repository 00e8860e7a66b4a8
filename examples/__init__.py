"""The decoders people write, each with a ``factory()`` for ``wellposed audit-model``.

Plain torch, written without this project in mind (nothing here imports ``wellposed``).
Every module defines ``factory(data_dim=8)`` (the 28x28 one: ``factory()``) returning
``(decoder, encoder)`` or ``(decoder, encoder, objective)`` following the model protocol
(docs/your-model.md).  Audit one with::

    wellposed audit-model examples.c2_logvar_head:factory --data X.npy

The verdicts are tabulated in the README ("Check your own VAE") and checked by
``tests/test_examples.py``.
"""

__all__ = [
    "bernoulli",
    "c2_logvar_head",
    "continuous_bernoulli",
    "conv_logvar_28",
    "decoy_policy",
    "floored_variance",
    "gaussian_nll_loss",
    "global_logvar",
    "laplace_head",
    "mse_vae",
    "optimal_sigma",
    "sigma_vae_softclip",
    "softplus_floor",
    "student_t_head",
]
