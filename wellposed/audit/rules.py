"""The rule per graph operation: an enclosure of its output from its inputs' enclosures.

Used by :mod:`wellposed.audit.graph` for every ``call_function`` / ``call_method`` /
``call_module`` node whose inputs are not all fixed.  A rule returns the output's values
(:class:`Val`, :class:`DistVal`, or a structure of them) or ``None`` (no rule: the graph walker
makes the output ``[-inf, inf]``).  The arithmetic is :mod:`wellposed.audit.intervals`; the
table (:data:`TABLE`) and its soundness argument are in docs/your-model.md.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.fx as fx
from torch import nn

from wellposed.audit import intervals as I
from wellposed.audit.intervals import FREE, INF, Iv, Lin, hull
from wellposed.audit.likelihoods import LIKELIHOODS, distribution
from wellposed.audit.values import Ctx, DistVal, Val, free, op_name, point, vals

__all__ = ["DYNAMIC_SHAPE", "INPLACE", "PARTIAL", "RANDOM", "TABLE", "Ctx", "DistVal", "Val",
           "apply", "free", "op_name", "point"]

#: operations that draw random numbers: never fixed, even on fixed inputs
RANDOM = frozenset({"randn", "randn_like", "rand", "rand_like", "randint", "randint_like",
                    "normal", "normal_", "uniform_", "bernoulli", "multinomial", "dropout",
                    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "rsample", "sample",
                    "exponential_", "poisson"})
#: operations whose output shape depends on the input's values
DYNAMIC_SHAPE = frozenset({"nonzero", "masked_select", "unique", "unique_consecutive",
                           "argwhere", "nonzero_static"})
#: operator functions that mutate their first argument (``a += b`` on tensors)
INPLACE = frozenset({"iadd", "isub", "imul", "itruediv", "setitem"})
#: in-place operations that change only part of the tensor (old and new values mix)
PARTIAL = {"setitem": True, "index_fill_": True, "masked_fill_": True, "index_put_": True}
_MAX_TERMS = 16


# ----------------------------------------------------------------------------------------
# linear forms (dependence across terms: ``lv - exp(lv)``, ``a - a.detach()``)
# ----------------------------------------------------------------------------------------


def _lin(v: Any) -> Lin | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return ({}, float(v))
    if not isinstance(v, Val) or not isinstance(v.c, torch.Tensor | float | int):
        return None
    if v.fixed and v.iv[0] == v.iv[1]:
        return ({}, v.iv[0])
    return v.lin if v.lin is not None else ({("id", v.ident): 1.0}, 0.0)


def _lin_comb(a: Lin | None, b: Lin | None, kb: float) -> Lin | None:
    """``a + kb b``, or ``None`` when either is unknown or the form grows too long."""
    if a is None or b is None or not math.isfinite(kb):
        return None
    terms = dict(a[0])
    for key, coef in b[0].items():
        terms[key] = terms.get(key, 0.0) + kb * coef
    return None if len(terms) > _MAX_TERMS else (terms, a[1] + kb * b[1])


def _sharpen(ctx: Ctx, iv: Iv, lin: Lin | None) -> Any:
    """The output with the interval-arithmetic enclosure met with the linear form's."""
    if lin is not None:
        lo, hi = I.lin_bound(lin, ctx.bases)
        iv = (max(iv[0], lo), min(iv[1], hi))
    return ctx.make(iv, lin=lin)

# ----------------------------------------------------------------------------------------
# arithmetic
# ----------------------------------------------------------------------------------------


def _add(ctx: Ctx, sign: float = 1.0, swap: bool = False) -> Any:
    """``a + alpha b`` (``sub``: ``a - alpha b``; ``rsub``: ``b - alpha a``)."""
    a, b = (ctx.arg(1, "other"), ctx.arg(0, "input")) if swap else (
        ctx.arg(0, "input"), ctx.arg(1, "other"))
    k = sign * float(ctx.const(2, "alpha", 1))
    A, B = _iv_of(a), _iv_of(b)
    return _sharpen(ctx, I.add(A, I.scale(B, k)), _lin_comb(_lin(a), _lin(b), k))


def _iv_of(a: Any) -> Iv:
    if isinstance(a, Val):
        return a.iv
    return (float(a), float(a)) if isinstance(a, int | float) else FREE


