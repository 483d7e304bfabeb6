"""The report's figures, drawn from a small synthetic report (no synthesis, no simulation)."""

from __future__ import annotations

import math

import pytest
from matplotlib.backends.backend_agg import RendererAgg

from lutsim.reports.figures import FIGURES, KINDS, binding_limit, write_figures

PRESETS = ("A100-LUT-1X", "A100-LUT-4X", "A100-LUT-8X", "A100-FP16", "A100-INT8")
PHASES = (
    {"name": "prefill", "batch": 1, "tokens": 2048, "context": 2048},
    {"name": "decode", "batch": 1024, "tokens": 1, "context": 1},
    {"name": "decode", "batch": 1, "tokens": 1, "context": 2048},
)
# per preset: the time of a pass against the FP16 MAC preset's (before the phase's share)
SHARE_OF_FP16 = {"A100-LUT-1X": 1.02, "A100-LUT-4X": 0.45, "A100-LUT-8X": 0.44, "A100-FP16": 1.0,
                 "A100-INT8": 0.6}  # fmt: skip
# per preset: the GEMM limits, time-weighted: (limit, count, µs) of each shape
LIMITS = {
    "A100-LUT-1X": [("power", 104, 170.0), ("tensor", 26, 90.0)],
    "A100-LUT-4X": [("smem", 104, 80.0), ("l2", 26, 400.0)],  # smem 8320 µs, l2 10400 µs
    "A100-LUT-8X": [("l2", 130, 70.0)],
    "A100-FP16": [("dram", 130, 120.0)],
    "A100-INT8": [("power", 52, 60.0), ("vector", 78, 30.0), ("occupancy", 1, 900.0)],
}
EXPECTED_LIMIT = {
    "A100-LUT-1X": "power", "A100-LUT-4X": "l2", "A100-LUT-8X": "l2", "A100-FP16": "dram",
    "A100-INT8": "power",
}  # fmt: skip


def _side(design: str, area_um2: float, power_mw: float) -> dict:
    return {"design": design, "area_um2": area_um2, "power_mw": power_mw}


def _lut_vs_mac() -> list[dict]:
    """Rows as the report measures them: a LUT array per activation format (the same for every
    weight width: bit-serial), a MAC per weight width that dequantizes, a dense MAC per format."""
    rows = []
    for level, size in (("array", 512), ("dp4", 4)):
        m, n = (2, 64) if level == "array" else (1, 1)
        # µm² and mW per element: the LUT array, the dequantizing MAC at W0, the dense MAC
        for act, lut, mac, dense in (("int8", (4500, 1.14), (11400, 1.44), (24800, 4.6)),
                                     ("fp16", (16700, 8.9), (85500, 22.8), (84700, 26.8))):  # fmt: skip
            for bits in (1, 2, 4):
                wq = (mac[0] * (1 + bits / 16), mac[1] * (1 + bits / 20))
                for baseline, side in ((f"mac-{act}", wq), (f"mac-{act}-dense", dense)):
                    rows.append({
                        "level": level, "weight_bits": bits, "act_format": act,
                        "baseline": baseline, "m": m, "n": n, "k": 4,
                        "node": "OSU 0.18 µm (synthesized)",
                        "lut": _side("lut-array", lut[0] * size, lut[1] * size),
                        "mac": _side(baseline, side[0] * size, side[1] * size),
                    })  # fmt: skip
    return rows


def _latency() -> list[dict]:
    rows = []
    for model, scale in (("bitnet-b1.58-3b", 1.0), ("llama2-7b", 2.3)):
        for phase in PHASES:
            for preset in PRESETS:
                gemms = [{"m": 2048, "n": 3200, "k": 3200, "count": count, "us": us,
                          "limit": limit, "why": f"{limit}-bound"}
                         for limit, count, us in LIMITS[preset]]  # fmt: skip
                total = scale * 1e4 * SHARE_OF_FP16[preset] * (1 + 0.1 * phase["batch"] / 1024)
                fused = {"total_us": total, "gemms": gemms, "precompute_share": 0.03,
                         "us": {"gemm": 0.7 * total, "precompute": 0.01 * total,
                                "attention": 0.2 * total, "lm_head": 0.04 * total,
                                "other": 0.05 * total}}  # fmt: skip
                rows.append({"model": model, "phase": phase, "preset": preset, "fused": fused})
    return rows


