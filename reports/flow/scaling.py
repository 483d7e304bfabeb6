"""Scaling synthesized numbers to other process nodes: two cited models, always labeled scaled.

A scaled number is never a synthesis. Every design scales by the same factors, so **ratios
between designs are exactly those measured at the synthesized node**; the scaled numbers only
place them on another node's axis. :func:`scale_numbers` labels each one (``"scaled": True``,
the model, its source, and a ``node`` string that says "scaled ..., not synthesized").

Model ``dennard-1974`` (the default)
------------------------------------
Classical constant-field scaling, R. H. Dennard, F. H. Gaensslen, H.-N. Yu, V. L. Rideout,
E. Bassous, A. R. LeBlanc, "Design of ion-implanted MOSFET's with very small physical
dimensions", IEEE Journal of Solid-State Circuits SC-9(5), 256-268, 1974, Table I: with every
dimension and the voltage divided by κ, the delay per circuit scales by 1/κ, the power per
circuit by 1/κ² and the power density stays constant. Here κ = (from node) / (to node), and

============================ =========== =============================================
quantity                     factor      from Table I
============================ =========== =============================================
area                         1/κ²        dimensions 1/κ
critical path, clock period  1/κ         delay time per circuit VC/I
power at the scaled clock    1/κ²        power per circuit VI (density constant)
energy per cycle             1/κ³        power x delay
============================ =========== =============================================

The model assumes the supply voltage scales with the feature size, which stopped near 1 V well
before 28 nm (it takes 1.8 V at 180 nm to 0.28 V at 7 nm): scaled energies are optimistic,
more so the smaller the target. Any positive node is accepted.

Model ``stillmaker-2017``
-------------------------
A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration, the VLSI Journal 58 (2017) 74-81, with the
authors' corrigendum to the example of its Section 4.2.1. The authors simulated circuits in
HSPICE on the Predictive Technology Model (PTM) and ITRS-based device models of each node
(bulk at 180 to 65 nm; high-k metal gate at 45 and 32 nm and multi-gate at 20 to 7 nm, of which
the high-performance rows are used here) and fitted, per node, the delay with a cubic and the
energy and the power with quadratics in the supply voltage V (their Table 5). It is a fit to
device-model simulations, not a synthesis of anything and not a foundry's data; the authors
report a coefficient of determination above 0.95 for the fits. A quantity scales between two
nodes by the ratio of its polynomial at each node's voltage:

    factor = p_to(V_to) / p_from(V_from)

Area scales by their Table 4 (area scaling factors between nodes, independent of the
voltage); its 180 nm row is stored and a factor between two other nodes is the ratio of two of
its entries. Delay scales the critical path and the clock period (Fmax inversely), energy the
energy per cycle. Power is the power at the scaled clock, the scaled energy per cycle over the
scaled clock period (energy factor / delay factor), as it is at the synthesized node: the
paper's separately fitted power, whose ratio is returned as ``power_fit``, is not applied,
because it would contradict the scaled energy and clock of the same row (from 180 nm at 1.8 V
to 7 nm at 0.7 V it is 0.0033, where energy / delay is 0.044).

Only the nodes the paper tabulates are accepted: 180, 130, 90, 65, 45, 32, 20, 16, 14, 10 and
7 nm (the high-performance rows below 65 nm; there is no 28 or 22 nm row, and no interpolation
is done). The voltages are those of the design at each node: ``from_v`` and ``to_v``. Without
them a node's nominal voltage is used, which is known here only where :data:`NOMINAL_VDD_V`
cites one; elsewhere the voltage must be given. The paper's fitted voltage ranges are not
enforced; a voltage at which a polynomial is not positive is refused.

``dennard-1974`` stays the default of :func:`scale_numbers` while callers ask for 28 nm, which
``stillmaker-2017`` does not tabulate, and while its nominal voltages are cited at 45 and 32 nm
only: a default that refuses the default targets would be no default.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "NOMINAL_VDD_V",
    "STILLMAKER_NODES_NM",
    "TARGET_NODES_NM",
    "scale_factors",
    "scale_numbers",
]

TARGET_NODES_NM = (28.0, 7.0)

DEFAULT_MODEL = "dennard-1974"

_STILLMAKER = (
    "A. Stillmaker, B. Baas, Integration, the VLSI Journal 58:74-81, 2017, Tables 4 and 5 "
    "(with the corrigendum to Section 4.2.1)"
)

# fmt: off
MODELS: dict[str, dict[str, object]] = {
    "dennard-1974": {
        "name": "classical constant-field scaling",
        "source": "R. H. Dennard et al., IEEE J. Solid-State Circuits SC-9(5):256-268, 1974, "
                  "Table I",
        "area": 2, "delay": 1, "power": 2, "energy": 3,   # exponents of 1/κ
    },
    "stillmaker-2017": {
        "name": "the Stillmaker-Baas fitted scaling equations",
        "source": _STILLMAKER,
    },
}

STILLMAKER_NODES_NM = (180, 130, 90, 65, 45, 32, 20, 16, 14, 10, 7)

# Table 5: per node, the fitted FO4-inverter-chain delay a3·V³ + a2·V² + a1·V + a0 and energy
# and power a2·V² + a1·V + a0 (a "-" in the table, a missing term, is 0.0 here). Bulk rows at
# 180 to 65 nm; the high-performance (HP) rows at 45 and 32 nm (PTM high-k metal gate) and at
# 20 to 7 nm (PTM multi-gate). Only ratios of these are used.
_DELAY: dict[int, tuple[float, float, float, float]] = {          # a3, a2, a1, a0
    180: (0.0,     97.09, -356.7, 406.5),    # Table 5, row 180 nm
    130: (-76.65,  334.9, -493.4, 275.8),    # Table 5, row 130 nm
    90:  (-60.34,  262.5, -384.2, 210.9),    # Table 5, row 90 nm
    65:  (-53.3,   230.4, -333.9, 178.6),    # Table 5, row 65 nm
    45:  (-501.6,  1567,  -1619,  566.1),    # Table 5, row 45 nm HP
    32:  (-1047,   2982,  -2797,  873.5),    # Table 5, row 32 nm HP
    20:  (0.0,     34.63, -66.37, 41.15),    # Table 5, row 20 nm HP
    16:  (0.0,     24.8,  -47.52, 28.87),    # Table 5, row 16 nm HP
    14:  (-40.66,  109.2, -100.6, 35.92),    # Table 5, row 14 nm HP
    10:  (-34.95,  93.65, -85.99, 30.4),     # Table 5, row 10 nm HP
    7:   (-28.58,  76.6,  -70.26, 24.69),    # Table 5, row 7 nm HP
}
_ENERGY: dict[int, tuple[float, float, float]] = {                # a2, a1, a0
    180: (0.0,     24.64,    -17.98),        # Table 5, row 180 nm
    130: (7.171,   -6.709,   2.904),         # Table 5, row 130 nm
    90:  (4.762,   -4.781,   2.092),         # Table 5, row 90 nm
    65:  (3.755,   -4.398,   1.975),         # Table 5, row 65 nm (corrigendum: EnergyFactor_y)
    45:  (1.018,   -0.3107,  0.1539),        # Table 5, row 45 nm HP
    32:  (0.8367,  -0.4341,  0.1701),        # Table 5, row 32 nm HP (corrigendum: EnergyFactor_x)
    20:  (0.373,   -0.1582,  0.04104),       # Table 5, row 20 nm HP
    16:  (0.2958,  -0.1241,  0.03024),       # Table 5, row 16 nm HP
    14:  (0.2363,  -0.09675, 0.02239),       # Table 5, row 14 nm HP
    10:  (0.2068,  -0.09311, 0.02375),       # Table 5, row 10 nm HP
    7:   (0.1776,  -0.09097, 0.02447),       # Table 5, row 7 nm HP
}
_POWER: dict[int, tuple[float, float, float]] = {                 # a2, a1, a0
    180: (0.0,     101000,   -79720),        # Table 5, row 180 nm
    130: (27020,   -15450,   5630),          # Table 5, row 130 nm
    90:  (17320,   -11230,   4328),          # Table 5, row 90 nm
    65:  (12890,   -10510,   4362),          # Table 5, row 65 nm
    45:  (5462,    -1760,    522.4),         # Table 5, row 45 nm HP
    32:  (4001,    -1733,    533.6),         # Table 5, row 32 nm HP
    20:  (2922,    -1286,    299.9),         # Table 5, row 20 nm HP
    16:  (2133,    -882.6,   197.7),         # Table 5, row 16 nm HP
    14:  (1675,    -711,     159),           # Table 5, row 14 nm HP
    10:  (1456,    -621.6,   143.8),         # Table 5, row 10 nm HP
    7:   (1179,    -515.7,   123.4),         # Table 5, row 7 nm HP
}

# Table 4, row 180 nm: area at the column's node over area at 180 nm.
_AREA_FROM_180: dict[int, float] = {
    180: 1.0,      # Table 4, row 180 nm, column 180 nm
    130: 0.34,     # Table 4, row 180 nm, column 130 nm
    90:  0.15,     # Table 4, row 180 nm, column 90 nm
    65:  0.08,     # Table 4, row 180 nm, column 65 nm
    45:  0.053,    # Table 4, row 180 nm, column 45 nm
    32:  0.025,    # Table 4, row 180 nm, column 32 nm
    20:  0.011,    # Table 4, row 180 nm, column 20 nm
    16:  0.01,     # Table 4, row 180 nm, column 16 nm
    14:  0.0093,   # Table 4, row 180 nm, column 14 nm
    10:  0.0055,   # Table 4, row 180 nm, column 10 nm
    7:   0.0032,   # Table 4, row 180 nm, column 7 nm
}

# The nominal supply voltage of a node, where a published source gives it: the header line
# "nominal Vdd" of the PTM model card of the node's Table 5 row. Nodes not listed have no
# cited nominal voltage here: scaling to or from them needs the voltage.
NOMINAL_VDD_V: dict[int, float] = {
    45: 1.0,   # PTM High Performance 45nm Metal Gate / High-K / Strained-Si: nominal Vdd = 1.0V
    32: 0.9,   # PTM High Performance 32nm Metal Gate / High-K / Strained-Si: nominal Vdd = 0.9V
}
# fmt: on


def _poly(coefficients: tuple[float, ...], volts: float) -> float:
    """``coefficients`` (highest power first) evaluated at ``volts``."""
    value = 0.0
    for c in coefficients:
        value = value * volts + c
    return value


def _stillmaker_node(nm: float) -> int:
    if nm not in STILLMAKER_NODES_NM:
        nodes = ", ".join(str(n) for n in STILLMAKER_NODES_NM)
        raise ValueError(f"stillmaker-2017 tabulates {nodes} nm, not {nm:g} nm")
    return int(nm)


def _volts(node: int, volts: float | None) -> float:
    if volts is None:
        if node not in NOMINAL_VDD_V:
            raise ValueError(
                f"stillmaker-2017 has no cited nominal voltage at {node} nm: give the voltage"
            )
        return NOMINAL_VDD_V[node]
    if not volts > 0:
        raise ValueError(f"a supply voltage must be positive, not {volts!r}")
    return volts


def scale_factors(
    from_nm: float,
    to_nm: float,
    model: str = DEFAULT_MODEL,
    from_v: float | None = None,
    to_v: float | None = None,
) -> dict[str, float]:
    """Factors ``area``, ``delay``, ``energy`` and ``power`` (at the scaled clock) that take a
    number at ``from_nm`` (at ``from_v`` volts) to ``to_nm`` (at ``to_v``) under ``model``:
    scaled = factor x synthesized. ``dennard-1974`` ignores the voltages (it scales them with
    the node); ``stillmaker-2017`` takes each node's nominal voltage when one is not given, and
    adds ``power_fit``, the ratio of its power fits, which is not applied (see the module
    docstring). One-line ``ValueError`` for an unknown model, a node or voltage the model
    cannot take."""
    if model not in MODELS:
        raise ValueError(f"scaling model must be one of {', '.join(MODELS)}, not {model!r}")
    if not (from_nm > 0 and to_nm > 0):
        raise ValueError(f"nodes must be positive nanometres, not {from_nm!r} and {to_nm!r}")
    if model == "dennard-1974":
        m = MODELS[model]
        kappa = from_nm / to_nm
        return {q: kappa ** -m[q] for q in ("area", "delay", "energy", "power")}
    a, b = _stillmaker_node(from_nm), _stillmaker_node(to_nm)
    va, vb = _volts(a, from_v), _volts(b, to_v)
    fits = {"area": _AREA_FROM_180[b] / _AREA_FROM_180[a]}
    for quantity, table in (("delay", _DELAY), ("energy", _ENERGY), ("power", _POWER)):
        pa, pb = _poly(table[a], va), _poly(table[b], vb)
        if not (pa > 0 and pb > 0):
            raise ValueError(
                f"stillmaker-2017 {quantity} is not positive at {a} nm, {va:g} V or "
                f"{b} nm, {vb:g} V: outside the fit"
            )
        fits[quantity] = pb / pa
    return {
        "area": fits["area"], "delay": fits["delay"], "energy": fits["energy"],
        "power": fits["energy"] / fits["delay"], "power_fit": fits["power"],
    }  # fmt: skip


def scale_numbers(
    numbers: dict[str, float | None],
    from_nm: float,
    to_nm: float,
    model: str = DEFAULT_MODEL,
    from_v: float | None = None,
    to_v: float | None = None,
) -> dict[str, object]:
    """``numbers`` (keys ``area_um2``, ``critical_path_ns``, ``clock_ns``, ``fmax_mhz``,
    ``power_mw``, ``energy_pj_per_cycle``; other keys are dropped) scaled from ``from_nm`` (at
    ``from_v`` volts) to ``to_nm`` (at ``to_v``) with ``model`` (:func:`scale_factors`),
    labeled: ``node``, ``scaled`` (True), ``model``, ``source``, ``factors``, and for
    ``dennard-1974`` ``kappa``, for ``stillmaker-2017`` ``from_v`` and ``to_v``."""
    factors = scale_factors(from_nm, to_nm, model, from_v, to_v)
    m = MODELS[model]
    per_key = {
        "area_um2": factors["area"], "critical_path_ns": factors["delay"],
        "clock_ns": factors["delay"], "fmax_mhz": 1.0 / factors["delay"],
        "power_mw": factors["power"], "energy_pj_per_cycle": factors["energy"],
    }  # fmt: skip
    if model == "dennard-1974":
        at = ""
        extra: dict[str, object] = {"kappa": from_nm / to_nm}
    else:
        va = _volts(_stillmaker_node(from_nm), from_v)
        vb = _volts(_stillmaker_node(to_nm), to_v)
        at = f" at {vb:g} V"
        extra = {"from_v": va, "to_v": vb}
    out: dict[str, object] = {
        "node": f"{to_nm:g} nm{at} (scaled from {from_nm:g} nm by {m['name']}, not synthesized)",
        "scaled": True,
        "model": model,
        "source": m["source"],
        "factors": factors,
        **extra,
    }
    for key, value in numbers.items():
        if key in per_key:
            out[key] = None if value is None else _apply(value, key, per_key, extra)
    return out


_DENNARD_EXPONENT = {
    "area_um2": "area", "critical_path_ns": "delay", "clock_ns": "delay", "fmax_mhz": "delay",
    "power_mw": "power", "energy_pj_per_cycle": "energy",
}  # fmt: skip


def _apply(value: float, key: str, per_key: dict[str, float], extra: dict[str, object]) -> float:
    """``value`` times its factor; Dennard's as ``value / κ**exponent``, exactly as always."""
    if "kappa" not in extra:
        return value * per_key[key]
    exponent = MODELS["dennard-1974"][_DENNARD_EXPONENT[key]]
    sign = -1 if key == "fmax_mhz" else 1
    return value / extra["kappa"] ** (sign * exponent)
