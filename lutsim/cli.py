"""The ``lutsim`` command line: one subcommand per job, each a thin layer over the library.

========== ==========================================================================
command    job
========== ==========================================================================
presets    list the named core configurations, or print one resolved as TOML
asm        assembly text -> LMMA program (64-bit little-endian words, or hex text)
disasm     LMMA program -> canonical assembly text
gemm       run one mpGEMM from an ``.npz`` file at a chosen level, check its residual
demo       random mpGEMMs over the standard presets, one residual line each
export     standalone Verilog of the core (optionally a FuseSoC core file, Verilator lint), or
           with ``--wrapper`` the core behind an AXI4-Lite or Wishbone slave with a testbench
simulate   one mpGEMM on a GPU preset through the cycle model (:mod:`lutsim.cmd_simulate`)
compile    an LLM into LMMA programs; verify it, time it on GPU presets (``cmd_compile``)
synth      a design on a standard-cell library: area, Fmax, power, energy (``cmd_synth``)
fpga       synthesis and place-and-route on ECP5 or iCE40; ``--board``: a bitstream (``cmd_fpga``)
sweep      a resumable design-space sweep, local or on Dask (``cmd_sweep``)
report     synthesis + simulation + energy in one Markdown report (``cmd_report``)
========== ==========================================================================

Every subcommand that needs a core takes ``--config CFG`` (a preset name or a TOML/YAML file)
and repeated ``--set KEY=VALUE`` overrides, resolved by :func:`lutsim.isa.config.load_config`.

Every failure is one line on stderr, ``lutsim: error: <message>``, never a traceback. Exit
codes: 0 success, 1 bad input (a file, a configuration or data the library rejects, or a result
outside its error bound, or more memory than the machine has), 2 a command line that cannot be
carried out as written, 70 an internal error (a bug: please report it; ``--debug`` anywhere on
the command line shows its traceback), 130 interrupted. Long tokens in messages are cut to 80
characters. Outputs never replace an input, a directory or anything but a regular file
(:mod:`lutsim.isa._io`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

import numpy as np

from lutsim.isa import encoding
from lutsim.isa._io import atomic_write_bytes, atomic_write_text
from lutsim.isa.config import DEFAULT_PRESET, PRESETS, CoreConfig, load_config

from . import cmd_compile, cmd_fpga, cmd_report, cmd_simulate, cmd_sweep, cmd_synth
from .common import (
    UsageError,
    add_config,
    add_sets,
    check_output,
    config,
    fmt_num,
    one_line,
    os_message,
    parse_bytes,
    print_table,
    read_text,
    write_npz,
    writing,
)

PROG = "lutsim"

# Presets the demo always runs (after the configured core): W1/W2/W4/ternary weights with
# INT8 activations, FP16 activations, and FP16 activations through INT8-quantized tables.
DEMO_PRESETS = tuple(
    f"m2n64k4-{w}-{a}"
    for w in ("w1", "w2", "w4", "w1.58")
    for a in ("int8", "fp16", "fp16-int8table")
)
DEMO_SHAPE = (8, 256, 512)  # M, N, K
DEMO_GROUP = 128  # group size along K of the per-group variant


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line raised to :func:`main`, not a usage dump."""

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---- presets ------------------------------------------------------------------------------
def _derived_facts(cfg: CoreConfig) -> list[tuple[str, Any, str]]:
    facts = [
        ("table_entries", cfg.table_entries, "stored entries per table"),
        ("table_entry_bits", cfg.table_entry_bits, "bits per stored table entry"),
        ("code_max", cfg.code_max, "largest weight code"),
        ("table_fragment_words", cfg.table_fragment_words, "32-bit words per ldt"),
        ("weight_fragment_words", cfg.weight_fragment_words, "32-bit words per ldw"),
        ("acc_fragment_words", cfg.acc_fragment_words, "32-bit words per lda/sta"),
        ("lookups_per_lmma", cfg.lookups_per_lmma, "table lookups per lmma"),
    ]
    facts += [
        (f"latency_cycles.{op}", cycles, f"cycles {op} occupies the core")
        for op, cycles in cfg.latency_cycles.items()
    ]
    return facts


