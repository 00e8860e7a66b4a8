"""Write ``reports/training.md`` and its figures from training run records, coarsely rounded.

Training is float32 optimisation: its numbers differ in their last digits from one CPU to
another, so the report prints each metric as the mean and spread over seeds to 3 significant
digits (:func:`fmt_spread`), and its figures are drawn from values rounded to 4 significant
digits with a fixed size, font and style and no PNG metadata (as
:mod:`wellposed.figures` does).  Per data set: a table of objective x metric at the last
step, the divergence criteria (the first logged step where the training ELBO passed the
floor objective's bound and where ``min log sigma^2`` fell below the floor's ``log xi``), the
held-out IWAE against the floor's, and two figures (training ELBO against held-out IWAE per
objective; ``min log sigma^2`` along training).  For digits, the final per-pixel ``log
sigma^2`` map of the learned-variance model as an 8 x 8 image with the pixels the data audit
flags marked.  The T-claims' criteria (:mod:`wellposed.training.criteria`) close the report.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from wellposed.evidence.vocabulary import FAILS, HOLDS, NO_RUNS
from wellposed.report import fmt_number, markdown_table, wrap, write_files
from wellposed.report.style import LINE_COLOURS, objective_colour, png_bytes
from wellposed.training.criteria import (
    T1_LEVEL,
    T1_SPREADS,
    T2_RATIO,
    T3_RATIO,
    select,
    select_data,
    series,
    t1_divergence,
    t2_floor,
    t3_fixed_bernoulli,
    t4_objective_check,
)
from wellposed.training.objectives import FLOOR_XI, OBJECTIVES

__all__ = ["FIGURE_DIR", "fmt_spread", "render_png", "sig", "write_training_report"]

#: figures and JSON next to reports/training.md, linked relatively (they show on GitHub)
FIGURE_DIR = "training"
_LOG_XI = math.log(FLOOR_XI)
Run = dict[str, Any]


def sig(v: float | None, digits: int = 3) -> str:
    """``v`` to ``digits`` significant digits (``-`` for None / NaN, ``inf`` kept)."""
    return fmt_number(v, digits, compact=True)


def fmt_spread(values: Sequence[float | None]) -> str:
    """``mean ± sd`` over seeds (mean to 3, sd to 2 significant digits); a mean below a
    thousandth of the spread prints as 0 and a spread below a millionth of the mean as 0
    (float noise, e.g. a floor's log xi reached to 1e-9)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return "-"
    if len(vals) == 1:
        return sig(vals[0])
    mean, sd = statistics.fmean(vals), statistics.stdev(vals)
    mean = 0.0 if abs(mean) < 1e-3 * sd else mean
    sd = 0.0 if sd < 1e-6 * abs(mean) else sd
    return f"{sig(mean)} ± {sig(sd, 2)}"


def _slug(run: Run) -> str:
    """The data set's name for headings and file names (a ``.npy`` file's stem, no path)."""
    name = str(run["data_name"]).removesuffix(".npy")
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "data"


def _r4(v: float) -> float:
    return float(f"{v:.4g}") if math.isfinite(v) else v


def _first_step(run: Run, key: str, test: Any) -> int | None:
    for row in run["log"]:
        v = row.get(key)
        if v is not None and test(float(v)):
            return int(row["step"])
    return None


def _steps_text(steps: Sequence[int | None]) -> str:
    hit = [s for s in steps if s is not None]
    if not hit:
        return "never"
    lo, hi = min(hit), max(hit)
    span = str(lo) if lo == hi else f"{lo}-{hi}"
    return span if len(hit) == len(steps) else f"{span} ({len(hit)}/{len(steps)} seeds)"


def _objectives_of(runs: Sequence[Run], data: str) -> list[str]:
    present = {r["config"]["objective"] for r in runs if r["config"]["data"] == data}
    return [o for o in OBJECTIVES if o in present]


def _data_sets(runs: Sequence[Run]) -> list[str]:
    seen: list[str] = []
    for r in runs:
        if r["config"]["data"] not in seen:
            seen.append(r["config"]["data"])
    return seen


def _table(runs: Sequence[Run], data: str) -> list[str]:
    floor_runs = select(runs, data, "floor")
    floor_bound = floor_runs[0]["bound"] if floor_runs else None
    floor_iwae = [float(r["log"][-1]["held_iwae"]) for r in floor_runs]
    head = [
        "objective",
        "train ELBO",
        "held-out ELBO",
        "held-out IWAE",
        "KL",
        "min log σ²",
        "flagged min log σ²",
        "spikes",
        "sample NN / held NN",
        "bound",
        "passed floor's bound at step",
        "min log σ² < log ξ at step",
        "IWAE − floor's",
    ]
    rows: list[list[str]] = []
    for obj in _objectives_of(runs, data):
        rs = select(runs, data, obj)
        last = [r["log"][-1] for r in rs]

        def col(key: str, rows: list[dict[str, Any]] = last) -> str:
            return fmt_spread([row.get(key) for row in rows])

        nn = [(row.get("sample_nn"), row.get("held_nn")) for row in last]
        nn_text = f"{fmt_spread([a for a, _ in nn])} / {sig(nn[0][1], 2)}" if nn else "-"
        passed = (
            "-"
            if floor_bound is None
            else _steps_text([_first_step(r, "train_elbo", lambda v: v > floor_bound) for r in rs])
        )
        # below log xi by more than the records' rounding (a floor reaches log xi itself)
        below = _steps_text([_first_step(r, "min_lv", lambda v: v < _LOG_XI - 1e-4) for r in rs])
        gap = (
            "-"
            if not floor_iwae
            else fmt_spread(
                [float(row["held_iwae"]) - statistics.fmean(floor_iwae) for row in last]
            )
        )
        bound = rs[0]["bound"]
        bound_text = "none" if bound is None else ("finite" if math.isnan(bound) else sig(bound))
        stopped = [r["stopped_at"] for r in rs if r.get("stopped_at")]
        name = obj + (f" (float32 overflow at step {min(stopped)})" if stopped else "")
        rows.append(
            [
                name,
                col("train_elbo"),
                col("held_elbo"),
                col("held_iwae"),
                col("kl"),
                col("min_lv"),
                col("min_lv_flagged"),
                col("spikes"),
                nn_text,
                bound_text,
                passed,
                below if last and last[0].get("min_lv") is not None else "-",
                gap,
            ]
        )
    return markdown_table(rows, head).split("\n")


def _curves_data(runs: Sequence[Run], data: str) -> dict[str, Any]:
    panels = []
    for obj in _objectives_of(runs, data):
        rs = select(runs, data, obj)
        panels.append(
            {
                "objective": obj,
                "bound": None
                if rs[0]["bound"] is None or math.isnan(rs[0]["bound"])
                else _r4(rs[0]["bound"]),
                "seeds": [
                    {
                        "step": [int(x["step"]) for x in r["log"]],
                        "train": [_r4(v) for v in series(r, "train_elbo")],
                        "held": [_r4(v) for v in series(r, "held_iwae")],
                        "min_lv": [_r4(v) for v in series(r, "min_lv")],
                    }
                    for r in rs
                ],
            }
        )
    return {"kind": "curves", "data": data, "panels": panels}


def _map_data(runs: Sequence[Run], data: str) -> dict[str, Any] | None:
    maps = {}
    for obj in ("learned", "floor"):
        rs = [r for r in select(runs, data, obj) if "lv_coord_median" in r["log"][-1]]
        if rs and rs[0]["data_shape"][0]:
            mean = np.mean([r["log"][-1]["lv_coord_median"] for r in rs], axis=0)
            maps[obj] = [_r4(float(v)) for v in mean]
    if "learned" not in maps:
        return None
    rs = select(runs, data, "learned")
    return {
        "kind": "map",
        "data": data,
        "shape": rs[0]["data_shape"],
        "flagged": rs[0]["flagged"],
        "maps": maps,
        "seeds": len(rs),
    }


def _draw_curves(fig: Figure, spec: dict[str, Any]) -> None:
    panels = spec["panels"]
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    for k, p in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        for j, s in enumerate(p["seeds"]):
            ax.plot(
                s["step"],
                s["train"],
                color=LINE_COLOURS["training"],
                lw=1.0,
                label="training ELBO" if j == 0 else None,
            )
            held = [
                (x, v) for x, v in zip(s["step"], s["held"], strict=True) if math.isfinite(v)
            ]  # logged at every other step
            ax.plot(
                [x for x, _ in held],
                [v for _, v in held],
                color=LINE_COLOURS["held-out"],
                lw=1.0,
                ls="--",
                label="held-out IWAE" if j == 0 else None,
            )
        lows = [v for s in p["seeds"] for v in s["train"] + s["held"] if math.isfinite(v)]
        if (
            p["bound"] is not None
            and lows
            and p["bound"] < max(lows) + 3 * (max(lows) - min(lows) + 1)
        ):
            ax.axhline(
                p["bound"],
                color=LINE_COLOURS["bound"],
                lw=0.8,
                ls=":",
                label=f"bound {sig(p['bound'])} nats",
            )
        elif p["bound"] is not None:  # off the axis: still named in the legend
            ax.plot(
                [],
                [],
                color=LINE_COLOURS["bound"],
                lw=0.8,
                ls=":",
                label=f"bound {sig(p['bound'])} nats (above the axis)",
            )
        else:
            ax.plot([], [], " ", label="no bound (unbounded)")
        if lows:  # the last half of training decides the range: early steps are far below
            tail = [
                v
                for s in p["seeds"]
                for v in (s["train"] + s["held"])[len(s["train"]) // 3 :]
                if math.isfinite(v)
            ] or lows
            span = max(tail) - min(tail) + 1.0
            top = max(
                max(tail),
                p["bound"]
                if p["bound"] is not None and p["bound"] < max(tail) + span
                else -math.inf,
            )
            ax.set_ylim(min(tail) - 0.6 * span, top + 0.25 * span)
        ax.set_xscale("log")
        ax.set_title(p["objective"], color=objective_colour(p["objective"]))
        ax.set_xlabel("step (Adam updates)")
        if k % ncol == 0:
            ax.set_ylabel("nats per point")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{spec['data']}: training ELBO vs held-out IWAE (each seed a line)")


def _draw_logvar(fig: Figure, spec: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    for p in spec["panels"]:
        for j, s in enumerate(p["seeds"]):
            if all(math.isnan(v) for v in s["min_lv"]):
                continue
            ax.plot(
                s["step"],
                s["min_lv"],
                color=objective_colour(p["objective"]),
                lw=1.0,
                label=p["objective"] if j == 0 else None,
            )
    ax.axhline(
        _LOG_XI,
        color=LINE_COLOURS["bound"],
        lw=0.8,
        ls=":",
        label=f"log ξ = {sig(_LOG_XI)} (floor)",
    )
    ax.set_xscale("log")
    ax.set_xlabel("step (Adam updates)")
    ax.set_ylabel("min log σ² (σ² in squared data units)")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(f"{spec['data']}: smallest decoder log-variance along training")


def _draw_map(fig: Figure, spec: dict[str, Any]) -> None:
    rows, cols = spec["shape"]
    maps = spec["maps"]
    lo = min(min(m) for m in maps.values())
    hi = max(max(m) for m in maps.values())
    image = None
    for k, (obj, values) in enumerate(maps.items()):
        ax = fig.add_subplot(1, len(maps), k + 1)
        image = ax.imshow(np.reshape(values, (rows, cols)), cmap="viridis", vmin=lo, vmax=hi)
        for j in spec["flagged"]:
            ax.add_patch(
                Rectangle(
                    (j % cols - 0.5, j // cols - 0.5), 1, 1, fill=False, edgecolor="red", lw=2.0
                )
            )
        ax.set_title(f"{obj}: median log σ² per pixel")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    if image is not None:
        fig.colorbar(image, ax=fig.axes, shrink=0.85, label="log σ² (σ² in squared pixel units)")
    fig.suptitle(
        f"{spec['data']}: final decoder log-variance (mean over {spec['seeds']} "
        "seeds); red: constant pixels flagged by the data audit"
    )


def render_png(spec: dict[str, Any], kind: str) -> bytes:
    """The PNG of a figure's data (``kind``: curves, logvar or map): fixed size, dpi, style
    and font, no metadata, so the same data gives the same bytes."""
    size = {
        "curves": (10.0, 2.6 * math.ceil(len(spec.get("panels", [])) / 3) + 0.6),
        "logvar": (6.5, 4.0),
        "map": (8.0, 3.8),
    }[kind]
    draw = {"curves": _draw_curves, "logvar": _draw_logvar, "map": _draw_map}[kind]
    return png_bytes(lambda fig: draw(fig, spec), size)


def _claims_section(runs: Sequence[Run]) -> list[str]:
    out = ["## T-claims on these runs", ""]
    checks = [
        (
            "T1",
            t1_divergence(runs),
            f"learned variance: flagged-pixel log σ² below log ξ = {T1_LEVEL:.3g}, by > "
            f"{T1_SPREADS:g} seed sd on average",
        ),
        (
            "T2",
            t2_floor(runs),
            f"floor, soft-clip: closes ≥ {1 - T2_RATIO:.0%} of the constant pixels' gap to "
            "their supremum, never passes it",
        ),
        (
            "T3",
            t3_fixed_bernoulli(runs),
            f"fixed σ² = 1, Bernoulli: closes ≥ {1 - T3_RATIO:.0%} of the gap to the bound, "
            "never passes it",
        ),
        (
            "T4",
            t4_objective_check(select_data(runs, "digits")),
            "each training objective = its float64 reference, initial and trained",
        ),
    ]
    rows = [
        [cid, text, res["seeds"], _holds(res), sig(res["margin"], 2)] for cid, res, text in checks
    ]
    out += markdown_table(rows, ["claim", "criterion", "runs", "holds", "smallest margin"]).split(
        "\n"
    )
    return out + [
        "",
        wrap(
            "`wellposed check --group training` gates these criteria (exit 1, `check failed`, "
            "when one fails for any seed). Margins: T1 in log σ² (the weakest seed's distance "
            "below log ξ, or the mean distance less 3 seed sd if smaller), T2 and T3 in the "
            "ratio of trained to untrained gap, T4 as the "
            "fraction of the tolerance left."
        ),
    ]


def _holds(res: Mapping[str, Any]) -> str:
    """Does a T-claim's criterion hold on the runs: ``yes``, ``NO`` or ``no runs``."""
    if not res["seeds"]:
        return NO_RUNS
    return HOLDS if res["ok"] else FAILS


def write_training_report(
    runs: Sequence[Run], report_dir: str | Path, *, command: str = "wellposed train"
) -> list[Path]:
    """Write ``report_dir/training.md``, ``report_dir/training/*.png`` and the rounded
    ``report_dir/training/summary.json``; return the paths written."""
    root = Path(report_dir)
    fig_dir = root / FIGURE_DIR
    outputs: dict[Path, bytes] = {}
    cfg0 = runs[0]["config"]
    seeds = sorted({r["config"]["seed"] for r in runs})
    parts = [
        "# Training: what Adam does to each objective",
        "",
        wrap(
            f"Generated by `{command}`. App. C.2 networks (latent d = {cfg0['latent_dim']}, "
            f"H = {cfg0['hidden']}, tanh), Adam lr {cfg0['lr']:g}, batch {cfg0['batch']}, "
            f"float32 training; every number below is evaluated in float64 "
            f"(ELBO with {cfg0['eval_samples']} draws per point, IWAE with K = "
            f"{cfg0['iwae_k']}). Seeds {', '.join(map(str, seeds))} (weights, minibatches and "
            "noise); train / held-out split seed "
            f"{runs[0]['split_seed']}. Values: mean ± sd over seeds at the last step, per "
            "point, in nats (discrete objectives: nats of probability mass; they are not "
            "comparable with densities). Float32 training differs between CPUs in the last "
            "digits, so values are rounded to 3 significant digits."
        ),
        "",
        wrap(
            "*spikes*: training points decoded within half a grid step in every coordinate; "
            "*sample NN / held NN*: median RMS distance from 500 prior samples (from held-out "
            "points) to the nearest training point; *flagged*: the data audit's constant "
            "coordinates; *bound*: the analytic bound per point (*none*: unbounded)."
        ),
        "",
    ]
    summary: dict[str, Any] = {"seeds": seeds, "data": {}}
    for data in _data_sets(runs):
        rs = [r for r in runs if r["config"]["data"] == data]
        label = _slug(rs[0])
        curves = {**_curves_data(runs, data), "data": label}
        parts += [
            f"## {label} (n = {rs[0]['n_train']} training, {rs[0]['n_held']} held out, "
            f"D = {rs[0]['dim']}, {rs[0]['config']['steps']} steps)",
            "",
        ]
        parts += _table(runs, data) + [""]
        for kind in ("curves", "logvar"):
            name = f"{label}-{kind}.png"
            outputs[fig_dir / name] = render_png(curves, kind)
            parts.append(f"![{label} {kind}]({FIGURE_DIR}/{name})")
        spec = _map_data(runs, data)
        if spec is not None:
            name = f"{label}-logvar-map.png"
            outputs[fig_dir / name] = render_png({**spec, "data": label}, "map")
            parts.append(f"![{label} per-pixel log-variance]({FIGURE_DIR}/{name})")
        parts.append("")
        summary["data"][label] = curves
    parts += _claims_section(runs)
    md = root / "training.md"
    outputs[fig_dir / "summary.json"] = (
        json.dumps(summary, indent=1, sort_keys=True) + "\n"
    ).encode("utf-8")
    outputs[md] = ("\n".join(parts).rstrip() + "\n").encode("utf-8")
    fig_dir.mkdir(parents=True, exist_ok=True)
    write_files(outputs)  # all or nothing: never a new training.md beside old figures
    return [md, *(p for p in outputs if p != md)]
