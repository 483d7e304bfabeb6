# amaranth: UnusedElaboratable=no
"""The bus wrappers in Amaranth's simulator: the scratchpad's beats, the driver's GEMMs on both
buses bit-exact and in the contract's cycles, the interrupt's timing, the address map's errors,
and the parameter checks (the Verilated wrappers under cocotb: test_wrapper_cocotb.py)."""

import asyncio
import re

import pytest
from amaranth.sim import Simulator

from lutsim import driver
from lutsim.hw.accelerator import LutAccelerator, config_id, region_words
from lutsim.hw.axi_lite import AxiLiteLut
from lutsim.hw.scratchpad import Scratchpad
from lutsim.hw.wishbone import WishboneLut
from lutsim.isa import gemm
from lutsim.isa.config import CoreConfig
from lutsim.isa.timing import schedule

SMALL = CoreConfig(m=2, n=4)
WRAPPERS = {"axi-lite": AxiLiteLut, "wishbone": WishboneLut}


def simulate(dut, bench):
    """Run ``await bench(ctx, device)`` against ``dut`` in Amaranth's simulator."""
    out = {}

    async def testbench(ctx):
        transport = driver.AmaranthTransport(ctx, dut)
        out["value"] = await bench(ctx, driver.LutDevice(transport))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return out["value"]


@pytest.mark.parametrize("bus", WRAPPERS)
@pytest.mark.parametrize("lanes", [1, 8])
def test_gemm_bit_exact_in_the_contracts_cycles(bus, lanes):
    cfg = SMALL.replace(bus_words=lanes)
    dut = WRAPPERS[bus](cfg, data_words=256, program_instrs=64)
    problem = gemm.random_problem(cfg, 3, 5, 32, seed=lanes)

    async def bench(ctx, device):
        return await driver.run_gemm(device, cfg, problem)

    result = simulate(dut, bench)
    assert result.ok and result.residual["acc_mismatches"] == 0
    per_tile = schedule(cfg, gemm.tile_program(cfg, 8, 1)).cycles
    assert result.cycles == 4 * per_tile, f"{result.cycles} != 4 x {per_tile} (contract)"


@pytest.mark.parametrize("bus", WRAPPERS)
def test_irq_rises_two_cycles_after_the_contract(bus):
    """START taken in cycle c: DONE and irq in cycle c + T + 2, then held until cleared."""
    cfg = SMALL
    dut = WRAPPERS[bus](cfg, data_words=256, program_instrs=64)
    program = gemm.tile_program(cfg, 4, 2)
    contract = schedule(cfg, program).cycles

    async def bench(ctx, device):
        await device.probe(cfg)
        await device.load_program(program)
        await device.write_reg("IRQ_EN", 1)
        t = device.transport
        before = t.cycles
        await device.start()  # taken in the cycle it is offered (cycle ``before``)
        taken = before
        while not ctx.get(dut.irq):
            await t._tick()
        gap = t.cycles - taken
        cycles = await device.read_reg("CYCLES")
        status = await device.read_reg("STATUS")
        still = ctx.get(dut.irq)
        await device.write_reg("STATUS", driver.STATUS_DONE)
        return gap, cycles, status, still, ctx.get(dut.irq)

    gap, cycles, status, still, after = simulate(dut, bench)
    assert (gap, cycles) == (contract + 2, contract)
    assert (status, still, after) == (driver.STATUS_DONE, 1, 0)


@pytest.mark.parametrize("bus", WRAPPERS)
def test_unmapped_and_refused_accesses(bus):
    dut = WRAPPERS[bus](SMALL, data_words=64, program_instrs=16)
    decerr = "DECERR" if bus == "axi-lite" else "ERR"
    slverr = "SLVERR" if bus == "axi-lite" else "ERR"

    async def bench(ctx, device):
        await device.probe(SMALL)
        errors = []
        t = device.transport
        for addr in (0x28, 0xFC, 0x100 + 16 * 8, 0x200 + 64 * 4, 0x300, 0x3FC):
            for access in (t.read(addr), t.write(addr, 1)):
                try:
                    await access
                    errors.append(None)
                except driver.BusError as error:
                    errors.append(error.response)
        try:
            await device.write_reg("ID", 0)
        except driver.BusError as error:
            errors.append(error.response)
        return errors, device.region, await device.read_reg("ID")

    errors, region, ident = simulate(dut, bench)
    assert errors == [decerr] * 12 + [slverr]
    assert (region, ident) == (64, driver.ID_VALUE)


