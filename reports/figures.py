"""The report's figures, drawn with matplotlib from the report's data (what ``report.json`` holds).

Each figure function takes that data and returns a :class:`matplotlib.figure.Figure`, or None
when the data has nothing for it, so a figure can be drawn and checked without synthesis.
:func:`write_figures` writes every figure as SVG and PNG, each file atomically
(:mod:`lutsim.isa._io`) and the same bytes on every run: a fixed font (DejaVu Sans, shipped with
matplotlib), a fixed DPI, SVG ids from a fixed salt, no dates.

============== ====================================================================================
figure         what it shows
============== ====================================================================================
``area``       the LUT core's area and power by component
``lut_vs_mac`` the paper's Fig. 14 view: area against power of every design of the LUT-vs-MAC
               comparison, one panel per level (array, DP4), one marker per design kind, dotted
               lines of equal area x power
``latency``    each preset's speed-up over the FP16 MAC preset, per model and phase; above each
               bar, the limit of the GEMMs that take most of its GEMM time (the cycle model's
               bottleneck analysis, :mod:`lutsim.sim.gpu_bottleneck`)
``scaling``    BitNet decode on LUT-4X and LUT-8X against the register-file and shared-memory
               multipliers
============== ====================================================================================

No two texts of a figure overlap: a point's label goes where it meets no other text and no
marker, and a figure widens until its tick labels clear each other.
"""

from __future__ import annotations

import functools
import io
import math
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lutsim.isa._io import atomic_write_bytes

__all__ = ["DPI", "FIGURES", "FORMATS", "KINDS", "STYLE", "binding_limit", "write_figures"]

# fmt: off
STYLE = {
    "font.family":   "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "font.size":     8,
    "svg.hashsalt":  "lutsim",       # SVG element ids from a fixed salt, not a random one
    "svg.fonttype":  "path",         # glyphs as paths: the SVG looks the same without the font
    "legend.fontsize": 7,
}
"""matplotlib settings of every figure."""
DPI = 150
FORMATS = ("svg", "png")
METADATA = {"svg": {"Date": None}, "png": {}}
"""Per format, what the file's metadata leaves out (no date: writing twice gives the same bytes)."""

KINDS = {  # design -> marker, colour, legend text
    "lut-array":      ("o", "C0", "LUT array (lut-array)"),
    "mac-int8":       ("s", "C1", "INT8 MAC, dequantizes the low-bit weights (mac-int8)"),
    "mac-int8-dense": ("D", "C2", "INT8 MAC, takes dequantized weights (mac-int8-dense)"),
    "mac-fp16":       ("^", "C3", "FP16 MAC, dequantizes the low-bit weights (mac-fp16)"),
    "mac-fp16-dense": ("v", "C4", "FP16 MAC, takes dequantized weights (mac-fp16-dense)"),
}
"""The designs of the LUT-vs-MAC comparison: one marker each."""
SPARE_MARKERS = ("P", "X", "*", "h", "<", ">", "p", "d")
# fmt: on


