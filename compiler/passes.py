"""The compiler pipeline: an explicit list of passes, each ``pass(ir, cfg) -> ir``.

=================== ============================================================================
lower_blocks        model -> operators of every block (QKV with GQA/MHA, attention products,
                    softmax, output projection, MLP, norms, residuals), embedding and LM head
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
SwiGLU 5, GELU 8, ReLU 1, residual add 1; attention products and the LM head 2 per MAC; the
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
                  "gelu": 8, "relu": 1, "add": 1}  # fmt: skip

_LLAMA = {"attn_norm": "input_layernorm", "q": "self_attn.q_proj", "k": "self_attn.k_proj",
          "v": "self_attn.v_proj", "o": "self_attn.o_proj", "attn": "self_attn",
          "mlp_norm": "post_attention_layernorm", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
          "act": "mlp.act", "down": "mlp.down_proj", "final_norm": "norm"}  # fmt: skip
_NAMES = {  # family: module names (Hugging Face's) of each part
    "llama": _LLAMA,
    "bitnet": _LLAMA,
    "opt": {"attn_norm": "self_attn_layer_norm", "q": "self_attn.q_proj",
            "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.out_proj",
            "attn": "self_attn", "mlp_norm": "final_layer_norm", "up": "fc1",
            "act": "activation_fn", "down": "fc2", "final_norm": "decoder.final_layer_norm"},
    "bloom": {"attn_norm": "input_layernorm", "qkv": "self_attention.query_key_value",
              "o": "self_attention.dense", "attn": "self_attention",
              "mlp_norm": "post_attention_layernorm", "up": "mlp.dense_h_to_4h",
              "act": "mlp.gelu_impl", "down": "mlp.dense_4h_to_h", "final_norm": "ln_f"},
}  # fmt: skip


# ---- lower_blocks ---------------------------------------------------------------------------
def lower_blocks(ir: Module, cfg: CoreConfig) -> Module:
    """Model -> operators: embedding, every block, final norm and LM head."""
    model, rows, ctx = ir.model, ir.workload.tokens, ir.workload.context
    hidden, inter, hd = model.hidden_size, model.intermediate_size, model.head_dim
    heads, kv = model.num_heads, model.num_kv_heads
    norm, bias = model.norm, model.bias
    names = _NAMES[model.family]
    ops: list[Node] = [Op("embed", "embed_tokens", (), "embed", None, rows, hidden)]
    x = "embed"
    if model.arch.embed_norm:
        ops.append(Op(norm, "word_embeddings_layernorm", (x,), "embed.norm", None, rows, hidden))
        x = "embed.norm"
    for i in range(model.num_layers):
        p = f"layers.{i}."

        def op(kind, name, inputs, width, _p=p, _i=i, **dims):
            ops.append(Op(kind, _p + name, inputs, _p + name, _i, rows, width, **dims))
            return _p + name

        def linear(name, source, n, k, _p=p, _i=i):
            ops.append(Linear(_p + name, source, _p + name, _i, rows, n, k, bias))
            return _p + name

        h = op(norm, names["attn_norm"], (x,), hidden)
        attn = names["attn"]
        if model.arch.fused_qkv:
            qkv = linear(names["qkv"], h, 3 * hidden, hidden)
            q = op("slice", f"{attn}.q", (qkv,), hidden, depth=0)
            k = op("slice", f"{attn}.k", (qkv,), hidden, depth=hidden)
            v = op("slice", f"{attn}.v", (qkv,), hidden, depth=2 * hidden)
        else:
            q = linear(names["q"], h, heads * hd, hidden)
            k = linear(names["k"], h, kv * hd, hidden)
            v = linear(names["v"], h, kv * hd, hidden)
        if model.positions == "rope":
            q = op("rope", f"{attn}.rope_q", (q,), heads * hd)
            k = op("rope", f"{attn}.rope_k", (k,), kv * hd)
        dims = dict(heads=heads, kv_heads=kv, context=ctx)
        scores = op("attn_scores", f"{attn}.scores", (q, k), heads * ctx, depth=hd, **dims)
        probs = op("softmax", f"{attn}.softmax", (scores,), heads * ctx, **dims)
        a = op("attn_values", f"{attn}.values", (probs, v), heads * hd, depth=hd, **dims)
        if model.arch.sub_norm:
            a = op(norm, f"{attn}.inner_attn_ln", (a,), hidden)
        o = linear(names["o"], a, hidden, hidden)
        x = op("add", "attn_residual", (x, o), hidden)
        h = op(norm, names["mlp_norm"], (x,), hidden)
        if model.mlp == "swiglu":
            gate = linear(names["gate"], h, inter, hidden)
            up = linear(names["up"], h, inter, hidden)
            act = op("swiglu", names["act"], (gate, up), inter)
        else:
            up = linear(names["up"], h, inter, hidden)
            act = op(model.mlp, names["act"], (up,), inter)
        if model.arch.sub_norm:
            act = op(norm, "mlp.ffn_layernorm", (act,), inter)
        down = linear(names["down"], act, hidden, inter)
        x = op("add", "mlp_residual", (x, down), hidden)
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
            ops.append(Precompute(f"{node.input}.precompute", node.input, tables, node.layer,
                                  node.rows, node.k, chunks,
                                  tuple(g.name for g in readers)))  # fmt: skip
        ops.append(LutGemm(node.name, tables, node.output, node.layer, node.rows, node.n,
                           node.k, chunks, node.bias))  # fmt: skip
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
    if node.kind == "lm_head":
        return Cost(
            flops=2 * rows * width * node.depth,
            dram_bytes={"weights": width * node.depth * b,
                        "activations": rows * node.depth * b + out},
        )  # fmt: skip
    reads = {"swiglu": 2, "add": 2}.get(node.kind, 1) * rows * width * b
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
