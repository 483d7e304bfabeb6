"""The fast mode of :mod:`lutsim.sim.gpu`: tile-level steady state in closed form, vectorized over the
CTAs of a kernel, with no per-instruction events.

SM ``s`` runs CTAs ``s``, ``s + sms``, ``s + 2 sms``, ... one after another. Each CTA takes

========== ===================================================================================
phase      cycles
========== ===================================================================================
first data its first step through DRAM (if it reads DRAM) and L2: in the first wave behind the
           first steps of the CTAs launched before it (all SMs start together); later behind
           one round of the other SMs' requests when a global pipe is its bottleneck, or else
           its own transfer time plus, at each global pipe, the wave's round of requests
           weighted by how busy the wave keeps that pipe (the prefetches the other SMs have
           queued ahead of it, first come first served)
fill       the first stage written into shared memory, the stages that arrive meanwhile (they
           queue ahead, unless shared memory is the bottleneck anyway), every warp's first
           fragments read, the first dequantization; after the first wave the SMs are out of
           step, and a CTA bound by a global pipe fills while it streams (the other SMs use
           its share meanwhile)
steps      per further step the slowest of its tensor core, its vector lanes, shared memory
           (stage writes and warp reads), its wave's share of L2, and of DRAM if it reads DRAM
last       the tensor core's last step, one cycle (:mod:`lutsim.isa.timing`), the epilogue (vector
           lanes, shared memory staging)
results    into L2: the first wave's first come first served (they finish together), later
           CTAs are staggered; a second-wave CTA also waits for the first-wave results that
           reached L2 before it began
========== ===================================================================================

The kernel ends when the last CTA is done and DRAM has drained: reads come first, write-backs
take the cycles reads leave idle, so from any time ``t`` on DRAM still has every write arriving
after ``t`` and the reads after ``t`` (spread evenly over each CTA's steps) to do. Neither L2 nor
DRAM can be busy for less than all their bytes.
"""

from __future__ import annotations

import math

import numpy as np

from .gpu_plan import Plan

__all__ = ["run_fast"]

PROBES = 33
"""Times (quantiles of the CTA end times, plus every SM's last end) at which the DRAM backlog
is checked."""


