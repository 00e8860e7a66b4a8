"""Searches are held against every known supremum, not only against the (looser) bound.

For each claim with a known supremum (S2, S4, L2: the certified floored NPMLE; L7: the GMM's
NPMLE; L8: the bound at n = 1), a search value above that supremum but below the bound ``B``
is injected (S2, S4, L2: as the exact log-likelihood of the searched decoder, the value held
against it): the bound check still passes, the supremum check must not, and the gate
fails.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wellposed.claims import _search, mixtures, variance_heads
from wellposed.claims._common import seeded_data
from wellposed.claims.registry import Context
from wellposed.gate import run_claims
from wellposed.lines import exact, npmle

ABOVE = 0.5  # nats above the supremum: far past the searches' tolerance, far below B - sup


def _inject_mlp(monkeypatch, xi: float) -> list[float]:
    """Make the exact log-likelihood of the searched decoder read ``sup + ABOVE`` (``sup``:
    the floored NPMLE of the searched data), the value held against the supremum; returns
    the injected values."""
    original, injected = _search.log_likelihood, []

    def lik(dec, x, **kw):
        res = original(dec, x, **kw)
        value = npmle.floored_mixture_sup(x, xi)[0] + ABOVE
        assert value < exact.floor_bound(x.shape[0], x.shape[1], xi)  # below B
        injected.append(value)
        return dataclasses.replace(res, value=value)

    monkeypatch.setattr(_search, "log_likelihood", lik)
    return injected


def _caught(cid: str) -> None:
    """The claim fails, its bound check passes and its supremum check does not."""
    result = run_claims([cid], device="cpu", jobs=1)[0]
    assert not result.ok
    assert result.evidence["bound"].ok  # the injected value is below B
    assert not result.evidence["search_below_sup"].ok


@pytest.mark.parametrize(("cid", "xi"), [("S2", 1.0), ("S4", 1e-2), ("L2", 1e-2)])
def test_a_search_above_the_floored_npmle_is_caught(monkeypatch, cid, xi):
    injected = _inject_mlp(monkeypatch, xi)
    _caught(cid)
    assert injected


def test_a_search_above_the_weight_decay_supremum_is_caught(monkeypatch):
    """L8 at n = 1: the bound is the supremum; a search value above it fails the claim."""
    original, injected = variance_heads.mlp_elbo_search, []

    def search(ctx, make, x, **kw):
        found = original(ctx, make, x, **kw)
        if x.shape[0] == 1:
            injected.append(exact.weight_decay_bound(1, x.shape[1], 3, 0.5) + 1e-3)
            found = {**found, "ascent": np.append(found["ascent"], injected[-1])}
        return found

    monkeypatch.setattr(variance_heads, "mlp_elbo_search", search)
    result = run_claims(["L8"], device="cpu", jobs=1)[0]
    assert injected and not result.ok and not result.evidence["search_below_sup"].ok


def test_an_ascent_above_the_gmm_npmle_is_caught(monkeypatch):
    """L7: an ascent value above the floored GMM's NPMLE fails the claim (below B)."""
    x = seeded_data(Context(seed=0, device="cpu"), 72, 8, 3)
    value = npmle.floored_mixture_sup(x, 1e-2)[0] + ABOVE
    assert value < exact.floor_bound(8, 3, 1e-2)
    original = mixtures.ascent
    monkeypatch.setattr(mixtures, "ascent", lambda *a, **kw: np.append(original(*a, **kw), value))
    _caught("L7")