def _point(a: Any) -> float | None:
    iv = _iv_of(a)
    return iv[0] if iv[0] == iv[1] and math.isfinite(iv[0]) and (
        not isinstance(a, Val) or a.fixed) else None


def _mul(ctx: Ctx) -> Any:
    a, b = ctx.arg(0, "input"), ctx.arg(1, "other")
    if isinstance(a, Val) and isinstance(b, Val) and a.ident == b.ident:
        return ctx.make(I.pow_const(a.iv, 2.0), lin=({("sq", a.ident): 1.0}, 0.0))
    ka, kb = _point(a), _point(b)
    lin = _lin_comb(({}, 0.0), _lin(b), ka) if ka is not None else (
        _lin_comb(({}, 0.0), _lin(a), kb) if kb is not None else None)
    return _sharpen(ctx, I.mul(_iv_of(a), _iv_of(b)), lin)


def _div(ctx: Ctx) -> Any:
    if ctx.const(2, "rounding_mode", None) is not None:
        return None
    a, b = ctx.arg(0, "input"), ctx.arg(1, "other")
    kb = _point(b)
    lin = _lin_comb(({}, 0.0), _lin(a), 1.0 / kb) if kb else None
    return _sharpen(ctx, I.mul(_iv_of(a), I.recip(_iv_of(b))), lin)


def _neg(ctx: Ctx) -> Any:
    a = ctx.arg(0, "input")
    return _sharpen(ctx, I.scale(_iv_of(a), -1.0), _lin_comb(({}, 0.0), _lin(a), -1.0))


def _pow(ctx: Ctx) -> Any:
    a, b = ctx.arg(0, "input"), ctx.arg(1, "exponent")
    p = _point(b)
    if p is not None and isinstance(a, Val):
        lin = ({("sq", a.ident): 1.0}, 0.0) if p == 2.0 and not a.fixed else None
        return ctx.make(I.pow_const(a.iv, p), lin=lin)
    base = _iv_of(a)
    if base[0] > 0.0:  # a^b = exp(b log a)
        return ctx.make(I.exp(I.mul(_iv_of(b), I.log(base))))
    return None


def _exp(ctx: Ctx) -> Any:
    a = ctx.arg(0, "input")
    lin = ({("exp", a.ident): 1.0}, 0.0) if isinstance(a, Val) and not a.fixed else None
    return ctx.make(I.exp(ctx.x()), lin=lin)


def _clamp(ctx: Ctx) -> Any:
    low = ctx.iv(1, "min") if ctx.op != "clamp_max" else None
    high = ctx.iv(2 if ctx.op in ("clamp", "clip") else 1, "max") if ctx.op != "clamp_min" \
        else None
    x = ctx.x()
    raised = low is not None and low[0] > x[0]
    return ctx.make(I.clamp(x, low, high), using=[ctx.arg(1, "min") if raised else ctx.arg(0)])


def _softplus(ctx: Ctx) -> Any:
    m = cast(nn.Softplus | None, ctx.module)  # the rule is looked up by the module's class
    beta = float(m.beta if m is not None else ctx.const(1, "beta", 1.0))
    thr = float(m.threshold if m is not None else ctx.const(2, "threshold", 20.0))
    return ctx.make(I.softplus(ctx.x(), beta, thr))


def _unary(f: Callable[[Iv], Iv]) -> Callable[[Ctx], Any]:
    return lambda ctx: ctx.make(f(ctx.x()))


def _mono(f: Callable[[float], float], lo: float = -INF, hi: float = INF) -> Callable[[Ctx], Any]:
    """A non-decreasing elementwise function with range in ``[lo, hi]``."""
    return _unary(lambda a: I.increasing(f, a, lo, hi))


def _below(floor: float) -> Callable[[Ctx], Any]:
    """``f(x) >= floor`` and ``f(x) <= max(x, 0)`` (GELU, SiLU, Mish: ``x g(x)`` with
    ``0 <= g <= 1``)."""
    return _unary(lambda a: (floor, max(a[1], 0.0)))


def _leaky(ctx: Ctx) -> Any:
    m = cast(nn.LeakyReLU | None, ctx.module)
    s = float(m.negative_slope if m is not None else ctx.const(1, "negative_slope", 0.01))
    if s < 0.0:
        return None
    return ctx.make(I.increasing(lambda x: x if x >= 0 else (0.0 if s == 0 else s * x), ctx.x()))


