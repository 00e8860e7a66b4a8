"""Draw the reports' figures (PNG, matplotlib Agg) from rounded evidence, byte for byte.

A figure is a :class:`FigureSpec`: a file stem, an alt text and its *data*, a JSON-able dict
built only from evidence already rounded by :func:`wellposed.evidence.records.jsonable`
(every number derived from it is rounded again).  :func:`render_png` draws the PNG from that
data alone, with a fixed size, dpi, font and style and no metadata (no version, no date), so
the same data gives the same bytes; :func:`figure_json` writes the data next to the PNG, and
the staleness check (:mod:`wellposed.staleness`) compares the data rather than the pixels.

Figures:

* ``claim-<ID>``: one panel per evidence record of the claim: a growth-rate fit as the
  *residuals* of the computed values after the derived rate (``value - rate * x``, centred),
  with the wedge a slope off by the fit's tolerance would sweep (a wrong rate tilts the
  points out of it); a bound check (the best value found by each search source against the
  bound ``B``); a tightness sequence (the gaps to the supremum on a log scale, the sequence
  parameter on a log scale where it spans decades); S8's counterexample table adds the ELBO
  against sigma with the answer's sigma* and the true maximiser s*.

Each figure carries a one-line :attr:`FigureSpec.caption` (what to look at) that the report
prints under it; colours, style and labels come from :mod:`wellposed.report.style`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from wellposed.evidence.records import (
    ERROR_FLOOR,
    BoundCheck,
    Counterexample,
    EvidenceItem,
    RateFit,
    Tightness,
    jsonable_dict,
)
from wellposed.gate import ClaimResult
from wellposed.lines.exact import thread_elbo
from wellposed.report.style import DPI, LINE_COLOURS, png_bytes, readable

__all__ = ["DPI", "FigureSpec", "claim_figures", "figure_json", "render_png"]

_PANEL = (4.6, 3.6)  # inches per panel of a claim figure
_WIDE = {"elbo_sigma": 7.0}  # panels with a legend beside them
_KINDS = ("rate", "bound", "tightness")
_PANEL_TITLES = {
    "rate": "residual after the derived rate",
    "bound": "best value found vs bound B",
    "tightness": "gap to the supremum",
    "elbo_sigma": "ELBO vs sigma (x = 0)",
}
#: what to look at, per panel kind (the figure's caption joins those it has)
_HINTS = {
    "rate": "residuals after the derived rate level off (a wrong rate tilts them)",
    "bound": "every best value sits left of the dashed bound B",
    "tightness": "the gap to the supremum shrinks along the sequence",
    "elbo_sigma": "the answer's sigma* (x) misses each maximum s* (o)",
}
_S8_COLUMNS = ("lambda", "answer_sigma_star", "correct_s_star")
_S8_SIGMAS = tuple(float(s) for s in np.geomspace(0.02, 3.0, 121))


@dataclass(frozen=True)
class FigureSpec:
    """One figure: ``name`` (file stem under ``reports/figures/``), ``title`` (alt text),
    ``claim`` (its claim id, or None) and ``data`` (rounded JSON; all that is drawn)."""

    name: str
    title: str
    claim: str | None
    data: dict[str, Any]

    @property
    def caption(self) -> str:
        """One line saying what to look at in the figure."""
        hints = dict.fromkeys(_HINTS[p["panel"]] for p in self.data.get("panels", ()))
        return f"{self.claim}: " + "; ".join(hints) + "."


def _num(v: object) -> float:
    """A JSON number, or the strings ``"inf"`` / ``"-inf"`` / ``"nan"`` as floats."""
    return float(v) if isinstance(v, int | float | str) else math.nan


def _records(
    value: EvidenceItem, path: tuple[str, ...], seen: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Every rate / bound / tightness record under ``value`` as ``(label, rounded dict)``,
    each once (conditional claims list a case's records again under the kind's key)."""
    if isinstance(value, RateFit | BoundCheck | Tightness):
        rec = value.to_dict()
        if rec in seen:
            return []
        seen.append(rec)
        label = " / ".join(p for p in path if p not in _KINDS and not p.isdigit())
        return [(label, rec)]
    if isinstance(value, Mapping):
        return [r for k, v in value.items() for r in _records(v, (*path, str(k)), seen)]
    if isinstance(value, list | tuple):
        return [r for i, v in enumerate(value) for r in _records(v, (*path, str(i)), seen)]
    return []


