"""Hierarchical synthesis (power module by module, each instance at its own simulated activity)
against the same analysis on the flattened netlist, and the warm path that reads no netlist.

``flat=True, boundaries=True`` annotates the flattened netlist exactly as the hierarchical flow
annotates its modules (registers and the nets on leaf modules' ports at their simulated
activity): what remains between the two is the composition itself (loads across boundaries,
drivers, per-instance runs). The plain flat flow propagates activity through module boundaries
instead; it shares the netlist, so area and timing are the same, and its power is reported
beside, not bounded (see :mod:`lutsim.reports.flow.synth`).
"""

from __future__ import annotations

import time

import pytest

from lutsim.isa.config import CoreConfig
from lutsim.reports.flow import power_netlist, sta, synth, yosys
from lutsim.reports.flow.liberty import read_liberty

from .test_synth import _use_cache, cache, fails, run  # noqa: F401 (the session's cache)

ARRAYS = ("core", "lut-array", "mac-int8", "mac-fp16", "mac-int8-dense", "mac-fp16-dense")
SIZES = {"dp4": CoreConfig(m=1, n=1), "m2n4": CoreConfig(m=2, n=4)}


def close(got: float, exp: float, rel: float) -> bool:
    return abs(got - exp) <= rel * abs(exp)


CASES = [
    *((design, "dp4") for design in (*ARRAYS, *synth.ABLATION)),
    *((design, "m2n4") for design in ARRAYS if "fp16" not in design),
    # minutes each: 64 FP units flattened
    *(
        pytest.param(design, "m2n4", marks=pytest.mark.slow)
        for design in ARRAYS
        if "fp16" in design
    ),
]


@pytest.mark.parametrize(("design", "size"), CASES)
def test_hierarchical_matches_the_flat_netlist(design, size):
    cfg = SIZES[size]
    hier = synth.synthesize(design, cfg)
    flat = synth.synthesize(design, cfg, flat=True, boundaries=True)
    assert (hier.flow, flat.flow) == ("hierarchical", "flat-boundaries")
    assert close(hier.area_um2, flat.area_um2, 0.02), f"{hier.area_um2} != {flat.area_um2} um2"
    assert close(hier.power_mw, flat.power_mw, 0.05), f"{hier.power_mw} != {flat.power_mw} mW"
    assert hier.fmax_mhz == flat.fmax_mhz
    assert set(hier.components) == set(flat.components)
    for name, part in hier.components.items():
        other = flat.components[name]["power_mw"]
        assert abs(part["power_mw"] - other) <= 0.05 * flat.power_mw, f"{name}: {part} {other}"
    assert hier.activity["annotated_register_bits"] >= flat.activity["annotated_register_bits"]


def test_the_flat_flow_shares_netlist_area_and_timing():
    hier = synth.synthesize("lut-array", SIZES["dp4"])
    flat = synth.synthesize("lut-array", SIZES["dp4"], flat=True)
    assert flat.flow == "flat" and flat.to_dict()["flow"] == "flat"
    assert (flat.area_um2, flat.cells, flat.flops) == (hier.area_um2, hier.cells, hier.flops)
    assert (flat.critical_path_ns, flat.startpoint) == (hier.critical_path_ns, hier.startpoint)
    assert flat.power_mw > 0 and flat.power_mw != hier.power_mw
    with pytest.raises(ValueError, match=r"^boundaries annotates the flat flow's netlist: give "
                       r"flat=True with it$"):  # fmt: skip
        synth.synthesize("lut-array", SIZES["dp4"], boundaries=True)


