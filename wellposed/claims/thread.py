"""The seed thread's 1-D examples (S7, S8, S9): x = 0 or one point, D = d = 1 closed forms.

S7: the KL is no coding cost (``q`` = prior, variance to 0); S8: the worked example's
``sigma*`` is wrong, ``s* = (lambda + 1)^(-1/2)`` is right; S9: growing ``lambda`` is bounded
for the identity decoder and unbounded for the constant one.  The symbolic derivations are
done once per process (:mod:`wellposed.claims._thread_sympy`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import scipy.optimize
import sympy as sp
import torch

from wellposed import constructions
from wellposed.claims._common import TARGET_M, fmt, seeded_data
from wellposed.claims._search import ascent, crn_elbo, crn_eps
from wellposed.claims._thread_sympy import s7_symbolic as _s7_symbolic
from wellposed.claims._thread_sympy import thread_symbolic as _thread_symbolic
from wellposed.claims.registry import Context, Outcome, claim
from wellposed.evidence import (
    INCONCLUSIVE,
    REFUTED,
    UNBOUNDED,
    Conditional,
    Counterexample,
    Evidence,
    IdentityCheck,
    LineCheck,
    Search,
    Symbolic,
    Verdict,
    agree_close,
    agree_mc,
    check_attained,
    check_bound,
    check_tightness,
    check_witness,
    decide_bounded,
    decide_unbounded,
    fit_rate,
)
from wellposed.ledger import Claim
from wellposed.lines import exact
from wellposed.lines.objectives import elbo
from wellposed.models.validate import DTYPE
from wellposed.numerics import LOG_2PI

# the slopes of the non-degenerate members (decoder mean depends on t) that give the
# collapse (S7) and the constant decoder (S9) a statistical Monte Carlo check
_S7_SLOPE = 0.01  # k = 10: the ELBO loses D w^2 e^k / 2 = 3.3; MC SE ~0.2 at 500 samples
_S9_SLOPE = 0.1  # lam = 100, s = 0.5: the ELBO loses lam w^2 s^2 / 2 = 0.125


def _x0() -> np.ndarray:
    """The thread's one observation ``x = 0`` (``d = D = 1``)."""
    return np.zeros((1, 1))