def _rate_panel(label: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The residuals of the fitted values after the derived rate, ``value - rate * x`` (minus
    the ``log x`` term's expected or fitted coefficient where the fit has one, as in the
    ELBO's encoder cost), centred on their mean; ``band`` is what a slope off by the fit's
    tolerance ``rtol * |rate|`` would add at each ``x`` (the wedge the points stay in)."""
    pts = [(_num(x), _num(y)) for x, y in zip(rec["x"], rec["values"], strict=True)]
    pts = [(x, y) for x, y in pts if math.isfinite(x) and math.isfinite(y)]
    log_term = rec.get("extra_name") == f"log {rec['x_name']}" and rec.get("extra_coef") is not None
    coef = 0.0
    if log_term:
        coef = _num(
            rec["extra_expected"] if rec.get("extra_expected") is not None else rec["extra_coef"]
        )
        log_term = all(x > 0 for x, _ in pts) and math.isfinite(coef)
    expected, rtol = _num(rec["expected"]), _num(rec["rtol"])
    xs_out: list[float] = []
    resid: list[float] = []
    band: list[float] = []
    if pts and math.isfinite(expected):
        xs = np.array([x for x, _ in pts])
        ys = np.array([y for _, y in pts])
        shape = expected * xs + (coef * np.log(xs) if log_term else 0.0)
        res = ys - shape
        xs_out, resid = xs.tolist(), (res - np.mean(res)).tolist()
        tol = rtol * abs(expected) if math.isfinite(rtol) else 0.0
        band = (tol * np.abs(xs - np.mean(xs))).tolist()
    return jsonable_dict(
        {
            "panel": "rate",
            "label": label,
            "x_name": rec["x_name"],
            "x": xs_out,
            "centred": resid,
            "band": band,
            "slope": rec["slope"],
            "expected": rec["expected"],
            "rtol": rec["rtol"],
            "log_term": coef if log_term else None,
            "corrections": list(rec.get("corrections") or []),
        }
    )


def _bound_panel(label: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "panel": "bound",
        "label": label,
        "bound": rec["bound"],
        "sources": [readable(s) for s in rec["max_by_source"]],
        "best": list(rec["max_by_source"].values()),
    }


def _tightness_panel(label: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "panel": "tightness",
        "label": label,
        "x_name": rec["x_name"],
        "x": rec["x"],
        "gaps": rec["gaps"],
        "sup": rec["sup"],
    }


def _elbo_sigma_panel(table: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ELBO of the thread's example (identity decoder, x = 0, q = N(0, s^2)) against s
    for every lambda of the S8 table, with the answer's sigma* and the true s* marked."""
    curves = []
    for row in table:
        lam = _num(row["lambda"])
        if not (math.isfinite(lam) and lam > 0):
            continue
        marks = {}
        for key in ("answer_sigma_star", "correct_s_star"):
            s = _num(row[key])
            marks[key] = [s, thread_elbo(lam, s)] if math.isfinite(s) and s > 0 else None
        curves.append({"lambda": lam, "elbo": [thread_elbo(lam, s) for s in _S8_SIGMAS], **marks})
    return jsonable_dict(
        {"panel": "elbo_sigma", "label": "", "sigma": list(_S8_SIGMAS), "curves": curves}
    )


def _claim_panels(result: ClaimResult) -> list[dict[str, Any]]:
    build = {"rate": _rate_panel, "bound": _bound_panel, "tightness": _tightness_panel}
    panels = [build[rec["kind"]](label, rec) for label, rec in _records(result.evidence, (), [])]
    cx = result.evidence.get("counterexample")
    table = cx.values.get("table") if isinstance(cx, Counterexample) else None
    if isinstance(table, list) and table and all(c in table[0] for c in _S8_COLUMNS):
        panels.append(
            _elbo_sigma_panel([jsonable_dict(row) for row in table if isinstance(row, Mapping)])
        )
    return panels


def claim_figures(results: Sequence[ClaimResult]) -> list[FigureSpec]:
    """One figure per claim with a rate, bound or tightness record or an S8-style table."""
    specs = []
    for r in results:
        panels = _claim_panels(r)
        if panels:
            what = ", ".join(dict.fromkeys(_PANEL_TITLES[p["panel"]] for p in panels))
            specs.append(
                FigureSpec(
                    f"claim-{r.id}",
                    f"{r.id}: {what}",
                    r.id,
                    {"claim": r.id, "title": r.title, "panels": panels},
                )
            )
    return specs


def figure_json(spec: FigureSpec) -> str:
    """The plotted data of ``spec`` (what the staleness check compares)."""
    doc = {"name": spec.name, "title": spec.title, "claim": spec.claim, "data": spec.data}
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------------------
# drawing (from the data only)
# ----------------------------------------------------------------------------------------


def _finite(xs: Sequence[object], ys: Sequence[object]) -> tuple[list[float], list[float]]:
    pairs = [(_num(x), _num(y)) for x, y in zip(xs, ys, strict=True)]
    pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _draw_rate(ax: Any, p: Mapping[str, Any]) -> None:
    xs, res = _finite(p["x"], p["centred"])
    band = [_num(b) for b in p["band"]][: len(xs)]
    if xs and len(band) == len(xs):
        ax.fill_between(
            xs,
            [-b for b in band],
            band,
            color=LINE_COLOURS["tolerance"],
            alpha=0.15,
            lw=0,
            label=f"slope off by the fit's tolerance {_num(p['rtol']):.2g}",
        )
    ax.axhline(
        0.0,
        color=LINE_COLOURS["derived"],
        lw=1.2,
        label=f"derived rate {p['expected']:.6g} per unit {p['x_name']}"
        + (f"\n  (with {p['log_term']:.3g} log {p['x_name']})" if p["log_term"] else ""),
    )
    fitted = ", ".join(p.get("corrections", []))
    ax.plot(
        xs,
        res,
        "o",
        color=LINE_COLOURS["computed"],
        ms=5,
        label=f"computed (fitted slope {p['slope']:.6g})"
        + (f"\n  lower-order terms fitted: {fitted}" if fitted else ""),
    )
    if xs and min(xs) > 0 and max(xs) > 20 * min(xs):
        ax.set_xscale("log")
    ax.set_xlabel(f"{p['x_name']} (sequence parameter)")
    ax.set_ylabel("value - derived rate x, centred (nats)")
    ax.legend(loc="best", fontsize=7.5, frameon=False)


def _draw_bound(ax: Any, p: Mapping[str, Any]) -> None:
    ys = list(range(len(p["sources"])))[::-1]
    xs, ys_f = _finite(p["best"], ys)
    ax.plot(xs, ys_f, "o", color=LINE_COLOURS["best"], ms=6, label="best value found")
    for x, y in zip(xs, ys_f, strict=True):
        ax.annotate(
            f"{x:.6g}", (x, y), textcoords="offset points", xytext=(0, 6), ha="left", fontsize=7.5
        )
    b = _num(p["bound"])
    if math.isfinite(b):
        ax.axvline(b, color=LINE_COLOURS["bound"], ls="--", lw=1.3, label=f"bound B = {b:.6g}")
    ax.set_yticks(ys, p["sources"])
    ax.set_ylim(-0.7, len(ys) - 0.3)
    ax.set_xlabel("objective (nats)")
    ax.legend(loc="best", fontsize=8, frameon=False)


def _draw_tightness(ax: Any, p: Mapping[str, Any]) -> None:
    xs, gaps = _finite(p["x"], p["gaps"])
    ax.semilogy(
        xs,
        [max(g, ERROR_FLOOR) for g in gaps],
        "s-",
        color=LINE_COLOURS["gap"],
        ms=5,
        label=f"sup - value (sup = {_num(p['sup']):.6g})",
    )
    ax.axhline(
        ERROR_FLOOR,
        color=LINE_COLOURS["floor"],
        ls=":",
        lw=1,
        label=f"rounding floor {ERROR_FLOOR:g}",
    )
    positive = [x for x in xs if x > 0]
    if xs and min(xs) >= 0 and positive and max(xs) > 50 * min(positive):
        # the sequence spans decades (or starts at 0): log scale, linear below the first step
        if min(xs) == 0:
            ax.set_xscale("symlog", linthresh=min(positive))
            ax.set_xlim(left=0.0)
        else:
            ax.set_xscale("log")
    ax.set_xlabel(f"{p['x_name']} (sequence parameter)")
    ax.set_ylabel("gap to the supremum (nats, log scale)")
    ax.legend(loc="best", fontsize=8, frameon=False)


def _draw_elbo_sigma(ax: Any, p: Mapping[str, Any]) -> None:
    cmap = matplotlib.colormaps["viridis"]
    n = len(p["curves"])
    for i, c in enumerate(p["curves"]):
        colour = cmap(i / max(n - 1, 1) * 0.9)
        ax.plot(
            p["sigma"],
            [_num(v) for v in c["elbo"]],
            color=colour,
            lw=1.2,
            label=f"lambda = {c['lambda']:.6g}",
        )
        if c["correct_s_star"]:
            ax.plot(*c["correct_s_star"], "o", color=colour, ms=6, mec="black", mew=0.6)
        if c["answer_sigma_star"]:
            ax.plot(*c["answer_sigma_star"], "x", color="black", ms=6, mew=1.4)
    ax.plot([], [], "o", color="white", mec="black", label="true s* = (lambda+1)^(-1/2)")
    ax.plot([], [], "x", color="black", mew=1.4, label="answer's sigma* = (2 lambda')^(-1/2)")
    ax.set_xscale("log")
    tops = [_num(c["correct_s_star"][1]) for c in p["curves"] if c["correct_s_star"]]
    if tops:
        ax.set_ylim(min(tops) - 1.0, max(tops) + 0.15)
    ax.set_xlabel("s (encoder standard deviation, data units)")
    ax.set_ylabel("ELBO (nats)")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)


_DRAW = {
    "rate": _draw_rate,
    "bound": _draw_bound,
    "tightness": _draw_tightness,
    "elbo_sigma": _draw_elbo_sigma,
}


def _draw_claim(fig: Figure, data: Mapping[str, Any]) -> None:
    panels = data["panels"]
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, p in zip(axes, panels, strict=True):
        _DRAW[p["panel"]](ax, p)
        title = _PANEL_TITLES[p["panel"]]
        ax.set_title(f"{title} ({p['label']})" if p["label"] else title)
    fig.suptitle(f"{data['claim']}: {data['title']}", fontsize=10.5)


def _size(spec: FigureSpec) -> tuple[float, float]:
    return (sum(_WIDE.get(p["panel"], _PANEL[0]) for p in spec.data["panels"]), _PANEL[1])


def render_png(spec: FigureSpec) -> bytes:
    """The PNG of ``spec``: fixed size, dpi, style and font, no metadata."""
    return png_bytes(lambda fig: _draw_claim(fig, spec.data), _size(spec))
