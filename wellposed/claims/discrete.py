"""The Bernoulli claims (S5, L3): on binary data the likelihood is bounded, and tightly.

The bound is the empirical distribution's log-likelihood ``sum_u n_u log(n_u / n)``
(:func:`wellposed.lines.exact.bernoulli_bound`); a search over Bernoulli MLP decoders stays
below it and the Bernoulli staircase approaches it without reaching it: at finite logits every
``p(x | t)`` puts mass on all ``2^D`` binary vectors, so with fewer than ``2^D`` distinct data
points ``sum_u p(u) < 1`` and the bound is not attained (``attained = no``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from wellposed.claims._common import fmt, staircase_tightness
from wellposed.claims._search import ascent
from wellposed.claims.registry import Context, Outcome, claim
from wellposed.evidence import (
    INCONCLUSIVE,
    Attainment,
    Search,
    Tightness,
    agree_close,
    check_attained,
    check_bound,
    decide_bounded,
)
from wellposed.ledger import Claim
from wellposed.lines import exact
from wellposed.lines.objectives import log_likelihood
from wellposed.models.networks import BernoulliMLPDecoder, Decoder
from wellposed.models.validate import DTYPE

_KS = [2.0, 8.0, 32.0, 128.0]


def _attained(tight: Tightness, x: np.ndarray) -> Attainment:
    """The bound is attained iff the decoder can put no mass outside the observed vectors;
    finite logits cannot while fewer than ``2^D`` vectors are observed (module doc)."""
    distinct = np.unique(x, axis=0).shape[0]
    strict = (
        f"sigmoid(logit) is in (0, 1) at finite logits, so p(. | t) charges all 2^D = "
        f"{2 ** x.shape[1]} binary vectors and the {distinct} observed ones get total "
        "mass < 1"
    )
    return check_attained(
        tight,
        case="the bound sum_u n_u log(n_u/n)",
        strict=strict if distinct < 2 ** x.shape[1] else None,
    )


def _counted_bound(x: np.ndarray) -> float:
    """``sum_u n_u log(n_u / n)`` with the counts taken by :class:`collections.Counter` over
    the rows (independent of :func:`wellposed.lines.exact.bernoulli_bound`'s ``np.unique``)."""
    counts = np.array(list(Counter(map(tuple, x.tolist())).values()), dtype=np.float64)
    return float(np.sum(counts * np.log(counts / len(x))))


def _grid_loglik(
    dec: Decoder, x: torch.Tensor, nodes: torch.Tensor, log_w: torch.Tensor
) -> torch.Tensor:
    """``sum_i log sum_g w_g p(x_i | t_g)`` with normalized Gauss-Hermite weights (torch).

    A mixture with weights summing to 1, so it obeys the same bound ``sum_u n_u log(n_u/n)``.
    """
    lp = dec.log_prob(x, nodes[:, None, None].expand(-1, x.shape[0], 1))  # (G, n)
    return torch.logsumexp(lp + log_w[:, None], dim=0).sum()


def _bernoulli_search(ctx: Context, x: np.ndarray, salt: int) -> dict[str, np.ndarray]:
    """Random Bernoulli MLP decoders plus Adam ascent on the Gauss-Hermite log-likelihood."""
    z, w = np.polynomial.hermite_e.hermegauss(48)
    nodes = torch.as_tensor(z, dtype=DTYPE)
    log_w = torch.as_tensor(np.log(w / w.sum()), dtype=DTYPE)
    xt = torch.as_tensor(x, dtype=DTYPE)
    D = x.shape[1]
    rng = ctx.rng(salt)
    rand = []
    for r in range(24):
        dec = BernoulliMLPDecoder(1, 6, D, seed=ctx.seed * 100 + r)
        with torch.no_grad():
            for p in dec.parameters():
                p.mul_(float(rng.uniform(0.5, 8.0)))
            rand.append(float(_grid_loglik(dec, xt, nodes, log_w)))
    dec = BernoulliMLPDecoder(1, 6, D, seed=ctx.seed * 100 + 999)
    asc = ascent(
        list(dec.parameters()), lambda: _grid_loglik(dec, xt, nodes, log_w), steps=300, lr=0.1
    )
    quad = log_likelihood(dec, x, method="quadrature").value
    return {"random": np.array(rand), "ascent": asc, "ascent_final_quadrature": np.array([quad])}


def _bernoulli_data(ctx: Context) -> np.ndarray:
    """Five random binary points in ``D = 4`` (the first two distinct) plus a duplicate."""
    rng = ctx.rng(50)
    x = (rng.uniform(size=(5, 4)) < 0.5).astype(float)
    x[1] = 1.0 - x[0]  # make the first two distinct
    return np.vstack([x, x[:1]])  # one duplicate: counts (2, 1, 1, ...)


@claim("S5")
def bernoulli_bounded(ctx: Context, entry: Claim) -> Outcome:
    """S5: with a duplicate point, ``l <= sum_u n_u log(n_u / n)``, approached by the staircase."""
    x = _bernoulli_data(ctx)
    B = exact.bernoulli_bound(x)
    found = _bernoulli_search(ctx, x, 51)
    tight, lines, vals = staircase_tightness(ctx, x, B, _KS, family="bernoulli", tol=5e-3)
    found["staircase"] = np.array(vals)
    bound = check_bound(B, found)
    return Outcome(
        decide_bounded(bound, tight),
        {
            "bound": bound,
            "search": Search(tuple(found)),
            "tightness": tight,
            "attained": _attained(tight, x),
        },
        lines,
        f"B = sum n_u log(n_u/n) = {fmt(B)}; search max {fmt(bound.max_value)}; "
        f"staircase gap -> {fmt(tight.final_gap)}",
    )


def _distinct_binary(ctx: Context, salt: int, n: int, D: int) -> tuple[np.ndarray, int]:
    """``n`` random binary rows in ``D`` dimensions, redrawn until a test (the number of
    distinct rows by :class:`collections.Counter`) finds them distinct; returns the rows and
    the number of draws it took (recorded: distinctness is tested, not constructed)."""
    rng = ctx.rng(salt)
    for draws in range(1, 1001):
        x = (rng.uniform(size=(n, D)) < 0.5).astype(float)
        if len(Counter(map(tuple, x.tolist()))) == n:
            return x, draws
    raise RuntimeError("no distinct binary sample in 1000 draws")  # p < 0.4^1000


@claim("L3")
def bernoulli_tight(ctx: Context, entry: Claim) -> Outcome:
    """L3: ``l <= sum_u n_u log(n_u/n)``, ``= -n log n`` only for distinct points; the staircase
    approaches it and never reaches it.

    Two data sets: random binary rows whose distinctness is tested (the ledger's ``-n log n``
    applies), and the same rows with two of them repeated (ties: the bound is
    ``sum_u n_u log(n_u/n) > -n log n``).  On both, the library's bound is compared with an
    independent count, and the staircase approaches the right bound; on the ties it passes
    ``-n log n``, which is no bound there.
    """
    x, draws = _distinct_binary(ctx, 52, 6, 5)
    n = x.shape[0]
    B = exact.bernoulli_bound(x)
    found = _bernoulli_search(ctx, x, 53)
    tight, lines, vals = staircase_tightness(ctx, x, B, _KS, family="bernoulli", tol=5e-3)
    found["staircase"] = np.array(vals)
    bound = check_bound(B, found, symbols={"n": n})
    lines.append(
        agree_close(
            "B = -n log n (tested distinct)",
            entry.bound_at(n=n),
            B,
            line="closed form",
            reference_line="bernoulli_bound",
        )
    )
    # ties: rows 0 and 1 twice each, counts (2, 2, 1, 1, 1, 1), n = 8
    xt = np.vstack([x, x[:2]])
    nt = xt.shape[0]
    Bt = exact.bernoulli_bound(xt)
    tight_t, lines_t, vals_t = staircase_tightness(ctx, xt, Bt, _KS, family="bernoulli", tol=5e-3)
    lines += lines_t
    lines.append(
        agree_close(
            "B with ties = sum_u n_u log(n_u/n) (Counter)",
            _counted_bound(xt),
            Bt,
            line="closed form",
            reference_line="bernoulli_bound",
        )
    )
    bound_t = check_bound(Bt, {"staircase": vals_t})
    distinct_formula = -nt * float(np.log(nt))
    ties_differ = bool(Bt > distinct_formula + 1.0 and max(vals_t) > distinct_formula)
    never_reached = bool(np.all(np.array(vals) < B) and np.all(np.array(vals_t) < Bt))
    ok = never_reached and ties_differ and bound_t.ok and tight_t.ok
    ties = {
        "counts": [2, 2, 1, 1, 1, 1],
        "n": nt,
        "bound": Bt,
        "minus_n_log_n": distinct_formula,
        "bound_check": bound_t,
        "tightness": tight_t,
        "staircase_passes_minus_n_log_n": bool(max(vals_t) > distinct_formula),
        "attained": _attained(tight_t, xt),
    }
    return Outcome(
        decide_bounded(bound, tight) if ok else INCONCLUSIVE,
        {
            "bound": bound,
            "search": Search(tuple(found)),
            "tightness": tight,
            "attained": _attained(tight, x),
            "never_reached": never_reached,
            "distinct": {"n": n, "D": x.shape[1], "draws_until_distinct": draws},
            "ties": ties,
        },
        lines,
        f"distinct (tested): B = -n log n = {fmt(B)} (n={n}); staircase gaps "
        f"{', '.join(fmt(g, 3) for g in tight.gaps)}; ties (2, 2, 1, 1, 1, 1): B = {fmt(Bt)} > "
        f"-n log n = {fmt(distinct_formula)}, staircase reaches {fmt(max(vals_t))}",
    )