def _cmd_presets(args: argparse.Namespace) -> int:
    if args.name is None:
        if args.sets:
            raise UsageError(
                "--set needs a preset name or config file (see 'lutsim presets --help')"
            )
        labels = {name: f"{name} (default)" if name == DEFAULT_PRESET else name for name in PRESETS}
        width = max(len(label) for label in labels.values())
        for name, label in labels.items():
            cfg = load_config(name)
            tables = f"{cfg.table_format} tables x {cfg.table_entries}"
            print(f"{label:<{width}}  {cfg.mnemonic:<28}  {tables}")
        return 0
    cfg = load_config(args.name, args.sets)
    source = f"preset {args.name!r}" if args.name in PRESETS else args.name
    print(
        f"# lutsim core configuration: {source}"
        + (" with " + ", ".join(args.sets) if args.sets else "")
    )
    print(f"# {cfg.mnemonic}")
    print(cfg.to_toml(), end="")
    print("\n# derived facts (read-only)")
    width = max(len(f"{name} = {value}") for name, value, _ in _derived_facts(cfg))
    for name, value, meaning in _derived_facts(cfg):
        print(f"# {f'{name} = {value}':<{width}}  {meaning}")
    return 0


# ---- asm / disasm -------------------------------------------------------------------------
def _cmd_asm(args: argparse.Namespace) -> int:
    check_output(args.output, args.input)
    cfg = config(args)
    text = read_text(args.input, "assembly")
    try:
        words = encoding.assemble(text, cfg)
    except encoding.AsmError as err:
        raise ValueError(f"{args.input}: {err}") from None
    with writing(args.output):
        if args.hex:
            atomic_write_text(args.output, "".join(f"{w:016x}\n" for w in words))
        else:
            encoding.write_program(words, args.output)
    print(f"assembled {len(words)} instructions into {args.output}")
    return 0


_HEX_WORD = re.compile(r"(?:0x)?([0-9a-fA-F]{1,16})")


def _read_hex(path: str) -> list[tuple[int, str]]:
    words = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", read_text(path, "hex")), start=1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        match = _HEX_WORD.fullmatch(token)
        if not match:
            raise ValueError(f"{path}: line {number}: expected one 64-bit hex word, got {token!r}")
        words.append((int(match.group(1), 16), f"line {number}"))
    return words


def _cmd_disasm(args: argparse.Namespace) -> int:
    check_output(args.output, args.input)
    if args.hex:
        words = _read_hex(args.input)
    else:
        words = [(w, f"byte {8 * i}") for i, w in enumerate(encoding.read_program(args.input))]
    lines = []
    for word, where in words:
        try:
            lines.append(encoding.disassemble([word]))
        except encoding.DecodeError as err:
            raise ValueError(f"{args.input}: {where}: {err}") from None
    text = "".join(lines)
    if args.output:
        with writing(args.output):
            atomic_write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


# ---- gemm / demo --------------------------------------------------------------------------
IMPLS = ("golden", "sim", "rtl", "rtl-amaranth")
"""Levels ``gemm --impl`` can run: the golden executor, the SimPy cycle model, the RTL under
Verilator, the RTL in Amaranth's simulator (slow: for small problems)."""


def _check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise UsageError(f"impl {impl!r} is not available; choose from {', '.join(IMPLS)}")


def _rtl_runner(impl: str, vcd: str | None, runs: list):
    """An :data:`lutsim.isa.gemm.Runner` for an RTL impl that keeps every tile's run in ``runs`` (for
    the issue cycles) and with ``vcd`` writes the first tile's waveform there."""
    if impl == "rtl":
        from lutsim.hw.verilator import run_verilator as run_jobs
    else:
        from lutsim.hw.simulate import run_amaranth as run_jobs

    def runner(cfg: CoreConfig, program, memories: np.ndarray):
        nonlocal vcd  # the GEMM runs in blocks of tiles: the waveform is the first block's
        jobs = [(program, memory) for memory in memories]
        if vcd is None:
            done = run_jobs(cfg, jobs)
        else:
            done = run_jobs(cfg, jobs[:1], vcd=vcd) + run_jobs(cfg, jobs[1:])
            vcd = None
        if any(run.error for run in done):
            raise ValueError("the core flagged an illegal instruction")
        runs.extend(done)
        return np.stack([run.memory for run in done]), sum(run.cycles for run in done)

    return runner