@claim("S7")
def kl_is_no_coding_cost(ctx: Context, entry: Claim) -> Outcome:
    """S7: ``n = 1``, mean ``x_1``, ``sigma^2 = e^-k``, ``q`` = prior: KL = 0, ELBO -> inf."""
    D = 3
    x1 = seeded_data(ctx, 70, 1, D)
    ks = np.arange(5.0, 55.0, 5.0)
    vals, kls = [], []
    for k in ks:
        c = constructions.collapse_to_point(x1, k)
        vals.append(elbo(c.decoder, c.encoder, x1, method="exact").value)
        m, lv = c.encode(x1)
        kls.append(float(exact.gaussian_kl(m, lv).sum()))
    rate = fit_rate(ks, vals, expected=entry.rate_at(D=D), rtol=None, symbols={"D": D})
    k_w = 2.0 * TARGET_M / D + LOG_2PI + 1.0
    cw = constructions.collapse_to_point(x1, k_w)
    wit = check_witness(
        {"k": k_w, "log_sigma2": -k_w, "D": D, "n": 1},
        elbo(cw.decoder, cw.encoder, x1, method="exact").value,
        TARGET_M,
    )
    c10 = constructions.collapse_to_point(x1, 10.0)
    ex10 = elbo(c10.decoder, c10.encoder, x1, method="exact").value
    mc = elbo(
        c10.decoder, c10.encoder, x1, method="mc", samples=500, seed=ctx.seed, device=ctx.device
    )
    quad_est = elbo(c10.decoder, c10.encoder, x1, method="quadrature")
    quad = quad_est.value
    # the collapse ignores t (zero-variance MC: a code-path check); the member with mean
    # x_1 + w t is a statistical check of the mc line against the exact one
    cw10 = constructions.collapse_to_point(x1, 10.0, slope=_S7_SLOPE)
    ex_w = elbo(cw10.decoder, cw10.encoder, x1, method="exact").value
    mc_w = elbo(
        cw10.decoder, cw10.encoder, x1, method="mc", samples=500, seed=ctx.seed, device=ctx.device
    )
    # the sympy ELBO at the library encoder's (m, s) (exact rationals of its float output)
    sym = _s7_symbolic()
    m_lib, lv_lib = (float(a.ravel()[0]) for a in c10.encode(x1))
    at = {
        sym["m"]: sp.nsimplify(m_lib),
        sym["s"]: sp.nsimplify(math.exp(0.5 * lv_lib)),
        sym["D"]: D,
    }
    elbo_sym = sp.simplify(sym["elbo"].subs(at))
    kl_sym = sym["kl"].subs(at)
    f = sp.lambdify(sym["sigma"], elbo_sym, "math")
    grid = np.linspace(0.5, 60.0, 36)  # k = -log sigma^2
    lib = [
        elbo(cc.decoder, cc.encoder, x1, method="exact").value
        for cc in (constructions.collapse_to_point(x1, k) for k in grid)
    ]
    errs = [
        abs(f(math.exp(-0.5 * k)) - v) / max(1.0, abs(v)) for k, v in zip(grid, lib, strict=True)
    ]
    ident = IdentityCheck(
        f"sympy ELBO at the library encoder's (m, s) = {elbo_sym} equals the library's exact "
        f"ELBO at {len(grid)} k in [0.5, 60]",
        True,
        len(grid),
        max(errs),
        1e-12,
        bool(max(errs) <= 1e-12),
    )
    lim = sp.limit(elbo_sym, sym["sigma"], 0, "+")
    closed = float(f(math.exp(-5.0)))  # k = 10
    lines = [
        agree_mc("ELBO k=10", ex10, mc.value, mc.se, mc.n_samples, se_batch=mc.se_batch),
        agree_mc(
            f"ELBO k=10, mean x_1 + {_S7_SLOPE:g} t",
            ex_w,
            mc_w.value,
            mc_w.se,
            mc_w.n_samples,
            se_batch=mc_w.se_batch,
        ),
        agree_close("ELBO k=10", ex10, quad, error=quad_est.se),
        agree_close(
            "ELBO k=10 vs the sympy ELBO (derived, at the encoder's m, s)",
            closed,
            ex10,
            line="exact",
            reference_line="symbolic",
            rtol=1e-12,
        ),
    ]
    kl_zero = bool(np.all(np.abs(kls) <= 1e-15)) and kl_sym == 0
    cx = Counterexample(
        "n=1, decoder mean x_1, sigma^2 = e^-k, q = prior: KL = 0, ELBO = (D/2)(k - log 2pi)",
        {
            "D": D,
            "max_abs_KL": float(np.max(np.abs(kls))),
            "symbolic_limit_sigma_to_0": str(lim),
            "elbo_at_witness": wit.value,
        },
        bool(kl_zero and lim == sp.oo and ident.ok),
    )
    unb = decide_unbounded(wit, rate, lines)
    observed = REFUTED if cx.ok and unb == UNBOUNDED else INCONCLUSIVE
    return Outcome(
        observed,
        {
            "counterexample": cx,
            "witness": wit,
            "rate": rate,
            "symbolic": Symbolic(
                elbo=str(elbo_sym), kl=str(sym["kl"]), limit_sigma_to_0=str(lim), identity=ident
            ),
        },
        lines,
        f"KL = 0; ELBO slope {fmt(rate.slope, 6)} per k (D/2 = {rate.expected}); "
        f"k={fmt(k_w)}: ELBO {fmt(wit.value)} > M",
    )


