"""``verify``: compile a (tiny) model with random weights, run it, compare its logits.

Forward passes over the same random tokens share every non-LUT operator (float64 numpy) and
differ only in how the mpGEMMs are computed:

* **compiled**: the precompute packs tables into each GEMM's table region, the compact
  programs run tile by tile through the golden executor (:mod:`lutsim.isa.executor`) on the memory
  images the compiler laid out, and the stored accumulators go through the dequantization
  epilogue (:func:`lutsim.isa.golden.epilogue`);
* **reference**: the dequantization reference (:func:`lutsim.isa.golden.reference`) of the same
  quantized weights on the same quantized activations;
* **golden** (float paths): the vectorized LUT algorithm of :mod:`lutsim.isa.golden`
  (:func:`lutsim.isa.golden.precompute_tables`, :func:`lutsim.isa.golden.accumulate`, the epilogue).

Mixture-of-experts layers route by the compiled per-expert row counts (uniform, or the model's
measured ``expert_load``): the routed token-expert pairs are laid out expert after expert and
token t takes pairs t, t + T, ...; the router's logits weight each token's experts (softmax over
its picks), and a routed expert's GEMMs read its tokens' rows of the shared tables.

Activations entering a GEMM are quantized per token by absmax (``s = max |x| / (2^(b-1) - 1)``,
BitNet's rule) for integer formats and rounded (RNE) to float formats.

Checks. Every GEMM of the compiled pass, on its own inputs: the stored accumulators equal the
LUT algorithm bit for bit, and the outputs equal the reference exactly on exact paths (integer
tables) or lie within :func:`lutsim.isa.golden.error_bound` elsewhere. The logits must be **equal**
to the reference's on exact paths (``bound`` 0). On float paths (float activations or tables,
INT8 table quantization) they must equal the golden pass's bit for bit, and their distance to
the reference is reported (``residual``) without a logits-level bound (``bound`` None): a
worst-case bound carried through softmax, norms and activation re-quantization grows past the
logits themselves within one block, so the a-priori bounds are enforced per GEMM instead.

``tiny=True`` first shrinks the model by :func:`lutsim.compiler.model.tiny` (group sizes become at
most 32) and runs 8 tokens.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from lutsim.isa.config import CoreConfig, load_config
from lutsim.isa.formats import Format, quantize
from lutsim.isa.gemm import check_int32, make_problem
from lutsim.isa.golden import (
    Tables,
    accumulate,
    chunk_dots,
    epilogue,
    error_bound,
    precompute_tables,
    reference,
    weight_indices,
)

from .driver import CompiledModel, compile_model
from .ir import LutGemm, Op, Precompute
from .model import ModelConfig, load_model
from .model import tiny as tiny_model
from .program import pack_table_region
from .quant import QuantSpec, default_quant, parse_quant

__all__ = ["GemmCheck", "VerifyResult", "random_params", "verify"]

TINY_GROUP = 32


@dataclass(frozen=True)
class GemmCheck:
    """One LUT GEMM of the compiled pass against the reference on the same inputs."""

    name: str
    residual: float  # max |o - reference|
    bound: float  # max of the elementwise bound
    within_bound: bool
    acc_mismatches: int | None  # exact paths: integer dot products that differ
    algorithm_mismatches: int  # stored accumulators != the vectorized LUT algorithm
    instructions: int

    @property
    def ok(self) -> bool:
        exact_ok = self.acc_mismatches in (None, 0)
        return self.algorithm_mismatches == 0 and exact_ok and self.within_bound


@dataclass(frozen=True)
class VerifyResult:
    model: ModelConfig
    quant: QuantSpec
    cfg: CoreConfig
    tokens: int
    exact: bool
    residual: float  # max |logits - dequantization-reference logits|
    bound: float | None  # what residual is held to: 0 on exact paths; None on float paths
    golden_residual: float  # max |logits - golden LUT-algorithm logits|, must be 0
    ok: bool
    gemms: tuple[GemmCheck, ...]
    logits: np.ndarray
    reference: np.ndarray

    def summary(self) -> dict:
        m = self.model
        return {
            "model": m.name, "hidden": m.hidden_size, "intermediate": m.intermediate_size,
            "layers": m.num_layers, "heads": m.num_heads, "kv_heads": m.num_kv_heads,
            "vocab": m.vocab_size, "mlp": m.mlp, "tokens": self.tokens,
            "quant": str(self.quant), "mnemonic": self.cfg.mnemonic, "exact": self.exact,
            "residual": self.residual, "bound": self.bound,
            "golden_residual": self.golden_residual,
            "worst_gemm_bound_use": max((g.residual / g.bound for g in self.gemms if g.bound),
                                        default=0.0),
            "gemms": len(self.gemms),
            "instructions": sum(g.instructions for g in self.gemms),
            "gemm_failures": [g.name for g in self.gemms if not g.ok],
            "algorithm_mismatches": sum(g.algorithm_mismatches for g in self.gemms),
            "ok": self.ok,
        }  # fmt: skip

    def report(self) -> str:
        """One line: what ran and the logits residual."""
        s = self.summary()
        if self.exact:
            check = "exact"
        else:
            check = (
                f"float path: golden residual {self.golden_residual:.3g}, GEMM residuals "
                f"up to {s['worst_gemm_bound_use']:.2g} of their bounds"
            )
        return (
            f"{s['model']} ({s['layers']} layers, hidden {s['hidden']}, {s['tokens']} tokens) "
            f"{s['quant']} {s['mnemonic']}: {s['gemms']} LUT GEMMs, {s['instructions']} "
            f"instructions; logits residual {self.residual:.3g} ({check}): "
            f"{'ok' if self.ok else 'FAIL'}"
        )


# ---- parameters --------------------------------------------------------------------------------
def random_params(compiled: CompiledModel, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float parameters for every operator that has some, keyed by operator name
    (linear weights ``[N, K]`` ~ N(0, 1/K), biases, norm gains ~ 1 + N(0, 0.01), ...)."""
    rng = np.random.default_rng(seed)
    model = compiled.model
    params: dict[str, np.ndarray] = {}
    for node in compiled.ir.ops:
        if isinstance(node, LutGemm):
            params[node.name] = rng.standard_normal((node.n, node.k)) / math.sqrt(node.k)
            if node.bias:
                params[node.name + ".bias"] = 0.1 * rng.standard_normal(node.n)
        elif isinstance(node, Op) and node.kind in ("rmsnorm", "layernorm"):
            params[node.name] = 1.0 + 0.1 * rng.standard_normal(node.depth or node.width)
            if node.kind == "layernorm":
                params[node.name + ".bias"] = 0.1 * rng.standard_normal(node.depth or node.width)
        elif isinstance(node, Op) and node.kind == "embed":
            params[node.name] = rng.standard_normal((model.vocab_size, node.width))
            if model.positions == "learned":
                params["embed_positions"] = 0.5 * rng.standard_normal(
                    (model.max_positions, node.width)
                )
        elif isinstance(node, Op) and node.kind in ("lm_head", "router"):
            params[node.name] = rng.standard_normal((node.width, node.depth)) / math.sqrt(
                node.depth
            )
    if model.tie_embeddings:
        params["lm_head"] = params["embed_tokens"] / math.sqrt(model.hidden_size)
    return params


