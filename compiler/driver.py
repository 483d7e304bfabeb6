"""``compile_model``: a model, a quantization and a core -> a :class:`CompiledModel`.

The compiled model holds the final IR (operators, compact programs, costs) and, when weights
were given, each LUT GEMM's quantized weights and packed weight region. It summarizes itself
(:meth:`CompiledModel.summary`, a JSON-ready dict) and writes three files
(:meth:`CompiledModel.write`, each atomically):

============== ================================================================================
program.lst    the distinct compact programs as loop nests, and which GEMMs run each
summary.json   :meth:`CompiledModel.summary`
layers.csv     one row per operator: shapes, tiles, instructions, lookups, FLOPs, bytes
============== ================================================================================
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lutsim.isa._io import atomic_write_text
from lutsim.isa.config import CoreConfig, load_config

from .ir import Cost, LutGemm, Module, Op, Precompute, Workload
from .model import ModelConfig, load_model
from .passes import PIPELINE, Pass, run_pipeline
from .program import LoopProgram, node_count
from .quant import (
    QuantizedWeight,
    QuantSpec,
    default_quant,
    pack_weight_region,
    parse_quant,
    quantize_weight,
)

__all__ = ["CompiledModel", "PackedWeight", "compile_model"]


@dataclass(frozen=True)
class PackedWeight:
    """A LUT GEMM's quantized weights and their weight region ``[NT, G, WW]`` (uint32)."""

    quantized: QuantizedWeight
    words: np.ndarray


def compile_model(
    model: ModelConfig | str,
    quant: QuantSpec | str | None = None,
    cfg: CoreConfig | None = None,
    *,
    tokens: int = 1,
    context: int | None = None,
    buffer_kib: int = 48,
    weights: Mapping[str, np.ndarray | QuantizedWeight] | None = None,
    passes: tuple[Pass, ...] = PIPELINE,
) -> CompiledModel:
    """Compile ``model`` (a :class:`ModelConfig`, preset name or ``config.json`` path) for the
    core ``cfg`` (default: the default preset) with ``quant`` applied to it (a spec, its text
    form, or None for :func:`lutsim.compiler.quant.default_quant`).

    ``tokens`` rows per GEMM attend to ``context`` tokens (default: ``tokens``, a prefill).
    ``weights`` (optional) maps each LUT GEMM's name to float weights ``[N, K]`` (quantized
    here) or a :class:`QuantizedWeight`; they are packed into weight regions."""
    if not isinstance(model, ModelConfig):
        model = load_model(model)
    if quant is None:
        quant = default_quant(model)
    elif not isinstance(quant, QuantSpec):
        quant = parse_quant(quant)
    core = quant.core(cfg if cfg is not None else load_config())
    workload = Workload(tokens, tokens if context is None else context, buffer_kib)
    ir = run_pipeline(Module(model, quant, workload), core, passes)
    packed = {} if weights is None else _pack(core, ir, quant, weights)
    return CompiledModel(core, ir, packed)


def _pack(cfg: CoreConfig, ir: Module, quant: QuantSpec, weights) -> dict[str, PackedWeight]:
    packed = {}
    for gemm in ir.of_type(LutGemm):
        if gemm.name not in weights:
            raise ValueError(f"no weights for {gemm.name}")
        given = weights[gemm.name]
        if not isinstance(given, QuantizedWeight):
            shape = np.shape(given)
            if shape != (gemm.n, gemm.k):
                dims = "x".join(map(str, shape))
                raise ValueError(
                    f"weights of {gemm.name} are {dims}, expected {gemm.n}x{gemm.k} (N x K)"
                )
            given = quantize_weight(given, quant)
        program = ir.programs[gemm.program]
        words = pack_weight_region(cfg, given.codes, program.col_tiles)
        packed[gemm.name] = PackedWeight(given, words)
    return packed


