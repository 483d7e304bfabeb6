"""Host driver of the bus-attached LUT core (:mod:`lutsim.hw.accelerator`): runs mpGEMMs on it.

The driver speaks to the core only through a :class:`Transport`, a 32-bit word read and write at
a byte address, so the same code runs a simulation or a board:

================================ ==============================================================
transport                        talks to
================================ ==============================================================
:class:`AmaranthTransport`       ``AxiLiteLut``/``WishboneLut`` in Amaranth's simulator
:class:`CocotbAxiLiteTransport`  the Verilated AXI4-Lite wrapper through ``cocotbext-axi``
:class:`CocotbWishboneTransport` the Verilated Wishbone wrapper (a Wishbone B4 classic master)
:class:`RemoteClientTransport`   a board, through a LiteX ``RemoteClient`` (UART or Etherbone)
:class:`SerialTransport`         a board built by ``lutsim fpga --board``: its UART bridge
================================ ==============================================================

The transport methods are coroutines (cocotb and Amaranth testbenches are); a blocking link is
wrapped by awaiting nothing, as :class:`RemoteClientTransport` does, and the driver is run with
``asyncio.run``. An error response (AXI SLVERR/DECERR, Wishbone ERR, or an error the bridge
reports) raises :class:`BusError`.

Board bridge
------------
On a board the Wishbone wrapper sits on the bus of a LiteX SoC (``WishboneLut`` is a Wishbone
B4 classic slave: add it with ``soc.bus.add_slave("lut", wb, SoCRegion(origin=BASE,
size=1 << addr_bits))``) that also holds a UART bridge (``--uart-name=uartbone``, or Etherbone
on an Ethernet board). On the host, ``litex_server --uart --uart-port /dev/ttyUSB1`` (or
``--udp``) serves the bus, and::

    from litex import RemoteClient
    bus = RemoteClient(); bus.open()
    device = LutDevice(RemoteClientTransport(bus, base=BASE))
    result = asyncio.run(run_gemm(device, cfg, problem))

A single UARTBone access costs about 11 bytes on the wire each way; at 115200 baud that is
about 1 ms per word, so loading a tile of a few thousand words takes seconds. The driver checks
the core's identity first (ID, CONFIG_ID: the CRC-32 of the configuration) and refuses a core
built for another configuration.

Running a GEMM: :func:`run_gemm` lowers the problem with :func:`lutsim.isa.gemm.lower` (one
program, one scratchpad image per output tile), writes the program and PROG_LEN once, then for
every tile writes the image, starts the core, waits for DONE, reads CYCLES and the output words
back, and finally checks the outputs with :func:`lutsim.isa.gemm.run_gemm` against the golden
model and the dequantization reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lutsim.isa import gemm
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr, encode
from lutsim.isa.golden import precompute_tables, weight_indices

__all__ = [
    "AmaranthTransport",
    "BusError",
    "CocotbAxiLiteTransport",
    "CocotbWishboneTransport",
    "LutDevice",
    "RemoteClientTransport",
    "SerialTransport",
    "TileRun",
    "Transport",
    "run_gemm",
]

# the register map of lutsim.hw.accelerator (kept free of Amaranth: the driver runs anywhere)
ID_VALUE = 0x4C555443
# fmt: off
REGISTERS = {
    "ID": 0x00, "CTRL": 0x04, "STATUS": 0x08, "IRQ_EN": 0x0C, "PROG_LEN": 0x10, "CYCLES": 0x14,
    "DATA_WORDS": 0x18, "PROG_WORDS": 0x1C, "CONFIG_ID": 0x20, "REGION": 0x24,
}
# fmt: on
STATUS_BUSY, STATUS_DONE, STATUS_ERROR, STATUS_REFUSED = 1, 2, 4, 8
RESPONSES = {2: "SLVERR", 3: "DECERR", 1: "ERR"}


class BusError(Exception):
    """An access answered with an error response (``response``: SLVERR, DECERR or ERR)."""

    def __init__(self, write: bool, addr: int, response: str):
        self.write, self.addr, self.response = write, addr, response
        kind = "write" if write else "read"
        super().__init__(f"bus {kind} at 0x{addr:08x} answered {response}")


class Transport(Protocol):
    """32-bit word access at a byte address of the wrapper; raises :class:`BusError`."""

    async def read(self, addr: int) -> int: ...

    async def write(self, addr: int, value: int) -> None: ...


@dataclass(frozen=True)
class TileRun:
    """One run on the device: the scratchpad image after it, its CYCLES, and STATUS.ERROR."""

    memory: np.ndarray
    cycles: int
    error: bool


class LutDevice:
    """The register-level interface of one wrapper instance behind ``transport``."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self.data_words = self.program_instrs = self.region = self.config_id = 0

    async def probe(self, cfg: CoreConfig | None = None) -> LutDevice:
        """Read the identity and sizes; with ``cfg``, refuse a core built for another one."""
        ident = await self.read_reg("ID")
        if ident != ID_VALUE:
            raise ValueError(f"no LUT core at this address: ID reads 0x{ident:08x}")
        self.data_words = await self.read_reg("DATA_WORDS")
        self.program_instrs = await self.read_reg("PROG_WORDS")
        self.region = await self.read_reg("REGION")
        self.config_id = await self.read_reg("CONFIG_ID")
        if cfg is not None:
            from lutsim.hw.accelerator import config_id

            if config_id(cfg) != self.config_id:
                raise ValueError(
                    f"the core was built for another configuration (CONFIG_ID 0x"
                    f"{self.config_id:08x}, {cfg.mnemonic} is 0x{config_id(cfg):08x})"
                )
        return self

    # ---- addresses ------------------------------------------------------------------------
    def program_addr(self, word: int) -> int:
        return 4 * self.region + 4 * word

    def data_addr(self, word: int) -> int:
        return 8 * self.region + 4 * word

    # ---- accesses ---------------------------------------------------------------------------
    async def read_reg(self, name: str) -> int:
        return await self.transport.read(REGISTERS[name])

    async def write_reg(self, name: str, value: int) -> None:
        await self.transport.write(REGISTERS[name], value)

    async def load_program(self, program) -> None:
        """Write ``program`` (instructions or 64-bit words) and PROG_LEN."""
        words = [encode(p) if isinstance(p, Instr) else int(p) for p in program]
        if len(words) > self.program_instrs:
            raise ValueError(
                f"the program has {len(words)} instructions; the core holds {self.program_instrs}"
            )
        for i, word in enumerate(words):
            await self.transport.write(self.program_addr(2 * i), word & 0xFFFFFFFF)
            await self.transport.write(self.program_addr(2 * i + 1), word >> 32)
        await self.write_reg("PROG_LEN", len(words))

    async def write_data(self, base: int, words) -> None:
        self._check_span(base, len(words))
        for i, word in enumerate(words):
            await self.transport.write(self.data_addr(base + i), int(word))

    async def read_data(self, base: int, count: int) -> np.ndarray:
        self._check_span(base, count)
        return np.array(
            [await self.transport.read(self.data_addr(base + i)) for i in range(count)], np.uint32
        )

    def _check_span(self, base: int, count: int) -> None:
        if base + count > self.data_words:
            raise ValueError(
                f"a tile needs {base + count} scratchpad words; the core has {self.data_words}"
            )

    async def start(self) -> None:
        await self.write_reg("CTRL", 1)

    async def wait_done(self, polls: int = 1_000_000) -> int:
        """Poll STATUS until DONE; returns STATUS."""
        for _ in range(polls):
            status = await self.read_reg("STATUS")
            if status & STATUS_DONE:
                return status
        raise RuntimeError(f"the core did not finish within {polls} polls of STATUS")

    async def run(self, memory, out: tuple[int, int] | None = None) -> TileRun:
        """Write ``memory`` at word 0, run the loaded program, read back words ``out = (first,
        end)`` (default: the whole image) and return them in a copy of ``memory``."""
        memory = np.asarray(memory, np.uint32)
        await self.write_data(0, memory)
        await self.start()
        status = await self.wait_done()
        cycles = await self.read_reg("CYCLES")
        first, end = out if out is not None else (0, len(memory))
        final = memory.copy()
        final[first:end] = await self.read_data(first, end - first)
        return TileRun(final, cycles, bool(status & STATUS_ERROR))