def _styled(draw: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """Draw under :data:`STYLE` (fonts are fixed when a text is made, so the style must be in
    force while the figure is built, not only when it is saved)."""

    @functools.wraps(draw)
    def styled(data: dict[str, Any]):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return draw(data)

    return styled


def _figure(width: float, height: float):
    """A figure of ``width`` x ``height`` inches on an Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _phase_text(phase: dict) -> str:
    if phase["name"] == "prefill":
        return f"prefill BS{phase['batch']} SEQ{phase['tokens']}"
    return f"decode BS{phase['batch']} ctx {phase['context']}"


def _drawn_texts(fig) -> tuple[list, Any]:
    """The texts that drawing ``fig`` renders (not hidden ones, not ticks outside the view),
    and the renderer that drew them, for their ``get_window_extent(renderer)``."""
    from matplotlib.backends.backend_agg import RendererAgg

    drawn: list = []

    class Recorder(RendererAgg):
        def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            if mtext is not None and mtext not in drawn:
                drawn.append(mtext)
            super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    width, height = fig.get_size_inches() * fig.dpi
    renderer = Recorder(int(width), int(height), fig.dpi)
    fig.draw(renderer)
    return drawn, renderer


def _hit(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _widen(fig, tries: int = 8) -> tuple[list, Any]:
    """Widen ``fig`` by steps of 20 % until no two of its texts overlap (at most ``tries``
    times); returns the boxes of its texts and the renderer, as it is then laid out."""
    while True:
        texts, renderer = _drawn_texts(fig)
        boxes = [t.get_window_extent(renderer) for t in texts]
        if not tries or not any(_hit(a, b) for i, a in enumerate(boxes) for b in boxes[:i]):
            return boxes, renderer
        tries -= 1
        width, height = fig.get_size_inches()
        fig.set_size_inches(width * 1.2, height)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks 1, 2, 5 x 10^e between ``lo`` and ``hi`` (decades only over a wide range, every
    step of 1..9 over a narrow one)."""
    decades = math.log10(hi / lo)
    steps: tuple[float, ...] = (1, 2, 5) if decades <= 3 else (1,)

    def ticks(steps):
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return [float(f"{m * 10.0**e:.12g}") for e in range(first, last + 1) for m in steps
                if lo <= m * 10.0**e <= hi]  # fmt: skip

    found = ticks(steps)
    if len(found) < 3 and decades <= 3:
        found = ticks(range(1, 10))
    return found[:: max(1, math.ceil(len(found) / 8))]


def _number(value: float) -> str:
    """``value`` short: ``0.05``, ``2000``, ``1e6``."""
    text = f"{value:g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _log_axis(axis, lo: float, hi: float) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_major_locator(FixedLocator(_log_ticks(lo, hi)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _number(v)))
    axis.set_minor_formatter(NullFormatter())


def binding_limit(run: dict[str, Any]) -> str | None:
    """What limits a latency run's GEMMs: the bottleneck analysis's ``limit`` that takes the
    most of the run's GEMM time (count x µs of each GEMM shape); None without the analysis."""
    time: Counter = Counter()
    for gemm in run.get("gemms", ()):
        if "limit" in gemm:
            time[gemm["limit"]] += gemm["count"] * gemm["us"]
    return time.most_common(1)[0][0] if time else None


@_styled
def area_figure(data: dict[str, Any]):
    """The LUT core's area and power by component, largest area first."""
    core = data["core"]
    parts = core["components"]
    names = sorted(parts, key=lambda n: -parts[n]["area_um2"])
    fig = _figure(10, 0.9 + 0.32 * len(names))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, unit in zip(axes, ("area_um2", "power_mw"), ("area µm²", "power mW"),
                             strict=True):  # fmt: skip
        values = [parts[n][key] for n in names]
        bars = ax.barh(names, values, color="C0" if key == "area_um2" else "C1")
        total = core[key]
        ax.bar_label(bars, [f"{100 * v / total:.1f} %" for v in values], padding=2, fontsize=7)
        ax.set_xlim(0, 1.2 * max(values))
        ax.set_xlabel(unit)
    axes[0].invert_yaxis()
    fig.suptitle(f"{core['mnemonic']} by component ({core['liberty']['node']})")
    _widen(fig)
    return fig


def _designs(rows: list[dict[str, Any]]) -> dict[tuple, list[int]]:
    """The distinct designs of LUT-vs-MAC rows: (design, activation format, area mm², power mW)
    -> the weight widths measured at that point (a LUT array recurs in a row per baseline)."""
    points: dict[tuple, list[int]] = {}
    for r in rows:
        for side in ("lut", "mac"):
            d = r[side]
            key = (d["design"], r["act_format"], d["area_um2"] / 1e6, d["power_mw"])
            bits = points.setdefault(key, [])
            if r["weight_bits"] not in bits:
                bits.append(r["weight_bits"])
    return points


def _kinds(designs: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """Marker, colour and legend text of each design, the known ones first in their order."""
    present = list(dict.fromkeys(designs))
    kinds = {d: v for d, v in KINDS.items() if d in present}
    spare = iter(SPARE_MARKERS)
    for i, d in enumerate(x for x in present if x not in KINDS):
        kinds[d] = (next(spare, "."), f"C{5 + i}", d)
    return kinds


def _equal_products(lo: float, hi: float) -> list[float]:
    """The values of area x power drawn as dotted lines between products ``lo`` and ``hi``."""
    inside = [v for v in _log_ticks(lo, hi) if lo < v < hi]
    return [v for v in inside if math.log10(v).is_integer()] if len(inside) > 5 else inside


def _padded(values: list[float], factor: float = 1.8) -> tuple[float, float]:
    return min(values) / factor, max(values) * factor


@_styled
def lut_vs_mac_figure(data: dict[str, Any]):
    """Area against power of every design of the LUT-vs-MAC comparison (the paper's Fig. 14
    view), one panel per level, with lines of equal area x power; None without rows."""
    from matplotlib.lines import Line2D

    rows = data["lut_vs_mac"]
    levels = list(dict.fromkeys(r["level"] for r in rows))
    if not levels:
        return None
    kinds = _kinds(r[side]["design"] for r in rows for side in ("lut", "mac"))
    fig = _figure(1.0 + 4.6 * len(levels), 5.2)
    axes = fig.subplots(1, len(levels), squeeze=False)[0]
    placed = []
    for ax, level in zip(axes, levels, strict=True):
        level_rows = [r for r in rows if r["level"] == level]
        points = _designs(level_rows)
        xlo, xhi = _padded([k[2] for k in points])
        ylo, yhi = _padded([k[3] for k in points])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(xlo, xhi)
        ax.set_ylim(ylo, yhi)
        _log_axis(ax.xaxis, xlo, xhi)
        _log_axis(ax.yaxis, ylo, yhi)
        lines = []
        for product in _equal_products(xlo * ylo, xhi * yhi):
            xs = [xlo * (xhi / xlo) ** (i / 64) for i in range(65)]
            (line,) = ax.plot(xs, [product / x for x in xs], ":", color="0.55", lw=0.8, zorder=0)
            lines.append((product, line))
        for design, _, area, power in points:
            marker, colour, _ = kinds[design]
            ax.plot([area], [power], marker, color=colour, ms=7, mec="black", mew=0.5, zorder=3)
        r0 = level_rows[0]
        ax.set_title(f"{level} level (M{r0['m']}N{r0['n']}K{r0['k']}), {r0['node']}")
        ax.set_xlabel("area mm²")
        ax.set_ylabel("power mW")
        labels: dict[tuple[float, float], str] = {}
        for (_, act, area, power), bits in points.items():
            text = f"W{','.join(str(b) for b in sorted(bits))} {act.upper()}"
            at = labels.get((area, power))  # two designs measured alike share one label
            labels[(area, power)] = text if at is None else f"{at} / {text}"
        placed.append((ax, labels, lines))
    handles = [Line2D([], [], marker=m, color=c, mec="black", mew=0.5, ms=7, ls="none", label=t)
               for m, c, t in kinds.values()]  # fmt: skip
    handles.append(Line2D([], [], ls=":", color="0.55", lw=0.8, label="equal area x power "
                          "(mm² x mW, labeled)"))  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle("Area and power of the LUT and MAC arrays, synthesized at one node and clock")
    texts, renderer = _widen(fig)
    for ax, labels, _ in placed:
        _label_points(ax, labels, texts, renderer)
    for ax, _, lines in placed:
        _label_lines(ax, lines, texts, renderer)
    return fig


def _markers(ax, size_pt: float = 5.0) -> list:
    """Boxes around the markers of ``ax``."""
    from matplotlib.transforms import Bbox

    pad = size_pt * ax.figure.dpi / 72
    boxes = []
    for line in ax.get_lines():
        if line.get_marker() in (None, "None", "", " "):
            continue
        for x, y in ax.transData.transform(line.get_xydata()):
            boxes.append(Bbox.from_extents(x - pad, y - pad, x + pad, y + pad))
    return boxes


def _inside(box, frame) -> bool:
    return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def _place(text, moves, texts: list, markers: list, frame, renderer) -> bool:
    """Put ``text`` at the first of ``moves`` (callables that move it) where its box stays in
    ``frame`` and meets no box of ``texts`` nor of ``markers``; failing that, at the first where
    it meets no text. A placed text's box joins ``texts``; an unplaceable one is removed."""
    for avoid in (texts + markers, texts):
        for move in moves:
            move()
            box = text.get_window_extent(renderer)
            if _inside(box, frame) and not any(_hit(box, other) for other in avoid):
                texts.append(box)
                return True
    text.remove()
    return False


def _label_points(ax, labels: dict[tuple[float, float], str], texts: list, renderer) -> None:
    """Label each point of ``ax`` (``labels``: (x, y) -> text) beside it, where the label meets
    no text (``texts``: the boxes of those already drawn), no marker and no edge of the axes
    (the nearest such place first)."""
    markers = _markers(ax)
    frame = ax.get_window_extent(renderer)
    around = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1)]
    for (x, y), label in sorted(labels.items()):
        text = ax.annotate(label, (x, y), xytext=(0, 0), textcoords="offset points", fontsize=7)

        def move(dx: int, dy: int, r: float, text=text) -> Callable[[], None]:
            def to() -> None:
                norm = math.hypot(dx, dy)
                text.xyann = (r * dx / norm, r * dy / norm)
                text.set_horizontalalignment({1: "left", 0: "center", -1: "right"}[dx])
                text.set_verticalalignment({1: "bottom", 0: "center", -1: "top"}[dy])

            return to

        moves = [move(dx, dy, r) for r in (6, 10, 15, 21, 28) for dx, dy in around]
        _place(text, moves, texts, markers, frame, renderer)


