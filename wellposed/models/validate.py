"""Argument validation shared by the model classes (private)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from wellposed.errors import WellposedInputError

if TYPE_CHECKING:
    from wellposed.models.networks import Decoder

DTYPE = torch.float64


def as_data(x: object, data_dim: int, *, binary: bool = False, name: str = "data") -> torch.Tensor:
    """Return ``x`` as a float64 ``(n, data_dim)`` tensor or raise :class:`WellposedInputError`."""
    try:
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise WellposedInputError(f"{name}: cannot convert {type(x).__name__} to an array") from exc
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise WellposedInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1 and data_dim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != data_dim:
        raise WellposedInputError(
            f"{name} must have shape (n, {data_dim}) to match the decoder's data_dim, got "
            f"{arr.shape}; reshape it with X.reshape(n, {data_dim}) or build the decoder with "
            f"data_dim={arr.shape[-1] if arr.ndim else 1}"
        )
    if arr.shape[0] == 0:
        raise WellposedInputError(f"{name} is empty: pass at least one observation")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise WellposedInputError(
            f"{name} contains NaN or inf (rows {rows}...); drop or impute those rows first"
        )
    if binary and not np.isin(arr, (0.0, 1.0)).all():
        raise WellposedInputError(
            f"{name} must be binary (0/1) for a Bernoulli decoder; binarize it (e.g. X > 0.5) "
            "or use a Gaussian decoder for real-valued data"
        )
    return torch.as_tensor(arr, dtype=DTYPE)


def as_param(value: object, shape: tuple[int, ...], name: str) -> torch.Tensor:
    """Return ``value`` as a finite float64 tensor of exactly ``shape``."""
    t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=DTYPE)
    if t.shape != torch.Size(shape):
        if t.numel() == 1 and len(shape) == 0:
            t = t.reshape(())
        else:
            raise WellposedInputError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise WellposedInputError(f"{name} must be finite; it contains NaN or inf")
    return t


def positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise WellposedInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_encoder(decoder: Decoder, encoder: object, x: torch.Tensor) -> None:
    """Raise unless ``encoder`` maps ``x`` to the decoder's latent dimension."""
    d_enc = getattr(encoder, "latent_dim", None)
    if d_enc is not None and int(d_enc) != int(decoder.latent_dim):
        raise WellposedInputError(
            f"the encoder has latent_dim={d_enc} but the decoder has latent_dim="
            f"{decoder.latent_dim}: build both with the same latent_dim"
        )
    d_in = getattr(encoder, "data_dim", None)
    if d_in is not None and int(d_in) != int(x.shape[-1]):
        raise WellposedInputError(
            f"the encoder reads data_dim={d_in} but the data have {x.shape[-1]} columns: "
            "build the encoder with the decoder's data_dim"
        )