def report_data() -> dict:
    """A report's data with every field the figures read, at realistic magnitudes."""
    components = {
        "table registers": (41_000, 7.2), "accumulator registers": (17_000, 2.8),
        "control": (15_300, 2.6), "shift/accumulate": (6_600, 0.83),
        "lookup (mux + negate)": (4_600, 0.95), "weight registers": (4_200, 0.74),
    }  # fmt: skip
    scaling = [{"preset": preset, "regs": regs, "smem": smem,
                "ms": 9.8 / (1 + 0.1 * math.log2(regs) * smem) - (0.5 if "8X" in preset else 0)}
               for preset in ("A100-LUT-4X", "A100-LUT-8X") for smem in (1.0, 2.0, 4.0)
               for regs in (1, 2, 4, 8)]  # fmt: skip
    return {
        "core": {
            "mnemonic": "lmma.m2n64k4.s8.u2.s32.s32",
            "liberty": {"node": "OSU 0.18 µm (synthesized)"},
            "area_um2": sum(a for a, _ in components.values()),
            "power_mw": sum(p for _, p in components.values()),
            "components": {n: {"area_um2": a, "power_mw": p} for n, (a, p) in components.items()},
        },
        "lut_vs_mac": _lut_vs_mac(),
        "latency": _latency(),
        "scaling": scaling,
    }


def crowded_data() -> dict:
    """Designs a hair apart: three LUT arrays, one per weight width, at nearly one point; the
    longest limit on the tallest bars."""
    data = report_data()
    for r in data["latency"]:
        if r["preset"] == "A100-LUT-8X":
            r["fused"]["gemms"][0]["limit"] = "occupancy"
    for r in data["lut_vs_mac"]:
        if r["act_format"] == "fp16":
            lut = r["lut"]
            r["lut"] = dict(lut, power_mw=lut["power_mw"] * (1 + r["weight_bits"] / 200))
    return data