async def run_gemm(device: LutDevice, cfg: CoreConfig, problem: gemm.GemmProblem):
    """Run ``problem`` on the device tile by tile and check it (a :class:`gemm.GemmResult`, impl
    ``"bus"``, whose ``cycles`` is the sum of every tile's CYCLES)."""
    await device.probe(cfg)
    tables = precompute_tables(cfg, problem.a, problem.chunks)
    gemm.check_int32(cfg, tables)
    lowered = gemm.lower(cfg, problem, tables, weight_indices(cfg, problem.w))
    size = lowered.memories.shape[1]
    device._check_span(0, size)
    await device.load_program(lowered.program)
    finals, cycles = [], 0
    for memory in lowered.memories:
        run = await device.run(memory, out=(lowered.out_base, size))
        if run.error:
            raise ValueError("the core flagged an illegal instruction")
        finals.append(run.memory)
        cycles += run.cycles
    final = np.stack(finals)

    def replay(_cfg, _program, memories):  # the lowering is deterministic: hand back the run
        assert np.array_equal(memories, lowered.memories)
        return final, cycles

    return gemm.run_gemm(cfg, problem, impl="bus", runner=replay)


# ---- transports ------------------------------------------------------------------------------
class AmaranthTransport:
    """Drives ``hw.axi_lite.AxiLiteLut`` or ``hw.wishbone.WishboneLut`` from an Amaranth
    testbench (``ctx``); ``cycles`` counts the clock cycles spent in accesses."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut = ctx, dut
        self.wishbone = hasattr(dut, "wb_cyc")
        self.cycles = 0

    async def _tick(self):
        await self.ctx.tick()
        self.cycles += 1

    async def read(self, addr: int) -> int:
        return await self._access(False, addr, 0)

    async def write(self, addr: int, value: int) -> None:
        await self._access(True, addr, value)

    async def _access(self, write: bool, addr: int, value: int) -> int:
        ctx, dut = self.ctx, self.dut
        if self.wishbone:
            for sig, v in ((dut.wb_cyc, 1), (dut.wb_stb, 1), (dut.wb_we, write),
                           (dut.wb_adr, addr >> 2), (dut.wb_dat_w, value), (dut.wb_sel, 0xF)):  # fmt: skip
                ctx.set(sig, v)
            while not (ctx.get(dut.wb_ack) or ctx.get(dut.wb_err)):
                await self._tick()
            err, data = ctx.get(dut.wb_err), ctx.get(dut.wb_dat_r)
            await self._tick()
            ctx.set(dut.wb_cyc, 0)
            ctx.set(dut.wb_stb, 0)
            if err:
                raise BusError(write, addr, "ERR")
            return data
        if write:
            for sig, v in ((dut.s_axi_awvalid, 1), (dut.s_axi_awaddr, addr), (dut.s_axi_wvalid, 1),
                           (dut.s_axi_wdata, value), (dut.s_axi_wstrb, 0xF)):  # fmt: skip
                ctx.set(sig, v)
            while not ctx.get(dut.s_axi_awready):
                await self._tick()
            await self._tick()
            ctx.set(dut.s_axi_awvalid, 0)
            ctx.set(dut.s_axi_wvalid, 0)
            ctx.set(dut.s_axi_bready, 1)
            while not ctx.get(dut.s_axi_bvalid):
                await self._tick()
            resp = ctx.get(dut.s_axi_bresp)
            await self._tick()
            ctx.set(dut.s_axi_bready, 0)
            data = 0
        else:
            ctx.set(dut.s_axi_arvalid, 1)
            ctx.set(dut.s_axi_araddr, addr)
            while not ctx.get(dut.s_axi_arready):
                await self._tick()
            await self._tick()
            ctx.set(dut.s_axi_arvalid, 0)
            ctx.set(dut.s_axi_rready, 1)
            while not ctx.get(dut.s_axi_rvalid):
                await self._tick()
            resp, data = ctx.get(dut.s_axi_rresp), ctx.get(dut.s_axi_rdata)
            await self._tick()
            ctx.set(dut.s_axi_rready, 0)
        if resp:
            raise BusError(write, addr, RESPONSES[resp])
        return data


class CocotbAxiLiteTransport:
    """A ``cocotbext.axi.AxiLiteMaster`` as a transport."""

    def __init__(self, master):
        self.master = master

    async def read(self, addr: int) -> int:
        result = await self.master.read(addr, 4)
        if int(result.resp):
            raise BusError(False, addr, RESPONSES[int(result.resp)])
        return int.from_bytes(result.data, "little")

    async def write(self, addr: int, value: int) -> None:
        result = await self.master.write(addr, int(value).to_bytes(4, "little"))
        if int(result.resp):
            raise BusError(True, addr, RESPONSES[int(result.resp)])


class CocotbWishboneTransport:
    """A Wishbone B4 classic master on the ports of a Verilated ``WishboneLut`` (cocotb)."""

    def __init__(self, dut, clock_edge):
        self.dut, self.edge = dut, clock_edge  # clock_edge(): an awaitable rising edge

    async def read(self, addr: int) -> int:
        return await self._access(False, addr, 0)

    async def write(self, addr: int, value: int) -> None:
        await self._access(True, addr, value)

    async def _access(self, write: bool, addr: int, value: int) -> int:
        dut = self.dut
        dut.wb_cyc.value, dut.wb_stb.value, dut.wb_we.value = 1, 1, int(write)
        dut.wb_adr.value, dut.wb_dat_w.value, dut.wb_sel.value = addr >> 2, value, 0xF
        while True:
            await self.edge()
            if int(dut.wb_ack.value) or int(dut.wb_err.value):
                break
        err, data = int(dut.wb_err.value), int(dut.wb_dat_r.value)
        dut.wb_cyc.value, dut.wb_stb.value = 0, 0
        if err:
            raise BusError(write, addr, "ERR")
        return data


class SerialTransport:
    """The UART bridge of :mod:`lutsim.hw.uart_bridge` (``lutsim fpga --board``) over a serial
    port: any object with ``write(bytes)`` and ``read(n) -> bytes``, e.g. ``serial.Serial(
    "/dev/ttyUSB0", 115200, timeout=1)`` from pyserial."""

    def __init__(self, port):
        self.port = port

    async def exchange(self, request: bytes, count: int) -> bytes:
        """Send ``request``, return the ``count`` bytes of the reply (a simulation overrides
        this to drive the serial line)."""
        self.port.write(request)
        return self.port.read(count)

    async def _transfer(self, write: bool, addr: int, request: bytes, count: int) -> bytes:
        reply = await self.exchange(request, count)
        if len(reply) != count:
            raise RuntimeError(f"the UART bridge answered {len(reply)} of {count} bytes")
        if reply[0]:
            raise BusError(write, addr, RESPONSES.get(reply[0], f"response {reply[0]}"))
        return reply

    async def read(self, addr: int) -> int:
        request = bytes([0x02]) + addr.to_bytes(4, "little")
        reply = await self._transfer(False, addr, request, 5)
        return int.from_bytes(reply[1:], "little")

    async def write(self, addr: int, value: int) -> None:
        request = bytes([0x01]) + addr.to_bytes(4, "little") + value.to_bytes(4, "little")
        await self._transfer(True, addr, request, 1)


class RemoteClientTransport:
    """A LiteX ``RemoteClient`` (``litex_server`` over UART or Etherbone) as a transport; the
    wrapper's Wishbone slave at byte address ``base`` of the SoC bus."""

    def __init__(self, client, base: int = 0):
        self.client, self.base = client, base

    async def read(self, addr: int) -> int:
        return int(self.client.read(self.base + addr))

    async def write(self, addr: int, value: int) -> None:
        self.client.write(self.base + addr, value)
