"""Where a network can be rewired: a ``Linear`` unit, its activation, its readers, its hyperplane.

A *site* (docs/your-model.md, "The constructive spike") is found in a module's own
``torch.fx`` graph (:func:`wellposed.audit.graph.trace_patched`): a ``torch.nn.Linear`` node
``A`` whose only user is an elementwise activation ``f`` (any module, function or method with
one tensor input, checked numerically to act on each entry alone), whose users are all
``torch.nn.Linear`` layers with a bias (the *consumers*).  Rewiring unit ``j`` of ``A`` to
``u(z) = f(lam (w . a - c))`` (or, where ``f`` is not constant far to the left, the
difference ``f(z) - f(z - SHIFT)`` of two units) makes ``u`` constant on every input with
``w . a < c - 60 / lam``; the consumers' column ``j`` then acts on the inputs past the
hyperplane alone, once their biases absorb the constant (:func:`unit_values`).  What a
layer reads (:func:`features`) tells the rows apart, unless the fit silenced it, and then
:func:`revive_silenced` brings the layers before it back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from wellposed.audit.graph import trace_patched
from wellposed.audit.usermodel import no_validation
from wellposed.models.validate import DTYPE

__all__ = [
    "PAD",
    "SATURATE",
    "SHIFT",
    "Site",
    "features",
    "find_sites",
    "latent_linear",
    "placement",
    "revive_silenced",
    "separate",
    "unit_values",
]

#: pre-activation distance (in units of ``lam``) past which an activation counts as saturated
SATURATE = 60.0
#: the offset of the second unit of a two-unit site
SHIFT = 30.0
#: the decoder unit's margin past its hyperplane (``lam = SATURATE / PAD``)
PAD = 0.25
#: random directions tried for a separating hyperplane (besides the rows' own)
DIRECTIONS = 256


@dataclass(frozen=True)
class Site:
    """A rewirable unit's layer: ``layer`` (its qualified name ``name``), the activation
    ``act``, the consumers ``(name, Linear)``, ``units`` (1, or 2 for a difference of two),
    and whether ``layer`` reads the module's input directly (through reshapes only)."""

    name: str
    layer: nn.Linear
    act: Callable[[torch.Tensor], torch.Tensor]
    consumers: tuple[tuple[str, nn.Linear], ...]
    units: int
    from_input: bool


def _biased(layer: nn.Linear) -> bool:
    """The layer has a bias (torch's stub types ``Linear.bias`` as always a tensor)."""
    return getattr(layer, "bias", None) is not None


def _activation(node: fx.Node, root: nn.Module, src: fx.Node) -> Callable[..., torch.Tensor] | None:
    """The node as a function of ``src``'s value alone (its other arguments constants), or
    None when it takes another traced value."""
    rest = [*node.args[1:], *node.kwargs.values()]
    if not node.args or node.args[0] is not src or any(isinstance(a, fx.Node) for a in rest):
        return None
    args, kwargs = node.args[1:], dict(node.kwargs)
    if node.op == "call_module":
        mod = root.get_submodule(str(node.target))
        return lambda z: mod(z, *args, **kwargs)
    if node.op == "call_function" and callable(node.target):
        fn = node.target
        return lambda z: fn(z, *args, **kwargs)
    if node.op == "call_method":
        name = str(node.target)
        return lambda z: getattr(z, name)(*args, **kwargs)
    return None


def _elementwise(act: Callable[..., torch.Tensor], width: int) -> bool:
    """``act`` maps each entry alone (a column permutation and a row subset commute with
    it, to rounding: vectorised kernels round a tail differently), keeps the shape, and is
    not constant."""
    gen = torch.Generator().manual_seed(0)
    z = 4.0 * torch.randn(3, width, generator=gen, dtype=DTYPE)
    perm = torch.randperm(width, generator=gen)
    try:
        with torch.no_grad():
            out: object = act(z)
            ok = (
                isinstance(out, torch.Tensor)
                and out.shape == z.shape
                and torch.allclose(act(z[:, perm]), out[:, perm], rtol=1e-12, atol=0.0)
                and torch.allclose(act(z[:1]), out[:1], rtol=1e-12, atol=0.0)
            )
            ends = act(torch.tensor([[-SATURATE, SATURATE]], dtype=DTYPE))
    except Exception:  # noqa: BLE001 - an operation that fails on a probe is no activation
        return False
    return bool(ok and float(ends[0, 1] - ends[0, 0]) != 0.0)


