"""Sympy derivations of the seed thread's 1-D examples (S7, S8, S9), once per process.

Private to :mod:`wellposed.claims`: :func:`s7_symbolic` derives S7's KL and ELBO from the
Gaussian densities, :func:`thread_symbolic` the identity decoder's expected log-likelihood,
optimal width, maximum ELBO and limits (docs/claims.md, S7 to S9).  The claim runner in
:mod:`wellposed.claims.thread` evaluates them against the library's own numbers.
"""

from __future__ import annotations

import functools
from typing import Any

import sympy as sp

__all__ = ["s7_symbolic", "thread_symbolic"]


@functools.lru_cache(maxsize=1)
def s7_symbolic() -> dict[str, sp.Expr]:
    """S7 from the definitions, by sympy: ``KL(N(m, s^2) || N(0, 1))`` as ``E_u`` of
    ``log q - log p`` at ``t = m + s u``, ``u ~ N(0, 1)`` (each moment of ``u`` integrated),
    and the ELBO ``D log N(x | mu, sigma^2)`` at ``mu = x`` (the collapse's mean is the data
    point on every coordinate and ignores ``t``, so ``E_q`` of it is itself) minus that KL.
    Nothing here is the answer typed in: the runner evaluates it at the library encoder's
    ``(m, s)``, checks it against the library's exact ELBO at many ``k`` and takes its limit."""
    u = sp.Symbol("u", real=True)
    m = sp.Symbol("m", real=True)
    s, sig = sp.symbols("s sigma", positive=True)
    D = sp.Symbol("D", positive=True, integer=True)
    x, mu = sp.symbols("x mu", real=True)

    def log_normal(v: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
        density = sp.exp(-((v - mean) ** 2) / (2 * var)) / sp.sqrt(2 * sp.pi * var)
        return sp.expand_log(sp.log(density), force=True)

    kl = sp.simplify(_gaussian_expectation(log_normal(u, m, s**2) - log_normal(u, 0, 1), u, m, s))
    recon = D * log_normal(x, mu, sig**2).subs(mu, x)
    return {"kl": kl, "elbo": sp.simplify(recon - kl), "m": m, "s": s, "sigma": sig, "D": D}


def _gaussian_expectation(f: sp.Expr, v: sp.Symbol, mean: sp.Expr, std: sp.Expr) -> sp.Expr:
    """``E f(v)`` for ``v ~ N(mean, std^2)`` and ``f`` polynomial in ``v``: substitute
    ``v = mean + std u`` and integrate each power of ``u`` against the standard normal
    density (what sympy's general ``integrate`` of the product finds, ~20x faster)."""
    u = sp.Symbol("u", real=True)
    phi = sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi)
    poly = sp.Poly(sp.expand(f.subs(v, mean + std * u)), u)
    return sum(
        c * sp.integrate(u ** mon[0] * phi, (u, -sp.oo, sp.oo), conds="none")
        for mon, c in poly.terms()
    )


@functools.lru_cache(maxsize=1)
def thread_symbolic() -> dict[str, Any]:  # sympy objects (sympy has no type information)
    """Derive the thread example symbolically: E_q log N(0|t,1/lam), s*, max ELBO."""
    t, s, lam, m = sp.symbols("t s lambda m", positive=True)
    tt = sp.Symbol("tt", real=True)
    loglik = sp.log(sp.sqrt(lam / (2 * sp.pi))) - lam * tt**2 / 2
    e_loglik = sp.simplify(_gaussian_expectation(loglik, tt, m, s))
    kl = (m**2 + s**2 - 1 - sp.log(s**2)) / 2
    elbo_s = sp.simplify((e_loglik - kl).subs(m, 0))
    crit = sp.solve(sp.diff(elbo_s, s), s)
    s_star = [c for c in crit if c.is_positive][0]
    max_elbo = sp.simplify(elbo_s.subs(s, s_star))
    marginal = sp.log(1 / sp.sqrt(2 * sp.pi * (1 + 1 / lam)))
    same = sp.simplify(sp.expand_log(max_elbo - marginal, force=True)) == 0
    second = sp.simplify(sp.diff(elbo_s, s, 2).subs(s, s_star))
    answer = (2 * (lam - sp.Rational(1, 2))) ** sp.Rational(-1, 2)
    deriv_at_answer = sp.simplify(sp.diff(elbo_s, s).subs(s, answer))
    lim_fixed_s = sp.limit(elbo_s, lam, sp.oo)
    lim_max = sp.limit(max_elbo, lam, sp.oo)
    return {
        "E_q_loglik": e_loglik.subs(m, 0),
        "elbo": elbo_s,
        "s_star": s_star,
        "max_elbo": max_elbo,
        "max_equals_marginal": bool(same),
        "second_derivative_negative": bool(second.is_negative),
        "derivative_at_answer_sigma": deriv_at_answer,
        "limit_fixed_s": lim_fixed_s,
        "limit_max": lim_max,
        "lam": lam,
        "s": s,
    }
