"""The compiler pipeline: an explicit list of passes, each ``pass(ir, cfg) -> ir``.

=================== ============================================================================
lower_blocks        model -> operators of every block (QKV with MHA/GQA/MQA, fused or not,
                    q/k norms, rotary, attention products, softmax, output projection, dense
                    or mixture-of-experts MLP, pre/post/sandwich norms, sequential or
                    parallel residuals), embedding and LM head
                    (:class:`lutsim.compiler.model.ModelConfig`); a routed expert's GEMMs have
                    M = the tokens routed to it (:func:`expert_rows`), experts without tokens
                    have none
split_precompute    each mpGEMM -> a table precompute (one per activation tensor, shared by
                    every GEMM reading it) + a LUT mpGEMM
fuse_precompute     each precompute into the element-wise operator that writes its input
                    (RMSNorm, LayerNorm, the MLP activation), where there is one
tile                LUT mpGEMMs -> core tiles and blocks by the capacity rule below
emit                tiles -> one compact loop program per distinct GEMM shape
account             FLOPs, lookups, instructions, cycles and bytes of every operator
=================== ============================================================================

Tiling rule (``tile``)
----------------------
The core tile is ``cfg.m x cfg.n`` outputs over the whole K, accumulated in one accumulator
register per chunk (:mod:`lutsim.compiler.program`). Tiles are grouped into blocks of ``bm x bn``
tiles (one per tensor core of an SM, advancing through K together) whose tables and weights
are staged in an on-chip buffer of ``buffer_kib`` (default 48 KiB: an A100 SM's 192 KB of
L1/shared memory over its 4 tensor cores), ``kb`` groups of K at a time:

1. ``kb = min(G, 32)`` (a slab of 128 activations for K = 4);
2. ``bm = min(MT, (W / 2) / (kb * TW))``: tables take at most half of the W buffer words;
3. ``bn = min(NT, (W - bm * kb * TW) / (kb * WW))``: weights take the rest;
4. if ``bm`` or ``bn`` is 0, halve ``kb`` and retry.

Off-chip traffic follows: every table fragment is read once per block column
(``ceil(NT / bn)`` times), every weight fragment once per block row (``ceil(MT / bm)``).

Cost model (``account``)
------------------------
Non-LUT tensors (activations, KV cache, logits) are fp16, 2 bytes per element; accumulators and
fragments are 32-bit words. FLOPs per element: RMSNorm 4, LayerNorm 7, rotary 3, softmax 5,
SwiGLU 5, GeGLU 9, GELU 8, ReLU 1, residual add 1; attention products, the LM head and the MoE
router (an fp16 GEMM, plus 5 per logit for softmax and top-k) 2 per MAC; the MoE combination 2
per picked expert output element (reading each); the
dequantization epilogue 4 per output and chunk (+1 with bias); the table precompute one
addition per stored entry (two with table quantization). A fused precompute does not read its
input, and an operator whose output only feeds precomputes fused into it writes nothing
else. Attention is counted unfused: scores and probabilities go through memory.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from lutsim.isa.config import CoreConfig

from .ir import ELEMENTWISE, Cost, Linear, LutGemm, Module, Node, Op, Precompute
from .model import ModelConfig, module_names
from .program import ADDRESS_WORDS, LoopProgram

__all__ = [
    "PIPELINE",
    "Pass",
    "account",
    "emit",
    "fuse_precompute",
    "lower_blocks",
    "run_pipeline",
    "split_precompute",
    "tile",
]

Pass = Callable[[Module, CoreConfig], Module]

SLAB_GROUPS = 32
NONLUT_BYTES = 2  # fp16
WORD_BYTES = 4
_ELEMENT_FLOPS = {"rmsnorm": 4, "layernorm": 7, "rope": 3, "softmax": 5, "swiglu": 5,
                  "geglu": 9, "gelu": 8, "relu": 1, "add": 1}  # fmt: skip


# ---- lower_blocks ---------------------------------------------------------------------------
def expert_rows(model: ModelConfig, moe_index: int, tokens: int) -> list[int]:
    """Tokens routed to each expert of the ``moe_index``-th MoE layer, for ``tokens`` tokens.

    The ``tokens * k`` routed (token, expert) pairs are split by ``model.expert_load`` (one row
    for every MoE layer, or one per MoE layer) with largest remainders (ties to the lower
    expert), or uniformly without one: every expert ``floor(tokens * k / E)``, the first
    ``tokens * k mod E`` one more. No expert gets more than ``tokens``."""
    pairs, experts = tokens * model.experts_per_token, model.num_experts
    if not model.expert_load:
        base, extra = divmod(pairs, experts)
        return [base + (e < extra) for e in range(experts)]
    load = model.expert_load[moe_index if len(model.expert_load) > 1 else 0]
    exact = [share * pairs for share in load]
    counts = [min(math.floor(x), tokens) for x in exact]
    order = sorted(range(experts), key=lambda e: (counts[e] - exact[e], e))
    missing = pairs - sum(counts)
    for e in order:  # largest remainders first; an expert holds each token at most once
        if missing and counts[e] < tokens:
            counts[e] += 1
            missing -= 1
    return counts


def lower_blocks(ir: Module, cfg: CoreConfig) -> Module:
    """Model -> operators: embedding, every block, final norm and LM head."""
    model, rows, ctx = ir.model, ir.workload.tokens, ir.workload.context
    hidden, hd = model.hidden_size, model.head_dim
    heads, kv, norm = model.num_heads, model.num_kv_heads, model.norm
    names = module_names(model)
    ops: list[Node] = [Op("embed", "embed_tokens", (), "embed", None, rows, hidden)]
    x = "embed"
    if model.embed_norm:
        ops.append(Op(norm, "word_embeddings_layernorm", (x,), "embed.norm", None, rows, hidden))
        x = "embed.norm"
    moe_index = 0
    for i in range(model.num_layers):
        p = f"layers.{i}."

        def op(kind, name, inputs, width, _p=p, _i=i, m=rows, **dims):
            ops.append(Op(kind, _p + name, inputs, _p + name, _i, m, width, **dims))
            return _p + name

        def linear(part, name, source, n, k, bias, _p=p, _i=i, m=rows, expert=None):
            ops.append(Linear(_p + name, source, _p + name, _i, m, n, k, bias, part, expert))
            return _p + name

        def attention(h):
            attn, qkv_n = names["attn"], (heads + 2 * kv) * hd
            if model.fused_qkv:
                qkv = linear("qkv", names["qkv"], h, qkv_n, hidden, model.qkv_bias)
                q = op("slice", f"{attn}.q", (qkv,), heads * hd, depth=0)
                k = op("slice", f"{attn}.k", (qkv,), kv * hd, depth=heads * hd)
                v = op("slice", f"{attn}.v", (qkv,), kv * hd, depth=(heads + kv) * hd)
            else:
                q = linear("q", names["q"], h, heads * hd, hidden, model.qkv_bias)
                k = linear("k", names["k"], h, kv * hd, hidden, model.qkv_bias)
                v = linear("v", names["v"], h, kv * hd, hidden, model.qkv_bias)
            if model.qk_norm:
                q = op("rmsnorm", names["q_norm"], (q,), heads * hd, depth=hd)
                k = op("rmsnorm", names["k_norm"], (k,), kv * hd, depth=hd)
            if model.positions == "rope":
                q = op("rope", f"{attn}.rope_q", (q,), heads * hd, depth=model.rotary_dim)
                k = op("rope", f"{attn}.rope_k", (k,), kv * hd, depth=model.rotary_dim)
            dims = dict(heads=heads, kv_heads=kv, context=ctx)
            scores = op("attn_scores", f"{attn}.scores", (q, k), heads * ctx, depth=hd, **dims)
            probs = op("softmax", f"{attn}.softmax", (scores,), heads * ctx, **dims)
            a = op("attn_values", f"{attn}.values", (probs, v), heads * hd, depth=hd, **dims)
            if model.sub_norm:
                a = op(norm, f"{attn}.inner_attn_ln", (a,), heads * hd)
            return linear("o", names["o"], a, hidden, heads * hd, model.o_bias)

        def ffn(h, inter, prefix="", m=rows, expert=None):
            """A dense MLP (names from ``prefix`` + part, or the family's names)."""

            def name(part):
                return f"{prefix}{names['expert_' + part]}" if prefix else names[part]

            bias = model.mlp_bias
            if model.gated and model.fused_gate_up and not prefix:
                gu = linear("gate_up", names["gate_up"], h, 2 * inter, hidden, bias, m=m)
                act = op(model.mlp, names["act"], (gu,), inter, m=m)
            elif model.gated:
                gate = linear("gate", name("gate"), h, inter, hidden, bias, m=m, expert=expert)
                up = linear("up", name("up"), h, inter, hidden, bias, m=m, expert=expert)
                act_name = f"{prefix}act" if prefix else names["act"]
                act = op(model.mlp, act_name, (gate, up), inter, m=m)
            else:
                up = linear("up", name("up"), h, inter, hidden, bias, m=m, expert=expert)
                act_name = f"{prefix}act" if prefix else names["act"]
                act = op(model.mlp, act_name, (up,), inter, m=m)
            if model.sub_norm:
                act = op(norm, "mlp.ffn_layernorm", (act,), inter, m=m)
            return linear("down", name("down"), act, hidden, inter, bias, m=m, expert=expert)

        def moe(h, index):
            gate_width = model.num_experts + model.shared_expert_gate
            router = op("router", names["router"], (h,), gate_width, depth=hidden,
                        heads=model.experts_per_token)  # fmt: skip
            outs = [router]
            for e, m in enumerate(expert_rows(model, index, rows)):
                if m:
                    outs.append(ffn(h, model.expert_size, f"{names['experts']}.{e}.", m, e))
            if model.shared_expert_size:
                outs.append(ffn(h, model.shared_expert_size, f"{names['shared']}."))
            shared = int(bool(model.shared_expert_size))
            return op("moe_combine", names["combine"], tuple(outs), hidden,
                      heads=model.experts_per_token, depth=shared)  # fmt: skip

        def mlp(h, _i=i):
            nonlocal moe_index
            if model.moe_layer(_i):
                moe_index += 1
                return moe(h, moe_index - 1)
            return ffn(h, model.intermediate_size)

        if model.parallel == "none":
            pre = model.norm_placement != "post"
            h = op(norm, names["attn_norm"], (x,), hidden) if pre else x
            a = attention(h)
            if model.norm_placement == "sandwich":
                a = op(norm, names["post_attn_norm"], (a,), hidden)
            x = op("add", "attn_residual", (x, a), hidden)
            if not pre:
                x = op(norm, names["attn_norm"], (x,), hidden)
            h = op(norm, names["mlp_norm"], (x,), hidden) if pre else x
            f = mlp(h)
            if model.norm_placement == "sandwich":
                f = op(norm, names["post_mlp_norm"], (f,), hidden)
            x = op("add", "mlp_residual", (x, f), hidden)
            if not pre:
                x = op(norm, names["mlp_norm"], (x,), hidden)
        else:
            if model.parallel == "shared-norm":
                h = h2 = op(norm, names.get("shared_norm", names["attn_norm"]), (x,), hidden)
            else:
                h = op(norm, names["attn_norm"], (x,), hidden)
                h2 = op(norm, names["mlp_norm"], (x,), hidden)
            a, f = attention(h), mlp(h2)
            both = op("add", "parallel_sum", (a, f), hidden)
            x = op("add", "residual", (x, both), hidden)
    final = names["final_norm"]
    ops.append(Op(norm, final, (x,), final, None, rows, hidden))
    ops.append(Op("lm_head", "lm_head", (final,), "logits", None, rows, model.vocab_size,
                  depth=hidden))  # fmt: skip
    return ir.replace(ops=tuple(ops))


# ---- split_precompute -----------------------------------------------------------------------
def _chunks(ir: Module, cfg: CoreConfig, gemm: Linear) -> int:
    group = ir.quant.group_size
    if group is None:
        return 1
    if group % cfg.k:
        raise ValueError(f"group size {group} is not a multiple of the table K = {cfg.k}")
    if gemm.k % group:
        raise ValueError(f"group size {group} does not divide K = {gemm.k} of {gemm.name}")
    return gemm.k // group


def split_precompute(ir: Module, cfg: CoreConfig) -> Module:
    """Each mpGEMM -> table precompute (one per input tensor) + LUT mpGEMM."""
    linears = ir.of_type(Linear)
    consumers: dict[str, list[Linear]] = {}
    for gemm in linears:
        consumers.setdefault(gemm.input, []).append(gemm)
    producers = ir.producers()
    ops: list[Node] = []
    done: set[str] = set()
    for node in ir.ops:
        if not isinstance(node, Linear):
            ops.append(node)
            continue
        tables = f"{node.input}.tables"
        chunks = _chunks(ir, cfg, node)
        if node.input not in done:
            done.add(node.input)
            readers = consumers[node.input]
            source = producers.get(node.input)
            rows = source.rows if source is not None else node.rows  # all tokens, for experts
            ops.append(Precompute(f"{node.input}.precompute", node.input, tables, node.layer,
                                  rows, node.k, chunks,
                                  tuple(g.name for g in readers)))  # fmt: skip
        ops.append(LutGemm(node.name, tables, node.output, node.layer, node.rows, node.n,
                           node.k, chunks, node.bias, part=node.part,
                           expert=node.expert))  # fmt: skip
    return ir.replace(ops=tuple(ops))


# ---- fuse_precompute ------------------------------------------------------------------------
def fuse_precompute(ir: Module, cfg: CoreConfig) -> Module:
    """A precompute whose input an element-wise operator writes runs inside that operator."""
    producers = ir.producers()
    ops = []
    for node in ir.ops:
        if isinstance(node, Precompute):
            source = producers.get(node.input)
            if isinstance(source, Op) and source.kind in ELEMENTWISE:
                node = Precompute(**{**node.__dict__, "fused_into": source.name})
        ops.append(node)
    return ir.replace(ops=tuple(ops))


# ---- tile -----------------------------------------------------------------------------------
def block_shape(cfg: CoreConfig, rows: int, cols: int, depth: int, buffer_words: int):
    """``(bm, bn, kb)`` by the capacity rule of the module docstring."""
    groups = math.ceil(depth / cfg.k)
    row_tiles, col_tiles = math.ceil(rows / cfg.m), math.ceil(cols / cfg.n)
    tw, ww = cfg.table_fragment_words, cfg.weight_fragment_words
    slab = min(groups, SLAB_GROUPS)
    while slab >= 1:
        bm = min(row_tiles, (buffer_words // 2) // (slab * tw))
        bn = min(col_tiles, (buffer_words - bm * slab * tw) // (slab * ww)) if bm else 0
        if bm and bn:
            return bm, bn, slab
        slab //= 2
    raise ValueError(
        f"a buffer of {buffer_words * 4} bytes cannot hold one table fragment ({tw * 4} bytes) "
        f"and one weight fragment ({ww * 4} bytes)"
    )


def tile(ir: Module, cfg: CoreConfig) -> Module:
    """LUT mpGEMMs -> core tiles in capacity-sized blocks."""
    words = ir.workload.buffer_words
    ops = []
    for node in ir.ops:
        if isinstance(node, LutGemm):
            block = block_shape(cfg, node.rows, node.n, node.k, words)
            node = LutGemm(**{**node.__dict__, "block": block})
        ops.append(node)
    return ir.replace(ops=tuple(ops))


# ---- emit -----------------------------------------------------------------------------------
def emit(ir: Module, cfg: CoreConfig) -> Module:
    """One compact loop program per distinct (M, N, K, chunks, block); GEMMs name theirs."""
    programs: dict[str, LoopProgram] = {}
    by_shape: dict[tuple, str] = {}
    ops = []
    for node in ir.ops:
        if isinstance(node, LutGemm):
            key = (node.rows, node.n, node.k, node.chunks, node.block)
            if key not in by_shape:
                program = LoopProgram(cfg, node.rows, node.n, node.k, node.chunks, *node.block)
                if program.memory_words > ADDRESS_WORDS:
                    raise ValueError(
                        f"{node.name} needs {program.memory_words} words of memory; LMMA "
                        f"addresses reach {ADDRESS_WORDS}"
                    )
                by_shape[key] = f"p{len(programs)}"
                programs[by_shape[key]] = program
            node = LutGemm(**{**node.__dict__, "program": by_shape[key]})
        ops.append(node)
    return ir.replace(ops=tuple(ops), programs=programs)


# ---- account --------------------------------------------------------------------------------
def _gemm_cost(cfg: CoreConfig, node: LutGemm, program: LoopProgram) -> Cost:
    counts = program.counts()
    g, c = program.groups, node.chunks
    tw, ww, aw = cfg.table_fragment_words, cfg.weight_fragment_words, cfg.acc_fragment_words
    mt, nt = program.row_tiles, program.col_tiles
    dram = {
        "tables": mt * g * tw * WORD_BYTES * program.col_blocks,
        "weights": nt * g * ww * WORD_BYTES * program.row_blocks,
        "scales": 2 * node.n * c * NONLUT_BYTES,  # scale and zero point per column and chunk
        "accumulators": 2 * mt * nt * c * aw * WORD_BYTES,  # stored, read by the epilogue
        "outputs": node.rows * node.n * NONLUT_BYTES,
    }
    port = counts["ldt"] * tw + counts["ldw"] * ww + (counts["sta"] + counts["lda"]) * aw
    return Cost(
        flops=node.rows * node.n * (4 * c + node.bias),
        macs=node.rows * node.n * node.k,
        lookups=counts["lmma"] * cfg.lookups_per_lmma,
        instructions=dict(counts),
        tile_cycles=program.tile_cycles(),
        dram_bytes=dram,
        core_bytes=port * WORD_BYTES,
    )


def _precompute_cost(cfg: CoreConfig, node: Precompute, table_quant: bool) -> Cost:
    groups = math.ceil(node.k / cfg.k)
    padded_rows = math.ceil(node.rows / cfg.m) * cfg.m
    dram = {"tables": padded_rows * groups * cfg.table_entries * WORD_BYTES}
    if node.fused_into is None:
        dram["activations"] = node.rows * node.k * NONLUT_BYTES
    per_entry = 2 if table_quant else 1
    return Cost(flops=node.rows * groups * cfg.table_entries * per_entry, dram_bytes=dram)


def _op_cost(node: Op, writes: bool) -> Cost:
    rows, width, b = node.rows, node.width, NONLUT_BYTES
    out = rows * width * b if writes else 0
    if node.kind == "slice":
        return Cost()
    if node.kind == "embed":
        return Cost(dram_bytes={"activations": rows * width * b + out})
    if node.kind in ("attn_scores", "attn_values"):
        ctx, hd = node.context, node.depth
        cache = ctx * node.kv_heads * hd * b  # K or V of every context token
        inputs = rows * node.heads * (hd if node.kind == "attn_scores" else ctx) * b
        return Cost(
            flops=2 * rows * node.heads * ctx * hd,
            dram_bytes={"kv_cache": cache, "activations": inputs + out},
        )
    if node.kind == "router":  # fp16 GEMM to the expert logits, then softmax and top-k
        return Cost(
            flops=2 * rows * width * node.depth + 5 * rows * width,
            dram_bytes={"weights": width * node.depth * b,
                        "activations": rows * node.depth * b + out},
        )  # fmt: skip
    if node.kind == "moe_combine":  # weighted sum of each token's expert outputs (+ shared)
        picks = node.heads + node.depth  # top-k experts, and the shared expert (depth 1)
        return Cost(
            flops=2 * rows * picks * width,
            dram_bytes={"activations": rows * picks * width * b + out},
        )
    if node.kind == "lm_head":
        return Cost(
            flops=2 * rows * width * node.depth,
            dram_bytes={"weights": width * node.depth * b,
                        "activations": rows * node.depth * b + out},
        )  # fmt: skip
    reads = {"swiglu": 2, "geglu": 2, "add": 2}.get(node.kind, 1) * rows * width * b
    dram = {"activations": reads + out}
    if node.kind in ("rmsnorm", "layernorm"):  # gain (and bias)
        dram["weights"] = (1 if node.kind == "rmsnorm" else 2) * width * b
    return Cost(flops=_ELEMENT_FLOPS[node.kind] * rows * width, dram_bytes=dram)


def account(ir: Module, cfg: CoreConfig) -> Module:
    """Costs of every operator (see the module docstring)."""
    fused_only: dict[str, bool] = {}
    readers: Counter = Counter()
    for node in ir.ops:
        for name in _inputs(node):
            readers[name] += 1
    for node in ir.of_type(Precompute):
        if node.fused_into is not None:
            fused_only[node.input] = readers[node.input] == 1
    costs: dict[str, Cost] = {}
    for node in ir.ops:
        if isinstance(node, LutGemm):
            costs[node.name] = _gemm_cost(cfg, node, ir.programs[node.program])
        elif isinstance(node, Precompute):
            costs[node.name] = _precompute_cost(cfg, node, ir.quant.table_quant)
        else:
            costs[node.name] = _op_cost(node, writes=not fused_only.get(node.output, False))
    return ir.replace(costs=costs)


def _inputs(node: Node) -> tuple[str, ...]:
    if isinstance(node, Op):
        return node.inputs
    if isinstance(node, LutGemm):
        return (node.tables,)
    return (node.input,)


# ---- the pipeline ---------------------------------------------------------------------------
PIPELINE: tuple[Pass, ...] = (
    lower_blocks,  # model -> operators of every block, embedding and LM head
    split_precompute,  # mpGEMM -> shared table precompute + LUT mpGEMM
    fuse_precompute,  # precompute into the preceding element-wise operator, where one exists
    tile,  # LUT mpGEMMs -> core tiles in capacity-sized blocks
    emit,  # tiles -> one compact loop program per GEMM shape
    account,  # FLOPs, lookups, instructions, cycles and bytes of every operator
)


def run_pipeline(ir: Module, cfg: CoreConfig, passes: tuple[Pass, ...] = PIPELINE) -> Module:
    """Apply ``passes`` in order, recording their names."""
    for step in passes:
        ir = step(ir, cfg).replace(passes=ir.passes + (step.__name__,))
    return ir