# ---- activation quantization ---------------------------------------------------------------
def quantize_activations(x: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """``(a, s)``: values of the activation format and a per-row scale, ``x ~ s * a``."""
    if fmt.is_float:
        return quantize(x, fmt), np.ones(x.shape[0])
    top = fmt.max_finite
    peak = np.abs(x).max(axis=1)
    scale = np.where(peak > 0, peak / top, 1.0)
    return np.clip(np.round(x / scale[:, None]), -top, top), scale


# ---- routing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Route:
    """One MoE layer's routing for the forward pass: ``picks[t]`` the experts of token t
    (realizing the compiled per-expert row counts), ``tokens[e]`` the tokens of expert e in
    order, ``outputs`` the expert of each down projection's output tensor."""

    picks: np.ndarray  # [T, k]
    tokens: dict[int, np.ndarray]
    outputs: dict[str, int]

    def combine(self, ins: list[np.ndarray], model: ModelConfig) -> np.ndarray:
        """Softmax of the router logits over each token's picked experts, weighting their
        outputs; plus the shared expert (sigmoid-gated when the model has the gate)."""
        logits, rest = ins[0], ins[1:]
        rows = np.arange(len(logits))[:, None]
        chosen = logits[rows, self.picks]
        weights = np.exp(chosen - chosen.max(axis=1, keepdims=True))
        weights = weights / weights.sum(axis=1, keepdims=True)
        out = np.zeros((len(logits), model.hidden_size))
        experts = list(self.outputs.values())
        for y, e in zip(rest[: len(experts)], experts, strict=True):
            for t, slot in zip(*np.nonzero(self.picks == e), strict=True):
                position = int(np.searchsorted(self.tokens[e], t))
                out[t] += weights[t, slot] * y[position]
        for y in rest[len(experts) :]:  # the shared expert
            gate = 1 / (1 + np.exp(-logits[:, -1:])) if model.shared_expert_gate else 1.0
            out += gate * y
        return out


def _routes(compiled: CompiledModel, tokens: int) -> dict[int, _Route]:
    """Per MoE layer: the pairs ``tokens * k`` are laid out expert after expert with the
    compiled counts, and token t takes the pairs at t, t + T, ..., t + (k-1) T: k different
    experts, since no expert has more than T pairs."""
    model, routes = compiled.model, {}
    for layer in range(model.num_layers):
        if not model.moe_layer(layer):
            continue
        counts = [0] * model.num_experts
        outputs = {}
        for g in compiled.gemms():
            if g.layer == layer and g.expert is not None:
                counts[g.expert] = g.rows
                if g.part == "down":
                    outputs[g.output] = g.expert
        order = np.repeat(np.arange(model.num_experts), counts)
        picks = order.reshape(model.experts_per_token, tokens).T
        members = {e: np.nonzero((picks == e).any(axis=1))[0] for e in range(model.num_experts)}
        routes[layer] = _Route(picks, members, outputs)
    return routes


def _rows(cfg: CoreConfig, entry: dict, rows: np.ndarray) -> dict:
    """A precompute entry restricted to some of its rows (a routed expert's tokens)."""
    out = {"a": entry["a"][rows], "s": entry["s"][rows]}
    if "tables" in entry:
        t = entry["tables"]
        tables = Tables(t.entries[rows], t.scale[rows], t.act_sum[rows])
        out.update(tables=tables, words=pack_table_region(cfg, tables.entries))
    return out


# ---- the forward pass ----------------------------------------------------------------------
def _rope_tables(model: ModelConfig, tokens: int):
    dim = max(2, model.rotary_dim)
    half = dim // 2
    inv = model.rope_theta ** (-np.arange(half) * 2.0 / dim)
    angles = np.arange(tokens)[:, None] * inv[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    return np.concatenate([cos, cos], axis=1), np.concatenate([sin, sin], axis=1)


def _rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def _swap_halves(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([x[..., half:], x[..., :half]], axis=-1)


def _alibi_slopes(heads: int) -> np.ndarray:
    """BLOOM's ALiBi slopes (heads a power of two: 2^(-8 h / heads))."""
    closest = 2 ** math.floor(math.log2(heads))
    base = 2.0 ** (-8.0 / closest)
    slopes = base ** np.arange(1, closest + 1)
    if closest < heads:
        extra = (2.0 ** (-4.0 / closest)) ** np.arange(1, 2 * (heads - closest) + 1, 2)
        slopes = np.concatenate([slopes, extra])
    return slopes


def _heads(x: np.ndarray, heads: int) -> np.ndarray:
    """[T, heads * d] -> [heads, T, d]."""
    return x.reshape(x.shape[0], heads, -1).transpose(1, 0, 2)


def _silu(x):
    return x / (1.0 + np.exp(-x))


def _gelu(x):  # BLOOM's tanh approximation
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


class _Forward:
    """One forward pass; ``mode`` says how mpGEMMs are computed: ``compiled`` (programs on the
    golden executor, each checked into ``checks``), ``golden`` (the vectorized LUT algorithm)
    or ``reference`` (the dequantization reference)."""

    def __init__(self, compiled: CompiledModel, params, ids, mode: str):
        self.c, self.cfg, self.model = compiled, compiled.cfg, compiled.model
        self.params, self.ids, self.mode = params, ids, mode
        self.val: dict[str, np.ndarray] = {}
        self.checks: list[GemmCheck] = []
        self.tables: dict[str, dict] = {}
        tokens = len(ids)
        self.cos, self.sin = _rope_tables(self.model, tokens)
        self.mask = np.triu(np.ones((tokens, tokens), dtype=bool), k=1)  # causal
        self.routes = _routes(compiled, tokens)
        self.alibi = None
        if self.model.positions == "alibi":
            distance = np.arange(tokens)[None, :] - np.arange(tokens)[:, None]  # j - i
            self.alibi = _alibi_slopes(self.model.num_heads)[:, None, None] * distance

    def run(self) -> np.ndarray:
        for node in self.c.ir.ops:
            if isinstance(node, Precompute):
                self._precompute(node)
            elif isinstance(node, LutGemm):
                self._gemm(node)
            else:
                self.val[node.output] = self._op(node, [self.val[n] for n in node.inputs])
        return self.val["logits"]

    # ---- mpGEMMs ---------------------------------------------------------------------------
    def _precompute(self, node: Precompute):
        a, s = quantize_activations(self.val[node.input], self.cfg.act)
        entry = {"a": a, "s": s}
        if self.mode != "reference":
            groups = math.ceil(node.k / self.cfg.k)
            padded = np.zeros((a.shape[0], groups * self.cfg.k))
            padded[:, : a.shape[1]] = a
            tables = precompute_tables(self.cfg, padded, node.chunks)
            check_int32(self.cfg, tables)
            entry.update(tables=tables, words=pack_table_region(self.cfg, tables.entries))
        self.tables[node.output] = entry

    def _gemm(self, node: LutGemm):
        cfg, entry = self.cfg, self.tables[node.tables]
        q = self.c.weights[node.name].quantized
        if node.expert is not None and len(entry["a"]) != node.rows:  # the routed tokens' rows
            entry = _rows(cfg, entry, self.routes[node.layer].tokens[node.expert])
        a, s = entry["a"], entry["s"]
        if self.mode == "reference":
            o = reference(cfg, a, q.codes, q.scale, q.zero)[0]
        else:
            problem = make_problem(cfg, a, q.codes, q.scale, q.zero)
            expected = accumulate(cfg, entry["tables"], weight_indices(cfg, problem.w))
            if self.mode == "golden":
                acc = expected
            else:
                program = self.c.program(node.name)
                image = program.memory_image(entry["words"], self.c.weights[node.name].words)
                acc = program.read_outputs(program.run(image))
                self._check(node, program, problem, entry["tables"], acc, expected)
            o = epilogue(cfg, acc, entry["tables"], problem.scale, problem.zero)
        self.val[node.output] = s[:, None] * o + self.params.get(node.name + ".bias", 0.0)

    def _check(self, node, program, problem, tables, acc, expected):
        """The program's GEMM against the LUT algorithm and the reference on its inputs."""
        cfg = self.cfg
        same = (acc == expected) | (np.isnan(acc) & np.isnan(expected))
        o = epilogue(cfg, acc, tables, problem.scale, problem.zero)
        ref, dots = reference(cfg, problem.a, problem.w, problem.scale, problem.zero)
        mismatches = None
        if cfg.exact and dots is not None:
            mismatches = int(np.count_nonzero(chunk_dots(cfg, acc, tables, problem.zero) != dots))
            bound = np.zeros_like(o)
        else:
            bound = error_bound(cfg, problem.a, problem.w, problem.scale, problem.zero, tables)
        residual = np.abs(o - ref)
        self.checks.append(GemmCheck(
            name=node.name, residual=float(residual.max()), bound=float(bound.max()),
            within_bound=bool(np.all(residual <= bound)), acc_mismatches=mismatches,
            algorithm_mismatches=int(np.count_nonzero(~same)),
            instructions=sum(program.counts().values()),
        ))  # fmt: skip

    # ---- non-LUT operators -----------------------------------------------------------------
    def _op(self, node: Op, ins: list[np.ndarray]) -> np.ndarray:
        kind, model = node.kind, self.model
        if kind == "embed":
            out = self.params[node.name][self.ids]
            if model.positions == "learned":
                out = out + self.params["embed_positions"][: len(self.ids)]
            return out * math.sqrt(model.hidden_size) if model.embed_scale else out
        if kind in ("rmsnorm", "layernorm"):
            x = ins[0].reshape(ins[0].shape[0], -1, node.depth or node.width)  # per head: q/k
            centered = x - x.mean(axis=2, keepdims=True) if kind == "layernorm" else x
            scale = np.sqrt((centered**2).mean(axis=2, keepdims=True) + model.norm_eps)
            out = self.params[node.name] * centered / scale
            if kind == "layernorm":
                out = out + self.params[node.name + ".bias"]
            return out.reshape(ins[0].shape)
        if kind == "slice":
            return ins[0][:, node.depth : node.depth + node.width]
        if kind == "rope":  # on the first ``depth`` dimensions of each head
            x = _heads(ins[0], node.width // model.head_dim).copy()
            r = x[..., : node.depth]
            x[..., : node.depth] = r * self.cos + _rotate_half(r) * self.sin
            return x.transpose(1, 0, 2).reshape(ins[0].shape)
        if kind == "attn_scores":
            q, k = _heads(ins[0], node.heads), self._kv(_heads(ins[1], node.kv_heads), node)
            out = q @ k.transpose(0, 2, 1) / math.sqrt(node.depth)
            if self.alibi is not None:
                out = out + self.alibi
            return np.where(self.mask, -np.inf, out)  # [heads, tokens, context]
        if kind == "softmax":
            p = np.exp(ins[0] - ins[0].max(axis=2, keepdims=True))
            return p / p.sum(axis=2, keepdims=True)
        if kind == "attn_values":
            v = self._kv(_heads(ins[1], node.kv_heads), node)
            return (ins[0] @ v).transpose(1, 0, 2).reshape(len(self.ids), -1)
        if kind in ("swiglu", "geglu"):
            gate, up = ins if len(ins) == 2 else np.split(ins[0], 2, axis=1)  # fused gate|up
            return (_silu(gate) if kind == "swiglu" else _gelu(gate)) * up
        if kind == "router":
            return ins[0] @ self.params[node.name].T
        if kind == "moe_combine":
            return self.routes[node.layer].combine(ins, model)
        if kind == "gelu":
            return _gelu(ins[0])
        if kind == "relu":
            return np.maximum(ins[0], 0.0)
        if kind == "add":
            return ins[0] + ins[1]
        if kind == "lm_head":
            return ins[0] @ self.params[node.name].T
        raise ValueError(f"cannot run operator kind {kind!r}")  # pragma: no cover

    def _kv(self, x: np.ndarray, node: Op) -> np.ndarray:
        """KV heads repeated for the query heads that share them (GQA)."""
        return np.repeat(x, node.heads // node.kv_heads, axis=0)


# ---- verify --------------------------------------------------------------------------------
BYTES_PER_PARAMETER = 32
"""Memory per weight element :func:`verify` holds (float64 weights, their codes and packed
images, the passes' dequantized copies): measured 21.5-22.1 bytes at 8.5 and 34 million
elements (two Llama layers of width 512 and 1024), rounded up for the estimate."""
FIXED_BYTES = 256 << 20
"""Memory :func:`verify` needs besides the weights (the interpreter, numpy, the IR)."""


def estimate_bytes(compiled: CompiledModel) -> int:
    """An upper estimate of the memory :func:`verify` needs for a compiled model's shapes: every
    LUT GEMM's weights, the embedding, the LM head and the routers, at
    :data:`BYTES_PER_PARAMETER` each, plus :data:`FIXED_BYTES`."""
    elements = sum(node.n * node.k for node in compiled.gemms())
    big = ("embed", "lm_head", "router")
    elements += sum(
        node.width * (node.depth or 1)
        for node in compiled.ir.ops
        if isinstance(node, Op) and node.kind in big
    )
    return BYTES_PER_PARAMETER * elements + FIXED_BYTES


def verify(
    model: ModelConfig | str,
    quant: QuantSpec | str | None = None,
    cfg: CoreConfig | None = None,
    tiny: bool = True,
    seed: int = 0,
    tokens: int = 8,
    max_bytes: int | None = None,
) -> VerifyResult:
    """Compile ``model`` (shrunk by :func:`lutsim.compiler.model.tiny` when ``tiny``) with random
    weights, run ``tokens`` random tokens through the compiled programs and through the
    reference, and compare the logits (see the module docstring). ``max_bytes``: refuse, before
    drawing any weight, a model whose :func:`estimate_bytes` is larger."""
    if not isinstance(model, ModelConfig):
        model = load_model(model)
    if quant is None:
        quant = default_quant(model)
    elif not isinstance(quant, QuantSpec):
        quant = parse_quant(quant)
    core = quant.core(cfg if cfg is not None else load_config())
    if tiny:
        model = tiny_model(model)
        if quant.group_size is not None and quant.group_size > TINY_GROUP:
            quant = dataclasses.replace(quant, group_size=TINY_GROUP)
    shapes = compile_model(model, quant, core, tokens=tokens)
    need = estimate_bytes(shapes)
    if max_bytes is not None and need > max_bytes:
        hint = "" if tiny else "add --tiny to verify a shrunk model (seconds), or "
        raise ValueError(
            f"verifying {model.name} needs about {need / 2**30:.1f} GiB of memory, more than the "
            f"budget of {max_bytes / 2**30:.1f} GiB; {hint}raise --max-memory"
        )
    params = random_params(shapes, seed)
    weights = {g.name: params[g.name] for g in shapes.gemms()}
    compiled = compile_model(model, quant, core, tokens=tokens, weights=weights)
    ids = np.random.default_rng(seed + 1).integers(0, model.vocab_size, size=tokens)
    expected = _Forward(compiled, params, ids, "reference").run()
    run = _Forward(compiled, params, ids, "compiled")
    logits = run.run()
    golden = expected if core.exact else _Forward(compiled, params, ids, "golden").run()
    residual = float(np.abs(logits - expected).max())
    golden_residual = float(np.abs(logits - golden).max())
    gemms_ok = all(check.ok for check in run.checks)
    same = bool(np.array_equal(logits, golden))
    return VerifyResult(
        model=model, quant=quant, cfg=core, tokens=tokens, exact=core.exact,
        residual=residual, bound=0.0 if core.exact else None,
        golden_residual=golden_residual, ok=gemms_ok and same,
        gemms=tuple(run.checks), logits=logits, reference=expected,
    )  # fmt: skip