@dataclass(frozen=True)
class CompiledModel:
    cfg: CoreConfig
    ir: Module
    weights: Mapping[str, PackedWeight] = field(default_factory=dict)

    @property
    def model(self) -> ModelConfig:
        return self.ir.model

    @property
    def quant(self) -> QuantSpec:
        return self.ir.quant

    @property
    def workload(self) -> Workload:
        return self.ir.workload

    def gemms(self) -> list[LutGemm]:
        return self.ir.of_type(LutGemm)

    def program(self, gemm: str) -> LoopProgram:
        """The compact program of the LUT GEMM named ``gemm``."""
        node = self.ir.producers().get(gemm)  # a LUT GEMM's output is named like it
        if not isinstance(node, LutGemm) or node.name != gemm:
            raise ValueError(f"no LUT GEMM named {gemm!r}")
        return self.ir.programs[node.program]

    # ---- summary -------------------------------------------------------------------------
    def _gemm_record(self, node: LutGemm) -> dict:
        program, cost = self.ir.programs[node.program], self.ir.costs[node.name]
        cfg = self.cfg
        useful = node.rows * node.n
        padded = program.row_tiles * cfg.m * program.col_tiles * cfg.n
        return {
            "name": node.name, "program": node.program,
            "m": node.rows, "n": node.n, "k": node.k,
            "group_size": node.k // node.chunks if node.chunks > 1 else None,
            "chunks": node.chunks, "groups": program.groups,
            "tiles": [program.row_tiles, program.col_tiles], "tile": [cfg.m, cfg.n],
            "block": list(node.block),
            "instructions": sum(cost.instructions.values()),
            "by_op": dict(cost.instructions),
            "lookups": cost.lookups, "macs": cost.macs, "epilogue_flops": cost.flops,
            "table_reuse": program.col_tiles / program.col_blocks,
            "tile_cycles": cost.tile_cycles,
            "utilization": useful / padded,
            "dram_bytes": {**cost.dram_bytes, "total": sum(cost.dram_bytes.values())},
            "core_bytes": cost.core_bytes,
        }  # fmt: skip

    def _precompute_record(self, node: Precompute, widths: Mapping[str, int]) -> dict:
        cost = self.ir.costs[node.name]
        columns = sum(widths[name] for name in node.consumers)
        return {
            "name": node.name, "input": node.input, "m": node.rows, "k": node.k,
            "groups": math.ceil(node.k / self.cfg.k), "consumers": list(node.consumers),
            "columns_served": columns, "fused_into": node.fused_into, "flops": cost.flops,
            "dram_bytes": {**cost.dram_bytes, "total": sum(cost.dram_bytes.values())},
        }  # fmt: skip

    def _layer_record(self, layer: int | None, widths: Mapping[str, int]) -> dict:
        nodes = [n for n in self.ir.ops if n.layer == layer]
        nonlut: dict[str, dict] = {}
        for node in nodes:
            if isinstance(node, Op):
                cost = self.ir.costs[node.name]
                entry = nonlut.setdefault(node.kind, {"ops": 0, "flops": 0, "dram_bytes": 0})
                entry["ops"] += 1
                entry["flops"] += cost.flops
                entry["dram_bytes"] += sum(cost.dram_bytes.values())
        return {
            "layer": layer,
            "gemms": [self._gemm_record(n) for n in nodes if isinstance(n, LutGemm)],
            "precompute": [self._precompute_record(n, widths) for n in nodes
                           if isinstance(n, Precompute)],
            "nonlut": nonlut,
        }  # fmt: skip

    def program_size(self) -> dict:
        """The compact programs against their expansion (64-bit instruction words)."""
        programs = self.ir.programs
        expanded = sum(sum(self.ir.costs[g.name].instructions.values()) for g in self.gemms())
        return {
            "distinct": len(programs),
            "objects": sum(node_count(p.body) for p in programs.values()) + len(programs),
            "json_bytes": len(json.dumps([p.to_dict() for p in programs.values()])),
            "listing_bytes": len(self.listing().encode()),
            "expanded_instructions": expanded,
            "expanded_bytes": 8 * expanded,
        }

    def summary(self) -> dict:
        """Everything about the compilation as a JSON-ready dict."""
        ir, cfg = self.ir, self.cfg
        costs = ir.costs
        gemms, pres = self.gemms(), ir.of_type(Precompute)
        instructions: Counter = Counter()
        dram: Counter = Counter()
        flops = {"precompute": 0, "epilogue": 0}
        for node in ir.ops:
            cost: Cost = costs[node.name]
            dram.update(cost.dram_bytes)
            instructions.update(cost.instructions)
            if isinstance(node, Op):
                flops[node.kind] = flops.get(node.kind, 0) + cost.flops
            else:
                flops["precompute" if isinstance(node, Precompute) else "epilogue"] += cost.flops
        pre_bytes = sum(sum(costs[p.name].dram_bytes.values()) for p in pres)
        fused = [p for p in pres if p.fused_into is not None]
        layers = sorted({n.layer for n in ir.ops if n.layer is not None})
        widths = {g.name: g.n for g in gemms}
        return {
            "model": self.model.to_dict(),
            "quant": self.quant.to_dict(),
            "core": {"mnemonic": cfg.mnemonic, **cfg.to_dict()},
            "workload": {"tokens": self.workload.tokens, "context": self.workload.context,
                         "buffer_kib": self.workload.buffer_kib},
            "passes": list(ir.passes),
            "programs": self.program_size(),
            "totals": {
                "lut_gemms": len(gemms),
                "macs": sum(costs[g.name].macs for g in gemms),
                "lookups": sum(costs[g.name].lookups for g in gemms),
                "instructions": {**dict(instructions), "total": sum(instructions.values())},
                "tile_cycles": sum(costs[g.name].tile_cycles * ir.programs[g.program].tile_count
                                   for g in gemms),
                "flops": {**flops, "total": sum(flops.values())},
                "dram_bytes": {**dict(dram), "total": sum(dram.values())},
                "precompute": {
                    "kernels": len(pres), "fused": len(fused), "unfused": len(pres) - len(fused),
                    "unfused_names": _collapse([p.name for p in pres if p.fused_into is None]),
                    "dram_bytes": pre_bytes,
                    "share_of_dram_bytes": pre_bytes / max(1, sum(dram.values())),
                },
            },
            "layers": [self._layer_record(i, widths) for i in layers],
            "outside_layers": self._layer_record(None, widths),
        }  # fmt: skip

    # ---- text ----------------------------------------------------------------------------
    def listing(self) -> str:
        """The compact programs and the GEMMs that run them."""
        cfg, w = self.cfg, self.workload
        head = (
            f"; {self.model.name}: {self.model.num_layers} layers, {self.quant}, {cfg.mnemonic}\n"
            f"; {w.tokens} tokens, context {w.context}; {len(self.ir.programs)} programs for "
            f"{len(self.gemms())} LUT GEMMs\n"
        )
        uses: dict[str, list[str]] = {}
        for g in self.gemms():
            uses.setdefault(g.program, []).append(g.name)
        parts = [head]
        for name, program in self.ir.programs.items():
            parts.append("\n" + program.listing(name))
            parts.append(f"  ; runs {', '.join(_collapse(uses[name]))}\n")
        return "".join(parts)

    def rows(self) -> list[dict]:
        """One dict per operator (the CSV rows)."""
        out = []
        for node in self.ir.ops:
            cost = self.ir.costs[node.name]
            row = {"layer": "" if node.layer is None else node.layer, "name": node.name,
                   "type": node.kind if isinstance(node, Op) else type(node).__name__,
                   "m": node.rows, "n": "", "k": "", "chunks": "", "tiles": "", "block": "",
                   "program": "", "instructions": sum(cost.instructions.values()),
                   "lookups": cost.lookups, "macs": cost.macs, "flops": cost.flops,
                   "dram_bytes": sum(cost.dram_bytes.values()), "core_bytes": cost.core_bytes,
                   "table_reuse": "", "fused_into": ""}  # fmt: skip
            if isinstance(node, LutGemm):
                program = self.ir.programs[node.program]
                row.update(n=node.n, k=node.k, chunks=node.chunks,
                           tiles=f"{program.row_tiles}x{program.col_tiles}",
                           block="x".join(map(str, node.block)), program=node.program,
                           table_reuse=round(program.col_tiles / program.col_blocks, 3))  # fmt: skip
            elif isinstance(node, Precompute):
                row.update(k=node.k, chunks=node.chunks, fused_into=node.fused_into or "")
            else:
                row.update(n=node.width, k=node.depth or "")
            out.append(row)
        return out

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write program.lst, summary.json and layers.csv into ``out_dir`` (created if
        missing), each atomically; returns their paths."""
        directory = Path(out_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            reason = err.strerror or " ".join(str(err).split())
            raise ValueError(
                f"cannot create output directory {str(directory)!r}: {reason}"
            ) from None
        rows = self.rows()
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        files = {
            "listing": (directory / "program.lst", self.listing()),
            "summary": (directory / "summary.json", json.dumps(self.summary(), indent=1) + "\n"),
            "layers": (directory / "layers.csv", text.getvalue()),
        }
        for path, content in files.values():
            atomic_write_text(path, content)
        return {key: path for key, (path, _) in files.items()}


def _collapse(names: list[str]) -> list[str]:
    """``layers.0.x, layers.1.x, ... layers.79.x`` -> ``layers.{0..79}.x``."""
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    for name in names:
        match = re.fullmatch(r"layers\.(\d+)\.(.*)", name)
        key = f"layers.{{}}.{match.group(2)}" if match else name
        if key not in groups:
            groups[key] = []
            order.append(key)
        if match:
            groups[key].append(int(match.group(1)))
    out = []
    for key in order:
        layers = groups[key]
        if not layers:
            out.append(key)
        elif layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1:
            out.append(key.replace("{}", f"{{{layers[0]}..{layers[-1]}}}"))
        else:
            out += [key.replace("{}", str(i)) for i in layers]
    return out