def _elu(ctx: Ctx) -> Any:
    m = cast(nn.ELU | None, ctx.module)
    alpha = float(m.alpha if m is not None else ctx.const(1, "alpha", 1.0))
    if alpha < 0.0:
        return None
    return ctx.make(I.increasing(lambda x: x if x > 0 else alpha * math.expm1(x)
                                 if x > -INF else -alpha, ctx.x(), -alpha))


def _hardtanh(ctx: Ctx) -> Any:
    m = cast(nn.Hardtanh | None, ctx.module)
    lo = float(m.min_val if m is not None else ctx.const(1, "min_val", -1.0))
    hi = float(m.max_val if m is not None else ctx.const(2, "max_val", 1.0))
    return ctx.make(I.clamp(ctx.x(), (lo, lo), (hi, hi)))


def _binary_max(ctx: Ctx, pick: Callable[..., float]) -> Any:
    """``maximum`` / ``minimum`` (and ``max`` / ``min`` of two tensors); the one-tensor
    reductions keep the enclosure."""
    other = ctx.arg(1, "other")
    if not isinstance(other, Val):
        return ctx.make(ctx.x())
    a, b = ctx.x(), other.iv
    first = pick(a[0], b[0]) == a[0]
    return ctx.make((pick(a[0], b[0]), pick(a[1], b[1])),
                    using=[ctx.arg(0, "input") if first else other])


def _where(ctx: Ctx) -> Any:
    if len(ctx.args) + len(ctx.kwargs) < 3:
        return None
    return ctx.make(hull(_iv_of(ctx.arg(1, "input")), _iv_of(ctx.arg(2, "other"))))


def _logaddexp(ctx: Ctx) -> Any:
    a, b = ctx.arg(0, "input"), ctx.arg(1, "other")
    A, B = _iv_of(a), _iv_of(b)
    return ctx.make(I.logaddexp(A, B), using=[a if A[0] >= B[0] else b])


def _count(ctx: Ctx) -> float:
    """Input elements per output element of a reduction."""
    src = ctx.arg(0, "input")
    n_in = src.c.numel() if isinstance(src, Val) and isinstance(src.c, torch.Tensor) else 1
    n_out = ctx.out.numel() if isinstance(ctx.out, torch.Tensor) else 1
    return n_in / max(n_out, 1)


def _widen(iv: Iv, n: float) -> Iv:
    """Room for the rounding of a float64 sum of ``n`` terms (``n`` units in the last place
    of the largest end; Higham, *Accuracy and Stability*, 2nd ed., sec. 4.2)."""
    slack = (n + 2.0) * 2.3e-16 * max(abs(iv[0]), abs(iv[1])) if all(
        math.isfinite(v) for v in iv) else 0.0
    return (I.down(iv[0] - slack), I.up(iv[1] + slack))


def _sum(ctx: Ctx) -> Any:
    n = _count(ctx)
    return ctx.make(_widen(I.scale(ctx.x(), n), n))


def _mean(ctx: Ctx) -> Any:
    return ctx.make(_widen(ctx.x(), _count(ctx)))


def _logsumexp(ctx: Ctx) -> Any:
    ln = math.log(max(_count(ctx), 1.0))
    return ctx.make(_widen(I.add(ctx.x(), (ln, ln)), 4.0))


def _matmul(ctx: Ctx) -> Any:
    """``sum_k a_ik b_kj``: ``K`` products, each in ``a * b``."""
    a = ctx.arg(0, "input")
    k = a.c.shape[-1] if isinstance(a, Val) and isinstance(a.c, torch.Tensor) and a.c.ndim else 1
    return ctx.make(_widen(I.scale(I.mul(ctx.x(), _iv_of(ctx.arg(1, "other"))), k), k))


def _weights(w: Any) -> Iv:
    """A weight's enclosure: a parameter is free, a buffer its range."""
    if isinstance(w, nn.Parameter) or w is None:
        return FREE if w is not None else (0.0, 0.0)
    if isinstance(w, Val):
        return w.iv
    return (float(w.min()), float(w.max())) if w.numel() else (0.0, 0.0)


def _affine(ctx: Ctx, x: Iv, w: Any, b: Any, terms: int, what: str) -> Any:
    """``sum_k w_k x_k + b`` over at most ``terms`` products (convolutions: padding and
    kernel edges drop terms, so ``x`` is widened to hold 0)."""
    W = _weights(w)
    iv = I.add(_widen(I.scale(I.mul(x, W), terms), terms), _weights(b))
    origin = f"{what} with free weights" if iv == FREE and x != FREE else ""
    return ctx.make(iv, origin=origin)