def _sim_runner(runs: list, actions: dict):
    """An :data:`lutsim.isa.gemm.Runner` on the SimPy core model (:mod:`lutsim.sim.core`) that keeps the
    run of one tile in ``runs`` (every tile has the same timing) and sums the action counts."""
    from lutsim.sim.core import run_core

    def runner(cfg: CoreConfig, program, memories: np.ndarray):
        run = run_core(cfg, program, np.asarray(memories))
        if run.error:
            raise ValueError("the core flagged an illegal instruction")
        runs.append(run)
        for key, value in run.actions.items():
            actions[key] = actions.get(key, 0) + value
        return run.memory, run.cycles * len(memories)

    return runner


def _timing(cfg: CoreConfig, program, tiles: int, runs: list) -> dict[str, Any]:
    """The timing contract of the run (per-instruction latencies, total cycles) and, from the
    RTL's issue cycles, the measured cycles from each instruction's issue to the next."""
    from lutsim.isa.timing import schedule

    timing: dict[str, Any] = {
        "latency_cycles": dict(cfg.latency_cycles),
        "contract_cycles": schedule(cfg, program).cycles * tiles,
        "issue_cycles": None,
    }
    if runs:
        issue = np.array([run.issue for run in runs], dtype=np.int64)
        ends = np.concatenate([issue[:, 1:], np.array([[run.cycles - 1] for run in runs])], 1)
        gaps = ends - issue
        ops = np.array([instr.op for instr in program])
        timing["issue_cycles"] = {
            op: {"min": int(gaps[:, ops == op].min()), "max": int(gaps[:, ops == op].max())}
            for op in dict.fromkeys(ops.tolist())
        }
    return timing


def _failure(summary: dict[str, Any]) -> str:
    """Why a run is not ok, in one line."""
    r = summary["residual"]
    problems = []
    if not r["within_bound"]:
        detail = f"max abs error {fmt_num(r['max_abs'])}"
        if r["acc_mismatches"]:
            detail += f", {r['acc_mismatches']} accumulator mismatches"
        problems.append(f"residual ({detail}) exceeds the bound {fmt_num(r['bound'])}")
    if summary.get("algorithm_mismatches"):
        problems.append(
            f"{summary['algorithm_mismatches']} accumulators differ from the golden algorithm"
        )
    return "; ".join(problems) or "result is not ok"


def _shape_text(summary: dict[str, Any]) -> str:
    shape = summary["shape"]
    return f"{shape['m']}x{shape['n']}x{shape['k']}"