def test_driver_refuses_what_does_not_fit():
    dut = AxiLiteLut(SMALL, data_words=64, program_instrs=16)
    other = SMALL.replace(weight_bits=3)

    async def bench(ctx, device):
        messages = []
        for call in (
            lambda: driver.run_gemm(device, SMALL, gemm.random_problem(SMALL, 2, 4, 64)),
            lambda: device.probe(other),
            lambda: device.load_program([0] * 17),
        ):
            try:
                await call()
            except ValueError as error:
                messages.append(str(error))
        return messages

    messages = simulate(dut, bench)
    assert messages == [
        "a tile needs 280 scratchpad words; the core has 64",
        f"the core was built for another configuration (CONFIG_ID 0x{config_id(SMALL):08x}, "
        f"{other.mnemonic} is 0x{config_id(other):08x})",
        "the program has 17 instructions; the core holds 16",
    ]


def test_scratchpad_beats_at_any_address():
    """Unaligned beats of 4 lanes: masked writes, reads of the written words the next cycle
    (also the cycle of the write: transparent), 0 past the end, writes past it dropped."""
    cfg = CoreConfig(m=2, n=4, bus_words=4)
    dut = Scratchpad(cfg, 16)
    reads = []

    async def bench(ctx):
        async def beat_write(addr, words, mask):
            ctx.set(dut.i_wr_en, 1)
            ctx.set(dut.i_wr_addr, addr)
            ctx.set(dut.i_wr_data, words)
            ctx.set(dut.i_wr_mask, mask)
            ctx.set(dut.i_wr_strb, 0xF)
            await ctx.tick()
            ctx.set(dut.i_wr_en, 0)

        await beat_write(0, [1, 2, 3, 4], 0b1111)
        await beat_write(5, [10, 11, 12, 13], 0b1011)
        ctx.set(dut.i_rd_addr, 14)
        await beat_write(14, [20, 21, 22, 23], 0b1111)  # read presented in the same cycle
        reads.append((ctx.get(dut.o_rd_addr), list(ctx.get(dut.o_rd_data))))
        for addr in (3, 6, 13):
            ctx.set(dut.i_rd_addr, addr)
            await ctx.tick()
            reads.append((ctx.get(dut.o_rd_addr), list(ctx.get(dut.o_rd_data))))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert reads == [
        (14, [20, 21, 0, 0]),
        (3, [4, 0, 10, 11]),
        (6, [11, 0, 13, 0]),
        (13, [0, 20, 21, 0]),
    ]


def test_region_and_address_bits():
    assert region_words(4096, 1024) == 4096
    assert region_words(4096, 4096) == 8192
    assert region_words(8, 1) == 16
    wrapper = LutAccelerator(CoreConfig(), 4096, 1024)
    wrapper._MustUse__silence = True
    assert (wrapper.region, wrapper.addr_bits) == (4096, 16)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((CoreConfig(bus_words=3), 96, 8), "the scratchpad needs bus_words to be a power of two, not 3"),
        ((SMALL, 100, 8), "scratchpad words must be a positive multiple of bus_words (8), not 100"),
        ((SMALL, 0, 8), "scratchpad words must be a positive multiple of bus_words (8), not 0"),
        ((SMALL, 1 << 25, 8), f"scratchpad words must be at most {1 << 24}, not {1 << 25}"),
        ((SMALL, 64, 0), f"program instructions must be 1 to {1 << 20}, not 0"),
        (("m2n4", 64, 8), "the LUT core is built from a CoreConfig, not str"),
    ],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameters(args, message):
    for cls in (AxiLiteLut, WishboneLut):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            cls(*args)


def test_remote_client_transport_offsets_and_errors():
    """The board transport adds the SoC base to every address."""

    class Client:
        def __init__(self):
            self.log = []

        def read(self, addr):
            self.log.append(("r", addr))
            return driver.ID_VALUE

        def write(self, addr, value):
            self.log.append(("w", addr, value))

    client = Client()
    device = driver.LutDevice(driver.RemoteClientTransport(client, base=0x8000_0000))

    async def go():
        await device.write_reg("IRQ_EN", 1)
        return await device.read_reg("ID")

    assert asyncio.run(go()) == driver.ID_VALUE
    assert client.log == [("w", 0x8000_000C, 1), ("r", 0x8000_0000)]
    assert str(driver.BusError(True, 0x3FC, "DECERR")) == "bus write at 0x000003fc answered DECERR"
