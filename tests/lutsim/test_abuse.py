"""Hostile but fair input against every subcommand: generated command lines mixing valid
arguments with bad, extreme and odd ones (missing, special and looping files, FIFOs, devices,
huge declared sizes, duplicate keys, alias bombs, non-ASCII digits, 10 kB tokens, outputs that
name inputs, directories or devices).

Each case must end in a clean result: exit 0, or exit 1 or 2 with exactly one line on stderr,
``lutsim: error: ...``, of bounded length; never a traceback, an internal error (exit 70), a hang
(a per-case time limit) or memory beyond a limit (``RLIMIT_AS``), and no file touched but the
outputs the command line names. The cases run in a worker process, in-process through
:func:`lutsim.cli.main`, each in a fresh copy of a directory of fixture files.

The default run tries 600 cases (about half a minute); ``-m slow`` tries 10,000.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lutsim.isa import gemm
from lutsim.isa.config import load_config

from .test_cli import CANONICAL

LONG = "y" * 10_000
NUMBERS = ["0", "-1", "1", "3", "4", "64", "1000000000000000000", "1e308", "nan", "inf", "-0",
           "²", "٤", "0x10", "1.5", "", " ", LONG, "2,", "1,2", "1,2,3", "-4,64,64"]  # fmt: skip
INPUTS = ["missing.toml", "dir", "fifo", "/dev/zero", "/dev/null", "loop", "garbage.bin", "empty",
          LONG, "dup.json", "dup.yaml", "bomb.yaml", "huge.npz", "notnpy.npz", "in.npz", "tile.s",
          "prog.bin", "cfg.toml", "utf16.toml", "spec.yaml", "bad_spec.yaml", "config.json",
          "dangling"]  # fmt: skip
OUTPUTS = ["out.bin", "in.npz", "tile.s", "/dev/null", "dir", "fifo", "nodir/x", "link_out",
           "out.npz", "o.v", "outdir", LONG]  # fmt: skip
CONFIGS = ["m2n64k4", "m2n4k4", "cfg.toml", "dup.yaml", "bomb.yaml", "fifo", "/dev/zero", "dir",
           "missing.toml", "utf16.toml", LONG, "garbage.bin"]  # fmt: skip
SETS = ["n=4", "n=0", "n=²", "n=٤", "weight_bits=5", "nope=1", "n", "=", "n=4", "m=" + LONG,
        "act_format=fp16", "act_format=" + LONG, "ternary=maybe", "n=1000000000000000000"]  # fmt: skip


def _pick(rng: random.Random, pool: list[str]) -> str:
    return rng.choice(pool)


# One generator per subcommand: an argv that may or may not be valid. Commands that would run
# for minutes when valid (synth, fpga, report, sweep on a cluster) always carry a bad argument.
def _presets(rng):
    args = ["presets"] + ([_pick(rng, CONFIGS)] if rng.random() < 0.8 else [])
    return args + [a for _ in range(rng.randint(0, 2)) for a in ("--set", _pick(rng, SETS))]


def _asm(rng):
    args = ["asm", _pick(rng, INPUTS + ["tile.s"] * 4), "-o", _pick(rng, OUTPUTS)]
    args += ["--hex"] if rng.random() < 0.3 else []
    return args + (["--config", _pick(rng, CONFIGS)] if rng.random() < 0.3 else [])


def _disasm(rng):
    args = ["disasm", _pick(rng, INPUTS + ["prog.bin"] * 4)]
    args += ["-o", _pick(rng, OUTPUTS)] if rng.random() < 0.7 else []
    return args + (["--hex"] if rng.random() < 0.3 else [])


def _gemm(rng):
    args = ["gemm", "--inputs", _pick(rng, INPUTS + ["in.npz"] * 6), "--out", _pick(rng, OUTPUTS)]
    if rng.random() < 0.4:
        args += ["--impl", rng.choice(["golden", "sim", "rtl", "rtl-amaranth", "nope", LONG])]
        if args[-1].startswith("rtl"):
            args += ["--set", "n=0"]  # never build a Verilator model here
    if rng.random() < 0.3:
        args += ["--max-memory", _pick(rng, NUMBERS + ["2G", "1K", "1.5GiB"])]
    if rng.random() < 0.2:
        args += ["--vcd", _pick(rng, OUTPUTS)]
    return args + [a for _ in range(rng.randint(0, 1)) for a in ("--set", _pick(rng, SETS))]


def _simulate(rng):
    args = ["simulate", "--preset", rng.choice(["A100-LUT-4X", "H100-FP16", "A100-FP16", "nope",
                                                 LONG, "A100-INT8"])]  # fmt: skip
    args += ["--gemm", rng.choice(["64,256,256", "1,4096,4096", _pick(rng, NUMBERS)])]
    for flag, pool in (("--wbits", NUMBERS + ["2", "16", "8", "1.58"]),
                       ("--act", ["fp16", "int8", "e4m3", "bf16", "nope", LONG]),
                       ("--regs", NUMBERS + ["2", "8"]), ("--clock-mhz", NUMBERS),
                       ("--tile", NUMBERS + ["32,64,2,2,4,2,1000"]),
                       ("--mode", ["fast", "detailed", "x"]), ("--max-slots", NUMBERS)):  # fmt: skip
        if rng.random() < 0.3:
            args += [flag, _pick(rng, pool)]
    return args + (["--json"] if rng.random() < 0.3 else [])


def _compile(rng):
    args = ["compile", rng.choice(["llama2-7b", "bitnet-b1.58-700m", "config.json", "dup.json",
                                   "bomb.yaml", "fifo", "/dev/zero", "nope", LONG, "dir"])]  # fmt: skip
    for flag, pool in (("--quant", ["w2", "w4-g128", "w9", "w2-g3", LONG]),
                       ("--tokens", NUMBERS), ("--context", NUMBERS), ("--batch", NUMBERS),
                       ("--buffer-kib", NUMBERS), ("--routing", INPUTS),
                       ("--weights", INPUTS), ("-o", OUTPUTS)):  # fmt: skip
        if rng.random() < 0.25:
            args += [flag, _pick(rng, pool)]
    if rng.random() < 0.15:
        args += ["--verify", "--tiny"]
    return args


def _export(rng):
    args = ["export", "-o", _pick(rng, OUTPUTS + ["o.v"] * 3), "--set", "n=4"]
    if rng.random() < 0.3:
        args += ["--top", rng.choice(["9lives", "ok_top", LONG, "módulo"])]
    if rng.random() < 0.3:
        args += ["--wrapper", rng.choice(["axi-lite", "wishbone", "apb", LONG])]
        for flag in ("--data-words", "--program-instrs", "--tb-gemm", "--seed"):
            if rng.random() < 0.4:
                args += [flag, _pick(rng, NUMBERS)]
    if rng.random() < 0.7:
        args += ["--set", _pick(rng, SETS)]  # most of them invalid: no elaboration
    return args


def _sweep(rng):
    spec = rng.choice(["bad_spec.yaml", "dup.yaml", "bomb.yaml", "fifo", "/dev/zero", "dir",
                       "missing.toml", LONG, "garbage.bin", "dup.json"])  # fmt: skip
    args = ["sweep", spec, "--out", _pick(rng, OUTPUTS)]
    if rng.random() < 0.3:
        args += ["--workers", _pick(rng, NUMBERS)]
    if rng.random() < 0.2:
        args += ["--scheduler", rng.choice(["tcp://127.0.0.1:1", "http://x", LONG, "tcp://[::1"])]
    return args


def _long_jobs(rng):
    command = rng.choice(["synth", "fpga", "report"])
    bad = ["--config", rng.choice(["fifo", "/dev/zero", "bomb.yaml", "dup.yaml", LONG, "dir"])]
    extra = {"synth": [["--design", rng.choice(["core", "nope", LONG])],
                       ["--clock-ns", _pick(rng, NUMBERS)]],
             "fpga": [["--family", rng.choice(["ecp5", "x"])], ["--seed", _pick(rng, NUMBERS)],
                      ["--board", rng.choice(["ulx3s-85f", "icebreaker", "nope", LONG])],
                      ["--wrapper", rng.choice(["axi-lite", "x"])], ["--baud", _pick(rng, NUMBERS)],
                      ["-o", _pick(rng, OUTPUTS)]],
             "report": [["--wbits", _pick(rng, NUMBERS)], ["--jobs", _pick(rng, NUMBERS)],
                        ["--out", _pick(rng, OUTPUTS)]]}[command]  # fmt: skip
    return [command, *bad, *[a for pair in extra if rng.random() < 0.5 for a in pair]]


def _raw(rng):
    """Command lines that are not a subcommand's at all."""
    return rng.choice(
        [
            [],
            [LONG],
            ["--set"],
            ["presets", "--nope"],
            ["gemm"],
            ["²"],
            ["asm", "-o"],
            ["simulate", "--gemm"],
            ["--debu"],
            ["demo", "--seed", "²"],
        ]
    )


