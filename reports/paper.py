"""The published numbers of the LUT Tensor Core paper that our report sets beside its own.

Source: Z. Mo et al., "LUT Tensor Core: A Software-Hardware Co-Design for LUT-Based Low-Bit LLM
Inference", ISCA 2025 (arXiv 2408.06003). Each entry names where in the paper it is printed. The
paper synthesized with Synopsys Design Compiler on a TSMC 28 nm library at a 1 GHz target
(§4.1.1), and normalized the A100/H100 tensor cores to 28 nm and 1.41 GHz without stating the
method (Table 1 footnote). These are data to compare with, never inputs of our models.
"""

from __future__ import annotations

import types

__all__ = [
    "ABLATION", "ARRAY_W1_FP16_AREA_SHARE", "BITNET_3B", "BITNET_3B_TC_AREA_MM2", "CLAIMS",
    "DP4_W1_FP16_TFLOPS_MM2", "HOROWITZ_2014", "PRECOMPUTE", "SOURCE", "TOPS_PER_W_W1_INT8",
]  # fmt: skip

SOURCE = "Mo et al., ISCA 2025, arXiv 2408.06003"

ABLATION = (  # Table 2: W_INT2 A_INT8, 512-element array (area in the paper's printed unit)
    ("UNPU-style conventional LUT (DSE enabled)", 17271.71, 23.39),
    ("+ weight reinterpretation (symmetrization)", 13116.60, 17.98),
    ("+ negation circuit elimination (offline inversion)", 12780.05, 17.37),
    ("+ DFG transformation + kernel fusion (precompute out of the array)", 11991.29, 16.22),
)
"""(step, area, power mW) of Table 2; compute density and power efficiency 1.44x at the end."""

BITNET_3B = types.MappingProxyType({  # Table 1: BitNet b1.58 3B latency, ms
    "A100-FP16": (106.71, 41.15),
    "A100-INT8": (67.06, 21.70),
    "A100-LUT-4X": (42.49, 11.41),
    "A100-LUT-8X": (38.02, 7.47),
    "H100-FP8": (38.20, 12.30),
    "H100-LUT-4X": (28.70, 9.90),
    "H100-LUT-8X": (23.48, 5.97),
})  # fmt: skip
"""Preset -> (prefill BS1 SEQ2048 ms, decode BS1024 SEQ1 ms), Table 1."""

BITNET_3B_TC_AREA_MM2 = types.MappingProxyType({  # Table 1, tensor-core area per SM (28 nm)
    "A100-FP16": 0.975, "A100-INT8": 0.312, "A100-LUT-4X": 0.187, "A100-LUT-8X": 0.373,
})  # fmt: skip

PRECOMPUTE = types.MappingProxyType({  # §4.6.1: table precompute overhead, two configurations
    "unfused": (16.47, 24.41),
    "fused": (2.62, 2.52),
})  # fmt: skip
"""Percent of the layer time spent in the table precompute (OPT-175B, BLOOM-176B, LLaMA-2-70B
layers), unfused on CUDA cores vs fused by the compiler."""

CLAIMS = (
    ("4x-6x lower power and area than a MAC tensor core for 1-bit weights", "§1, §4.2.2"),
    ("W_INT1 A_FP16 DP4: 61.55 TFLOPs/mm2 vs MAC W_FP16 A_FP16 3.39 TFLOPs/mm2", "Fig. 12"),
    ("W_INT1 A_FP16 array: slightly higher mpGEMM throughput at 14.3% of the MAC area", "Fig. 15"),
    ("1.44x compute density and power efficiency vs a conventional LUT design (UNPU)", "Table 2"),
    ("LUT tensor core PE: 63.78 TOPS/W at 0.9 V, W_INT1 A_INT8, 28 nm", "Table 3"),
    ("LLaMA-2-7B W2: perplexity 7.68 with FP16 tables, 7.69 with INT8 tables", "Table 5"),
)
"""Headline claims with their location in the paper."""

DP4_W1_FP16_TFLOPS_MM2 = (61.55, 3.39)
"""Fig. 12: compute density of the W_INT1 A_FP16 LUT DP4 unit and the W_FP16 A_FP16 MAC DP4
unit, TFLOPs/mm² (28 nm, 1 GHz)."""

ARRAY_W1_FP16_AREA_SHARE = 0.143
"""Fig. 15: the W_INT1 A_FP16 LUT array's area as a fraction of the MAC array's, at slightly
higher mpGEMM throughput."""

TOPS_PER_W_W1_INT8 = 63.78
"""Table 3: the LUT tensor core PE's power efficiency, W_INT1 A_INT8, 28 nm, 0.9 V."""

HOROWITZ_2014 = types.MappingProxyType({
    "source": "M. Horowitz, \"Computing's energy problem (and what we can do about it)\", "
              "ISSCC 2014, pp. 10-14, Fig. 1.1.9 (45 nm, 0.9 V)",
    "node_nm": 45.0,
    "pj": types.MappingProxyType({
        "fp16 multiply": 1.1, "fp32 add": 0.9, "int8 multiply": 0.2, "int32 add": 0.1,
    }),
})  # fmt: skip
"""Published energy per operation, to check the order of magnitude of our own (never an input
of our models)."""