def _fifo(arrive: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Departure times of requests served first come first served by one pipe: request ``i``
    arrives at ``arrive[i]`` (ascending) and needs ``service[i]`` cycles."""
    done = np.cumsum(service)
    return done + np.maximum.accumulate(arrive - (done - service))


def run_fast(plan: Plan) -> dict:
    """Cycles of ``plan`` (see the module docstring)."""
    gpu, cta = plan.mach.gpu, plan.cta
    warps, stages, sg = plan.warps, plan.t.stages, plan.step_groups
    smem_bw, l2_bw = gpu.smem_bytes_per_cycle, gpu.l2_bytes_per_cycle
    dram_bw = plan.mach.dram_bytes_per_cycle
    ctas = plan.ctas
    wave = np.arange(ctas) // plan.sms
    starts = np.arange(0, ctas, plan.sms)
    si = cta["si"]
    groups = cta["work_groups"]  # groups of all its steps (every pass of an N loop)
    reads_dram = cta["dram_read"] > 0
    l2_g = np.add.reduceat(cta["l2_read"] / groups, starts)[wave]  # the wave's bytes per group
    dram_g = np.add.reduceat(cta["dram_read"] / groups, starts)[wave]
    dram_g = np.where(reads_dram, dram_g, 0.0)

    def local(g: int) -> float:
        """The slowest per-SM resource in a step of ``g`` groups."""
        return max(
            plan.tc_cycles(g),
            plan.vec_cycles(plan.dequant_ops(g)),
            (plan.cta_fill_bytes(g) + warps * plan.warp_smem_bytes(g)) / smem_bw,
        )

    def share(g: float) -> np.ndarray:
        """Per CTA: its wave's share of the global pipes in a step of ``g`` groups."""
        return np.maximum(g * l2_g / l2_bw, g * dram_g / dram_bw)

    latency = np.where(reads_dram, plan.mach.dram_latency_cycles, 0.0)
    own_l2_g = cta["l2_read"] / groups
    own_dram_g = cta["dram_read"] / groups

    def pace(g: int) -> np.ndarray:
        """Per CTA: a stage buffer's round trip (request, DRAM latency, transfer, write, read)
        shared by the ``stages`` buffers in flight: the step time latency allows."""
        trip = (latency + g * (own_dram_g / dram_bw + own_l2_g / l2_bw)
                + (plan.cta_fill_bytes(g) + warps * plan.warp_smem_bytes(g)) / smem_bw)  # fmt: skip
        return trip / stages

    first, first_local, fill0, prefetch, reads, last, body = (np.zeros(ctas) for _ in range(7))
    for s in range(plan.splits):
        mine = si == s
        if not mine.any():
            continue
        steps = plan.split_steps(s)
        first[mine] = steps[0]
        first_local[mine] = local(steps[0])
        fill0[mine] = plan.cta_fill_bytes(steps[0]) / smem_bw
        prefetch[mine] = min(stages, len(steps)) - 1
        reads[mine] = warps * plan.warp_smem_bytes(steps[0]) / smem_bw + plan.vec_cycles(
            plan.dequant_ops(steps[0])
        )
        last[mine] = plan.tc_cycles(steps[-1])
        for g in set(steps[1:]):
            step = np.maximum(np.maximum(local(g), share(g)[mine]), pace(g)[mine])
            body[mine] += steps[1:].count(g) * step

    # first data
    in_first = wave == 0
    first_dram = cta["dram_read"] * first / groups
    first_l2 = cta["l2_read"] * first / groups
    own = first_dram / dram_bw + first_l2 / l2_bw
    round_trip = share(1.0) * first
    bound = round_trip > first_local  # a global pipe is the CTA's bottleneck
    queued = np.where(  # first wave: DRAM readers queue at DRAM in launch order, others at L2
        reads_dram,
        np.cumsum(np.where(in_first, first_dram, 0)) / dram_bw + first_l2 / l2_bw,
        np.cumsum(np.where(in_first & ~reads_dram, first_l2, 0)) / l2_bw,
    )
    # later waves: a CTA's first requests queue behind the prefetches the other SMs have put
    # into each global pipe, a round of the wave's requests weighted by that pipe's load
    busy = np.maximum(first_local, 1e-9)
    backlog = sum(rnd * np.minimum(1.0, rnd / busy)
                  for rnd in (first * dram_g / dram_bw, first * l2_g / l2_bw))  # fmt: skip
    first_data = np.where(in_first, queued, np.where(bound, round_trip, own + backlog)) + latency

    # fill: stages arriving while the first is written queue ahead of the first reads; the
    # time between a CTA's first steps is a round of the wave's requests at the start (every
    # SM asks at once) or when a global pipe is its bottleneck; otherwise its prefetches are
    # asked for back to back and pass one after another, its own transfer time apart
    gap = np.where(in_first | bound, np.maximum(own, round_trip), own)
    ahead = np.where(gap > 0, np.ceil(fill0 / np.maximum(gap, 1e-9)) - 1, prefetch)
    smem_step = (plan.cta_fill_bytes(sg) + warps * plan.warp_smem_bytes(sg)) / smem_bw
    smem_bound = smem_step >= np.maximum(
        max(plan.tc_cycles(sg), plan.vec_cycles(plan.dequant_ops(sg))), share(sg)
    )
    ahead = np.where(smem_bound, 0, np.clip(ahead, 0, prefetch))
    fill = fill0 * (1 + ahead) + reads

    epilogue = plan.vec_cycles(plan.epilogue_ops) + plan.epilogue_smem_bytes / smem_bw
    work = first_data + fill + body + last + 1 + epilogue
    # after the first wave the SMs are out of step: while one fills its pipeline, the others
    # use its share of the bottleneck pipe, so a CTA bound by a global pipe fills while it
    # streams
    tail = last + 1 + epilogue
    work = np.where(~in_first & bound, np.maximum(first_data + body, fill) + tail, work)

    # results into L2
    out_l2 = cta["l2_write"] / l2_bw
    duration = work + out_l2
    head = np.flatnonzero(in_first)
    order = head[np.argsort(work[head], kind="stable")]
    taken = _fifo(work[order], out_l2[order])
    duration[order] = taken
    behind = np.searchsorted(work[order], taken, side="left") - 1
    queue = np.maximum(0.0, taken[behind] - taken)
    second = order + plan.sms
    has_second = second < ctas
    duration[second[has_second]] += queue[has_second]

    # every SM's chain of CTAs
    sms = min(plan.sms, ctas)
    padded = np.zeros(-(-ctas // sms) * sms)
    padded[:ctas] = duration
    ends = np.cumsum(padded.reshape(-1, sms), axis=0).reshape(-1)[:ctas]

    # DRAM drains reads first, write-backs in the idle cycles
    reads_from = ends - duration + first_data
    reads_to = np.maximum(reads_from, ends - (out_l2 + last + 1 + epilogue))
    span = np.maximum(reads_to - reads_from, 1e-9)
    probes = np.unique(
        np.concatenate([ends[-sms:], np.quantile(ends, np.linspace(0.0, 1.0, PROBES))])
    )
    after = np.clip((reads_to[None, :] - probes[:, None]) / span[None, :], 0.0, 1.0)
    later_reads = after @ cta["dram_read"]
    later_writes = (ends[None, :] >= probes[:, None]) @ cta["dram_write"]
    drained = float(np.max(probes + (later_reads + later_writes) / dram_bw))

    l2_total = (float(cta["l2_read"].sum()) + float(cta["l2_write"].sum())) / l2_bw
    dram_total = (float(cta["dram_read"].sum()) + float(cta["dram_write"].sum())) / dram_bw
    total = max(float(ends.max()), drained, l2_total, float(fill.min()) + dram_total)
    return {"cycles": math.ceil(total)}
