"""cocotb tests of the Verilated bus wrapper (AXI4-Lite through ``cocotbext-axi``, or Wishbone),
run by ``tests/hw/test_wrapper_cocotb.py``; the case comes in ``$LUTSIM_WRAPPER`` as JSON."""

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from lutsim import driver
from lutsim.isa import gemm
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import DecodeError, Instr, decode, encode
from lutsim.isa.executor import execute, new_machine
from lutsim.isa.timing import schedule
from tests.programs import random_memory, random_program

CASE = json.loads(os.environ.get("LUTSIM_WRAPPER", "{}"))


class Bench:
    """Clock, reset, a transport for the case's bus, and a cycle-accurate monitor of the start
    handshake and of ``irq``."""

    def __init__(self, dut):
        self.dut = dut
        self.cfg = CoreConfig(**CASE["config"])
        self.wishbone = CASE["bus"] == "wishbone"
        self.cycle = 0
        self.starts: list[int] = []  # cycle each accepted START was taken
        self.irq_rises: list[int] = []

    async def setup(self) -> driver.LutDevice:
        dut = self.dut
        Clock(dut.clk, 10, unit="ns").start()
        if self.wishbone:
            dut.wb_cyc.value = dut.wb_stb.value = 0
            transport = driver.CocotbWishboneTransport(dut, lambda: RisingEdge(dut.clk))
        else:
            from cocotbext.axi import AxiLiteBus, AxiLiteMaster

            bus = AxiLiteBus.from_prefix(dut, "s_axi")
            transport = driver.CocotbAxiLiteTransport(AxiLiteMaster(bus, dut.clk, dut.rst))
        dut.rst.value = 1
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        cocotb.start_soon(self._monitor())
        return await driver.LutDevice(transport).probe(self.cfg)

    async def _monitor(self):
        dut, irq = self.dut, 0
        while True:
            await RisingEdge(dut.clk)  # values sampled here are those of cycle self.cycle
            ctrl = driver.REGISTERS["CTRL"]
            if self.wishbone:
                # a transfer taken in cycle c is acknowledged in c + 1
                if (
                    int(dut.wb_ack.value)
                    and int(dut.wb_we.value)
                    and (int(dut.wb_adr.value) == ctrl >> 2 and int(dut.wb_dat_w.value) & 1)
                ):
                    self.starts.append(self.cycle - 1)
            elif (
                int(dut.s_axi_awvalid.value) and int(dut.s_axi_awready.value)
                and int(dut.s_axi_awaddr.value) == ctrl and int(dut.s_axi_wdata.value) & 1
            ):  # fmt: skip
                self.starts.append(self.cycle)
            if int(dut.irq.value) and not irq:
                self.irq_rises.append(self.cycle)
            irq = int(dut.irq.value)
            self.cycle += 1


def _contract(cfg, program) -> int:
    """Cycles of ``program`` under the timing contract; an illegal word takes one cycle."""
    instrs = []
    for word in program:
        try:
            instr = word if isinstance(word, Instr) else decode(word)
        except DecodeError:
            instr = Instr("nop")
        instrs.append(instr)
    return schedule(cfg, instrs).cycles


