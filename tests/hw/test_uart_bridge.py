# amaranth: UnusedElaboratable=no
"""The UART bridge in Amaranth's simulator, bit by bit on the serial line, driven by
:class:`lutsim.driver.SerialTransport`: registers, scratchpad, a program run, bus errors."""

import asyncio
import re

import numpy as np
import pytest
from amaranth.sim import Simulator

from lutsim import driver
from lutsim.hw.uart_bridge import UartBridge
from lutsim.hw.uart_rx import UartRx
from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import Instr, encode

SMALL = CoreConfig(m=2, n=4, bus_words=2)
DIVISOR = 4


class SimSerial(driver.SerialTransport):
    """The serial line of ``dut`` driven from an Amaranth testbench, ``DIVISOR`` cycles a bit."""

    def __init__(self, ctx, dut):
        super().__init__(port=None)
        self.ctx, self.dut = ctx, dut

    async def exchange(self, request: bytes, count: int) -> bytes:
        ctx, dut = self.ctx, self.dut
        for byte in request:
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                ctx.set(dut.i_rx, bit)
                await ctx.tick().repeat(DIVISOR)
        reply = []
        for _ in range(count):
            waited = 0
            while ctx.get(dut.o_tx):
                await ctx.tick()
                waited += 1
                assert waited < 100 * DIVISOR, "no reply from the bridge"
            await ctx.tick().repeat(DIVISOR // 2)
            byte = 0
            for i in range(8):
                await ctx.tick().repeat(DIVISOR)
                byte |= ctx.get(dut.o_tx) << i
            await ctx.tick().repeat(DIVISOR)
            assert ctx.get(dut.o_tx) == 1, "stop bit"
            reply.append(byte)
        return bytes(reply)


def test_bridge_runs_a_program_and_reports_errors():
    dut = UartBridge(SMALL, DIVISOR, data_words=64, program_instrs=16)
    program = [encode(Instr("lda", acc=1, addr=4)), encode(Instr("sta", acc=1, addr=40))]
    memory = np.arange(64, dtype=np.uint32) * 3
    out = {}

    async def bench(ctx):
        ctx.set(dut.i_rx, 1)
        await ctx.tick().repeat(4)
        device = driver.LutDevice(SimSerial(ctx, dut))
        await device.probe(SMALL)
        await device.load_program(program)
        out["run"] = await device.run(memory, out=(40, 48))
        errors = []
        for access in (device.transport.read(0x3FC), device.transport.write(0x04, 1)):
            try:
                await access
            except driver.BusError as error:
                errors.append(str(error))
        out["errors"] = errors
        out["busy"] = ctx.get(dut.o_busy)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    run = out["run"]
    expected = memory.copy()
    expected[40:48] = memory[4:12]
    np.testing.assert_array_equal(run.memory, expected)
    assert (run.cycles, run.error) == (1 + 4 + 4, False)
    assert out["errors"] == ["bus read at 0x000003fc answered DECERR"]
    assert out["busy"] == 0


def test_receiver_drops_a_frame_without_stop_bit():
    dut = UartRx(DIVISOR)
    seen = []

    async def bench(ctx):
        ctx.set(dut.i_rx, 1)
        await ctx.tick().repeat(3)
        for byte, stop in ((0xA5, 1), (0x3C, 0), (0x0F, 1)):
            for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
                ctx.set(dut.i_rx, bit)
                for _ in range(DIVISOR):
                    await ctx.tick()
                    if ctx.get(dut.o_valid) or ctx.get(dut.o_error):
                        seen.append((ctx.get(dut.o_data), ctx.get(dut.o_error)))
            ctx.set(dut.i_rx, 1)
            for _ in range(3 * DIVISOR):
                await ctx.tick()
                if ctx.get(dut.o_valid) or ctx.get(dut.o_error):
                    seen.append((ctx.get(dut.o_data), ctx.get(dut.o_error)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert [(data, err) for data, err in seen if not err] == [(0xA5, 0), (0x0F, 0)]
    assert sum(err for _, err in seen) == 1


def test_serial_transport_over_a_port():
    class Port:
        def __init__(self, replies):
            self.sent, self.replies = b"", list(replies)

        def write(self, data):
            self.sent += data

        def read(self, count):
            return self.replies.pop(0)[:count]

    port = Port([bytes([0, 0x43, 0x54, 0x55, 0x4C]), bytes([0]), bytes([2])])
    transport = driver.SerialTransport(port)

    async def go():
        value = await transport.read(0)
        await transport.write(0x0C, 1)
        with pytest.raises(driver.BusError, match=r"^bus write at 0x00000004 answered SLVERR$"):
            await transport.write(0x04, 1)
        return value

    assert asyncio.run(go()) == driver.ID_VALUE
    assert port.sent == bytes.fromhex("0200000000010c00000001000000010400000001000000")
    with pytest.raises(RuntimeError, match=r"^the UART bridge answered 0 of 5 bytes$"):
        asyncio.run(driver.SerialTransport(Port([b""])).read(0))


def test_bad_divisor():
    with pytest.raises(
        ValueError, match=re.escape("UART divisor must be an integer of at least 4, not 3")
    ):
        UartBridge(SMALL, 3, data_words=64, program_instrs=16)
