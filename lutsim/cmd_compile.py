"""``lutsim compile``: an LLM (preset or ``config.json``) -> LMMA programs and precompute kernels.

Prints the LUT GEMMs of the first layer (shapes, tiles, instructions, table reuse, tile
utilization: the padding cost), the precompute kernels (fused or not), the totals and the
compact program size; ``-o DIR`` writes ``program.lst``, ``summary.json`` and ``layers.csv``.

``--verify`` draws random weights, runs the compiled programs through the golden executor and
compares the logits with the dequantization reference (:func:`lutsim.compiler.verify`); a failed check
exits 1. ``--tiny`` shrinks the model first (:func:`lutsim.compiler.model.tiny`).

``--latency PRESET`` (repeatable) times one forward pass of the workload (``--batch``
sequences of ``--tokens`` new tokens each, context ``--context``) on GPU presets
(:func:`lutsim.reports.latency.model_latency`).
"""

from __future__ import annotations

import argparse
import json
import re

from .common import UsageError, add_sets, config, fmt_num, parse_bytes, print_table


def _gemm_rows(summary: dict) -> list[tuple[str, ...]]:
    """The first layer's GEMMs; a routed expert's GEMMs fold into one row per part
    (``experts.{0..127}.gate_proj``, M the range of tokens per expert, counts summed)."""
    layer = summary["layers"][0] if summary["layers"] else summary["outside_layers"]
    groups: dict[str, list[dict]] = {}
    for g in layer["gemms"]:
        groups.setdefault(re.sub(r"experts\.\d+\.", "experts.*.", g["name"]), []).append(g)
    rows = []
    for key, members in groups.items():
        g = members[0]
        name, m = g["name"], str(g["m"])
        if len(members) > 1:
            experts = [int(re.search(r"experts\.(\d+)\.", x["name"]).group(1)) for x in members]
            name = key.replace("experts.*.", f"experts.{{{experts[0]}..{experts[-1]}}}.")
            low, high = min(x["m"] for x in members), max(x["m"] for x in members)
            m = str(low) if low == high else f"{low}-{high}"
        rows.append((name, f"{m}x{g['n']}x{g['k']}", "x".join(map(str, g["tiles"])),
                     str(sum(x["instructions"] for x in members)), f"{g['table_reuse']:.3g}",
                     f"{g['utilization']:.3f}",
                     fmt_num(sum(x["dram_bytes"]["total"] for x in members))))  # fmt: skip
    return rows


def _shape(m: dict) -> str:
    """One line: a model's sizes (and its experts)."""
    text = (
        f"{m['num_layers']} layers, hidden {m['hidden_size']}, intermediate "
        f"{m['intermediate_size']}, heads {m['num_heads']}/{m['num_kv_heads']} KV, "
        f"vocabulary {m['vocab_size']}, MLP {m['mlp']}"
    )
    if m["num_experts"]:
        text += (
            f", {m['num_experts']} experts of {m['expert_size']} (top {m['experts_per_token']}"
            + (f", shared {m['shared_expert_size']}" if m["shared_expert_size"] else "")
            + ")"
        )
    return text


def _print_summary(summary: dict) -> None:
    m, w, t = summary["model"], summary["workload"], summary["totals"]
    print(f"{m['name']}: {_shape(m)}")
    print(
        f"quant {summary['quant']['text']}  core {summary['core']['mnemonic']}  "
        f"{w['tokens']} tokens, context {w['context']}"
    )
    print("LUT GEMMs of one layer:")
    header = ("gemm", "MxNxK", "tiles", "instructions", "table reuse", "tile util", "DRAM bytes")
    print_table(header, _gemm_rows(summary))
    pre = t["precompute"]
    unfused = ", ".join(pre["unfused_names"]) or "none"
    print(
        f"precompute: {pre['kernels']} kernels, {pre['fused']} fused into the preceding "
        f"element-wise operator; unfused: {unfused}"
    )
    print(
        f"totals: {t['lut_gemms']} LUT GEMMs, {t['instructions']['total']} instructions, "
        f"{t['lookups']} lookups, {fmt_num(t['dram_bytes']['total'])} DRAM bytes "
        f"({pre['share_of_dram_bytes']:.3f} precompute)"
    )
    p = summary["programs"]
    print(
        f"programs: {p['distinct']} compact programs, {p['objects']} objects, listing "
        f"{p['listing_bytes']} bytes (expanded: {p['expanded_instructions']} instructions, "
        f"{p['expanded_bytes']} bytes)"
    )