GENERATORS = [_presets, _asm, _disasm, _gemm, _simulate, _compile, _export, _sweep, _long_jobs,
              _raw]  # fmt: skip


def cases(count: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [GENERATORS[i % len(GENERATORS)](rng) for i in range(count)]


# ---- fixtures -----------------------------------------------------------------------------
def _fixtures(root: Path) -> None:
    """The files every case starts from (FIFOs and links are made per case)."""
    root.mkdir()
    cfg = load_config("m2n64k4")
    gemm.save_npz(gemm.random_problem(cfg, 4, 128, 64), root / "in.npz")
    (root / "tile.s").write_text(CANONICAL)
    words = np.array([0x1, 0x2], dtype="<u8")
    (root / "prog.bin").write_bytes(words.tobytes())
    (root / "garbage.bin").write_bytes(bytes(range(256)) * 3)
    (root / "empty").write_bytes(b"")
    (root / "dir").mkdir()
    (root / "outdir").mkdir()
    (root / "cfg.toml").write_text("n = 4\n")
    (root / "utf16.toml").write_bytes("n = 4\n".encode("utf-16"))
    (root / "dup.json").write_text('{"hidden_size": 64, "hidden_size": 128}\n')
    (root / "dup.yaml").write_text("n: 4\nn: 8\n")
    lol = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lol += [
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    (root / "bomb.yaml").write_text("\n".join(lol) + "\n")
    (root / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4,
        "vocab_size": 128, "max_position_embeddings": 64, "rms_norm_eps": 1e-5}))  # fmt: skip
    (root / "spec.yaml").write_text("metrics: [core]\ngrid: {n: [4, 8]}\n")
    (root / "bad_spec.yaml").write_text("metrics: [core]\ngrid: {n: [4, 8]}\nplots: [{x: 1}]\n")
    with zipfile.ZipFile(root / "huge.npz", "w") as archive:
        for name, shape in (("a", (10**18, 64)), ("w", (64, 64))):
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array_header_1_0(
                    member, {"descr": "|i1", "fortran_order": False, "shape": shape}
                )
    with zipfile.ZipFile(root / "notnpy.npz", "w") as archive:
        archive.writestr("a", b"raw bytes")
        archive.writestr("w.npy", b"\x93NUMPY garbage")