def _thread_exact(kind: str, lam: float, s: float, m: float = 0.0) -> float:
    """The exact-line ELBO of the thread example at ``lambda``, ``q = N(m, s^2)``."""
    dec = constructions.thread_decoder(kind, lam)
    enc = constructions.thread_encoder(m, 2.0 * math.log(s))
    with np.errstate(over="ignore", invalid="ignore"):  # exact.py's discarded where-branch
        return elbo(dec, enc, _x0(), method="exact").value


#: the numerical argmax of S8 searches log s in this range
_LOG_S_RANGE = (-8.0, 3.0)


def _numeric_argmax(elbo_of_s: Callable[[float], float]) -> tuple[float, bool]:
    """The maximiser of ``elbo_of_s`` over ``s`` in ``exp(_LOG_S_RANGE)`` (bounded scalar
    search in ``log s``) and whether it is interior: away from the lower end ``s = e^-8``, where
    the value is lower.  ``False`` is what a collapsing posterior (ELBO rising as ``s -> 0``)
    gives: the search that finds ``s*`` could have ended at the edge."""
    lo, hi = _LOG_S_RANGE
    opt = scipy.optimize.minimize_scalar(
        lambda ls: -elbo_of_s(math.exp(ls)),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-10},
    )
    best = -float(opt.fun)
    interior = float(opt.x) > lo + 1e-3 and elbo_of_s(math.exp(lo)) < best - 1e-6
    return math.exp(float(opt.x)), bool(interior)


def _s8_lines(ctx: Context) -> list[LineCheck]:
    """ELBO(s*) by quadrature (lambda = 0.75, 10) and Monte Carlo (lambda = 4)."""
    lines = []
    for lam in (0.75, 10.0):
        s_star = 1.0 / math.sqrt(lam + 1.0)
        dec = constructions.thread_decoder("identity", lam)
        enc = constructions.thread_encoder(0.0, 2.0 * math.log(s_star))
        ex = _thread_exact("identity", lam, s_star)
        q = elbo(dec, enc, _x0(), method="quadrature")
        lines.append(agree_close(f"ELBO(s*) lam={fmt(lam)}", ex, q.value, error=q.se))
    dec = constructions.thread_decoder("identity", 4.0)
    enc = constructions.thread_encoder(0.0, -math.log(5.0))
    mc = elbo(dec, enc, _x0(), method="mc", samples=4000, seed=ctx.seed, device=ctx.device)
    lines.append(
        agree_mc(
            "ELBO(s*) lam=4",
            _thread_exact("identity", 4.0, 5**-0.5),
            mc.value,
            mc.se,
            mc.n_samples,
            se_batch=mc.se_batch,
        )
    )
    return lines


