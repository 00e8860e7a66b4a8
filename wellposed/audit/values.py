"""The values of a graph walk: a node's enclosure and what its bound rests on.

:class:`Val` is a tensor (or number) node with its enclosure ``[lo, hi]`` for every
parameter value, :class:`DistVal` a ``torch.distributions`` constructor node, :class:`Ctx`
one node's inputs as the rules of :mod:`wellposed.audit.rules` see them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from wellposed.audit.intervals import FREE, Iv, Lin

__all__ = ["LOG_2PI", "Ctx", "DistVal", "Val", "free", "op_name", "point", "vals"]

#: ``log(2 pi)``
LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class Val:
    """A tensor (or number) node: concrete value ``c``, enclosure ``iv`` of its elements for
    every parameter value, whether it is ``fixed`` (depends on no parameter or free input),
    the nodes its lower bound rests on, its identity (same identity: same value) and an
    optional linear form over atoms (:func:`wellposed.audit.intervals.lin_bound`)."""

    c: Any
    iv: Iv
    fixed: bool
    path: tuple[str, ...]
    ident: str
    lin: Lin | None = None


@dataclass
class DistVal:
    """A ``torch.distributions`` constructor node: the family (``Independent`` looked
    through), its parameters' values and the concrete distribution."""

    family: str
    params: dict[str, Val]
    c: Any
    path: tuple[str, ...]


def point(v: float, name: str = "") -> Val:
    """A constant number."""
    return Val(v, (v, v), True, (), name or repr(v))


def free(c: Any, name: str) -> Any:
    """An output nothing is known about (tensors and numbers: ``[-inf, inf]``; booleans
    ``[0, 1]``)."""
    if isinstance(c, bool):
        return Val(c, (0.0, 1.0), False, (name,), name)
    if isinstance(c, torch.Tensor | float | int):
        return Val(c, FREE, False, (name,), name)
    return c


def op_name(node: fx.Node, gm: nn.Module) -> str:
    """The operation's name: a function's ``__name__``, a method's name, a module's class."""
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


@dataclass
class Ctx:
    """One node's inputs (values), concrete output and module (``call_module``)."""

    node: fx.Node
    op: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    out: Any
    bases: dict[str, Iv]
    module: nn.Module | None = None
    origin: str = field(default="")

    def arg(self, i: int, name: str | None = None, default: Any = None) -> Any:
        if name is not None and name in self.kwargs:
            return self.kwargs[name]
        return self.args[i] if i < len(self.args) else default

    def iv(self, i: int, name: str | None = None, default: Iv | None = None) -> Iv | None:
        a = self.arg(i, name)
        if isinstance(a, Val):
            return a.iv
        if isinstance(a, int | float) and not isinstance(a, bool):
            return (float(a), float(a))
        return default if a is None else FREE

    def const(self, i: int, name: str | None, default: Any) -> Any:
        a = self.arg(i, name, default)
        return a.c if isinstance(a, Val) else a

    def x(self) -> Iv:
        got = self.iv(0, "input")
        return FREE if got is None else got

    def make(
        self,
        iv: Iv,
        *,
        lin: Lin | None = None,
        ident: str | None = None,
        origin: str = "",
        using: list[Any] | None = None,
    ) -> Any:
        """The output's values: float tensors / numbers in ``iv``, booleans in ``[0, 1]``,
        integer tensors free; the path runs through ``using`` (default: every non-boolean
        input value)."""
        name = self.node.name
        if origin:
            path: tuple[str, ...] = (name,)
            self.origin = origin
        else:
            seen: list[str] = []
            for v in vals((self.args, self.kwargs) if using is None else using):
                if isinstance(v.c, torch.Tensor) and v.c.dtype == torch.bool:
                    continue
                seen.extend(p for p in v.path if p not in seen)
            path = (*seen, name)[-12:]

        def one(c: Any) -> Any:
            if isinstance(c, torch.Tensor):
                use = (
                    (0.0, 1.0) if c.dtype == torch.bool else iv if (c.is_floating_point()) else FREE
                )
                return Val(c, use, False, path, ident or name, lin)
            if isinstance(c, bool):
                return Val(c, (0.0, 1.0), False, path, ident or name)
            return Val(c, iv, False, path, ident or name, lin) if isinstance(c, int | float) else c

        return fx.node.map_aggregate(self.out, one)


def vals(x: Any) -> list[Val]:
    out: list[Val] = []

    def keep(v: object) -> None:
        # fx types the leaves as Argument, which does not name Val: take them as object
        if isinstance(v, Val):
            out.append(v)

    fx.node.map_aggregate(x, keep)
    return out