_WORKER = textwrap.dedent(
    """
    import contextlib, hashlib, io, json, os, resource, shutil, signal, sys, time
    from pathlib import Path

    class Hang(BaseException):
        pass

    def alarm(signum, frame):
        raise Hang()

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    signal.signal(signal.SIGALRM, alarm)
    from lutsim import cli

    def snapshot(root):
        seen = {}
        for path in sorted(root.rglob("*")):
            if path.is_symlink():
                seen[str(path)] = "link:" + os.readlink(path)
            elif path.is_file():
                seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                seen[str(path)] = "dir"
            else:
                seen[str(path)] = "special"
        return seen

    template, scratch, outside = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    for line in sys.stdin:
        argv = json.loads(line)
        case = scratch / "case"
        shutil.rmtree(case, ignore_errors=True)
        shutil.copytree(template, case, symlinks=True)
        os.mkfifo(case / "fifo")
        os.symlink("loop", case / "loop")
        os.symlink("nowhere/none", case / "dangling")
        os.symlink(str(outside), case / "link_out")
        before = snapshot(case)
        outside_before = outside.read_bytes()
        os.chdir(case)
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        signal.alarm(TIMEOUT)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(argv)
            escaped = None
        except Hang:
            code, escaped = None, "hang"
        except BaseException as exc:
            code, escaped = None, type(exc).__name__ + ": " + str(exc)[:200]
        finally:
            signal.alarm(0)
        os.chdir(scratch)
        after = snapshot(case)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        changed = [str(Path(k).relative_to(case)) for k in changed]
        if outside.read_bytes() != outside_before:
            changed.append("link_out -> outside")
            outside.write_bytes(outside_before)
        print(json.dumps({"argv": argv, "code": code, "escaped": escaped,
                          "stderr": err.getvalue()[:2000], "stdout_len": len(out.getvalue()),
                          "changed": changed, "wall_s": time.perf_counter() - start}), flush=True)
    """
)


