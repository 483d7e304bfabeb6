"""Scaling synthesized numbers to other process nodes: one cited model, always labeled scaled.

Model ``dennard-1974``: classical constant-field scaling, R. H. Dennard, F. H. Gaensslen,
H.-N. Yu, V. L. Rideout, E. Bassous, A. R. LeBlanc, "Design of ion-implanted MOSFET's with very
small physical dimensions", IEEE Journal of Solid-State Circuits SC-9(5), 256-268, 1974,
Table I: with every dimension and the voltage divided by κ, the delay per circuit scales by 1/κ,
the power per circuit by 1/κ² and the power density stays constant. Here κ = (synthesized
node) / (target node), and

============================ =========== =============================================
quantity                     factor      from Table I
============================ =========== =============================================
area                         1/κ²        dimensions 1/κ
critical path, clock period  1/κ         delay time per circuit VC/I
power at the scaled clock    1/κ²        power per circuit VI (density constant)
energy per cycle             1/κ³        power x delay
============================ =========== =============================================

The model assumes the supply voltage scales with the feature size, which stopped near 1 V well
before 28 nm: scaled energies are optimistic, more so the smaller the target. Every design
scales by the same factors, so **ratios between designs are exactly those measured at the
synthesized node**; the scaled numbers only place them on another node's axis. They are never a
synthesis: :func:`scale` labels each one.
"""

from __future__ import annotations

__all__ = ["MODELS", "TARGET_NODES_NM", "scale_numbers"]

TARGET_NODES_NM = (28.0, 7.0)

# fmt: off
MODELS: dict[str, dict[str, object]] = {
    "dennard-1974": {
        "name": "classical constant-field scaling",
        "source": "R. H. Dennard et al., IEEE J. Solid-State Circuits SC-9(5):256-268, 1974, "
                  "Table I",
        "area": 2, "delay": 1, "power": 2, "energy": 3,   # exponents of 1/κ
    },
}
# fmt: on


def scale_numbers(
    numbers: dict[str, float | None], from_nm: float, to_nm: float, model: str = "dennard-1974"
) -> dict[str, object]:
    """``numbers`` (keys ``area_um2``, ``critical_path_ns``, ``clock_ns``, ``fmax_mhz``,
    ``power_mw``, ``energy_pj_per_cycle``; others pass through unscaled only if they are
    ratios, so they are dropped) scaled from ``from_nm`` to ``to_nm`` with ``model``."""
    if model not in MODELS:
        raise ValueError(f"scaling model must be one of {', '.join(MODELS)}, not {model!r}")
    if not (from_nm > 0 and to_nm > 0):
        raise ValueError(f"nodes must be positive nanometres, not {from_nm!r} and {to_nm!r}")
    m = MODELS[model]
    kappa = from_nm / to_nm
    exponent = {
        "area_um2": m["area"], "critical_path_ns": m["delay"], "clock_ns": m["delay"],
        "fmax_mhz": -m["delay"], "power_mw": m["power"], "energy_pj_per_cycle": m["energy"],
    }  # fmt: skip
    out: dict[str, object] = {
        "node": f"{to_nm:g} nm (scaled from {from_nm:g} nm by {m['name']}, not synthesized)",
        "scaled": True,
        "model": model,
        "source": m["source"],
        "kappa": kappa,
    }
    for key, value in numbers.items():
        if key in exponent:
            out[key] = None if value is None else value / kappa ** exponent[key]
    return out