def _units_needed(act: Callable[..., torch.Tensor]) -> int:
    """1 when ``act`` is constant far to the left (ReLU, tanh, sigmoid, ELU, softplus, SiLU,
    GELU), 2 when only ``f(z) - f(z - SHIFT)`` is (leaky ReLU, PReLU), 0 otherwise."""
    z = torch.tensor([[-2 * SATURATE, -SATURATE, 2 * SATURATE]], dtype=DTYPE)
    with torch.no_grad():
        one = act(z)
        two = one - act(z - SHIFT)
    for units, v in ((1, one), (2, two)):
        a, b, right = float(v[0, 0]), float(v[0, 1]), float(v[0, 2])
        if abs(a - b) <= 1e-12 * (1.0 + abs(a)) and abs(right - a) > 1e-6 * (1.0 + abs(a)):
            return units  # constant on the left, another value on the right: a detector
    return 0


def _fx_sites(root: nn.Module) -> tuple[list[Site], str]:
    """The sites of ``root``'s ``torch.fx`` graph, or why tracing failed."""
    try:
        gm = trace_patched(root)
    except Exception as exc:  # noqa: BLE001 - a model fx cannot trace is read by hooks
        return [], f"tracing failed ({type(exc).__name__}: {exc})"[:200]
    found: list[Site] = []
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        layer = root.get_submodule(str(node.target))
        if not isinstance(layer, nn.Linear) or not _biased(layer) or len(node.users) != 1:
            continue
        (act_node,) = node.users
        act = _activation(act_node, root, node)
        consumers: list[tuple[str, nn.Linear]] = []
        for user in act_node.users:
            mod = root.get_submodule(str(user.target)) if user.op == "call_module" else None
            if not (isinstance(mod, nn.Linear) and _biased(mod) and user.args[0] is act_node):
                break
            consumers.append((str(user.target), mod))
        else:
            site = _site(str(node.target), layer, act, consumers)
            if site is not None:
                found.append(site)
    return found, ""


def _hook_sites(root: nn.Module, probe: torch.Tensor) -> list[Site]:
    """Sites read off one call of ``root`` on ``probe`` with forward hooks on its leaf
    modules (for models ``torch.fx`` cannot trace): a ``Linear`` whose output tensor is the
    input of an activation module whose output is the input of ``Linear`` layers only."""
    calls: list[tuple[str, nn.Module, tuple[Any, ...], Any]] = []
    hooks = [
        mod.register_forward_hook(lambda m, i, o, name=name: calls.append((name, m, i, o)))
        for name, mod in root.named_modules()
        if not list(mod.children())
    ]
    try:
        with torch.no_grad():
            root(probe)
    except Exception:  # noqa: BLE001 - a probe the model rejects finds no sites
        return []
    finally:
        for h in hooks:
            h.remove()

    def readers(t: object, after: int) -> list[int]:
        return [j for j in range(after + 1, len(calls)) if calls[j][2] and calls[j][2][0] is t]

    found: list[Site] = []
    for i, (name, layer, _, out) in enumerate(calls):
        if not isinstance(layer, nn.Linear) or not _biased(layer) or not readers(out, i):
            continue
        j = readers(out, i)[0]
        act_mod = calls[j][1]
        consumers = [calls[c] for c in readers(calls[j][3], j)]
        linear = [(c[0], c[1]) for c in consumers if isinstance(c[1], nn.Linear) and _biased(c[1])]
        if len(linear) == len(consumers):
            site = _site(name, layer, act_mod, linear)
            if site is not None:
                found.append(site)
    return found


class _Tensors(nn.Module):
    """``root``'s output as tensors (``torch.export`` returns no distributions)."""

    def __init__(self, root: nn.Module) -> None:
        super().__init__()
        self.root = root

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.root(t)
        if isinstance(out, torch.Tensor):
            return (out,)
        if isinstance(out, tuple | list):
            return tuple(o for o in out if isinstance(o, torch.Tensor))
        return tuple(v for v in (getattr(out, "mean", None),) if isinstance(v, torch.Tensor))


