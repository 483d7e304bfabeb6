"""``lutsim fpga``: synthesis and place-and-route of one core on an ECP5 or iCE40 FPGA
(:mod:`lutsim.reports.flow.fpga`), printing LUTs, flip-flops, utilization, Fmax and the tool versions;
with ``--wrapper``, the core behind its bus wrapper with the scratchpad in block RAM."""

from __future__ import annotations

import argparse
import json

from lutsim.isa._io import atomic_write_bytes
from lutsim.reports.flow import fpga

from .common import UsageError, add_config, config, fmt_num, writing


def _cmd_fpga(args: argparse.Namespace) -> int:
    if args.board is not None:
        return _board(args)
    for flag, value in (("--output", args.output), ("--baud", args.baud)):
        if value is not None:
            raise UsageError(f"{flag} needs --board")
    try:
        dev = fpga.find_device(args.family, args.device)
        clock_mhz = fpga.check_clock(
            fpga.DEFAULT_CLOCK_MHZ[args.family] if args.clock_mhz is None else args.clock_mhz
        )
        seed = fpga.check_seed(args.seed)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.wrapper is None and (args.data_words is not None or args.program_instrs is not None):
        raise UsageError("--data-words and --program-instrs need --wrapper")
    cfg = config(args)
    result = fpga.run_fpga(
        cfg, dev.family, device=dev.name, clock_mhz=clock_mhz, seed=seed, bus=args.wrapper,
        data_words=args.data_words, program_instrs=args.program_instrs,
    )  # fmt: skip
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    speed = f", speed {dev.speed}" if dev.speed is not None else ""
    print(f"{result.mnemonic} on {dev.part} ({dev.family} {dev.name}, {dev.package}{speed})")
    what = "the core"
    if result.bus is not None:
        blocks = result.utilization.get(fpga.BLOCK_RAM_SITE[dev.family], [0])[0]
        what = f"the core with its {result.bus} wrapper"
        print(
            f"{result.bus} wrapper: {result.data_words}-word scratchpad and "
            f"{result.program_instrs}-instruction program memory in {blocks} block RAMs"
        )
    print(
        f"LUTs {result.luts}  FFs {result.ffs}  carry cells {result.carry_cells}  "
        f"({what}; the 4-pin frame adds {result.wrapper_luts} LUTs, "
        f"{result.wrapper_ffs} FFs)"
    )
    _print_utilization(result.utilization)
    verdict = "met" if result.meets_clock else "not met"
    print(
        f"Fmax {fmt_num(result.fmax_mhz)} MHz  (target {fmt_num(result.clock_mhz)} MHz {verdict}; "
        f"seed {result.seed}, {result.router})"
    )
    origin = "cached result; first run: " if result.cached else ""
    print(
        f"time: {origin}synthesis {result.synth_seconds:.1f} s, "
        f"place and route {result.pnr_seconds:.1f} s"
    )
    versions = result.provenance["tools"]
    tools = ("amaranth", fpga.YOSYS, fpga.NEXTPNR[dev.family])
    print("tools: " + ", ".join(f"{tool} {versions.get(tool, 'unknown')}" for tool in tools))
    return 0


def _print_utilization(utilization: dict[str, tuple[int, int]]) -> None:
    print(
        "utilization: "
        + "  ".join(
            f"{site} {used}/{available} ({100 * used / available:.1f}%)"
            for site, (used, available) in utilization.items()
        )
    )


def _board(args: argparse.Namespace) -> int:
    """``fpga --board``: a bitstream of the core behind its UART bridge."""
    if args.wrapper is not None:
        raise UsageError("--board builds the UART bridge; --wrapper is for --family")
    try:
        fpga.find_board(args.board)
        seed = fpga.check_seed(args.seed)
    except ValueError as err:
        raise UsageError(str(err)) from None
    _, _, family, _, suffix = fpga.BOARDS[args.board]
    output = args.output or f"{args.board}.{suffix}"
    cfg = config(args)
    result, bits = fpga.run_board(
        cfg, args.board, baud=args.baud, data_words=args.data_words,
        program_instrs=args.program_instrs, seed=seed,
    )  # fmt: skip
    with writing(output):
        atomic_write_bytes(output, bits)
    if args.json:
        print(json.dumps({**result.to_dict(), "bitstream": output}))
        return 0
    print(f"{result.mnemonic} on {args.board} ({result.part}, {family} {result.device})")
    print(
        f"UART bridge at {result.baud} baud 8N1; {result.data_words}-word scratchpad and "
        f"{result.program_instrs}-instruction program memory in {result.block_rams} block RAMs"
    )
    print(
        f"LUTs {result.luts}  FFs {result.ffs}  carry cells {result.carry_cells}  "
        "(the core, its wrapper and the UART bridge)"
    )
    _print_utilization(result.utilization)
    verdict = "met" if result.meets_clock else "not met"
    print(
        f"Fmax {fmt_num(result.fmax_mhz)} MHz  (board clock {fmt_num(result.clock_mhz)} MHz "
        f"{verdict}; seed {result.seed}, {fpga.ROUTER[family]})"
    )
    origin = "cached result; first run: " if result.cached else ""
    print(
        f"time: {origin}build {result.build_seconds:.1f} s (synthesis {result.synth_seconds:.1f} s)"
    )
    print(f"wrote {output} ({result.bitstream_bytes} bytes)")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``fpga`` subcommand to ``commands``."""
    p = commands.add_parser(
        "fpga", help="synthesize, place and route the core on an FPGA: LUTs, FFs, Fmax"
    )
    p.add_argument(
        "--family", default="ecp5",
        help=f"FPGA family: {', '.join(fpga.FAMILIES)} (default: ecp5)",
    )  # fmt: skip
    p.add_argument(
        "--device",
        help="nextpnr device name: "
        + "; ".join(f"{family} {', '.join(devices)}" for family, devices in fpga.DEVICES.items())
        + " (default: "
        + ", ".join(f"{family} {name}" for family, name in fpga.DEFAULT_DEVICE.items())
        + ")",
    )
    p.add_argument(
        "--clock-mhz", type=float, metavar="F",
        help="target clock for nextpnr in MHz (default: "
        + ", ".join(f"{family} {fmt_num(f)}" for family, f in fpga.DEFAULT_CLOCK_MHZ.items())
        + ")",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: 1)")
    p.add_argument(
        "--wrapper", choices=("axi-lite", "wishbone"),
        help="the core behind this bus wrapper, its scratchpad and program in block RAM",
    )  # fmt: skip
    p.add_argument("--data-words", type=int, metavar="N",
                   help="--wrapper: scratchpad words (default: 4096)")  # fmt: skip
    p.add_argument("--program-instrs", type=int, metavar="N",
                   help="--wrapper: program memory instructions (default: 1024)")  # fmt: skip
    p.add_argument(
        "--board", help=f"build a bitstream for a board: {', '.join(fpga.BOARDS)} (the core "
        "behind a UART bridge; lutsim.driver.SerialTransport talks to it)",
    )  # fmt: skip
    p.add_argument("-o", "--output", metavar="FILE",
                   help="--board: the bitstream file (default: BOARD.bit or BOARD.bin)")  # fmt: skip
    p.add_argument("--baud", type=int, help="--board: UART baud rate (default: 115200)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_config(p)
    p.set_defaults(func=_cmd_fpga)
