"""``lutsim synth``: synthesize the core, its datapath or a baseline on a real liberty.

Prints the area of every component, the critical path and Fmax, the power (internal,
switching, leakage) at the clock and at the activity measured by simulating the design, the
energy per cycle, per MAC and per action, the numbers scaled to 28 and 7 nm by Dennard scaling
and to 32 nm at 0.9 V by the Stillmaker-Baas fits (labeled as scaled), the provenance and how long each step took (a repeated run comes from the cache).
Power is found module by module (the hierarchical flow); ``--flat`` runs the flat flow,
``--flat-boundaries`` the flat flow with the module boundaries annotated, which checks it.
``--json`` prints :meth:`lutsim.reports.flow.synth.SynthResult.to_dict` instead.

``--compare lut-vs-mac`` synthesizes the LUT array and the INT8 and FP16 MAC arrays (the
dequantizing ones and the dense ones) of the configured tile and prints their area, power and
energy per MAC side by side with the ratios
(:func:`lutsim.reports.flow.synth.lut_vs_mac`); ``--compare ablation`` the four LUT ablation steps
(:func:`lutsim.reports.flow.synth.ablation`). With ``--set m=1 --set n=1`` both are at the DP4 level.
"""

from __future__ import annotations

import argparse
import json

from .common import UsageError, add_config, config, fmt_num, print_table


def _cmd_synth(args: argparse.Namespace) -> int:
    from lutsim.reports.flow import synth

    options = {"liberty": args.liberty, "clock_ns": args.clock_ns, "activity": args.toggle_rate,
               "flat": args.flat or args.flat_boundaries, "boundaries": args.flat_boundaries}  # fmt: skip
    if args.compare:
        if args.design is not None:
            raise UsageError("--design and --compare are separate runs; give one of them")
        rows = (synth.lut_vs_mac if args.compare == "lut-vs-mac" else synth.ablation)(
            config(args), **options
        )
        if args.json:
            print(json.dumps(rows))
        elif args.compare == "lut-vs-mac":
            _print_lut_vs_mac(rows)
        else:
            _print_ablation(rows)
        return 0
    result = synth.synthesize(args.design or "core", config(args), **options)
    data = result.to_dict()
    if args.json:
        print(json.dumps(data))
        return 0
    _print(data)
    return 0


def _print(r: dict) -> None:
    lib = r["liberty"]
    print(f"{r['design']}: {r['summary']}")
    print(f"config {r['mnemonic']}")
    print(f"liberty {lib['name']}, {lib['node']}: {lib['path']} (sha256 {lib['sha256'][:16]})")
    print(f"flow {r['flow']}")
    path = r["critical_path_ns"]
    timing = (
        f"critical path {path:.4g} ns, Fmax {r['fmax_mhz']:.4g} MHz ({r['startpoint']} -> "
        f"{r['endpoint']})"
        if path
        else "no constrained path"
    )
    print(f"clock {r['clock_ns']:g} ns: {timing}")
    print(
        f"area {r['area_um2']:.6g} um2 ({r['seq_area_um2']:.6g} um2 in {r['flops']} "
        f"flip-flops), {r['cells']} cells"
    )
    kind = r["power_mw_by_kind"]
    per_mac = r["energy_pj_per_mac"]
    print(
        f"power {r['power_mw']:.4g} mW at {1000 / r['clock_ns']:.4g} MHz (internal "
        f"{kind['internal']:.4g}, switching {kind['switching']:.4g}, leakage "
        f"{kind['leakage']:.3g}); {r['energy_pj_per_cycle']:.4g} pJ/cycle"
        + (f", {per_mac:.4g} pJ/MAC at {r['macs_per_cycle']:g} MAC/cycle" if per_mac else "")
    )
    energy = r["energy_pj_per_action"]
    rows = []
    for name, c in sorted(r["components"].items(), key=lambda kv: -kv[1]["area_um2"]):
        action = c["action"] if c["action"] in energy else None
        rows.append((
            name, f"{c['area_um2']:.6g}", f"{100 * c['area_um2'] / r['area_um2']:.1f}%",
            str(c["flops"]), f"{c['power_mw']:.4g}", action or "(per cycle)",
            fmt_num(energy[action]) if action else "-",
        ))  # fmt: skip
    print_table(("component", "area um2", "share", "flops", "power mW", "action", "pJ/action"),
                rows)  # fmt: skip
    if energy.get("cycle"):
        print(f"energy of components without an action: {energy['cycle']:.4g} pJ/cycle")
    act = r["activity"]
    print(
        f"activity: {act['source']}; input bits toggle {act['mean_input_toggles_per_cycle']:.3g}"
        f" per cycle on average, duty {act['mean_input_duty']:.3g}"
    )
    for s in r["scaled"]:
        print(
            f"scaled to {s['node']}: area {s['area_um2']:.4g} um2, "
            + (f"Fmax {s['fmax_mhz']:.4g} MHz, " if s["fmax_mhz"] else "")
            + f"power {s['power_mw']:.3g} mW at {1000 / s['clock_ns']:.4g} MHz, "
            f"{s['energy_pj_per_cycle']:.3g} pJ/cycle [{s['source']}]"
        )
    prov = r["provenance"]
    tools = ", ".join(r["tools"].values())
    print(f"provenance: commit {prov['commit']}; {tools}; {prov['machine']}")
    run = r["runtime"]
    steps = ", ".join(f"{k} {v:g} s" for k, v in run["seconds"].items() if k != "total")
    hits = [k for k, hit in run["cached"].items() if hit]
    print(
        f"time {run['seconds']['total']:.3g} s" + (f" ({steps})" if steps else "")
        + (f"; from the cache: {', '.join(hits)}" if hits else "")
    )  # fmt: skip