def _export_sites(root: nn.Module, probe: torch.Tensor) -> list[Site]:
    """Sites of ``root``'s ``torch.export`` graph at ``probe``'s shape (shapes are concrete
    there, so ``x.reshape(*lead, -1)`` and functional activations are no obstacle): an
    ``aten.linear`` whose weight is a parameter, read only by an elementwise operation read
    only by such ``aten.linear`` nodes."""
    try:
        with no_validation():
            ep = torch.export.export(_Tensors(root), (probe,), strict=False)
    except Exception:  # noqa: BLE001 - a model export cannot handle has no sites from it
        return []
    params = ep.graph_signature.inputs_to_parameters

    def layer(node: fx.Node) -> tuple[str, nn.Linear] | None:
        if node.target is not torch.ops.aten.linear.default or len(node.args) < 3:
            return None
        w, b = node.args[1], node.args[2]
        if not (isinstance(w, fx.Node) and isinstance(b, fx.Node) and w.name in params):
            return None
        name = params[w.name].removeprefix("root.").removesuffix(".weight")
        mod = root.get_submodule(name)
        return (name, mod) if isinstance(mod, nn.Linear) and _biased(mod) else None

    found = []
    for node in ep.graph.nodes:
        here = layer(node)
        if here is None or len(node.users) != 1:
            continue
        (act_node,) = node.users
        readers = [layer(u) if u.args and u.args[0] is act_node else None for u in act_node.users]
        consumers = [r for r in readers if r is not None]
        if act_node.op == "call_function" and len(consumers) == len(readers):
            site = _site(*here, _activation(act_node, root, node), consumers)
            if site is not None:
                found.append(site)
    return found


def _site(
    name: str,
    layer: nn.Linear,
    act: Callable[..., torch.Tensor] | None,
    consumers: list[tuple[str, nn.Linear]],
) -> Site | None:
    """A site when ``act`` is elementwise, some consumer reads it and there are units to
    spare."""
    if act is None or not consumers or not _elementwise(act, layer.out_features):
        return None
    units = _units_needed(act)
    if not units or layer.out_features < units:
        return None
    return Site(name, layer, act, tuple(consumers), units, False)


def _reads(root: nn.Module, layer: nn.Linear, probe: torch.Tensor) -> bool:
    """``layer`` reads ``root``'s input itself (its values, possibly reshaped)."""
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    try:
        with torch.no_grad():
            root(probe)
    except Exception:  # noqa: BLE001 - a probe the model rejects reads nothing
        return False
    finally:
        hook.remove()
    return (
        bool(seen)
        and seen[0].numel() == probe.numel()
        and torch.equal(seen[0].reshape(-1), probe.reshape(-1))
    )


def latent_linear(root: nn.Module, probe: torch.Tensor) -> tuple[str, nn.Linear] | None:
    """The first ``Linear`` layer (with a bias) of ``root`` that reads its input itself
    (:func:`_reads`), with its name; None when there is none."""
    return next(
        (
            (name, mod)
            for name, mod in root.named_modules()
            if isinstance(mod, nn.Linear) and _biased(mod) and _reads(root, mod, probe)
        ),
        None,
    )


def find_sites(root: nn.Module, probe: torch.Tensor) -> tuple[list[Site], str]:
    """The sites of ``root`` in call order (its ``torch.fx`` graph; where tracing fails, its
    ``torch.export`` graph on ``probe``'s shape, else forward hooks on one call on
    ``probe``), each marked when its layer reads ``root``'s input; and, when there are none,
    why (tracing failed, no such pattern)."""
    found, why = _fx_sites(root)
    if not found:
        found = _export_sites(root, probe) or _hook_sites(root, probe)
    if found:
        return [replace(s, from_input=_reads(root, s.layer, probe)) for s in found], ""
    none = "no Linear layer whose activation only Linear layers read (e.g. a residual connection)"
    return [], f"{why}; {none}" if why else none


def unit_values(site: Site, pre: torch.Tensor) -> torch.Tensor:
    """The rewired unit's output for pre-activations ``pre``: ``f(pre)``, or
    ``f(pre) - f(pre - SHIFT)`` for a two-unit site."""
    out = site.act(pre)
    return out - site.act(pre - SHIFT) if site.units == 2 else out