def _label_lines(ax, lines: list[tuple[float, Any]], texts: list, renderer) -> None:
    """Label each line of equal area x power with its value, somewhere along it where the label
    meets no text (``texts``: the boxes of those already drawn) and no marker; a line with no
    such place stays unlabeled."""
    markers = _markers(ax)
    frame = ax.get_window_extent(renderer)
    for product, line in lines:
        xs, ys = line.get_data()
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        on = [(x, y) for x, y in zip(xs, ys, strict=True) if y0 <= y <= y1 and x0 <= x <= x1]
        if not on:
            continue
        text = ax.text(0, 0, _number(product), fontsize=6.5, color="0.35", ha="center",
                       va="center", zorder=1)  # fmt: skip
        order = sorted(range(len(on)), key=lambda i: abs(i - 0.75 * (len(on) - 1)))

        def move(x: float, y: float, text=text) -> Callable[[], None]:
            return lambda: text.set_position((x, y))

        if _place(text, [move(*on[i]) for i in order], texts, markers, frame, renderer):
            text.set_bbox({"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"})


@_styled
def latency_figure(data: dict[str, Any]):
    """Each preset's speed-up over the FP16 MAC preset (the whole pass, precompute fused), per
    model and phase; above each bar, :func:`binding_limit` of its run. None without runs."""
    runs = data["latency"]
    groups = sorted({(r["model"], _phase_text(r["phase"])) for r in runs})
    if not groups:
        return None
    presets = list(dict.fromkeys(r["preset"] for r in runs))
    fig = _figure(max(7.0, 1.6 * len(groups)), 4.6)
    ax = fig.add_subplot()
    width = 0.8 / len(presets)
    top = 0.0
    for p, preset in enumerate(presets):
        for g, (model, phase) in enumerate(groups):
            of = {r["preset"]: r["fused"] for r in runs if r["model"] == model
                  and _phase_text(r["phase"]) == phase}  # fmt: skip
            run = of.get(preset)
            base = next((of[name] for name in of if name.endswith("FP16")), None)
            if run is None or base is None:
                continue
            height = base["total_us"] / run["total_us"]
            top = max(top, height)
            (bar,) = ax.bar(g + p * width, height, width, color=f"C{p}",
                            label=preset if g == 0 else "_")  # fmt: skip
            bar.set_gid(f"latency {model} {phase} {preset}")
            limit = binding_limit(run)
            if limit:
                ax.annotate(limit, (g + p * width, height), xytext=(0, 2),
                            textcoords="offset points", rotation=90, ha="center",
                            va="bottom", fontsize=6.5)  # fmt: skip
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    ax.set_xticklabels([f"{m}\n{ph}" for m, ph in groups], fontsize=7)
    ax.set_xlim(-width, len(groups) - 1 + 0.8)
    ax.set_ylabel("speed-up over the FP16 MAC preset (whole pass)")
    ax.set_title("Above each bar: what limits its GEMMs (the cycle model's bottleneck analysis)",
                 fontsize=7.5)  # fmt: skip
    ax.axhline(1.0, color="grey", linewidth=0.8)
    fig.legend(loc="outside upper center", ncols=len(presets), frameon=False)
    ax.set_ylim(0, 1.3 * top)
    _fit_height(fig, ax)
    _widen(fig)
    return fig


