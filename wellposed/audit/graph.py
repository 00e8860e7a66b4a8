"""Interval propagation through a model's own ``torch.fx`` graph, every parameter free.

:func:`trace` records the module's computation with ``torch.fx`` (``torch.distributions``
constructors kept as single nodes); :func:`propagate` walks the graph once, running each node
on real tensors (for shapes, and for values that depend on no parameter) and computing an
enclosure ``[lo, hi]`` of every element it can take for **any** parameter values and any
free input (:mod:`wellposed.audit.intervals`, one rule per operation in
:mod:`wellposed.audit.rules`):

* a parameter (a ``get_attr`` of an ``nn.Parameter``, or the weights of a leaf module) is
  free, ``[-inf, inf]``; buffers, constants and inputs marked fixed are the values they hold;
* a node whose inputs are all fixed (and which draws no random numbers) is fixed: its
  enclosure is the range of its value;
* an operation without a rule is ``[-inf, inf]`` (sound: it proves nothing);
* in-place operations replace the mutated node's enclosure (and widen its views').

Every value records ``path``: the nodes its lower bound rests on (an origin such as a free
parameter or a ``Linear`` with free weights starts a path); :class:`DistVal` is a
``torch.distributions`` constructor node with its parameters' values.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.distributions as tdist
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from wellposed.audit import rules
from wellposed.audit.intervals import FREE, Iv, hull
from wellposed.audit.likelihoods import LOSSES
from wellposed.audit.values import Ctx, DistVal, Val

__all__ = ["DistVal", "Propagation", "Val", "propagate", "trace", "trace_patched"]

#: every distribution class torch ships: a single graph node each (not traced through)
DISTRIBUTIONS = tuple(
    v for v in vars(tdist).values() if isinstance(v, type) and issubclass(v, tdist.Distribution)
)


def trace(module: nn.Module) -> fx.GraphModule:
    """``torch.fx`` graph of ``module.forward``; distribution constructors (called as
    ``torch.distributions.X`` or imported by name into a module's file) stay single nodes.
    Raises what ``torch.fx`` raises (data-dependent control flow, ...)."""
    # torch's stub types autowrap_modules as a one-module tuple; the runtime takes any number
    tracer = fx.Tracer(
        autowrap_modules=(math, tdist),  # type: ignore[arg-type]
        autowrap_functions=DISTRIBUTIONS,
    )
    graph = tracer.trace(module)
    for node in graph.nodes:  # no code generation that registers global wraps
        node.meta.pop("is_wrapped", None)
    return fx.GraphModule(tracer.root, graph)


def _wrap_class(cls: Callable[..., Any]) -> Callable[..., Any]:
    """A distribution class (or a loss function) that, given a traced value, records one
    graph node."""

    def call(*args: Any, **kwargs: Any) -> Any:
        found: list[fx.Proxy] = []

        def keep(v: object) -> None:
            # fx types the leaves as Argument, which does not name Proxy: take them as object
            if isinstance(v, fx.Proxy):
                found.append(v)

        fx.node.map_aggregate((args, kwargs), keep)
        if found:
            return found[0].tracer.create_proxy("call_function", cls, args, kwargs)
        return cls(*args, **kwargs)

    return call


@contextlib.contextmanager
def _names_patched(namespaces: list[dict[str, Any]]) -> Iterator[None]:
    """Distribution classes and torch's functional losses in ``namespaces`` (the user's
    files, ``torch.nn.functional``) record one node each while tracing (``torch.fx`` itself
    patches only ``forward``'s own file)."""
    saved: list[tuple[dict[str, Any], str, Any]] = []
    try:
        for ns in namespaces:
            for key, value in list(ns.items()):
                if (isinstance(value, type) and value in DISTRIBUTIONS) or any(
                    value is f for f in LOSSES
                ):
                    saved.append((ns, key, value))
                    ns[key] = _wrap_class(value)
        yield
    finally:
        for ns, key, value in saved:
            ns[key] = value


def _namespaces(root: nn.Module, extra: Callable[..., Any] | None = None) -> list[dict[str, Any]]:
    names = {type(m).__module__ for m in root.modules()}
    out = [
        vars(sys.modules[n])
        for n in sorted(names)
        if n in sys.modules and not n.startswith("torch")
    ]
    if extra is not None and hasattr(extra, "__globals__"):
        out.append(extra.__globals__)
    out.append(vars(F))
    return out


def trace_patched(root: nn.Module, extra: Callable[..., Any] | None = None) -> fx.GraphModule:
    """:func:`trace` with the distribution classes and torch's functional losses that the
    user's files (and ``extra``'s) import by name recording one node each."""
    with _names_patched(_namespaces(root, extra)):
        return trace(root)


@dataclass
class Propagation:
    """The enclosures of one graph: its output (a structure of :class:`Val` /
    :class:`DistVal`) and every node's lower bound (for the proof's text)."""

    output: Any
    lows: dict[str, float] = field(default_factory=dict)
    highs: dict[str, float] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    #: why the enclosures may not hold on the next call (a buffer mutated in place, an
    #: output shape that depends on values); a proof needs this empty
    unsafe: list[str] = field(default_factory=list)


def _tensor_val(c: Any, name: str) -> Val:
    """A fixed value: its own range (NaN anywhere: nothing known)."""
    if isinstance(c, torch.Tensor):
        if c.numel() == 0:
            return Val(c, (0.0, 0.0), True, (name,), name)
        f = c.detach().to(torch.float64)
        if torch.isnan(f).any():
            return Val(c, FREE, True, (name,), name)
        return Val(c, (float(f.min()), float(f.max())), True, (name,), name)
    if isinstance(c, int | float):
        return Val(c, (float(c), float(c)), True, (name,), name)
    return Val(c, FREE, True, (name,), name)


# fx types map_aggregate's leaves as Argument, which names neither Val nor DistVal: the
# callbacks below take their leaves as object and return Any


def _concrete(x: Any) -> Any:
    def unwrap(v: object) -> Any:
        return v.c if isinstance(v, Val | DistVal) else v

    return fx.node.map_aggregate(x, unwrap)


def _leaves(x: Any) -> list[Val | DistVal]:
    out: list[Val | DistVal] = []

    def keep(v: object) -> None:
        if isinstance(v, Val | DistVal):
            out.append(v)

    fx.node.map_aggregate(x, keep)
    return out


def _fixed_output(out: Any, name: str) -> Any:
    """Every tensor / number of a fixed node's output as a fixed :class:`Val`."""

    def fix(v: object) -> Any:
        if isinstance(v, torch.Tensor | float | int) and not isinstance(v, bool):
            return _tensor_val(v, name)
        return v

    return fx.node.map_aggregate(out, fix)


class _Walker:
    """One pass over the graph (:func:`propagate`)."""

    def __init__(self, gm: fx.GraphModule, inputs: dict[str, tuple[Any, bool]]) -> None:
        self.gm = gm
        self.inputs = inputs
        self.params = {n for n, _ in gm.named_parameters(remove_duplicate=False)}
        self.env: dict[str, Any] = {}
        self.res = Propagation(None)
        self.bases: dict[str, Iv] = {}
        self.held: set[int] = set()  # storage of the fixed attributes (buffers, constants)

    def run(self) -> Propagation:
        with torch.no_grad():
            for node in self.gm.graph.nodes:
                if node.op == "output":
                    self.res.output = fx.node.map_arg(node.args[0], lambda n: self.env[n.name])
                    break
                self.env[node.name] = self._step(node)
        return self.res

    def _record(self, out: Any, name: str) -> Any:
        for v in _leaves(out):
            if isinstance(v, Val):
                self.bases.setdefault(v.ident, v.iv)
                self.res.lows.setdefault(name, v.iv[0])
                self.res.highs.setdefault(name, v.iv[1])
        return out

    def _step(self, node: fx.Node) -> Any:
        name = node.name
        if node.op == "placeholder":
            c, fixed = self.inputs[str(node.target)]
            if fixed:
                return self._record(_tensor_val(c, name), name)
            self.res.origins[name] = "a free input"
            return self._record(Val(c, FREE, False, (name,), name), name)
        if node.op == "get_attr":
            c = self._fetch(str(node.target))
            if str(node.target) in self.params:
                self.res.origins[name] = f"the free parameter {node.target}"
                return self._record(Val(c, FREE, False, (name,), name), name)
            if isinstance(c, torch.Tensor):
                self.held.add(c.untyped_storage().data_ptr())
            return self._record(_fixed_output(c, name), name)
        args = fx.node.map_arg(node.args, lambda n: self.env[n.name])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: self.env[n.name])
        out = self._run(node, _concrete(args), _concrete(kwargs))
        op = rules.op_name(node, self.gm)
        if op in rules.DYNAMIC_SHAPE or (
            op == "getitem"
            and any(
                isinstance(v, Val) and isinstance(v.c, torch.Tensor) and v.c.dtype == torch.bool
                for v in _leaves(args[1:])
            )
        ):
            self.res.unsafe.append(f"{name}: {op} gives an output shape that depends on values")
        leaves = _leaves((args, kwargs))
        if (
            op not in rules.RANDOM
            and all(isinstance(v, Val) and v.fixed for v in leaves)
            and (node.op != "call_module" or not self._has_params(str(node.target)))
        ):
            res = _fixed_output(out, name)
        else:
            res = self._rule(node, op, args, kwargs, out)
        if (op.endswith("_") and not op.endswith("__")) or op in rules.INPLACE:
            self._mutated(node, res)
        return self._record(res, name)

    def _rule(self, node: fx.Node, op: str, args: Any, kwargs: Any, out: Any) -> Any:
        """The node's rule, or ``[-inf, inf]`` without one (its origin recorded)."""
        name = node.name
        ctx = Ctx(
            node,
            op,
            args,
            kwargs,
            out,
            self.bases,
            self.gm.get_submodule(str(node.target)) if node.op == "call_module" else None,
        )
        res = rules.apply(ctx)
        if res is None:
            self.res.origins.setdefault(name, f"{op} (no rule: anything)")
            return fx.node.map_aggregate(out, lambda v: rules.free(v, name))
        if ctx.origin:
            self.res.origins.setdefault(name, ctx.origin)
        return res

    def _fetch(self, target: str) -> Any:
        obj: Any = self.gm
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj

    def _has_params(self, target: str) -> bool:
        return any(True for _ in self.gm.get_submodule(target).parameters())

    def _run(self, node: fx.Node, args: Any, kwargs: Any) -> Any:
        if node.op == "call_function":
            return cast(Callable[..., Any], node.target)(*args, **kwargs)  # not a str target
        if node.op == "call_method":
            return getattr(args[0], str(node.target))(*args[1:], **kwargs)
        return self.gm.get_submodule(str(node.target))(*args, **kwargs)

    def _mutated(self, node: fx.Node, res: Any) -> None:
        """An in-place operation: the mutated node now holds ``res``; values sharing its
        storage hold a mix of old and new (their hull)."""
        first = node.args[0] if node.args else None
        if not (isinstance(first, fx.Node) and isinstance(res, Val)):
            return
        old = self.env.get(first.name)
        new_iv = (
            res.iv
            if not rules.PARTIAL.get(rules.op_name(node, self.gm), False)
            else hull(res.iv, old.iv)
            if isinstance(old, Val)
            else FREE
        )
        if isinstance(old, Val) and isinstance(old.c, torch.Tensor):
            ptr = old.c.untyped_storage().data_ptr()
            if ptr in self.held:
                self.res.unsafe.append(
                    f"{node.name} changes a buffer or constant of the module "
                    "in place: its value is not fixed across calls"
                )
            for key, val in list(self.env.items()):
                if (
                    isinstance(val, Val)
                    and isinstance(val.c, torch.Tensor)
                    and val.c.untyped_storage().data_ptr() == ptr
                    and key != first.name
                ):
                    self.env[key] = Val(
                        val.c,
                        hull(val.iv, new_iv),
                        False,
                        val.path + (node.name,),
                        node.name + ":" + key,
                    )
        self.env[first.name] = Val(res.c, new_iv, res.fixed, res.path, f"{node.name}:{first.name}")


def propagate(gm: fx.GraphModule, inputs: dict[str, tuple[Any, bool]]) -> Propagation:
    """Enclosures of every node of ``gm`` (the module doc); ``inputs`` maps each placeholder
    to ``(concrete value, fixed?)``: a fixed input is its value, a free one ``[-inf, inf]``."""
    return _Walker(gm, inputs).run()
