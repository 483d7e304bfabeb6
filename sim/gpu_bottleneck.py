"""What limits a kernel of :mod:`lutsim.sim.gpu`, in words, and what would make it faster.

:func:`explain` reads a kernel's cycles, its fixed time and the utilization of each resource
(busy cycles over the kernel's cycles, summed over the resource's units), and for a GEMM also
its plan (CTAs, waves, pipeline steps). It names one limit:

============= ==================================================================================
limit         when
============= ==================================================================================
``fixed``     the fixed time of a kernel (:class:`lutsim.sim.presets.GpuCosts`) is at least half of
              it: a launch-bound kernel
``power``     the GPU's power limit stretched the kernel (``GpuCosts.power_limit``): its
              tensor cores would run faster than the board's power allows, so the clock drops
a resource    ``tensor``, ``vector``, ``smem``, ``l2`` or ``dram``: the busiest resource is busy
              at least :data:`SATURATED` of the time the fixed part leaves
``occupancy`` no resource is saturated and the CTAs leave SMs idle: fewer CTAs than SMs, or a last
              wave that fills few of them (wave quantization)
``latency``   no resource is saturated and every SM has work: the time goes to each CTA's
              pipeline fill, first data and epilogue, and to queueing, which overlap nothing
============= ==================================================================================

The result also gives the next resource and how far it is behind (``1 - next/top``
utilization), the share of the kernel in fixed time and in idle SM slots, and the change that
would make the kernel faster. For a GEMM it checks Little's law: the bytes the SMs keep in
flight (the stages ahead of the one in use) against DRAM latency x bandwidth, and says so when
latency paces the stream.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ADVICE", "SATURATED", "explain"]

SATURATED = 0.7
"""A resource busy this fraction of the non-fixed time binds the kernel."""

ADVICE = {
    "tensor": "more tensor-core throughput (more arrays per tensor core, fewer weight bits)",
    "vector": "less vector work per weight (no dequantization: LUT or dense weights) or more "
    "vector lanes",
    "smem": "more shared-memory bandwidth, or more registers for a larger warp tile that reuses "
    "each table and weight fragment more often",
    "l2": "more L2 bandwidth, or larger CTA tiles that reuse more in shared memory",
    "dram": "fewer bytes (fewer weight bits, smaller tables) or more DRAM bandwidth",
    "fixed": "more work per kernel: fuse kernels or batch more rows",
    "occupancy": "more CTAs: smaller CTA tiles or split-K, so that every SM has work in every wave",
    "power": "less energy per operation (the same work at lower power: fewer weight bits, "
    "cheaper arithmetic) or a higher power limit",
    "latency": "more steps per CTA to amortize each pipeline fill and epilogue (larger K per CTA), "
    "or fewer, larger kernels",
}
"""The change that would make a kernel faster, by limit."""

RESOURCE_WORDS = {
    "tensor": "tensor cores", "vector": "vector lanes", "smem": "shared memory",
    "l2": "L2 bandwidth", "dram": "DRAM bandwidth",
}  # fmt: skip


def explain(mach, cycles: int, fixed: int, util: dict[str, float], plan=None,
            stretch: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """The limit of a kernel of ``cycles`` cycles (``fixed`` of them fixed time) whose
    resources are busy ``util`` of the time, on ``mach``; ``plan``: the GEMM's
    :class:`lutsim.sim.gpu_plan.Plan` (None for other kernels); ``stretch``: how much the power
    limit lengthened its simulated cycles (1: not at all). See the module docstring."""
    ranked = sorted(util, key=util.get, reverse=True)
    top, second = ranked[0], ranked[1]
    fixed_share = fixed / cycles if cycles else 0.0
    streaming = max(1e-12, 1.0 - fixed_share)
    sm_share = 1.0
    facts: dict[str, Any] = {}
    if plan is not None:
        waves = math.ceil(plan.ctas / plan.sms)
        sm_share = plan.ctas / (waves * plan.sms)
        steps = len(plan.split_steps(0))
        in_flight = (min(plan.ctas, plan.sms) * (plan.t.stages - 1)
                     * plan.cta_fill_bytes(plan.step_groups))  # fmt: skip
        need = (
            mach.costs.dram_latency_ns
            * 1e-9
            * mach.dram_bytes_per_cycle
            * (mach.gpu.freq_mhz * 1e6)
        )
        facts = {"ctas": plan.ctas, "sms": plan.sms, "waves": waves, "steps_per_cta": steps,
                 "stages": plan.t.stages, "in_flight_bytes": float(in_flight),
                 "latency_bytes": float(need)}  # fmt: skip
    if fixed_share >= 0.5:
        limit = "fixed"
    elif stretch > 1.01:
        limit = "power"
    elif util[top] >= SATURATED * streaming:
        limit = top
    elif sm_share < 0.75:
        limit = "occupancy"
    else:
        limit = "latency"
    resource = limit in RESOURCE_WORDS
    nxt = second if resource else top
    behind = 1.0 - util[nxt] / util[top] if resource and util[top] > 0 else None
    if limit == "fixed":
        head = f"launch-bound: the fixed time is {fixed_share:.0%} of the kernel"
    elif resource:
        head = f"{RESOURCE_WORDS[limit]}-bound ({limit} busy {util[limit]:.0%})"
    elif limit == "power":
        head = (f"power-limited: at its tensor cores' rate it would draw more than the board's "
                f"power limit, so the clock drops and it takes {stretch - 1:.0%} longer")  # fmt: skip
    elif limit == "occupancy":
        head = (f"occupancy-bound: {facts['ctas']} CTAs on {facts['sms']} SMs in "
                f"{facts['waves']} wave(s) keep {sm_share:.0%} of the SM slots busy, and no "
                f"resource is saturated")  # fmt: skip
    else:
        detail = (f" ({facts['steps_per_cta']} pipeline steps per CTA, {facts['stages']} "
                  f"stages)" if facts else "")  # fmt: skip
        head = (f"latency-bound: no resource is saturated (the busiest, {top}, "
                f"{util[top]:.0%}) and the SMs have work{detail}")  # fmt: skip
    if resource:
        tail = f"; next {nxt} at {util[nxt]:.0%} ({behind:.0%} behind)"
    else:
        tail = f"; busiest resource {top} at {util[top]:.0%}"
    text = f"{head}{tail}; faster with {ADVICE[limit]}"
    if facts and facts["in_flight_bytes"] < facts["latency_bytes"]:
        text += (f" (Little's law: {facts['in_flight_bytes'] / 1024:.0f} KiB in flight, less "
                 f"than DRAM latency x bandwidth = {facts['latency_bytes'] / 1024:.0f} KiB, so "
                 "DRAM latency paces the stream; deeper stages or longer k_step would hide it)")  # fmt: skip
    return {
        "limit": limit,
        "busiest": top,
        "next": nxt,
        "behind": behind,
        "fixed_share": fixed_share,
        "sm_share": sm_share,
        "power_stretch": stretch,
        **facts,
        "advice": ADVICE[limit],
        "text": text,
    }