def test_instances_alike_keep_their_own_activity():
    """The M1N2 LUT array's two lookup units are one module; each is priced at its own
    simulated activity, so their power differs, and sums to the component's."""
    cfg = CoreConfig(m=1, n=2)
    r = synth.synthesize("lut-array", cfg)
    lib = read_liberty()
    by_path = {}
    original = synth._assemble

    def keep(design, cfg, lib, clock, areas, timing, powers, *rest):
        by_path.update(powers)
        return original(design, cfg, lib, clock, areas, timing, powers, *rest)

    tools = synth.tool_versions()
    with pytest.MonkeyPatch.context() as patch:  # another result key: the analysis runs again
        patch.setattr(synth, "_assemble", keep)
        patch.setattr(synth, "tool_versions", lambda: {**tools, "sta": f"{tools['sta']} again"})
        again = synth.synthesize("lut-array", cfg)
    assert again.power_mw == pytest.approx(r.power_mw, rel=1e-9)
    units = [p for p in by_path if p.startswith("array.lookup_")]
    assert len(units) == 2 and lib.buffer == "BUFX2"
    first, second = (sum(by_path[p]) for p in units)
    assert first != second, "each instance at its own activity"
    assert first + second == pytest.approx(r.components["lookup (mux + negate)"]["power_mw"])


# ---- pieces ---------------------------------------------------------------------------------
NETLIST = """\
module top(clk, a, y);
  input clk;
  input [1:0] a;
  output y;
  wire [1:0] m;
  wire n;
  unit u0 (
    .i(a),
    .o(m[0])
  );
  unit u1 (
    .i({ a[0], 1'b1 }),
    .o(m[1])
  );
  AND2X2 _0_ (
    .A(m[0]),
    .B(m[1]),
    .Y(n)
  );
  DFFPOSX1 _1_ (
    .CLK(clk),
    .D(n),
    .Q(y)
  );
endmodule
module unit(i, o);
  input [1:0] i;
  output o;
  wire x;
  INVX1 _0_ (
    .A(i[0]),
    .Y(x)
  );
  NOR2X1 _1_ (
    .A(x),
    .B(i[1]),
    .Y(o)
  );
endmodule
"""


def test_parse_loads_sources_and_the_power_netlist():
    lib = read_liberty()
    modules = power_netlist.parse_modules(NETLIST, lib)
    tree = yosys.instances(NETLIST, "top")
    assert tree == {"": "top", "u0": "unit", "u1": "unit"}
    top = modules["top"]
    assert [c.name for c in top.children] == ["u0", "u1"] and len(top.cells) == 2
    assert top.children[1].pins["i"] == ("1", ("a", 0)), "bit 0 first"
    loads = power_netlist.Loads(modules, lib)
    assert loads.inputs("unit") == {
        ("i", 0): lib.input_pf["INVX1"]["A"], ("i", 1): lib.input_pf["NOR2X1"]["B"]}  # fmt: skip
    sources = power_netlist.Sources(modules, tree)
    assert sources.find("u0", "i", 1) == [("signal", "u0.i", 1), ("input", "a", 1)]
    assert sources.find("u1", "i", 0) == ["1"], "tied by the parent"
    assert sources.find("u1", "o", 0) == [("signal", "u1.o", 0)]
    assert power_netlist.driver(modules, tree, "u0", "o", 0) == "u0"
    part = power_netlist.part(top, modules, lib, [], loads)
    assert part.children == (("u0", "o", 0), ("u1", "o", 0)) and part.outputs == 2
    assert part.loads_pf == (loads.inputs("unit")["i", 0] + loads.inputs("unit")["i", 1],
                             loads.inputs("unit")["i", 1])  # fmt: skip
    assert "unit u0" not in part.text and "module lutsim_part(clk, a, y, lutsim_c0" in part.text
    assert "  BUFX2 lutsim_cbuf1 (.A(lutsim_c1), .Y(m[1]));" in part.text
    assert "  assign lutsim_l0 = a[0];" in part.text