@cocotb.test()
async def gemm_bit_exact_and_cycles(dut):
    """Random GEMMs through the driver: bit-exact against the golden model, every tile in the
    contract's cycles, DONE and irq exactly 2 cycles after them."""
    bench = Bench(dut)
    device = await bench.setup()
    cfg = bench.cfg
    await device.write_reg("IRQ_EN", 1)
    for number, (m, n, k, group) in enumerate(CASE["gemms"]):
        problem = gemm.random_problem(cfg, m, n, k, group=group, seed=CASE["seed"] + number)
        bench.starts.clear()
        bench.irq_rises.clear()
        result = await driver.run_gemm(device, cfg, problem)
        assert result.ok, f"gemm {m}x{n}x{k}: {result.residual}"
        assert result.algorithm_mismatches == 0
        assert result.residual["acc_mismatches"] in (0, None)
        program = gemm.tile_program(cfg, problem.a.shape[1] // cfg.k, problem.chunks)
        tiles = result.tiles[0] * result.tiles[1]
        per_tile = _contract(cfg, program)
        assert result.cycles == tiles * per_tile, f"{result.cycles} != {tiles} x {per_tile}"
        gaps = [i - s for s, i in zip(bench.starts, bench.irq_rises, strict=True)]
        assert gaps == [per_tile + 2] * tiles, f"start to irq {gaps} (contract {per_tile} + 2)"
        dut._log.info("gemm %dx%dx%d: %d tiles x %d cycles, ok", m, n, k, tiles, per_tile)


@cocotb.test()
async def random_programs_match_golden(dut):
    """Random programs of every opcode on random scratchpads: the whole scratchpad afterwards
    equals the golden executor's, and CYCLES equals the timing contract."""
    bench = Bench(dut)
    device = await bench.setup()
    cfg, words = bench.cfg, device.data_words
    rng = np.random.default_rng(CASE["seed"])
    for number in range(CASE["programs"]):
        program = random_program(cfg, rng, words, int(rng.integers(1, CASE["length"] + 1)))
        memory = random_memory(rng, words)
        await device.load_program(program)
        run = await device.run(memory)
        golden = execute(cfg, program, new_machine(cfg, memory)).memory[0]
        bad = np.flatnonzero(run.memory != golden)
        assert bad.size == 0, (
            f"program {number}: mem[{bad[0]}] = {run.memory[bad[0]]:08x} != "
            f"{golden[bad[0]]:08x} (expected)"
        )
        assert run.cycles == _contract(cfg, program), f"program {number}: {run.cycles} cycles"
        assert not run.error


@cocotb.test()
async def illegal_word_sets_error_for_that_run(dut):
    bench = Bench(dut)
    device = await bench.setup()
    await device.load_program([encode(Instr("nop")), 7 << 60, encode(Instr("zacc", acc=0))])
    run = await device.run(np.zeros(8, np.uint32), out=(0, 0))
    assert (run.error, run.cycles) == (True, 4)
    await device.load_program([encode(Instr("nop"))])
    run = await device.run(np.zeros(8, np.uint32), out=(0, 0))
    assert (run.error, run.cycles) == (False, 2), "START resets the error flag"


async def _expect_error(access, response):
    try:
        await access
    except driver.BusError as error:
        assert error.response == response, str(error)
    else:
        raise AssertionError(f"no {response}")


@cocotb.test()
async def bus_errors(dut):
    """Unmapped addresses answer DECERR (Wishbone: ERR), refused accesses SLVERR (ERR), and
    neither changes anything."""
    bench = Bench(dut)
    device = await bench.setup()
    t = device.transport
    decerr = "ERR" if bench.wishbone else "DECERR"
    slverr = "ERR" if bench.wishbone else "SLVERR"
    region = device.region * 4
    unmapped = [0x28, region - 4, 3 * region, 4 * region - 4]
    if device.program_instrs * 8 < region:
        unmapped.append(region + device.program_instrs * 8)
    if device.data_words * 4 < region:
        unmapped.append(2 * region + device.data_words * 4)
    for addr in unmapped:
        await _expect_error(t.read(addr), decerr)
        await _expect_error(t.write(addr, 1), decerr)
    for name in ("ID", "CYCLES", "DATA_WORDS", "PROG_WORDS", "CONFIG_ID", "REGION"):
        await _expect_error(device.write_reg(name, 0), slverr)
    await _expect_error(device.write_reg("PROG_LEN", device.program_instrs + 1), slverr)
    assert await device.read_reg("ID") == driver.ID_VALUE
    await device.write_data(device.data_words - 1, [0x12345678])
    assert list(await device.read_data(device.data_words - 1, 1)) == [0x12345678]


@cocotb.test()
async def start_while_busy_is_refused(dut):
    """A START during a run answers SLVERR and sets REFUSED; the run goes on undisturbed; memory
    accesses and PROG_LEN writes are refused meanwhile; REFUSED clears by writing 1."""
    bench = Bench(dut)
    device = await bench.setup()
    slverr = "ERR" if bench.wishbone else "SLVERR"
    program = [encode(Instr("nop"))] * 60
    await device.load_program(program)
    await device.write_data(0, [7])
    await device.start()
    assert await device.read_reg("STATUS") & driver.STATUS_BUSY
    await _expect_error(device.start(), slverr)
    await _expect_error(device.transport.read(device.data_addr(0)), slverr)
    await _expect_error(device.transport.write(device.data_addr(0), 1), slverr)
    await _expect_error(device.transport.read(device.program_addr(0)), slverr)
    await _expect_error(device.write_reg("PROG_LEN", 1), slverr)
    status = await device.read_reg("STATUS")
    assert status & driver.STATUS_REFUSED and status & driver.STATUS_BUSY, f"{status:04b}"
    status = await device.wait_done()
    assert status == driver.STATUS_DONE | driver.STATUS_REFUSED, f"{status:04b}"
    assert await device.read_reg("CYCLES") == 61
    assert await device.read_reg("PROG_LEN") == 60
    assert list(await device.read_data(0, 1)) == [7]
    await device.write_reg("STATUS", driver.STATUS_REFUSED | driver.STATUS_DONE)
    assert await device.read_reg("STATUS") == 0
