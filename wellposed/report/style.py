"""Figure style: one rc style, fixed colours per objective and per line, readable labels, PNG.

Every figure of the reports is drawn under :data:`STYLE` and written by :func:`png_bytes`
(fixed size and dpi, the DejaVu font matplotlib ships, no metadata: the same data gives the
same bytes).  A training objective has one colour in every figure (:func:`objective_colour`),
so do the evaluation lines and the reference marks (:data:`LINE_COLOURS`); raw evidence keys
print as words (:func:`readable`).  Axis labels carry their units (nats for objectives).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any

import matplotlib
import matplotlib.image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

__all__ = [
    "DPI",
    "LINE_COLOURS",
    "OBJECTIVE_COLOURS",
    "STYLE",
    "objective_colour",
    "png_bytes",
    "readable",
]

#: pixels per inch of every PNG
DPI = 100
STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs everywhere
    "font.size": 9.0,
    "axes.titlesize": 9.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "wellposed",
    "path.simplify": False,
}
#: one colour per training objective (wellposed.training.objectives), in every figure
OBJECTIVE_COLOURS = {
    "learned": "#d62728",
    "shared": "#ff7f0e",
    "floor": "#2ca02c",
    "softclip": "#17becf",
    "fixed": "#1f77b4",
    "bernoulli": "#9467bd",
    "cbernoulli": "#8c564b",
    "dlogistic": "#e377c2",
    "dequantised": "#7f7f7f",
}
_FALLBACK = ("#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")
#: evaluation lines, computed values and reference marks
LINE_COLOURS = {
    "computed": "#d62728",
    "derived": "#1f77b4",
    "tolerance": "#1f77b4",
    "bound": "#000000",
    "best": "#2ca02c",
    "gap": "#9467bd",
    "floor": "#7f7f7f",
    "training": "#1f77b4",
    "held-out": "#ff7f0e",
}
#: evidence keys as words (search sources, sequences)
_WORDS = {
    "mc": "Monte Carlo",
    "npmle": "NPMLE",
    "crn": "CRN",
    "elbo": "ELBO",
    "exact": "exact line",
    "n1": "n = 1",
    "vae": "VAE",
    "gmm": "GMM",
}


def objective_colour(name: str) -> str:
    """The colour of a training objective (a fixed fallback by name for a new one)."""
    return OBJECTIVE_COLOURS.get(name, _FALLBACK[zlib.crc32(name.encode()) % len(_FALLBACK)])


def readable(key: str) -> str:
    """An evidence key as words: ``ascent_final_mc`` -> ``ascent final Monte Carlo``."""
    return " ".join(_WORDS.get(w, w) for w in key.replace("/", " / ").split("_"))


def png_bytes(draw: Callable[[Figure], None], size: tuple[float, float]) -> bytes:
    """The PNG of what ``draw`` puts on a :data:`STYLE` figure of ``size`` inches."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # a user's matplotlibrc or style must not change the bytes
        matplotlib.rcParams.update(STYLE)
        fig = Figure(figsize=size, dpi=DPI, layout="constrained")
        canvas = FigureCanvasAgg(fig)
        draw(fig)
        # one draw (it runs the constrained layout), then the PNG of its pixels: what
        # ``savefig`` writes, without its extra layout-only pass over every artist
        canvas.draw()  # type: ignore[no-untyped-call]
        rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
        buf = io.BytesIO()
        # metadata None drops the key: no matplotlib version in the PNG (stubs say str only)
        no_software: dict[str, Any] = {"Software": None}
        matplotlib.image.imsave(
            buf, rgba, format="png", origin="upper", dpi=DPI, metadata=no_software
        )
    return buf.getvalue()