def run_cases(tmp_path: Path, argvs: list[list[str]], timeout_s: int = 20) -> list[dict]:
    template, scratch = tmp_path / "template", tmp_path / "scratch"
    _fixtures(template)
    scratch.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("not an output\n")
    code = _WORKER.replace("MEMORY", str(6 << 30)).replace("TIMEOUT", str(timeout_s))
    env = {**os.environ, "LUTSIM_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", code, str(template), str(scratch), str(outside)],
        input="".join(json.dumps(argv) + "\n" for argv in argvs),
        capture_output=True, text=True, env=env, timeout=timeout_s * len(argvs) + 300,
    )  # fmt: skip
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(argvs), f"the worker stopped: {done.stderr[-3000:]}"
    return results


def _outputs(argv: list[str]) -> set[str]:
    """The paths a command line names as outputs (they may change), with an export's FuseSoC
    file beside its Verilog, and the target of the ``link_out`` symlink."""
    flags = ("-o", "--output", "--out", "--vcd")
    named = {argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in flags}
    allowed = set(named)
    for name in named:
        allowed.add(str(Path(name).with_suffix(".core")))
        if name == "link_out":
            allowed.add("link_out -> outside")
    return allowed


def problems(result: dict) -> list[str]:
    """Why one case's outcome breaks the contract (empty when it is clean)."""
    found = []
    argv, code, err = result["argv"], result["code"], result["stderr"]
    if result["escaped"]:
        found.append(f"escaped: {result['escaped']}")
    elif code not in (0, 1, 2):
        found.append(f"exit {code}: {err.strip()[:300]}")
    elif code != 0:
        if not err.startswith("lutsim: error: ") or err.count("\n") != 1:
            found.append(f"not one error line: {err[:300]!r}")
        elif len(err) > 600:
            found.append(f"error line of {len(err)} characters")
    if "Traceback" in err:
        found.append("traceback on stderr")
    allowed = _outputs(argv)
    parents = {str(parent) for name in allowed for parent in Path(name).parents}  # mkdir -p
    touched = [
        path for path in result["changed"]
        if path not in allowed | parents and not any(path.startswith(f"{o}/") for o in allowed)
    ]  # fmt: skip
    if touched:
        found.append(f"touched {touched}")
    return found


def _report(results: list[dict]) -> str:
    bad = [(r, problems(r)) for r in results]
    bad = [(r, p) for r, p in bad if p]
    lines = [f"{len(bad)} of {len(results)} cases broke the contract:"]
    for result, found in bad[:40]:
        argv = [a if len(a) < 40 else a[:12] + "…" for a in result["argv"]]
        lines.append(f"  lutsim {' '.join(argv)}: {'; '.join(found)}")
    return "\n".join(lines)


def _digest(argvs: list[list[str]]) -> str:
    return hashlib.sha256(json.dumps(argvs).encode()).hexdigest()[:12]


def test_cases_are_reproducible():
    assert _digest(cases(50, seed=3)) == _digest(cases(50, seed=3))
    assert _digest(cases(50, seed=3)) != _digest(cases(50, seed=4))


def test_abuse(tmp_path):
    results = run_cases(tmp_path, cases(600, seed=0))
    assert not any(problems(r) for r in results), _report(results)
    codes = [r["code"] for r in results]
    assert codes.count(1) + codes.count(2) > len(results) // 2, "most cases should be refused"
    assert codes.count(0) > 0, "some cases should succeed"


@pytest.mark.slow
def test_abuse_many(tmp_path):
    results = run_cases(tmp_path, cases(10_000, seed=1))
    assert not any(problems(r) for r in results), _report(results)
