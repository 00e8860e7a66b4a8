"""Soundness of the interval rules: the real operation's values lie inside the enclosure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from wellposed.audit import intervals as I
from wellposed.audit.graph import propagate, trace

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a, b: -a,
    "exp": lambda a, b: torch.exp(a),
    "log": lambda a, b: torch.log(a),
    "sqrt": lambda a, b: a.sqrt(),
    "square": lambda a, b: torch.square(a),
    "pow2": lambda a, b: a**2,
    "pow_half": lambda a, b: a.pow(0.5),
    "pow_neg": lambda a, b: a**-1,
    "rpow": lambda a, b: 2.0**a,
    "abs": lambda a, b: a.abs(),
    "softplus": lambda a, b: F.softplus(a),
    "softplus_beta": lambda a, b: F.softplus(a, 3.0, 2.0),
    "relu": lambda a, b: torch.relu(a),
    "leaky": lambda a, b: F.leaky_relu(a, 0.2),
    "elu": lambda a, b: F.elu(a),
    "gelu": lambda a, b: F.gelu(a),
    "silu": lambda a, b: F.silu(a),
    "sigmoid": lambda a, b: torch.sigmoid(a),
    "tanh": lambda a, b: a.tanh(),
    "clamp": lambda a, b: a.clamp(min=-1.0, max=2.0),
    "clamp_t": lambda a, b: torch.clamp(a, min=b),
    "clamp_min": lambda a, b: a.clamp_min(0.5),
    "clamp_max": lambda a, b: torch.clamp_max(a, b),
    "maximum": lambda a, b: torch.maximum(a, b),
    "minimum": lambda a, b: torch.minimum(a, b),
    "where": lambda a, b: torch.where(a > b, a, b),
    "logaddexp": lambda a, b: torch.logaddexp(a, b),
    "logsumexp": lambda a, b: torch.logsumexp(a, -1),
    "sum": lambda a, b: a.sum(),
    "mean": lambda a, b: a.mean(0),
    "matmul": lambda a, b: a @ b.T,
    "cat": lambda a, b: torch.cat([a, b], -1),
    "reshape": lambda a, b: a.reshape(-1)[1:],
    "lin_kl": lambda a, b: 1 + a - b.pow(2) - a.exp(),
    "lin_exp": lambda a, b: a - torch.exp(a),
    "detach": lambda a, b: a - a.detach(),
    "self_mul": lambda a, b: a * a,
    "log1p": lambda a, b: torch.log1p(a),
    "expm1": lambda a, b: torch.expm1(a),
    "recip": lambda a, b: torch.reciprocal(a),
    "hardtanh": lambda a, b: F.hardtanh(a),
    "softmax": lambda a, b: a.softmax(-1),
    "log_softmax": lambda a, b: F.log_softmax(a, -1),
    "amax": lambda a, b: a.amax(-1),
    "max_dim": lambda a, b: a.max(-1)[0],
    "inplace": lambda a, b: a.clone().clamp_(min=0.25) * 2,
    "masked_fill_": lambda a, b: _masked(a, b),
}


def _masked(a, b):
    c = a.clone()
    c.masked_fill_(b > 0, 7.0)
    return c + 0


class Box(nn.Module):
    """``a`` in ``[la, la + wa]`` and ``b`` in ``[lb, lb + wb]`` from free parameters (through
    ``sigmoid``), then the operation."""

    def __init__(self, op, la, wa, lb, wb) -> None:
        super().__init__()
        self.p, self.q = nn.Parameter(torch.zeros(3, 4)), nn.Parameter(torch.zeros(3, 4))
        self.op, self.ends = op, (la, wa, lb, wb)

    def forward(self, t):
        la, wa, lb, wb = self.ends
        a = la + wa * torch.sigmoid(self.p)
        b = lb + wb * torch.sigmoid(self.q)
        return self.op(a, b)


ends = st.floats(-6.0, 6.0)
widths = st.floats(0.0, 8.0)


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=12, deadline=None)
@given(la=ends, wa=widths, lb=ends, wb=widths, seed=st.integers(0, 2**31))
def test_every_rule_encloses_the_real_values(name, la, wa, lb, wb, seed) -> None:
    box = Box(OPS[name], la, wa, lb, wb).double()
    res = propagate(trace(box), {"t": (torch.zeros(1), True)})
    lo, hi = res.output.iv
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for scale in (0.1, 1.0, 10.0, 1e3):
            for p in (box.p, box.q):
                p.copy_(torch.as_tensor(rng.normal(size=p.shape) * scale))
            out = box(None)
            out = out[~torch.isnan(out)]  # NaN is not a value (log of a negative, ...)
            assert bool((out >= lo).all()) and bool((out <= hi).all()), (name, lo, hi, out)


def test_free_parameters_are_free_and_constants_are_fixed() -> None:
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))
            self.register_buffer("floor", torch.tensor([0.5, 1.0, 2.0]))

        def forward(self, t):
            return self.w * 0 + 1, self.floor + 1, torch.ones(3) * 4

    (a, b, c) = propagate(trace(M().double()), {"t": (torch.zeros(1), False)}).output
    assert a.iv == (1.0, 1.0) or (a.iv[0] <= 1.0 <= a.iv[1] and a.iv[1] - a.iv[0] < 1e-12)
    assert b.fixed and b.iv == (1.5, 3.0)
    assert c.fixed and c.iv == (4.0, 4.0)


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(-5, 5),
    b=st.floats(-5, 5),
    c=st.floats(-5, 5),
    lo=st.floats(-8, 8),
    w=st.floats(0, 10),
)
def test_linear_form_groups_bound_a_dense_grid(a, b, c, lo, w) -> None:
    if b != 0.0 and c != 0.0:
        c = 0.0  # the closed forms cover one of the two
    hi = lo + w
    u = np.linspace(lo, hi, 2001)
    vals = a * u + b * np.exp(u) + c * u * u
    got = I.lin_bound(({("id", "u"): a, ("exp", "u"): b, ("sq", "u"): c}, 0.0), {"u": (lo, hi)})
    assert got[0] <= vals.min() + 1e-9 and vals.max() <= got[1] + 1e-9
    assert got[1] <= vals.max() + 1e-6 * (1 + abs(vals.max())) + 0.1 * w * w * (
        abs(a) + abs(b) * math.exp(hi)
    )


def test_softplus_threshold_jump_is_enclosed() -> None:
    x = torch.linspace(19.9, 20.1, 2001, dtype=torch.float64)
    lo, hi = I.softplus((19.9, 20.1))
    v = F.softplus(x)
    assert float(v.min()) >= lo and float(v.max()) <= hi


def test_student_t_peak_density_increases_with_df_to_the_normal() -> None:
    """c(df) = Gamma((df+1)/2) / (Gamma(df/2) sqrt(df pi)) is increasing, below 1/sqrt(2 pi)."""
    df = np.geomspace(0.05, 1e4, 4000)
    lc = np.array(
        [math.lgamma((v + 1) / 2) - math.lgamma(v / 2) - 0.5 * math.log(v * math.pi) for v in df]
    )
    assert np.all(np.diff(lc) > 0)
    assert lc.max() <= -0.5 * math.log(2 * math.pi) and lc[-1] == pytest.approx(
        -0.5 * math.log(2 * math.pi), abs=1e-4
    )


def test_outward_rounding_steps_one_ulp() -> None:
    assert I.down(1.0) < 1.0 < I.up(1.0)
    assert I.down(-math.inf) == -math.inf and I.up(math.inf) == math.inf
    assert I.mul((0.0, 0.0), I.FREE) == (I.down(0.0), I.up(0.0))