def _drawn(fig, monkeypatch) -> tuple[list, RendererAgg]:
    """The texts a draw of ``fig`` renders, and its renderer."""
    drawn = []
    draw_text = RendererAgg.draw_text

    def record(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if mtext is not None and mtext not in drawn:
            drawn.append(mtext)
        return draw_text(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    with monkeypatch.context() as patch:
        patch.setattr(RendererAgg, "draw_text", record)
        fig.canvas.draw()
    return drawn, fig.canvas.get_renderer()


@pytest.mark.parametrize("make", [report_data, crowded_data])
@pytest.mark.parametrize("name", list(FIGURES))
def test_no_two_texts_overlap(name, make, monkeypatch):
    fig = FIGURES[name](make())
    texts, renderer = _drawn(fig, monkeypatch)
    assert len(texts) >= 10
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[:i]:
            dx = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            dy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            assert min(dx, dy) <= 0, f"{a!r} at {box_a.bounds} overlaps {b!r} at {box_b.bounds}"


def test_every_figure_as_svg_and_png_the_same_bytes_each_time(tmp_path):
    written = write_figures(report_data(), tmp_path)
    assert written == {name: {"svg": f"{name}.svg", "png": f"{name}.png"} for name in FIGURES}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.{fmt}" for name in FIGURES for fmt in ("svg", "png")
    )  # nothing else: no temporary files left behind
    for name in FIGURES:
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        svg = (tmp_path / f"{name}.svg").read_text()
        assert svg.startswith("<?xml") and "<svg" in svg and "<dc:date>" not in svg
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    write_figures(report_data(), tmp_path)  # again, over the first files
    for name, data in sorted(first.items()):
        assert (tmp_path / name).read_bytes() == data, f"{name} differs from the first run's"


def test_figures_without_data():
    data = report_data()
    data.update(lut_vs_mac=[], latency=[], scaling=[])
    assert {name: draw(data) is None for name, draw in FIGURES.items()} == {
        "area": False, "lut_vs_mac": True, "latency": True, "scaling": True
    }  # fmt: skip


@pytest.mark.parametrize("make", [report_data, crowded_data])
def test_lut_vs_mac_one_marker_per_design_kind(make):
    data = make()
    fig = FIGURES["lut_vs_mac"](data)
    kinds = {r[side]["design"] for r in data["lut_vs_mac"] for side in ("lut", "mac")}
    assert kinds == set(KINDS)
    (legend,) = fig.legends
    entries = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles,
                                               strict=True)}  # fmt: skip
    markers = {}
    for kind in kinds:
        (entry,) = [h for text, h in entries.items() if text.endswith(f"({kind})")]
        markers[kind] = (entry.get_marker(), entry.get_color())
    assert len(set(markers.values())) == len(kinds), markers
    assert len({m for m, _ in markers.values()}) == len(kinds), "a marker shape per kind"
    assert any("equal area x power" in text for text in entries)
    axes = [ax for ax in fig.axes if ax.get_xscale() == "log"]
    assert [ax.get_title().split()[0] for ax in axes] == ["array", "dp4"]
    for ax, level in zip(axes, ("array", "dp4"), strict=True):
        rows = [r for r in data["lut_vs_mac"] if r["level"] == level]
        expected = {}  # each design once, where it was measured, with the marker of its kind
        for r in rows:
            for side in ("lut", "mac"):
                d = r[side]
                expected[(d["area_um2"] / 1e6, d["power_mw"])] = markers[d["design"]]
        drawn = {}
        for line in ax.get_lines():
            if line.get_marker() not in ("None", None, ""):
                (x,), (y,) = line.get_data()
                assert (x, y) not in drawn, f"two markers at {x:g} mm², {y:g} mW"
                drawn[(x, y)] = (line.get_marker(), line.get_color())
        assert drawn == expected
        labels = {t.get_text() for t in ax.texts}
        assert "W1,2,4 INT8" in labels  # one LUT array serves every weight width
        assert {"W1 INT8", "W2 INT8", "W4 INT8"} <= labels  # the dequantizing MAC per width
        assert len([t for t in ax.texts if t.get_text().startswith("W")]) == len(expected)


def test_latency_bars_carry_the_binding_resource():
    data = report_data()
    fig = FIGURES["latency"](data)
    (ax,) = fig.axes
    bars = [p for p in ax.patches if (p.get_gid() or "").startswith("latency ")]
    assert len(bars) == len(data["latency"])
    labels = {(round(t.xy[0], 9), round(t.xy[1], 9)): t.get_text() for t in ax.texts}
    for bar in bars:
        preset = bar.get_gid().split()[-1]
        at = (round(bar.get_x() + bar.get_width() / 2, 9), round(bar.get_height(), 9))
        assert labels.get(at) == EXPECTED_LIMIT[preset], bar.get_gid()
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert legend == set(PRESETS)


def test_binding_limit_is_the_limit_of_most_gemm_time():
    run = {"gemms": [{"count": 104, "us": 80.0, "limit": "smem"},
                     {"count": 26, "us": 400.0, "limit": "l2"},
                     {"count": 1, "us": 5000.0, "limit": "smem"}]}  # fmt: skip
    assert binding_limit(run) == "smem"  # 13320 µs against 10400 µs
    assert binding_limit({"gemms": [{"count": 1, "us": 1.0}]}) is None
    assert binding_limit({"gemms": []}) is None
