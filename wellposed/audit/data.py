"""Data audit: features of a data set that make common objectives unbounded.

Each finding names the objectives it breaks and why, with the claim it comes from
(docs/claims.md: #l5 probabilistic PCA, #l6 constant coordinates, #f3 continuous Bernoulli,
#s5 / #l3 discrete bounds, #l1 / #l7 spikes).  JSON goes through
:func:`wellposed.evidence.records.jsonable`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wellposed.audit.analytic import fmt_number
from wellposed.audit.intrinsic import IntrinsicDimension, intrinsic_dimension
from wellposed.errors import WellposedInputError
from wellposed.evidence.records import jsonable_dict
from wellposed.report.text import wrap

__all__ = [
    "AuditInputError",
    "DataAudit",
    "DataFinding",
    "audit_data",
    "load_data",
    "validate_data",
]


class AuditInputError(WellposedInputError):
    """Bad input to the audit; the message says what to do instead (a
    :class:`~wellposed.errors.WellposedInputError`, so callers can catch either)."""


@dataclass(frozen=True)
class DataFinding:
    """One feature of the data: where it is, what it breaks and why."""

    kind: str  # constant_coordinate | exact_zero_one | low_rank | low_intrinsic_dimension
    #            | duplicate_rows | quantized
    where: tuple[int, ...]  # coordinates (columns) or rows concerned
    detail: str
    objectives: tuple[str, ...]
    why: str
    #: the named objectives are unbounded on these data because of this feature (what
    #: ``audit-data --fail-on unbounded`` fails on); duplicates and quantization only change
    #: rates and bounds, and a manifold finding without a latent size states a condition
    unbounded: bool = True

    def to_dict(self) -> dict[str, Any]:
        return jsonable_dict(
            {
                "kind": self.kind,
                "where": list(self.where),
                "detail": self.detail,
                "objectives": list(self.objectives),
                "why": self.why,
                "unbounded": self.unbounded,
            }
        )


@dataclass(frozen=True)
class DataAudit:
    """Result of :func:`audit_data`: shape, rank and the findings (possibly none)."""

    n: int
    dim: int
    rank: int
    latent_dim: int | None
    findings: tuple[DataFinding, ...] = field(default_factory=tuple)
    intrinsic: IntrinsicDimension | None = None

    def kinds(self) -> tuple[str, ...]:
        return tuple(f.kind for f in self.findings)

    def breaks_an_objective(self) -> bool:
        """Whether some finding makes a named objective unbounded on these data."""
        return any(f.unbounded for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return jsonable_dict(
            {
                "n": self.n,
                "dim": self.dim,
                "rank_centred": self.rank,
                "latent_dim": self.latent_dim,
                "intrinsic_dimension": None if self.intrinsic is None else self.intrinsic.to_dict(),
                "breaks_an_objective": self.breaks_an_objective(),
                "findings": [f.to_dict() for f in self.findings],
            }
        )

    def render_text(self) -> str:
        """Human-readable summary (deterministic)."""
        lines = [
            f"data: n = {self.n}, D = {self.dim}, rank of centred data = {self.rank}"
            + (f", latent size d = {self.latent_dim}" if self.latent_dim is not None else "")
        ]
        if self.intrinsic is not None:
            lines.append(self.intrinsic.text())
        if not self.findings:
            lines.append("no findings: none of the audited features is present")
        for f in self.findings:  # prose through the output layer: wrapped at 120
            lines.append(wrap(f"- {f.kind}: {f.detail}", indent="  "))
            lines.append(wrap(f"  breaks: {'; '.join(f.objectives)}", indent="  "))
            lines.append(wrap(f"  why: {f.why}", indent="  "))
            if not f.unbounded:
                lines.append(
                    "  (changes rates or bounds, or states a condition on d; not "
                    "counted by --fail-on unbounded)"
                )
        return "\n".join(lines) + "\n"


_MAGIC = b"\x93NUMPY"


def load_data(path: str | os.PathLike[str]) -> np.ndarray:
    """Load a ``.npy`` array of observations as float64 (1-D or 2-D), or raise AuditInputError.

    Pickles are never loaded: the file's header is read first, and a file that is not a
    NumPy ``.npy`` file, or holds an object array, is refused with what to do instead.
    """
    p = os.fspath(path)
    if os.path.isdir(p):
        raise AuditInputError(f"{p!r} is a directory; pass a .npy file")
    if not p.endswith(".npy"):
        raise AuditInputError(
            f"{p!r} is not a .npy file; save your array with "
            "numpy.save('data.npy', X) and pass that file"
        )
    if not os.path.isfile(p):
        raise AuditInputError(f"data file {p!r} does not exist; check the path")
    try:
        with open(p, "rb") as fh:
            dtype = _npy_dtype(fh, p)
            if dtype is not None:
                _check_dtype(dtype, p)
            fh.seek(0)
            arr = np.load(fh, allow_pickle=False)
    except AuditInputError:
        raise
    except ValueError as exc:  # numpy's own message would advise allow_pickle: never
        raise AuditInputError(
            f"{p!r} is not a readable numeric .npy file; save a numeric "
            "array with numpy.save(path, X.astype(numpy.float64))"
        ) from exc
    except OSError as exc:
        raise AuditInputError(
            f"cannot read {p!r} ({exc.strerror or exc}); save it with numpy.save"
        ) from exc
    return validate_data(arr, name=p)


def _npy_dtype(fh: Any, name: str) -> np.dtype | None:
    """The dtype in a ``.npy`` header (None for a header version this reader does not parse);
    AuditInputError when the file does not start with the ``.npy`` magic string."""
    head = fh.read(16)
    if not head.startswith(_MAGIC):
        what = "it is empty" if not head else f"it starts with {head!r}"
        raise AuditInputError(
            f"{name!r} is not a NumPy .npy file ({what}); save it with numpy.save"
        )
    fh.seek(0)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            _, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            return None
    except ValueError as exc:
        raise AuditInputError(
            f"{name!r} has a damaged .npy header ({exc}); save it again with numpy.save"
        ) from exc
    return np.dtype(dtype)


def _check_dtype(dtype: np.dtype, name: str) -> None:
    """Refuse object, complex and other non-numeric dtypes with what to do instead."""
    if dtype.hasobject:
        raise AuditInputError(
            f"{name}: holds an object array (dtype {dtype}), which only "
            "pickle can load, and wellposed never loads pickles; save a "
            "numeric array with numpy.save(path, X.astype(numpy.float64))"
        )
    if dtype.kind == "c":
        raise AuditInputError(
            f"{name}: complex values are not supported; pass the real part "
            "explicitly (x.real) if that is what you mean"
        )
    if dtype.fields is not None or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise AuditInputError(
            f"{name}: dtype {dtype} is not numeric; convert with X.astype(np.float64) before saving"
        )


def validate_data(arr: Any, name: str = "data") -> np.ndarray:
    """Check dtype, dimension and finiteness; return a float64 copy (1-D or 2-D).

    Object, complex and non-numeric arrays are refused (complex values are never truncated
    to their real part silently); so are NaN and infinite entries.
    """
    try:
        arr = np.asarray(arr)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise AuditInputError(
            f"{name}: cannot read the observations as one array ({exc}); "
            "pass a rectangular numeric array"
        ) from exc
    _check_dtype(arr.dtype, name)
    if arr.ndim not in (1, 2):
        raise AuditInputError(
            f"{name}: expected a 1-D array of observations or a 2-D (n, D) "
            f"array, got ndim = {arr.ndim} (shape {arr.shape}); reshape with "
            "X.reshape(len(X), -1)"
        )
    if arr.size == 0:
        raise AuditInputError(f"{name}: the array is empty; pass at least one observation")
    with np.errstate(over="ignore"):  # float128 beyond float64's range becomes inf: caught
        out = arr.astype(np.float64)
    finite = np.isfinite(out)
    if not np.all(finite):
        bad = int(np.sum(~finite))
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        where = first[0] if len(first) == 1 else first
        raise AuditInputError(
            f"{name}: {bad} NaN or infinite entries (the first at index "
            f"{where}: {out[first]}); remove or impute them before auditing"
        )
    returned: np.ndarray = out
    return returned


def _on_grid(col: np.ndarray) -> tuple[bool, float]:
    """Whether the distinct values of a column are integer multiples of their smallest gap."""
    u = np.unique(col)
    if len(u) < 2:
        return False, 0.0
    h = float(np.min(np.diff(u)))
    k = (u - u[0]) / h
    return bool(np.all(np.abs(k - np.round(k)) < 1e-6)), h


def audit_data(
    X: np.ndarray, *, latent_dim: int | None = None, seed: int = 0, intrinsic: bool = True
) -> DataAudit:
    """Find constant coordinates, exact 0/1 values, low rank, duplicates and quantization.

    * constant coordinate j (max == min): per-coordinate learned variance is unbounded even
      with a constant/affine decoder mean (docs/claims.md#l6, Heywood case);
    * exact 0 or 1 entries: continuous Bernoulli unbounded there (F3; log p ~ log log(1/lam));
      Beta/Gamma/Kumaraswamy densities are +inf at 0 (or 1) for concentration < 1 (F2);
    * rank r of the centred data <= latent size d: pPCA/linear VAE unbounded, rate
      (D - r)/2 per observation per unit log(1/gamma) (L5; Dai & Wipf 2019);
    * intrinsic (manifold) dimension below the latent size, affine or not
      (:mod:`wellposed.audit.intrinsic`, Levina-Bickel, seeded subsample): a Gaussian decoder
      with one shared learned variance is unbounded (Dai & Wipf 2019: gamma -> 0 whenever the
      data lie on a manifold of dimension r < d); without ``latent_dim`` the finding states
      for which latent sizes;
    * duplicate rows: a spike on a repeated row collects all copies (rate m D per unit
      log(1/sigma), L1/L7) and the discrete bound becomes sum_u n_u log(n_u/n) (S5/L3);
    * quantization (few distinct values on a grid): a continuous density fitted to discrete
      data can spike on grid values shared by many points; use a discretized likelihood
      (F5, <= 0) or uniform dequantization (Theis et al. 2016, bounded by the discrete one).
    """
    X = validate_data(X)
    if X.ndim == 1:
        X = X[:, None]
    given: object = latent_dim  # callers may pass anything: checked at run time
    if given is not None and (not isinstance(given, int | np.integer) or int(given) < 0):
        raise AuditInputError(f"latent_dim must be a non-negative integer, got {given!r}")
    n, D = X.shape
    findings: list[DataFinding] = []
    const = np.flatnonzero(np.ptp(X, axis=0) == 0)
    if len(const):
        findings.append(
            DataFinding(
                "constant_coordinate",
                tuple(int(j) for j in const),
                f"{len(const)} constant coordinate(s): {_few(const)}",
                (
                    "Gaussian decoder with per-coordinate learned variance (L6)",
                    "any location-scale output (Laplace, Student-t, logistic) with per-coordinate "
                    "learned scale (F1)",
                ),
                "set that coordinate's mean to the constant and its variance to 0: log p grows "
                "like log(1/sigma) per such coordinate for EVERY observation, even with a constant "
                "or affine decoder mean",
            )
        )
    zero_one = np.flatnonzero(np.any((X == 0.0) | (X == 1.0), axis=0))
    if len(zero_one):
        cnt = int(np.sum((X == 0.0) | (X == 1.0)))
        findings.append(
            DataFinding(
                "exact_zero_one",
                tuple(int(j) for j in zero_one),
                f"{cnt} entries exactly 0 or 1 in {len(zero_one)} coordinate(s): {_few(zero_one)}",
                (
                    "continuous Bernoulli output (F3)",
                    "Beta / Kumaraswamy output at 0 or 1, "
                    "Gamma / Exponential / half-normal at 0 (F2)",
                ),
                "log CB(0 | lam) = log C(lam) + log(1 - lam) ~ log log(1/lam) -> inf (bounded only "
                "on (0,1)); Beta and Gamma densities are +inf at 0 when the concentration is < 1",
            )
        )
    Xc = X - X.mean(axis=0)
    rank = int(np.linalg.matrix_rank(Xc)) if n > 1 else 0
    if latent_dim is not None and rank <= latent_dim and rank < D:
        findings.append(
            DataFinding(
                "low_rank",
                (),
                f"centred data have rank {rank} <= latent size d = {latent_dim} (D = {D})",
                ("probabilistic PCA / linear-Gaussian VAE with learned noise variance (L5)",),
                f"the data lie in a {rank}-dimensional affine subspace the decoder can span: the "
                f"noise variance gamma -> 0 sends l to +inf at rate (D - r)/2 = "
                f"{fmt_number((D - rank) / 2)} per observation per unit log(1/gamma) (Tipping & "
                "Bishop 1999; Dai & Wipf 2019)",
            )
        )
    idim = intrinsic_dimension(X, seed=seed) if intrinsic else None
    manifold = _manifold_finding(idim, rank, D, latent_dim)
    if manifold is not None:
        findings.append(manifold)
    uniq, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    dup_rows = np.flatnonzero(counts[np.ravel(inverse)] > 1)
    if len(dup_rows):
        findings.append(
            DataFinding(
                "duplicate_rows",
                tuple(int(i) for i in dup_rows),
                f"{n - len(uniq)} duplicate row(s); rows involved: {_few(dup_rows)}; largest "
                f"multiplicity {int(counts.max())}",
                (
                    "Gaussian / Gaussian-mixture spikes (L1, L7): faster divergence",
                    "Bernoulli / categorical bound (S5, L3) changes",
                ),
                "a spike on a repeated row collects all m copies (rate m D per unit log(1/sigma)); "
                "the discrete bound becomes sum_u n_u log(n_u/n) instead of -n log n",
                False,
            )
        )
    quant = []
    for j in range(D):
        k = len(np.unique(X[:, j]))
        grid, h = _on_grid(X[:, j])
        if 1 < k <= 256 and k < n and grid:
            quant.append((j, k, h))
    if quant:
        js = np.array([q[0] for q in quant])
        ks = sorted({q[1] for q in quant})
        findings.append(
            DataFinding(
                "quantized",
                tuple(int(j) for j in js),
                f"{len(quant)} coordinate(s) take few distinct values on a regular grid "
                f"({_few(js)}; distinct counts {_few(np.array(ks))}; "
                f"step {fmt_number(quant[0][2])})",
                (
                    "continuous-density outputs with learned scale on undequantized data "
                    "(Gaussian, logistic, Laplace)",
                ),
                "several observations share each grid value, so a spike on a grid value gains "
                "log(1/sigma) per point on it; use a discretized likelihood (F5, <= 0) or uniform "
                "dequantization (bounded by the discrete log-likelihood, Theis et al. 2016)",
                False,
            )
        )
    return DataAudit(
        n=n, dim=D, rank=rank, latent_dim=latent_dim, findings=tuple(findings), intrinsic=idim
    )


_SHARED_VARIANCE = (
    "Gaussian decoder with one shared learned variance gamma (Dai & Wipf "
    "2019; one global log-variance as in latent-diffusion autoencoders, L4)"
)


def _manifold_finding(
    idim: IntrinsicDimension | None, rank: int, D: int, latent_dim: int | None
) -> DataFinding | None:
    """The shared-variance finding when the intrinsic dimension is below the latent size.

    A manifold's dimension is an integer, and the nearest-neighbour estimate is biased low
    by curvature and boundaries, so the largest dimension the estimate allows is r_max =
    the upper end of its interval rounded to the nearest integer.  With ``latent_dim`` given
    it is a finding (unbounded) when d > r_max (r < d, Dai & Wipf 2019, Thm 2; r = d breaks
    too by their Thm 1, which the text notes); without it, the finding states the smallest
    latent size for which it holds (r_max + 1), if that is below D."""
    if idim is None or idim.upper is None:
        return None
    upper = idim.upper
    d_min = int(math.floor(upper + 0.5)) + 1
    detail = (
        f"the data lie near a manifold of dimension about {idim.estimate:.2f} "
        f"(interval [{idim.lower:.2f}, {upper:.2f}]; affine rank {rank}, D = {D})"
    )
    why = (
        "a decoder mapping the latent space onto the manifold reconstructs every point, so "
        "the shared variance gamma -> 0 sends the objective to +inf; this holds for any "
        "manifold, affine or not, of dimension r below the latent size d (Dai & Wipf "
        f"2019, Thm 2; at d = r = {d_min - 1} their Thm 1 gives the same); per-coordinate "
        "learned variances break likewise (L1)"
    )
    if latent_dim is not None:
        if latent_dim < d_min:
            return None
        return DataFinding(
            "low_intrinsic_dimension",
            (),
            detail + f" < latent size d = {latent_dim}",
            (_SHARED_VARIANCE,),
            why,
            True,
        )
    if d_min >= D:
        return None
    return DataFinding(
        "low_intrinsic_dimension",
        (),
        detail + f": broken for latent size d >= {d_min} (no --latent-dim given)",
        (_SHARED_VARIANCE + f", latent size d >= {d_min}",),
        why,
        False,
    )


def _few(idx: np.ndarray, k: int = 8) -> str:
    items = [str(int(i)) for i in np.asarray(idx)[:k]]
    return "[" + ", ".join(items) + (", ..." if len(idx) > k else "") + "]"