def _layer(ctx: Ctx) -> Any:
    """``nn.Linear`` / ``nn.ConvNd`` / ``nn.ConvTransposeNd`` and their functional forms."""
    m = ctx.module
    if m is not None:  # a weight that is not a registered buffer is free (parametrized too)
        held = dict(m.named_buffers(recurse=False))
        w = held.get("weight", nn.Parameter(torch.zeros(1)))
        b = held.get("bias", None if getattr(m, "bias", None) is None else nn.Parameter(
            torch.zeros(1)))
    else:
        w, b = ctx.arg(1, "weight"), ctx.arg(2, "bias")
    wc = w.c if isinstance(w, Val) else w
    if not isinstance(wc, torch.Tensor):
        return None
    x = ctx.x()
    conv = "conv" in ctx.op.lower()
    return _affine(ctx, hull(x, (0.0, 0.0)) if conv else x, w, b,
                   int(wc.numel()) if conv else int(wc.shape[-1]), ctx.op)


def _resize(ctx: Ctx) -> Any:
    """``Upsample`` / ``interpolate``: nearest and (bi/tri)linear modes are convex
    combinations of input elements; bicubic overshoots (no rule)."""
    mode = ctx.module.mode if ctx.module is not None else ctx.const(3, "mode", "nearest")
    return ctx.make(ctx.x()) if "cubic" not in str(mode) else None


def _dropout(ctx: Ctx) -> Any:
    m = cast(nn.Dropout | nn.Dropout1d | nn.Dropout2d | None, ctx.module)
    p = float(m.p if m is not None else ctx.const(1, "p", 0.5))
    training = bool(m.training if m is not None else ctx.const(2, "training", True))
    if not training or p == 0.0:
        return ctx.make(ctx.x())
    if p >= 1.0:
        return ctx.make((0.0, 0.0))
    return ctx.make(hull((0.0, 0.0), I.scale(ctx.x(), 1.0 / (1.0 - p))))


def _cat(ctx: Ctx) -> Any:
    parts = ctx.arg(0, "tensors")
    if not isinstance(parts, list | tuple) or not parts:
        return None
    return ctx.make(hull(*[_iv_of(p) for p in parts]))


def _with_value(i: int, name: str) -> Callable[[Ctx], Any]:
    """Operations that write a value into part of the tensor (``pad``, ``masked_fill``)."""
    return lambda ctx: ctx.make(hull(ctx.x(), _iv_of(ctx.arg(i, name, 0.0))))


def _same(ctx: Ctx) -> Any:
    """Shape operations, indexing and copies: every output element is an input element."""
    x = ctx.arg(0, "input")
    if not isinstance(x, Val):
        return operator.getitem(*ctx.args) if ctx.op == "getitem" else None
    iv = x.iv
    if isinstance(ctx.out, torch.Tensor) and isinstance(x.c, torch.Tensor) and \
            ctx.out.dtype != x.c.dtype:
        rel = 1e-3 if ctx.out.dtype in (torch.float16, torch.bfloat16) else 1.2e-7
        iv = (I.down(iv[0] - rel * abs(iv[0])), I.up(iv[1] + rel * abs(iv[1])))
    keep = ctx.op in _IDENTITY and isinstance(ctx.out, torch.Tensor) and isinstance(
        x.c, torch.Tensor) and ctx.out.dtype == x.c.dtype
    return ctx.make(iv, ident=x.ident if keep else None, lin=x.lin if keep else None)


def _getattr(ctx: Ctx) -> Any:
    obj, attr = ctx.args[0], ctx.args[1]
    if isinstance(obj, DistVal):
        if attr in ("loc", "mean", "mode") and "loc" in obj.params:
            return obj.params["loc"]
        if attr in ("scale", "stddev") and "scale" in obj.params:
            return obj.params["scale"]
        return None
    if isinstance(obj, Val) and attr in ("T", "mT", "H", "mH", "data", "real"):
        return ctx.make(obj.iv)
    if isinstance(obj, Val) and attr in ("shape", "dtype", "device", "ndim", "layout"):
        return ctx.out
    return None