def _latency(args: argparse.Namespace, model, quant) -> list[dict]:
    from lutsim.reports.latency import Phase, model_latency

    context = args.context if args.context is not None else args.tokens
    name = "prefill" if args.tokens > 1 else "decode"
    phase = Phase(name, args.batch, args.tokens, context)
    return [
        model_latency(model, preset, phase, quant, precompute=args.precompute).to_dict()
        for preset in args.latency
    ]


def _print_latency(runs: list[dict]) -> None:
    phase = runs[0]["phase"]
    print(
        f"latency, {phase['name']}: batch {phase['batch']}, {phase['tokens']} new tokens, "
        f"context {phase['context']}; precompute {runs[0]['precompute']} (us):"
    )
    header = ("preset", "total", "gemm", "precompute", "attention", "lm_head", "other",
              "tokens/s")  # fmt: skip
    rows = [
        (r["preset"], f"{r['total_us']:.4g}", *(f"{r['us'][c]:.4g}" for c in header[2:7]),
         f"{r['tokens_per_s']:.4g}")
        for r in runs
    ]  # fmt: skip
    print_table(header, rows)


def _print_presets() -> None:
    from lutsim.compiler import load_model, preset_names

    rows = []
    for name in preset_names():
        model = load_model(name)
        rows.append((name, model.architecture, _shape(model.to_dict())))
    print_table(("preset", "architecture", "shape"), rows)


def _load(args: argparse.Namespace):
    """The model, with a measured routing when ``--routing`` names one."""
    from pathlib import Path

    from lutsim.compiler import load_model
    from lutsim.compiler.model import read_data, with_expert_load

    model = load_model(args.model)
    if args.routing:
        path = Path(args.routing)
        model = with_expert_load(model, read_data(path, path.name, "routing file"), path.name)
    return model


def _cmd_compile(args: argparse.Namespace) -> int:
    from lutsim.compiler import compile_model, verify
    from lutsim.compiler.quant import default_quant, parse_quant

    if args.list:
        if args.model is not None:
            raise UsageError("--list takes no MODEL")
        _print_presets()
        return 0
    if args.model is None:
        raise UsageError("give a MODEL (a preset, a config.json or a YAML description) or --list")
    if args.only is not None and not args.weights:
        raise UsageError("--only applies to --weights")
    if args.weights:
        if args.tiny:
            raise UsageError("--tiny does not apply to --weights (the checkpoint sets the sizes)")
        return _weights(args)
    if (args.tiny or args.seed is not None or args.max_memory is not None) and not args.verify:
        raise UsageError("--tiny, --seed and --max-memory apply to --verify")
    if args.latency and args.verify:
        raise UsageError("--latency and --verify are separate runs; give one of them")
    if args.batch != 1 and not args.latency:
        raise UsageError("--batch applies to --latency")
    model = _load(args)
    quant = parse_quant(args.quant) if args.quant is not None else default_quant(model)
    cfg = config(args)
    if args.verify:
        from lutsim.isa.gemm import memory_budget_bytes

        budget = memory_budget_bytes() if args.max_memory is None else args.max_memory
        result = verify(model, quant, cfg, tiny=args.tiny, seed=args.seed or 0, max_bytes=budget)
        if args.json:
            print(json.dumps(result.summary()))
        else:
            print(result.report())
        if not result.ok:
            raise ValueError(f"verification failed: {result.report()}")
        return 0
    compiled = compile_model(
        model, quant, cfg, tokens=args.tokens, context=args.context, buffer_kib=args.buffer_kib
    )
    summary = compiled.summary()
    runs = _latency(args, model, quant) if args.latency else []
    written = compiled.write(args.output) if args.output else {}
    if args.json:
        out = {**summary, "written": {k: str(v) for k, v in written.items()}}
        if runs:
            out["latency"] = runs
        print(json.dumps(out))
        return 0
    _print_summary(summary)
    if runs:
        _print_latency(runs)
    if written:
        names = ", ".join(path.name for path in written.values())
        print(f"wrote {names} to {args.output}")
    return 0