@claim("S8")
def worked_example(ctx: Context, entry: Claim) -> Outcome:
    """S8: the answer's ``sigma* = (2 lambda')^(-1/2)`` is not the maximiser; ``s* =
    (lambda + 1)^(-1/2)`` is, and the max ELBO is ``log N(0 | 0, 1 + 1/lambda)``."""
    sym = _thread_symbolic()
    lam_s = sym["lam"]
    lams = [0.25, 0.75, 1.0, 2.0, 4.0, 10.0, 100.0]
    rows, lines, interiors = [], [], []
    for lam in lams:
        s_star = float(sym["s_star"].subs(lam_s, lam))
        sig_ans = exact.thread_answer_sigma_star(lam)
        s_num, interior = _numeric_argmax(functools.partial(_thread_exact, "identity", lam))
        interiors.append(interior)
        e_star = _thread_exact("identity", lam, s_star)
        e_ans = _thread_exact("identity", lam, sig_ans) if math.isfinite(sig_ans) else math.nan
        sym_max = float(sym["max_elbo"].subs(lam_s, lam))
        log_marg = float(
            exact.linear_log_marginal(
                np.zeros((1, 1)), np.ones((1, 1)), np.zeros(1), np.array([-math.log(lam)])
            )[0]
        )
        rows.append(
            {
                "lambda": lam,
                "answer_sigma_star": sig_ans,
                "correct_s_star": s_star,
                "numeric_argmax": s_num,
                "elbo_at_answer": e_ans,
                "elbo_at_s_star": e_star,
                "log_N(0|0,1+1/lam)": log_marg,
            }
        )
        lines.append(
            agree_close(
                f"max ELBO lam={fmt(lam)}: exact line vs sympy",
                sym_max,
                e_star,
                line="exact",
                reference_line="symbolic",
                rtol=1e-12,
            )
        )
        lines.append(
            agree_close(
                f"max ELBO lam={fmt(lam)}: log marginal",
                log_marg,
                e_star,
                line="exact",
                reference_line="marginal",
                rtol=1e-12,
            )
        )
        lines.append(
            agree_close(
                f"argmax s lam={fmt(lam)}: numeric vs sympy",
                s_star,
                s_num,
                line="optimizer",
                reference_line="symbolic",
                rtol=1e-6,
            )
        )
    lines.extend(_s8_lines(ctx))
    wrong = [
        r
        for r in rows
        if math.isfinite(r["answer_sigma_star"])
        and abs(r["answer_sigma_star"] - r["correct_s_star"]) > 1e-6
        and r["elbo_at_s_star"] > r["elbo_at_answer"] + 1e-9
    ]
    undefined = [r["lambda"] for r in rows if not math.isfinite(r["answer_sigma_star"])]
    symbolic_ok = bool(
        sym["max_equals_marginal"]
        and sym["second_derivative_negative"]
        and sp.simplify(sym["s_star"] - 1 / sp.sqrt(lam_s + 1)) == 0
    )
    positive = all(interiors)
    cx = Counterexample(
        "identity decoder, x = 0: the answer's sigma* is not the maximizer; "
        "s* = (lambda+1)^(-1/2) is, and the numerical argmax is interior (s > 0, no collapse) "
        "for every lambda tried",
        {
            "table": rows,
            "lambdas_where_answer_is_wrong": [r["lambda"] for r in wrong],
            "lambdas_where_answer_is_undefined": undefined,
            "derivative_at_answer_sigma": str(sym["derivative_at_answer_sigma"]),
            "qualitative_point_holds": positive,
        },
        bool(wrong) and positive,
    )
    observed = REFUTED if cx.ok and symbolic_ok else INCONCLUSIVE
    symbolic = IdentityCheck(
        f"E_q log N(0|t,1/lam) = {sym['E_q_loglik']}; s* = {sym['s_star']}; "
        f"max ELBO = {sym['max_elbo']} = log N(0|0,1+1/lam)",
        symbolic_ok,
        len(lams),
        max((ln.rel_error or 0.0) for ln in lines[: 3 * len(lams)]),
        1e-6,
        symbolic_ok,
    )
    ex = rows[5]
    return Outcome(
        observed,
        {"symbolic": symbolic, "counterexample": cx},
        lines,
        f"lam=10: answer sigma*={fmt(ex['answer_sigma_star'])}, "
        f"correct s*={fmt(ex['correct_s_star'])}"
        f" (ELBO {fmt(ex['elbo_at_answer'])} < {fmt(ex['elbo_at_s_star'])}); "
        f"max ELBO = log N(0|0,1+1/lam)",
    )