_IDENTITY = frozenset({"detach", "clone", "contiguous", "to", "double", "cpu", "type",
                       "Identity", "identity", "requires_grad"})
_SHAPE = ("reshape view view_as flatten unflatten squeeze unsqueeze permute transpose t "
          "expand expand_as repeat tile flip fliplr flipud roll movedim moveaxis narrow select "
          "getitem broadcast_to repeat_interleave split chunk unbind tensor_split to type "
          "double float half cpu index_select gather take diagonal swapaxes Flatten Unflatten "
          "PixelShuffle PixelUnshuffle MaxPool1d MaxPool2d "
          "MaxPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d max_pool1d max_pool2d amax amin "
          "cummax cummin sort topk kthvalue median nanmedian quantile")
_FIXED_MAKERS = ("ones_like zeros_like full_like new_ones new_zeros new_full new_tensor ones "
                 "zeros full arange linspace eye tensor as_tensor")

TABLE: dict[str, Callable[[Ctx], Any]] = {
    "add": _add, "iadd": _add, "radd": _add,
    "sub": lambda c: _add(c, -1.0), "isub": lambda c: _add(c, -1.0),
    "subtract": lambda c: _add(c, -1.0), "rsub": lambda c: _add(c, -1.0, swap=True),
    "mul": _mul, "imul": _mul, "multiply": _mul,
    "truediv": _div, "div": _div, "itruediv": _div, "divide": _div,
    "neg": _neg, "negative": _neg, "pow": _pow, "float_power": _pow,
    "square": lambda c: _mul(Ctx(c.node, c.op, (c.args[0], c.args[0]), {}, c.out, c.bases)),
    "exp": _exp, "exp2": _mono(lambda x: 2.0 ** x if x > -INF else 0.0, 0.0),
    "expm1": _mono(lambda x: math.expm1(x) if x > -INF else -1.0, -1.0),
    "log": _unary(I.log),
    "log2": _unary(lambda a: I.scale(I.log(a), 1 / math.log(2.0))),
    "log10": _unary(lambda a: I.scale(I.log(a), 1 / math.log(10.0))),
    "log1p": _unary(lambda a: I.log(I.add(a, (1.0, 1.0)))),
    "sqrt": _unary(I.sqrt), "rsqrt": _unary(lambda a: I.recip(I.sqrt(a))),
    "reciprocal": _unary(I.recip), "abs": _unary(I.abs_), "absolute": _unary(I.abs_),
    "sign": _unary(lambda a: (-1.0, 1.0)), "clamp": _clamp, "clip": _clamp,
    "clamp_min": _clamp, "clamp_max": _clamp,
    "softplus": _softplus, "Softplus": _softplus,
    "relu": _mono(lambda x: max(x, 0.0), 0.0), "ReLU": _mono(lambda x: max(x, 0.0), 0.0),
    "relu6": _mono(lambda x: min(max(x, 0.0), 6.0), 0.0, 6.0),
    "ReLU6": _mono(lambda x: min(max(x, 0.0), 6.0), 0.0, 6.0),
    "leaky_relu": _leaky, "LeakyReLU": _leaky, "elu": _elu, "ELU": _elu,
    "gelu": _below(-0.1701), "GELU": _below(-0.1701), "silu": _below(-0.2785),
    "SiLU": _below(-0.2785), "mish": _below(-0.3089), "Mish": _below(-0.3089),
    "sigmoid": _mono(lambda x: 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0, 0.0, 1.0),
    "Sigmoid": _mono(lambda x: 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0, 0.0, 1.0),
    "logsigmoid": _unary(lambda a: (-INF, 0.0)), "LogSigmoid": _unary(lambda a: (-INF, 0.0)),
    "tanh": _mono(math.tanh, -1.0, 1.0), "Tanh": _mono(math.tanh, -1.0, 1.0),
    "hardtanh": _hardtanh, "Hardtanh": _hardtanh,
    "softsign": _mono(lambda x: x / (1 + abs(x)) if abs(x) < INF else math.copysign(1, x),
                      -1.0, 1.0),
    "atan": _mono(math.atan, -math.pi / 2, math.pi / 2), "erf": _mono(math.erf, -1.0, 1.0),
    "sin": _unary(lambda a: (-1.0, 1.0)), "cos": _unary(lambda a: (-1.0, 1.0)),
    "softmax": _unary(lambda a: (0.0, 1.0)), "Softmax": _unary(lambda a: (0.0, 1.0)),
    "log_softmax": _unary(lambda a: (-INF, 0.0)), "LogSoftmax": _unary(lambda a: (-INF, 0.0)),
    "maximum": lambda c: _binary_max(c, max), "fmax": lambda c: _binary_max(c, max),
    "max": lambda c: _binary_max(c, max), "minimum": lambda c: _binary_max(c, min),
    "fmin": lambda c: _binary_max(c, min), "min": lambda c: _binary_max(c, min),
    "where": _where, "logaddexp": _logaddexp,
    "logsumexp": _logsumexp, "sum": _sum, "nansum": _sum, "mean": _mean, "nanmean": _mean,
    "matmul": _matmul, "mm": _matmul, "bmm": _matmul, "mv": _matmul, "dot": _matmul,
    "linear": _layer, "Linear": _layer, "conv1d": _layer, "conv2d": _layer, "conv3d": _layer,
    "conv_transpose1d": _layer, "conv_transpose2d": _layer, "conv_transpose3d": _layer,
    "Conv1d": _layer, "Conv2d": _layer, "Conv3d": _layer, "ConvTranspose1d": _layer,
    "ConvTranspose2d": _layer, "ConvTranspose3d": _layer,
    "dropout": _dropout, "Dropout": _dropout, "Dropout1d": _dropout, "Dropout2d": _dropout,
    "cat": _cat, "concat": _cat, "concatenate": _cat, "stack": _cat, "hstack": _cat,
    "vstack": _cat, "pad": _with_value(3, "value"), "masked_fill": _with_value(2, "value"),
    "tril": _with_value(9, "_"), "triu": _with_value(9, "_"),
    "setitem": lambda c: c.make(_iv_of(c.args[2])), "copy": lambda c: c.make(_iv_of(c.args[1])),
    "fill": lambda c: c.make(_iv_of(c.args[1])), "zero": lambda c: c.make((0.0, 0.0)),
    "rand": _unary(lambda a: (0.0, 1.0)), "rand_like": _unary(lambda a: (0.0, 1.0)),
    "bernoulli": _unary(lambda a: (0.0, 1.0)),
    "AvgPool1d": _unary(lambda a: hull(a, (0.0, 0.0))), "AvgPool2d":
        _unary(lambda a: hull(a, (0.0, 0.0))), "avg_pool2d": _unary(lambda a: hull(a, (0.0, 0.0))),
    "AdaptiveAvgPool2d": _unary(lambda a: hull(a, (0.0, 0.0))),
    "getattr": _getattr, "Upsample": _resize, "interpolate": _resize,
    "upsample": _resize,
    **LIKELIHOODS,
    **{name: _same for name in _SHAPE.split()},
    **{name: lambda c: c.make(FREE) for name in ("randn", "randn_like", "normal", "rsample",
                                                   "sample", "empty_like", "new_empty")},
}
_QUERIES = frozenset({"size", "dim", "numel", "ndimension", "nelement", "len", "__len__",
                      "is_floating_point", "get_device"})