def _group_text(summary: dict[str, Any]) -> str:
    shape = summary["shape"]
    return "channel" if shape["groups"] == 1 else str(shape["k"] // shape["groups"])


AMARANTH_MAX_CYCLES = 200_000
"""The most cycles ``gemm --impl rtl-amaranth`` simulates: Amaranth's simulator runs a few
hundred cycles per second at full size (README, Measured), so this is minutes, not hours."""


def _check_amaranth_size(cfg: CoreConfig, program, problem) -> None:
    from lutsim.isa.timing import schedule

    m, n, _ = problem.shape
    cycles = schedule(cfg, program).cycles * -(-m // cfg.m) * -(-n // cfg.n)
    if cycles > AMARANTH_MAX_CYCLES:
        raise UsageError(
            f"--impl rtl-amaranth would simulate {cycles:,} cycles, more than its limit of "
            f"{AMARANTH_MAX_CYCLES:,}; use --impl rtl (Verilator) or a smaller problem"
        )


def _cmd_gemm(args: argparse.Namespace) -> int:
    from lutsim.isa import gemm

    _check_impl(args.impl)
    check_output(args.out, args.inputs)
    check_output(args.vcd, args.inputs)
    if args.vcd is not None and args.impl in ("golden", "sim"):
        raise UsageError(f"--vcd needs an RTL impl (rtl or rtl-amaranth), not {args.impl!r}")
    cfg = config(args)
    budget = gemm.memory_budget_bytes() if args.max_memory is None else args.max_memory
    gemm.check_npz_budget(cfg, args.inputs, budget)
    problem = gemm.load_npz(cfg, args.inputs)
    program = gemm.tile_program(cfg, problem.a.shape[1] // cfg.k, problem.chunks)
    if args.impl == "rtl-amaranth":
        _check_amaranth_size(cfg, program, problem)
    if args.vcd is not None:
        with writing(args.vcd):  # fail here, before any simulation starts
            atomic_write_bytes(args.vcd, b"")
    runs: list = []
    actions: dict[str, int] = {}
    if args.impl == "golden":
        runner = None
    elif args.impl == "sim":
        runner = _sim_runner(runs, actions)
    else:
        runner = _rtl_runner(args.impl, args.vcd, runs)
    result = gemm.run_gemm(cfg, problem, impl=args.impl, runner=runner)
    arrays = {"o": result.o}
    if result.acc is not None:
        arrays["acc"] = result.acc
    write_npz(args.out, arrays)
    summary = result.summary()
    summary.update(_timing(cfg, program, summary["tiles"], runs))
    residual = None if result.cycles is None else result.cycles - summary["contract_cycles"]
    summary["cycle_residual"] = residual
    summary["actions"] = actions or None
    summary["ok"] = result.ok and not residual
    if args.json:
        print(json.dumps(summary))
    else:
        r = summary["residual"]
        print(
            f"{summary['mnemonic']}  impl {summary['impl']}  MxNxK {_shape_text(summary)}  "
            f"group {_group_text(summary)}"
        )
        print(
            f"instructions {summary['instructions']}  cycles {fmt_num(summary['cycles'])}  "
            f"tiles {summary['tiles']}"
        )
        if summary["padding"]["k"] or summary["rounded_activations"]:
            print(
                f"K padded by {summary['padding']['k']}, {summary['rounded_activations']} "
                f"activations rounded to {cfg.act_format}"
            )
        print(
            f"residual: max abs {fmt_num(r['max_abs'])}  max rel {fmt_num(r['max_rel'])}  "
            f"max ulp {fmt_num(r['max_ulp'])}  acc mismatches {fmt_num(r['acc_mismatches'])}  "
            f"bound {fmt_num(r['bound'])}  {'ok' if result.ok else 'NOT OK'}"
        )
        if summary["issue_cycles"] is not None:
            per_op = "  ".join(
                f"{op} {_range(c['min'], c['max'])}/{summary['latency_cycles'][op]}"
                for op, c in summary["issue_cycles"].items()
            )
            print(
                f"timing: contract {summary['contract_cycles']} cycles, residual {residual}; "
                f"cycles per instruction (measured/contract): {per_op}"
            )
        if actions:
            print("actions: " + "  ".join(f"{key} {value}" for key, value in actions.items()))
        print(f"wrote {', '.join(arrays)} to {args.out}")
        if args.vcd is not None:
            print(f"wrote the first tile's waveform to {args.vcd}")
    if not result.ok:
        raise ValueError(_failure(summary))
    if residual:
        raise ValueError(
            f"the {'cycle model' if args.impl == 'sim' else 'RTL'} took {result.cycles} cycles; "
            "the timing contract says "
            f"{summary['contract_cycles']}"
        )
    return 0


def _range(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}..{high}"


# ---- export -------------------------------------------------------------------------------
def _cmd_export(args: argparse.Namespace) -> int:
    from lutsim.hw import export

    cfg = config(args)
    if args.wrapper is not None:
        return _export_wrapper(args, cfg)
    for flag, value in (("--data-words", args.data_words), ("--program-instrs", args.program_instrs),
                        ("--tb-gemm", args.tb_gemm)):  # fmt: skip
        if value is not None:
            raise UsageError(f"{flag} needs --wrapper")
    top = args.top or export.DEFAULT_TOP
    with writing(args.output):
        verilog, core_file = export.write_export(cfg, args.output, top, args.fusesoc)
    print(f"wrote {top} ({cfg.mnemonic}) to {args.output}")
    if core_file is not None:
        print(f"wrote FuseSoC core {export.fusesoc_name(cfg)} to {core_file}")
    if args.lint:
        _lint(export, verilog, top)
    return 0


def _lint(export, verilog: str, top: str) -> None:
    warnings = export.lint_verilog(verilog, top)
    if warnings:
        raise ValueError(
            f"verilator lint: {len(warnings)} warning(s) beyond the waivers; first: {warnings[0]}"
        )
    print(f"lint clean: verilator --lint-only -Wall, {len(export.LINT_WAIVERS)} waivers")


def _export_wrapper(args: argparse.Namespace, cfg: CoreConfig) -> int:
    """``export --wrapper``: the bus-wrapped core, its FuseSoC core, testbench and vectors."""
    from lutsim.hw import accelerator, export, wrapper_export

    shape = None
    if args.tb_gemm is not None:
        match = re.fullmatch(r"(\d+),(\d+),(\d+)", args.tb_gemm)
        if not match or 0 in (dims := tuple(int(g) for g in match.groups())):
            raise UsageError(f"--tb-gemm must be M,N,K (positive integers), not {args.tb_gemm!r}")
        shape = dims
    data_words = accelerator.DEFAULT_DATA_WORDS if args.data_words is None else args.data_words
    program_instrs = (
        accelerator.DEFAULT_PROGRAM_INSTRS if args.program_instrs is None else args.program_instrs
    )
    with writing(args.output):
        verilog, paths = wrapper_export.write_wrapper_export(
            cfg, args.wrapper, args.output, args.top, data_words, program_instrs, shape, args.seed
        )
    top = paths[0].stem
    print(
        f"wrote {top} ({cfg.mnemonic}, {args.wrapper} slave, {data_words}-word scratchpad, "
        f"{program_instrs}-instruction program memory) to {args.output}/"
    )
    print(f"files: {', '.join(p.name for p in paths)}")
    if args.lint:
        _lint(export, verilog, top)
    return 0


_DEMO_COLUMNS = ("preset", "mnemonic", "MxNxK", "group", "instructions", "acc mismatches",
                 "max abs err", "max ulp", "bound", "ok")  # fmt: skip


def _cmd_demo(args: argparse.Namespace) -> int:
    from lutsim.isa import gemm

    configured = config(args)
    label = "+".join([args.config, *args.sets])
    cores: list[tuple[str, CoreConfig]] = [(label, configured)]
    for name in DEMO_PRESETS:
        cfg = load_config(name)
        if cfg not in (c for _, c in cores):
            cores.append((name, cfg))
    m, n, k = DEMO_SHAPE
    rows, runs = [], []
    for name, cfg in cores:
        for group in (None, DEMO_GROUP):
            problem = gemm.random_problem(cfg, m, n, k, group=group, seed=args.seed)
            result = gemm.run_gemm(cfg, problem, impl="golden")
            summary = {"preset": name, **result.summary(), "ok": result.ok}
            runs.append(summary)
            r = summary["residual"]
            rows.append((name, summary["mnemonic"], _shape_text(summary), _group_text(summary),
                         str(summary["instructions"]), fmt_num(r["acc_mismatches"]),
                         fmt_num(r["max_abs"]), fmt_num(r["max_ulp"]), fmt_num(r["bound"]),
                         "ok" if result.ok else "FAIL"))  # fmt: skip
    failed = [run for run in runs if not run["ok"]]
    if args.json:
        print(json.dumps({"ok": not failed, "runs": runs}))
    else:
        print_table(_DEMO_COLUMNS, rows)
        print(f"{len(runs) - len(failed)} of {len(runs)} runs within their error bound")
    if failed:
        names = ", ".join(f"{run['preset']} (group {_group_text(run)})" for run in failed)
        raise ValueError(f"{len(failed)} of {len(runs)} demo runs failed: {names}")
    return 0


# ---- parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="LUT tensor core: low-bit weights x high-precision activations by table lookup.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("presets", help="list presets, or print one resolved as TOML")
    p.add_argument("name", nargs="?", metavar="NAME", help="preset name or TOML/YAML file")
    add_sets(p)
    p.set_defaults(func=_cmd_presets)

    p = commands.add_parser("asm", help="assemble LMMA assembly into a program")
    p.add_argument("input", metavar="IN.s")
    p.add_argument("-o", "--output", metavar="OUT", required=True)
    p.add_argument("--hex", action="store_true", help="write one 16-digit hex word per line")
    add_config(p)
    p.set_defaults(func=_cmd_asm)

    p = commands.add_parser("disasm", help="disassemble a program into canonical assembly")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", metavar="OUT.s", help="write here instead of stdout")
    p.add_argument("--hex", action="store_true", help="IN holds one hex word per line")
    p.set_defaults(func=_cmd_disasm)

    p = commands.add_parser("gemm", help="run one mpGEMM from an .npz file and check it")
    p.add_argument("--inputs", metavar="IN.npz", required=True, help="arrays a, w, scale, zero")
    p.add_argument("--out", metavar="OUT.npz", required=True, help="written with o (and acc)")
    p.add_argument(
        "--impl", default="golden",
        help=f"level that computes it: {', '.join(IMPLS)} (default: golden)",
    )  # fmt: skip
    p.add_argument("--vcd", metavar="FILE", help="RTL impls: write the first tile's waveform")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--max-memory", metavar="SIZE", type=parse_bytes, default=None,
        help="refuse a problem whose estimated memory exceeds SIZE (e.g. 2G; "
        "default: half the physical memory)",
    )  # fmt: skip
    add_config(p)
    p.set_defaults(func=_cmd_gemm)

    p = commands.add_parser("demo", help="random mpGEMMs over the standard presets")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_config(p)
    p.set_defaults(func=_cmd_demo)

    p = commands.add_parser(
        "export", help="write the core's Verilog (a FuseSoC core file; a bus wrapper + testbench)"
    )
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="the Verilog file; with --wrapper, the directory to write into")  # fmt: skip
    p.add_argument("--top", help="top module name (default: lut_core; lut_axil, lut_wb)")
    p.add_argument("--fusesoc", action="store_true", help="also write OUT.core (FuseSoC CAPI2)")
    p.add_argument("--lint", action="store_true", help="check with verilator --lint-only -Wall")
    p.add_argument(
        "--wrapper", choices=("axi-lite", "wishbone"),
        help="the core behind a bus slave, with scratchpad, fetcher, registers and irq: write "
        "Verilog, FuseSoC core, self-checking testbench, vectors and README into OUT/",
    )  # fmt: skip
    p.add_argument("--data-words", type=int, metavar="N",
                   help="--wrapper: scratchpad words (default: 4096)")  # fmt: skip
    p.add_argument("--program-instrs", type=int, metavar="N",
                   help="--wrapper: program memory instructions (default: 1024)")  # fmt: skip
    p.add_argument("--tb-gemm", metavar="M,N,K",
                   help="--wrapper: the testbench's GEMM (default: m+1, n+1, 16k)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="--wrapper: the testbench's random seed")
    add_config(p)
    p.set_defaults(func=_cmd_export)

    for module in (cmd_simulate, cmd_compile, cmd_synth, cmd_fpga, cmd_sweep, cmd_report):
        module.register(commands)
    return parser


INTERNAL_ERROR = 70
"""Exit code of a failure that is lutsim's own (EX_SOFTWARE): a bug to report."""


def main(argv: list[str] | None = None) -> int:
    """Run one command line; returns the exit code. ``--debug`` anywhere before ``--`` lets an
    internal error end in its traceback instead of one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    argv = [arg for arg in argv[:end] if arg != "--debug"] + argv[end:]
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as err:
        message, code = str(err), 2
    except KeyboardInterrupt:
        message, code = "interrupted", 130
    except BrokenPipeError:  # the reader went away (lutsim presets | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:
        message, code = os_message(err), 1
    except MemoryError:
        message = "out of memory: the problem does not fit this machine; make it smaller"
        code = 1
    except (ValueError, RuntimeError) as err:
        message, code = str(err), 1
    except Exception as err:  # noqa: BLE001 - the last guard: one line, never a traceback
        if debug:
            raise
        message = (f"internal error: {type(err).__name__}: {err} "
                   "(please report it; --debug shows the traceback)")  # fmt: skip
        code = INTERNAL_ERROR
    sys.stderr.write(f"{PROG}: error: {one_line(message)}\n")
    return code