def _s9_identity(ctx: Context, B: float) -> tuple[Verdict, Evidence, list[LineCheck], str]:
    """Identity decoder: every search value stays below ``B = -(1/2) log 2pi`` (the sympy
    limit of ``max_s ELBO`` as ``lambda -> inf``, the supremum), approached by s*."""
    sym = _thread_symbolic()
    rng = ctx.rng(90)
    rand = [
        _thread_exact("identity", math.exp(ll), math.exp(ls), m)
        for ll, ls, m in zip(
            rng.uniform(-5, 15, 200), rng.uniform(-10, 3, 200), rng.uniform(-3, 3, 200), strict=True
        )
    ]
    # torch ascent over (log lam, m, log s) on the CRN MC ELBO; every iterate is re-evaluated
    # by the exact line (the per-sample log p(0|t) is not bounded, so MC alone is no proof)
    dec = constructions.thread_decoder("identity", 1.0)
    dec.W.requires_grad_(False)
    dec.b.requires_grad_(False)
    enc = constructions.thread_encoder(0.5, 0.0)
    x = torch.zeros((1, 1), dtype=DTYPE)
    eps = crn_eps(ctx, 91, 256, 1, 1)
    iterates: list[tuple[float, float, float]] = []

    def obj() -> torch.Tensor:
        iterates.append(
            (float(dec.log_var.detach()), float(enc.mean.detach()), float(enc.log_var.detach()))
        )
        return crn_elbo(dec, enc, x, eps)

    ascent([dec.log_var, enc.mean, enc.log_var], obj, steps=300, lr=0.05)
    asc = [
        _thread_exact("identity", math.exp(-lv), math.exp(0.5 * slv), m)
        for lv, m, slv in iterates[::5]
    ]
    lams = [1.0, 10.0, 100.0, 1e3, 1e4]
    seq = [_thread_exact("identity", lam, (lam + 1) ** -0.5) for lam in lams]
    bound = check_bound(
        B, {"random": rand, "ascent_exact": asc, "sequence": seq}, symbols={"n": 1, "D": 1}
    )
    tight = check_tightness(B, lams, seq, tol=1e-4, x_name="lambda")
    fixed = [_thread_exact("identity", lam, 0.5) for lam in (1.0, 1e2, 1e4, 1e6)]
    lines = [
        agree_close(
            f"max ELBO lam={fmt(lam)}: exact vs sympy",
            float(sym["max_elbo"].subs(sym["lam"], lam)),
            v,
            line="exact",
            reference_line="symbolic",
            rtol=1e-12,
        )
        for lam, v in zip(lams, seq, strict=True)
    ]
    mc_dec = constructions.thread_decoder("identity", 100.0)
    mc_enc = constructions.thread_encoder(0.0, -math.log(101.0))
    mc = elbo(mc_dec, mc_enc, _x0(), method="mc", samples=4000, seed=ctx.seed, device=ctx.device)
    lines.append(
        agree_mc(
            "identity ELBO(s*) lam=100", seq[2], mc.value, mc.se, mc.n_samples, se_batch=mc.se_batch
        )
    )
    decreasing = bool(np.all(np.diff(fixed) < 0))
    sym_ok = bool(
        sym["limit_fixed_s"] == -sp.oo
        and sp.simplify(sym["limit_max"] + sp.log(2 * sp.pi) / 2) == 0
    )
    verdict = decide_bounded(bound, tight) if sym_ok and decreasing else INCONCLUSIVE
    strict = (
        "ELBO <= log p(0) = log N(0 | 0, 1 + 1/lambda) < -(1/2) log 2pi at every finite "
        "lambda (the maximiser over m, s at fixed lambda is s*; the supremum is the limit "
        "lambda -> inf)"
    )
    ev: Evidence = {
        "bound": bound,
        "tightness": tight,
        "attained": check_attained(tight, case="the bound -(1/2) log 2pi", strict=strict),
        "fixed_s_0.5_elbo": fixed,
        "symbolic_limit_fixed_s": str(sym["limit_fixed_s"]),
        "symbolic_limit_max": str(sym["limit_max"]),
    }
    return (
        verdict,
        ev,
        lines,
        f"identity: fixed s ELBO -> {sym['limit_fixed_s']}, max {fmt(bound.max_value)} <= {fmt(B)}",
    )


