"""The report's figures, drawn from its data (what ``report.json`` holds) with matplotlib."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from lutsim.isa._io import atomic_write_bytes

__all__ = ["write_figures"]


def _phase_text(phase: dict) -> str:
    if phase["name"] == "prefill":
        return f"prefill BS{phase['batch']} SEQ{phase['tokens']}"
    return f"decode BS{phase['batch']} ctx {phase['context']}"


def write_figures(data: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Draw the report's figures from its data (what ``report.json`` holds) into ``out_dir``;
    returns the written files by figure name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: dict[str, str] = {}

    def save(fig, name: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(out_dir / name, buffer.getvalue())
        written[name.removesuffix(".png")] = name

    core = data["core"]
    names = sorted(core["components"], key=lambda n: -core["components"][n]["area_um2"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, unit in zip(axes, ("area_um2", "power_mw"), ("area µm²", "power mW"),
                             strict=True):  # fmt: skip
        ax.barh(names, [core["components"][n][key] for n in names])
        ax.set_xlabel(unit)
        ax.invert_yaxis()
    fig.suptitle(f"{core['mnemonic']} by component ({core['liberty']['node']})")
    save(fig, "area.png")

    rows = [r for r in data["lut_vs_mac"] if r["level"] == "array"] or data["lut_vs_mac"]
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for side, marker in (("lut", "o"), ("mac", "s")):
            xs = [r[side]["area_um2"] for r in rows]
            ys = [r[side]["energy_pj_per_mac"] for r in rows]
            ax.scatter(xs, ys, marker=marker, label=side.upper())
            for r, x, y in zip(rows, xs, ys, strict=True):
                ax.annotate(f"W{r['weight_bits']} {r['act_format']}", (x, y), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("area µm²")
        ax.set_ylabel("energy pJ/MAC")
        ax.set_title(f"LUT vs MAC arrays ({rows[0]['level']} level)")
        ax.legend()
        save(fig, "lut_vs_mac.png")

    groups = sorted({(r["model"], _phase_text(r["phase"])) for r in data["latency"]})
    presets = list(dict.fromkeys(r["preset"] for r in data["latency"]))
    if groups:
        fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(groups)), 4.5))
        width = 0.8 / len(presets)
        for p, preset in enumerate(presets):
            heights = []
            for model, phase in groups:
                run = next(
                    r["fused"]
                    for r in data["latency"]
                    if r["model"] == model
                    and _phase_text(r["phase"]) == phase
                    and r["preset"] == preset
                )
                base = next(r["fused"] for r in data["latency"] if r["model"] == model
                            and _phase_text(r["phase"]) == phase
                            and r["preset"].endswith("FP16"))  # fmt: skip
                heights.append(base["total_us"] / run["total_us"])
            ax.bar([g + p * width for g in range(len(groups))], heights, width, label=preset)
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
        ax.set_xticklabels([f"{m}\n{ph}" for m, ph in groups], fontsize=7)
        ax.set_ylabel("speed-up vs FP16 MAC (whole pass)")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.legend(fontsize=7)
        save(fig, "latency.png")

    if data.get("scaling"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for preset in dict.fromkeys(r["preset"] for r in data["scaling"]):
            for scale in dict.fromkeys(r["smem"] for r in data["scaling"]):
                pts = [(r["regs"], r["ms"]) for r in data["scaling"]
                       if r["preset"] == preset and r["smem"] == scale]  # fmt: skip
                ax.plot(*zip(*pts, strict=True), marker="o",
                        linestyle="-" if preset.endswith("8X") else "--",
                        label=f"{preset}, smem {scale:g}x")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xlabel("register-file multiplier")
        ax.set_ylabel("ms (linear layers)")
        ax.set_title("BitNet b1.58 3B decode BS1024")
        ax.legend(fontsize=7)
        save(fig, "scaling.png")
    return written