def _print_lut_vs_mac(rows: list[dict]) -> None:
    first = rows[0]
    print(
        f"LUT array vs MAC array, M{first['m']} N{first['n']} K{first['k']} W{first['weight_bits']}"
        f", {first['node']}, clock {first['clock_ns']:g} ns (power at that clock)"
    )
    header = (
        "MAC array",
        "area um2 LUT",
        "MAC",
        "LUT/MAC",
        "power mW LUT",
        "MAC",
        "LUT/MAC",
        "pJ/MAC LUT",
        "MAC",
        "LUT/MAC",
        "MAC/cycle/mm2 LUT",
        "MAC",
        "LUT/MAC",
    )
    table = []
    for r in rows:
        lut, mac, density = r["lut"], r["mac"], r["macs_per_cycle_per_mm2"]
        table.append((
            r["baseline"], f"{lut['area_um2']:.4g}", f"{mac['area_um2']:.4g}",
            f"{r['area_ratio']:.3f}", f"{lut['power_mw']:.4g}", f"{mac['power_mw']:.4g}",
            f"{r['power_ratio']:.3f}", f"{lut['energy_pj_per_mac']:.4g}",
            f"{mac['energy_pj_per_mac']:.4g}", f"{r['energy_per_mac_ratio']:.3f}",
            f"{density['lut']:.4g}", f"{density['mac']:.4g}", f"{r['density_ratio']:.3f}",
        ))  # fmt: skip
    print_table(header, table)


def _print_ablation(rows: list[dict]) -> None:
    print(f"LUT ablation, {rows[0]['mnemonic']}")
    header = ("step", "area um2", "vs conventional", "power mW", "vs conventional", "pJ/MAC",
              "area by component")  # fmt: skip
    table = [
        (r["step"], f"{r['area_um2']:.5g}", f"{r['area_vs_conventional']:.3f}",
         f"{r['power_mw']:.4g}", f"{r['power_vs_conventional']:.3f}",
         f"{r['energy_pj_per_mac']:.4g}",
         ", ".join(f"{k} {v:.4g}" for k, v in r["area_um2_by_component"].items()))
        for r in rows
    ]  # fmt: skip
    print_table(header, table)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``synth`` subcommand to ``commands``."""
    from lutsim.reports.flow.liberty import DEFAULT_LIBERTY
    from lutsim.reports.flow.synth import DEFAULT_CLOCK_NS, DESIGNS

    p = commands.add_parser(
        "synth", help="synthesize the core or a baseline: area, Fmax, power (Yosys + OpenSTA)"
    )
    p.add_argument("--design", metavar="NAME", help=f"one of {', '.join(DESIGNS)} (default: core)")
    p.add_argument(
        "--compare", choices=("lut-vs-mac", "ablation"),
        help="the LUT array vs the INT8/FP16 MAC arrays, or the LUT ablation steps",
    )  # fmt: skip
    p.add_argument(
        "--liberty", metavar="PATH", help=f"standard-cell library (default: {DEFAULT_LIBERTY})"
    )
    p.add_argument(
        "--clock-ns", type=float, metavar="NS",
        help=f"clock period target, ns (default: {DEFAULT_CLOCK_NS:g})",
    )  # fmt: skip
    p.add_argument(
        "--toggle-rate", type=float, metavar="RATE",
        help="vectorless power: every input bit toggles RATE per cycle (default: simulate)",
    )  # fmt: skip
    way = p.add_mutually_exclusive_group()
    way.add_argument(
        "--flat", action="store_true",
        help="power on the whole flattened netlist, activity propagated across module "
        "boundaries (default: module by module, each instance at its simulated activity)",
    )  # fmt: skip
    way.add_argument(
        "--flat-boundaries", action="store_true",
        help="power on the flattened netlist with the module boundaries' nets at their "
        "simulated activity: the flat check of the default flow",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_config(p)
    p.set_defaults(func=_cmd_synth)