def _weights(args: argparse.Namespace) -> int:
    """``--weights FILE``: convert a quantized checkpoint; with ``--verify``, run every layer."""
    from lutsim.compiler import compile_model
    from lutsim.compiler.checkpoint import (
        check_layer,
        core_for,
        load_checkpoint,
        random_activations,
    )
    from lutsim.compiler.quant import QuantSpec, parse_quant

    model = _load(args)
    cfg = config(args)
    spec = parse_quant(args.quant) if args.quant is not None else QuantSpec()
    if spec.act_format != cfg.act_format or spec.table_quant:
        cfg = spec.core(cfg)
    shapes = compile_model(model, QuantSpec(), cfg, tokens=args.tokens, context=args.context)
    gemms = shapes.gemms()
    if args.only is not None:
        try:
            pattern = re.compile(args.only)
        except re.error as err:
            raise ValueError(f"--only {args.only!r} is not a regular expression: {err}") from None
        gemms = [g for g in gemms if pattern.search(g.name)]
        if not gemms:
            raise ValueError(f"--only {args.only!r} matches no LUT GEMM of {model.name}")
    weights = load_checkpoint(args.weights, gemms)
    core = core_for(cfg, weights)
    if args.quant is not None and (spec.weight_bits, spec.ternary) != (core.weight_bits,
                                                                       core.ternary):  # fmt: skip
        raise ValueError(
            f"--quant {args.quant} disagrees with the checkpoint's "
            f"{'ternary' if core.ternary else f'{core.weight_bits}-bit'} weights"
        )
    # the compiled summary's group size: the checkpoint's, where every layer keeps its K
    sizes = {w.codes.shape[1] // w.chunks if w.chunks > 1 else None for w in weights.values()}
    same_k = all(w.codes.shape == w.reference.shape for w in weights.values())
    group = sizes.pop() if len(sizes) == 1 and same_k else None
    quant = QuantSpec(core.weight_bits, core.ternary, group, core.act_format,
                      core.table_format == "int8")  # fmt: skip
    formats: dict[str, dict] = {}
    for w in weights.values():
        entry = formats.setdefault(w.format, {"tensors": 0, "chunk": set(), "note": w.note})
        entry["tensors"] += 1
        entry["chunk"].add(w.codes.shape[1] // w.chunks)
    summary = {"checkpoint": str(args.weights), "mnemonic": core.mnemonic,
               "formats": {k: {**v, "chunk": sorted(v["chunk"])}
                           for k, v in formats.items()}}  # fmt: skip
    if args.verify:
        seed = args.seed or 0
        checks = []
        for i, (name, w) in enumerate(weights.items()):
            a = random_activations(core, args.tokens, w.reference.shape[1], seed + i)
            checks.append(check_layer(core, name, w, a, args.buffer_kib * 256))
        ok = all(c.ok for c in checks)
        summary.update(layers=[c.__dict__ for c in checks], ok=ok)
        if args.json:
            print(json.dumps(summary))
        else:
            _print_checks(summary, checks, core)
        if not ok:
            bad = ", ".join(c.name for c in checks if not c.ok)
            raise ValueError(f"verification failed: {bad}")
        return 0
    compiled = compile_model(model, quant, core, tokens=args.tokens, context=args.context,
                             buffer_kib=args.buffer_kib)  # fmt: skip
    out = compiled.summary()
    runs = _latency(args, model, quant) if args.latency else []
    if args.json:
        print(json.dumps({**out, "weights": summary, **({"latency": runs} if runs else {})}))
        return 0
    _print_summary(out)
    _print_formats(summary)
    if runs:
        _print_latency(runs)
    return 0


def _print_formats(summary: dict) -> None:
    print(f"weights {summary['checkpoint']}:")
    rows = [(name, str(f["tensors"]), ", ".join(map(str, f["chunk"])), f["note"] or "-")
            for name, f in summary["formats"].items()]  # fmt: skip
    print_table(("format", "tensors", "chunk", "re-blocking"), rows)


def _print_checks(summary: dict, checks, core) -> None:
    _print_formats(summary)
    rows = []
    for c in checks:
        m, n, k = c.shape
        gguf = "-" if c.gguf_residual is None else f"{c.gguf_residual:.3g} <= {c.gguf_bound:.3g}"
        dots = "-" if c.dot_mismatches is None else str(c.dot_mismatches)
        rows.append((c.name, c.format, f"{m}x{n}x{k}", str(c.core_k), str(c.instructions),
                     str(c.weight_mismatches), dots, f"{c.residual:.3g} <= {c.bound:.3g}", gguf,
                     "ok" if c.ok else "FAIL"))  # fmt: skip
    header = ("layer", "format", "MxNxK", "core K", "instructions", "weight diffs",
              "dot diffs", "residual", "vs gguf", "")  # fmt: skip
    print_table(header, rows)
    worst = max(c.residual for c in checks)
    print(
        f"{len(checks)} layers on {core.mnemonic}: weights equal their dequantization, programs "
        f"equal the LUT algorithm{', dot products exact' if core.exact else ''}; worst "
        f"residual {worst:.3g}: {'ok' if summary['ok'] else 'FAIL'}"
    )


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return int(text)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``compile`` subcommand to ``commands``."""
    from lutsim.isa.config import DEFAULT_PRESET

    p = commands.add_parser("compile", help="compile an LLM into LMMA programs (and check it)")
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help="model preset (e.g. llama2-7b), config.json or YAML model "
                        "description")  # fmt: skip
    p.add_argument("--list", action="store_true", help="list the model presets")
    p.add_argument("--routing", metavar="FILE",
                   help="measured MoE routing: YAML/JSON with expert_load "
                        "(default: uniform)")  # fmt: skip
    p.add_argument("--quant", metavar="Q", help="e.g. w2, w4-g128-fp16, w1.58 (default: model's)")
    p.add_argument(
        "--config", metavar="CFG", default=DEFAULT_PRESET,
        help=f"core preset or TOML/YAML file the quantization applies to (default: {DEFAULT_PRESET})",
    )  # fmt: skip
    add_sets(p)
    p.add_argument("--tokens", type=_positive, default=1, help="new tokens per sequence (M)")
    p.add_argument("--context", type=_positive, help="tokens attended to (default: --tokens)")
    p.add_argument("--buffer-kib", type=_positive, default=48, help="on-chip staging per core")
    p.add_argument(
        "-o", "--output", metavar="DIR", help="write program.lst, summary.json, layers.csv"
    )
    p.add_argument("--weights", metavar="FILE",
                   help="quantized checkpoint to convert: .safetensors (GPTQ/AWQ/BitNet; "
                        "a folder of shards) or .gguf")  # fmt: skip
    p.add_argument("--only", metavar="REGEX",
                   help="--weights: only the LUT GEMMs whose names match "
                        "(e.g. 'layers\\.0\\.')")  # fmt: skip
    p.add_argument("--verify", action="store_true",
                   help="run random weights and check logits (with --weights: every layer of "
                        "the checkpoint)")  # fmt: skip
    p.add_argument("--tiny", action="store_true", help="--verify a shrunk model (seconds)")
    p.add_argument(
        "--max-memory", metavar="SIZE", type=parse_bytes, default=None,
        help="--verify: refuse a model whose estimated memory exceeds SIZE (e.g. 8G; "
        "default: half the physical memory)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, help="--verify: random seed (default: 0)")
    p.add_argument("--latency", metavar="PRESET", action="append", default=[],
                   help="time a forward pass on a GPU preset (repeatable)")  # fmt: skip
    p.add_argument("--batch", type=_positive, default=1, help="--latency: sequences (default 1)")
    p.add_argument("--precompute", choices=("fused", "separate"), default="fused",
                   help="--latency: table precompute fused where possible, or all separate")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_compile)