def separate(F: torch.Tensor, seed: int) -> tuple[int, torch.Tensor, float, float]:
    """``(row i, unit w, threshold c, half-gap g)`` with ``w . f_i >= c + g`` and ``w . f_j <=
    c - g`` for every other row: the widest gap among the rows' own directions (their
    feature minus the others' span, or minus the mean) and :data:`DIRECTIONS` random ones."""
    n, p = F.shape
    cands = [F - F.mean(0)]
    if p >= n:  # each row's component off the other rows' span: the others project to 0
        for i in range(min(n, 64)):
            others = torch.cat([F[:i], F[i + 1 :]]).T
            q, _ = torch.linalg.qr(others)
            cands.append((F[i] - q @ (q.T @ F[i]))[None])
    gen = torch.Generator().manual_seed(seed)
    cands.append(torch.randn(DIRECTIONS, p, generator=gen, dtype=F.dtype))
    W = torch.cat(cands)
    W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-300)
    proj = F @ W.T  # (n, K)
    top = torch.topk(proj, 2, dim=0)
    gaps = top.values[0] - top.values[1]
    best = int(torch.argmax(gaps))
    hi, lo = float(top.values[0, best]), float(top.values[1, best])
    return int(top.indices[0, best]), W[best], 0.5 * (hi + lo), 0.5 * (hi - lo)


def placement(
    m: torch.Tensor, s: torch.Tensor, k: float, rows: int, dim: int, seed: int
) -> tuple[torch.Tensor, float, torch.Tensor]:
    """``(v, c0, m*)``: the half-space ``v . t >= c0`` holding less than ``exp(-k) / (n D)``
    of each other row's ``q_j = N(m_j, diag s_j^2)`` (``c0 = max_j v . m_j + z_k |v s_j| +
    PAD``, ``z_k^2 = 2 (k + log nD + 2)``: Gaussian tails), and the smallest ``m* = (c0 +
    PAD) v`` past it; ``v`` minimises ``|m*|`` over the axes and random directions."""
    d = m.shape[1]
    z = math.sqrt(2.0 * (k + math.log(rows * dim) + 2.0))
    gen = torch.Generator().manual_seed(seed)
    eye = torch.eye(d, dtype=m.dtype)
    V = torch.cat([eye, -eye, torch.randn(DIRECTIONS, d, generator=gen, dtype=m.dtype)])
    V = V / V.norm(dim=1, keepdim=True)
    reach = m @ V.T + z * torch.sqrt((s * s) @ (V * V).T)  # (n - 1, K)
    c0 = reach.max(0).values + PAD
    best = int(torch.argmin((c0 + PAD).clamp_min(0.0)))
    v, c = V[best], float(c0[best])
    return v, c, max(c + PAD, 0.0) * v


def features(module: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """What ``layer`` reads when ``module`` runs on ``x``, one row per row of ``x``."""
    grabbed: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda m, inp, out: grabbed.append(inp[0].detach()))
    try:
        with torch.no_grad():
            module(x)
    finally:
        hook.remove()
    f = grabbed[0] if grabbed else None
    return f if f is not None and f.ndim == 2 and f.shape[0] == x.shape[0] else None


def revive_silenced(
    encoder: nn.Module, layer: nn.Linear, x: torch.Tensor, initial: dict[str, torch.Tensor]
) -> torch.Tensor | None:
    """Where the fit silenced every feature ``layer`` reads (the same vector ``f0`` for every
    row: a collapsed encoder), the modules that run before it go back to ``initial`` and
    its weights fold into its bias (``b <- W f0 + b``, ``W <- 0``): every row's encoder
    output is unchanged (checked), and the layer's inputs tell the rows apart again.  The
    new inputs, or None (the encoder then keeps its fitted state)."""
    f0 = features(encoder, layer, x)
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in encoder.modules()]
    try:
        with torch.no_grad(), no_validation():
            before = torch.cat([t.reshape(-1) for t in encoder(x)])
    finally:
        for h in hooks:
            h.remove()
    if f0 is None or layer not in order:
        return None
    upstream = {id(m) for m in order[: order.index(layer)]}
    with torch.no_grad():
        folded = layer.weight @ f0[0] + layer.bias
        for name, mod in encoder.named_modules():
            if id(mod) in upstream and not list(mod.children()):
                for key, val in mod.state_dict().items():
                    val.copy_(initial[f"{name}.{key}" if name else key])
        layer.weight.zero_()
        layer.bias.copy_(folded)
        after = torch.cat([t.reshape(-1) for t in encoder(x)])
    same = torch.allclose(after, before, rtol=1e-12, atol=1e-12)
    return features(encoder, layer, x) if same else None