def _fit_height(fig, ax, tries: int = 8) -> None:
    """Raise the top of ``ax`` until every text drawn inside it lies below its top edge."""
    for _ in range(tries):
        texts, renderer = _drawn_texts(fig)
        frame = ax.get_window_extent(renderer)
        inside = [t.get_window_extent(renderer) for t in texts if t in ax.texts]
        if all(box.y1 <= frame.y1 for box in inside):
            return
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top * 1.15)


@_styled
def scaling_figure(data: dict[str, Any]):
    """BitNet decode (linear layers) on LUT-4X and LUT-8X against the register-file multiplier,
    one line per shared-memory bandwidth multiplier; None without the study."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    rows = data.get("scaling")
    if not rows:
        return None
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    for preset in dict.fromkeys(r["preset"] for r in rows):
        for smem in dict.fromkeys(r["smem"] for r in rows):
            pts = [
                (r["regs"], r["ms"]) for r in rows if r["preset"] == preset and r["smem"] == smem
            ]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", ms=4,
                        linestyle="-" if preset.endswith("8X") else "--",
                        label=f"{preset}, smem {smem:g}x")  # fmt: skip
    regs = sorted({r["regs"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(regs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("register-file multiplier")
    ax.set_ylabel("ms (linear layers)")
    ax.set_title("BitNet b1.58 3B decode BS1024")
    fig.legend(loc="outside right upper", frameon=False)
    _widen(fig)
    return fig


FIGURES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "area": area_figure,
    "lut_vs_mac": lut_vs_mac_figure,
    "latency": latency_figure,
    "scaling": scaling_figure,
}
"""The report's figures by name, in the report's order."""


def _save(fig, stem: Path) -> dict[str, str]:
    """Write ``fig`` as ``stem.svg`` and ``stem.png``, each atomically; returns the file names
    by format."""
    import matplotlib

    written = {}
    with matplotlib.rc_context(STYLE):
        for fmt in FORMATS:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=DPI, bbox_inches="tight", metadata=METADATA[fmt])
            path = stem.with_name(f"{stem.name}.{fmt}")
            atomic_write_bytes(path, buffer.getvalue())
            written[fmt] = path.name
    return written


def write_figures(data: dict[str, Any], out_dir: Path) -> dict[str, dict[str, str]]:
    """Draw the report's figures from its data (what ``report.json`` holds) into ``out_dir``,
    each as SVG and PNG; returns the written file names by figure, then by format."""
    written = {}
    for name, draw in FIGURES.items():
        fig = draw(data)
        if fig is not None:
            written[name] = _save(fig, Path(out_dir) / name)
    return written