def _fixed_leaf(c: object, name: str) -> Any:
    """A fixed maker's output tensor (non-empty, no NaN) as a fixed :class:`Val` of its own
    range ``[min c, max c]``; anything else as it is."""
    if isinstance(c, torch.Tensor) and c.numel() and not c.isnan().any():
        return Val(c, (float(c.min()), float(c.max())), True, (name,), name)
    return c


def apply(ctx: Ctx) -> Any:
    """The rule for ``ctx.op`` (in-place forms ``op_`` use ``op``'s rule), or ``None``."""
    op = ctx.op
    if isinstance(ctx.node.target, type) and issubclass(ctx.node.target,
                                                        torch.distributions.Distribution):
        return distribution(ctx)
    if op in _QUERIES:
        return ctx.out
    if op in _FIXED_MAKERS.split():
        skip = 1 if op.endswith("_like") or op.startswith("new_") else 0
        if not all(v.fixed for v in vals((ctx.args[skip:], ctx.kwargs))):
            return None
        return fx.node.map_aggregate(ctx.out, lambda c: _fixed_leaf(c, ctx.node.name))
    base = op[:-1] if op.endswith("_") and not op.endswith("__") else op
    rule = TABLE.get(op) or TABLE.get(base)
    return None if rule is None else rule(ctx)