def _s9_constant(ctx: Context, rate: float) -> tuple[Verdict, Evidence, list[LineCheck], str]:
    """Constant decoder: the ELBO grows like ``rate`` per unit ``log lambda``."""
    x = _x0()
    loglams = np.arange(1.0, 21.0, 2.0)
    prior = constructions.thread_encoder()
    vals = [
        elbo(constructions.thread_decoder("constant", log_lam=ll), prior, x, method="exact").value
        for ll in loglams
    ]
    fitted = fit_rate(loglams, vals, expected=rate, x_name="log lambda", rtol=None, symbols={})
    ll_w = 2.0 * TARGET_M + LOG_2PI + 2.0
    wv = elbo(
        constructions.thread_decoder("constant", log_lam=ll_w), prior, x, method="exact"
    ).value
    wit = check_witness({"log_lambda": ll_w, "s": 1.0, "m": 0.0}, wv, TARGET_M)
    dec = constructions.thread_decoder("constant", 100.0)
    enc = constructions.thread_encoder(0.0, 2.0 * math.log(0.5))
    ex = elbo(dec, enc, x, method="exact").value
    mc = elbo(dec, enc, x, method="mc", samples=500, seed=ctx.seed, device=ctx.device)
    closed = exact.thread_elbo(100.0, 0.5, kind="constant")
    # the constant decoder ignores t (zero-variance MC: a code-path check); N(x | w t, 1/lam)
    # is a statistical check of the mc line against the exact one
    dec_w = constructions.thread_decoder("constant", 100.0, slope=_S9_SLOPE)
    ex_w = elbo(dec_w, enc, x, method="exact").value
    mc_w = elbo(dec_w, enc, x, method="mc", samples=500, seed=ctx.seed, device=ctx.device)
    lines = [
        agree_mc(
            "constant ELBO lam=100, s=0.5", ex, mc.value, mc.se, mc.n_samples, se_batch=mc.se_batch
        ),
        agree_mc(
            f"ELBO N(x | {_S9_SLOPE:g} t, 1/lam), lam=100, s=0.5",
            ex_w,
            mc_w.value,
            mc_w.se,
            mc_w.n_samples,
            se_batch=mc_w.se_batch,
        ),
        agree_close(
            "constant ELBO lam=100, s=0.5",
            closed,
            ex,
            line="exact",
            reference_line="closed form",
            rtol=1e-12,
        ),
        agree_close(
            "constant ELBO lam=100, s=0.5",
            ex,
            (q_est := elbo(dec, enc, x, method="quadrature")).value,
            error=q_est.se,
        ),
    ]
    verdict = decide_unbounded(wit, fitted, lines)
    return (
        verdict,
        {"witness": wit, "rate": fitted},
        lines,
        f"constant: slope {fmt(fitted.slope, 6)} per log lambda, log lam={fmt(ll_w)}: "
        f"{fmt(wv)} > M",
    )


@claim("S9")
def growing_precision(ctx: Context, entry: Claim) -> Outcome:
    """S9: fixed ``sigma* > 0``, ``lambda -> inf``: bounded (identity), unbounded (constant)."""
    sym = _thread_symbolic()
    # the bound (and supremum) is derived, lim_{lam -> inf} max_s ELBO, never read from the
    # ledger: the gate compares it with the ledger's bound_expr at n = D = 1
    v1, ev1, l1, s1 = _s9_identity(ctx, float(sym["limit_max"]))
    v2, ev2, l2, s2 = _s9_constant(ctx, entry.rate_at())
    ev: Evidence = {
        "symbolic": Symbolic(
            elbo_identity=str(sym["elbo"]), limit_fixed_s=str(sym["limit_fixed_s"])
        ),
        "identity_decoder": ev1,
        "constant_decoder": ev2,
        "bound": ev1["bound"],
        "tightness": ev1["tightness"],
        "attained": {"identity_decoder": ev1["attained"]},
        "search": Search(("random", "ascent_exact")),
        "witness": ev2["witness"],
        "rate": ev2["rate"],
    }
    return Outcome(
        Conditional.of({"identity_decoder": v1, "constant_decoder": v2}), ev, l1 + l2, f"{s1}; {s2}"
    )
