"""LLM layer shapes to LMMA programs and table-precompute kernels. Imports only ``isa``.

    compile_model(model, quant, cfg, tokens=..., context=...) -> CompiledModel
    CompiledModel.summary() -> dict;  CompiledModel.write(out_dir)
    verify(model, quant, cfg, tiny=True, seed=0) -> VerifyResult

``model`` is a :class:`~lutsim.compiler.model.ModelConfig` (one generic decoder description; the
family table :data:`lutsim.compiler.model.FAMILIES`), a preset name (:func:`preset_names`), a
Hugging Face ``config.json`` or a YAML model description; ``quant`` a
:class:`~lutsim.compiler.quant.QuantSpec` or its text form (``w2``, ``w4-g128-fp16``, ``w1.58``);
``cfg`` an :class:`lutsim.isa.config.CoreConfig`. The pipeline is
:data:`lutsim.compiler.passes.PIPELINE`. Quantized checkpoints (GPTQ, AWQ, BitNet, GGUF) convert
to LMMA weights and are checked layer by layer with :mod:`lutsim.compiler.checkpoint`.
"""

from .driver import CompiledModel, compile_model
from .model import ModelConfig, load_model, preset_names, tiny
from .quant import QuantSpec, parse_quant
from .verify import VerifyResult, verify

__all__ = [
    "CompiledModel",
    "ModelConfig",
    "QuantSpec",
    "VerifyResult",
    "compile_model",
    "load_model",
    "parse_quant",
    "preset_names",
    "tiny",
    "verify",
]
