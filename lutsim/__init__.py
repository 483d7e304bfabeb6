"""lutsim: the open, verified reference implementation of the LUT Tensor Core.

One import name. The levels are subpackages: :mod:`lutsim.isa` (formats, config, LMMA
encoding, golden model), :mod:`lutsim.hw` (Amaranth RTL), :mod:`lutsim.sim` (SimPy cycle
models), :mod:`lutsim.compiler` (models to LMMA programs) and :mod:`lutsim.reports` (synthesis,
sweeps, the report); :mod:`lutsim.cli` is the ``lutsim`` command.

The names below are the small API for notebooks and scripts. Each returns plain data: a frozen
dataclass with ``to_dict()``, ``summary()`` or ``rows()`` (lists of flat dicts that
``pandas.DataFrame`` takes as they are).

================= ==================================================================================
name              what it is
================= ==================================================================================
load_config       a core configuration from a preset name or TOML/YAML file, with overrides
                  (:func:`lutsim.isa.config.load_config` -> :class:`~lutsim.isa.config.CoreConfig`)
random_problem    a random mpGEMM for a core (:func:`lutsim.isa.gemm.random_problem`)
run_gemm          run an mpGEMM as LMMA programs, with residuals against the dequantization
                  reference (:func:`lutsim.isa.gemm.run_gemm`; ``.summary()``)
simulate          one mpGEMM on a GPU preset through the cycle model (:func:`lutsim.sim.gpu.simulate`;
                  ``.to_dict()``)
compile_model     an LLM lowered to LMMA programs (:func:`lutsim.compiler.driver.compile_model`;
                  ``.summary()``, ``.rows()``)
================= ==================================================================================

The names are imported on first use, so ``import lutsim.isa`` does not load the RTL, the cycle
model or the compiler.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["compile_model", "load_config", "random_problem", "run_gemm", "simulate"]

# fmt: off
_API = {                       # public name: (module, attribute)
    "load_config":    ("lutsim.isa.config", "load_config"),
    "random_problem": ("lutsim.isa.gemm", "random_problem"),
    "run_gemm":       ("lutsim.isa.gemm", "run_gemm"),
    "simulate":       ("lutsim.sim.gpu", "simulate"),
    "compile_model":  ("lutsim.compiler.driver", "compile_model"),
}
# fmt: on


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'lutsim' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