def test_one_session_reports_each_run_as_a_fresh_one(tmp_path):
    """Activities and loads set again in one OpenSTA session give what a session of their own
    gives, so that each instance can be one run of its module's session."""
    lib = read_liberty()
    modules = power_netlist.parse_modules(NETLIST, lib)
    netlist = tmp_path / "unit.v"
    netlist.write_text(power_netlist.cut(modules["unit"].text, "unit", lib, []))
    runs = [sta.Run({"i": ((0.5, 0.5), (0.1, 0.5))}, loads_pf={"o": 0.05}),
            sta.Run({"i": ((0.05, 0.5), (0.4, 0.3))}, loads_pf={"o": 0.01})]  # fmt: skip
    ports = {"i": 2}
    together = sta.power_runs(netlist, "unit", lib, 10.0, ports, runs, (0.0, 0.0), clocked=False)
    alone = [sta.power_runs(netlist, "unit", lib, 10.0, ports, [r], (0.0, 0.0), clocked=False)[0]
             for r in runs]  # fmt: skip
    assert [p.total_mw for p in together] == [p.total_mw for p in alone]
    assert together[0].total_mw["total"] > together[1].total_mw["total"] > 0


# ---- the warm path ---------------------------------------------------------------------------
def test_a_warm_call_reads_no_netlist(monkeypatch):
    cfg = CoreConfig(m=1, n=2)
    cold = synth.synthesize("core", cfg)

    def no(*args, **kwargs):
        raise AssertionError("a warm call parsed a netlist")

    for name in ("parse_modules", "register_bits", "wire_widths", "cut"):
        monkeypatch.setattr(power_netlist, name, no)
    monkeypatch.setattr(yosys, "instances", no)
    start = time.perf_counter()
    warm = synth.synthesize("core", cfg)
    seconds = time.perf_counter() - start
    assert warm == cold and all(warm.runtime["cached"].values()), warm.runtime
    assert seconds < 2, f"a warm call took {seconds:.2f} s"


def test_cli_flows():
    done = run("--design", "lut-array", "--set", "m=1", "--set", "n=1", "--flat", "--json")
    assert done.returncode == 0, done.stderr
    assert '"flow": "flat"' in done.stdout
    done = run("--design", "lut-array", "--set", "m=1", "--set", "n=1")
    assert done.returncode == 0 and "\nflow hierarchical\n" in done.stdout
    fails(run("--flat", "--flat-boundaries"), 2,
          "argument --flat-boundaries: not allowed with argument --flat "
          "(see 'lutsim synth --help')")  # fmt: skip


def test_shared_units_synthesize_as_inline_ones(monkeypatch):
    """An FP16 MAC array exported with its units as instances of one module each (as when
    Verilator measures it) synthesizes to the same area, timing and power as the inline
    export Amaranth's simulator measures."""
    from lutsim.reports.flow import designs

    cfg = CoreConfig(m=1, n=2)
    inline = synth.synthesize("mac-fp16", cfg)
    monkeypatch.setattr(designs, "AMARANTH_MAX_UNITS", 1)
    shared = synth.synthesize("mac-fp16", cfg)
    assert "verilator" in shared.activity["source"].lower()
    assert "amaranth" in inline.activity["source"].lower()
    assert shared.area_um2 == inline.area_um2
    assert shared.fmax_mhz == inline.fmax_mhz
    assert close(shared.power_mw, inline.power_mw, 1e-6), (shared.power_mw, inline.power_mw)


@pytest.mark.parametrize("span", [None, (7, 0), (0, 7), (12, 5), (3, 9)])
def test_port_bit_is_one_of_port_bits(span):
    module = power_netlist.Module("m", "", {}, {"p": span}, [], [], [])
    bits = power_netlist.port_bits(module, "p")
    assert [power_netlist.port_bit(module, "p", i) for i in range(len(bits))] == list(bits)
    with pytest.raises(IndexError):
        power_netlist.port_bit(module, "p", len(bits))


def test_a_search_finds_each_source_once_nearest_first():
    """Every port bit on a net reached once, in breadth-first order from the start."""
    lib = read_liberty()
    modules = power_netlist.parse_modules(NETLIST, lib)
    sources = power_netlist.Sources(modules, yosys.instances(NETLIST, "top"))
    found = list(sources.search([("u0", "i", 1), ("u0", "i", 1)]))
    assert found == [("signal", "u0.i", 1), ("input", "a", 1)]
    assert list(sources.find_net("", ("a", 1))) == [("input", "a", 1), ("signal", "u0.i", 1)]
