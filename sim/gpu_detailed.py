"""The detailed mode of :mod:`lutsim.sim.gpu`: every tensor-core instruction issue and every pipeline
step of every thread block is a SimPy event, and DRAM, L2 and each SM's shared memory are
bandwidth resources that the SMs contend for.

One SimPy time unit is one clock cycle. Processes and resources:

=============== =============================================================================
element         behaviour
=============== =============================================================================
bandwidth pipe  DRAM and L2 (one each), shared memory (one per SM), vector lanes (one per
                warp): a first-come first-served server of ``bytes_per_cycle`` (lane-ops for
                vector lanes); a request of ``b`` bytes made at ``t`` ends at
                ``max(t, end of the previous request) + b / bytes_per_cycle``. DRAM serves
                reads so; write-backs from L2 take only the cycles the reads leave idle
                (buffered writes), and the kernel ends when they have drained
SM              takes the next CTA in launch order whenever it is free; one CTA at a time
loader          per CTA: for each step, when a stage of shared memory is free, moves the
                step's DRAM bytes (if any; it waits for them before it asks for the next
                step: one outstanding DRAM request per SM), then its L2 bytes; the data
                arrives the DRAM latency later (DRAM readers) and is written into the
                stage in shared memory
warp            per tensor core, two processes and double buffers in registers: the reader
                waits for the step's stage and a free buffer, reads the warp's fragments from
                shared memory and frees the stage when all warps have read it; the issuer
                hands the instructions to its tensor core. On MAC cores the issuer first
                dequantizes the weights on the warp's vector lanes into a second pair of
                buffers (free once the tensor core is done with step ``s - 2``), which frees
                the first; on LUT cores the first buffer is free once the tensor core is done
                with it. At the end the issuer converts the results on the vector lanes
tensor core     executes the instructions in order, ``arrays`` at a time, each issue slot
                ``latency`` cycles: a slot is accepted in the first cycle its operands are in
                registers and the core is ready, or in the last cycle of the previous slot,
                and executes from the next cycle (the contract of :mod:`lutsim.isa.timing`)
epilogue        when all warps are done: results staged through shared memory and written to L2
                (fp32 atomic adds under split-K); L2 writes them back to DRAM (the last split's)
                while the SM goes on. The kernel ends when every SM is done and DRAM is idle
=============== =============================================================================
"""

from __future__ import annotations

import collections
import functools
import math

import simpy

from .core import CountingEnvironment
from .gpu_plan import Plan

__all__ = ["run_detailed"]


class _Pipe:
    """A first-come first-served bandwidth resource."""

    __slots__ = ("rate", "free_at", "busy")

    def __init__(self, per_cycle: float):
        self.rate, self.free_at, self.busy = per_cycle, 0.0, 0.0

    def reserve(self, now: float, amount: float) -> float:
        """Queue ``amount`` at ``now``; the time it has passed."""
        time = amount / self.rate
        self.free_at = max(now, self.free_at) + time
        self.busy += time
        return self.free_at


class _Dram(_Pipe):
    """DRAM: reads first come first served; write-backs from L2 take the cycles the reads
    leave idle (buffered writes), and are drained at the end."""

    __slots__ = ("backlog", "mark")

    def __init__(self, per_cycle: float):
        super().__init__(per_cycle)
        self.backlog, self.mark = 0.0, 0.0

    def _drain(self, now: float) -> None:
        idle = max(0.0, now - max(self.mark, self.free_at))
        self.backlog -= min(self.backlog, idle)
        self.mark = max(self.mark, now)

    def reserve(self, now: float, amount: float) -> float:
        self._drain(now)
        return super().reserve(now, amount)

    def write_back(self, now: float, amount: float) -> None:
        self._drain(now)
        self.backlog += amount / self.rate
        self.busy += amount / self.rate

    @property
    def done_at(self) -> float:
        """When the last read and every write-back have passed."""
        return max(self.free_at, self.mark) + self.backlog


class _TensorCore:
    """One tensor core: executes handed-over steps in order, one event per issue slot."""

    __slots__ = ("env", "latency", "work", "waiting", "ready", "busy", "slots")

    def __init__(self, env: simpy.Environment, latency: float):
        self.env, self.latency = env, latency
        self.work: collections.deque = collections.deque()
        self.waiting: simpy.Event | None = None
        self.ready = 0  # first cycle in which the core can accept the next slot
        self.busy = 0
        self.slots = 0
        env.process(self._run())

    def submit(self, slots: int) -> simpy.Event:
        """Hand over ``slots`` issue slots; the event fires when the last one has executed."""
        done = self.env.event()
        self.work.append((slots, done))
        if self.waiting is not None:
            waiting, self.waiting = self.waiting, None
            waiting.succeed()
        return done

    def _run(self):
        env, latency = self.env, self.latency
        while True:
            if not self.work:
                self.waiting = env.event()
                yield self.waiting
            slots, done = self.work.popleft()
            for _ in range(slots):  # back to back, or from the next whole cycle after a gap
                accept = self.ready if env.now <= self.ready else math.ceil(env.now)
                self.ready = accept + latency
                yield env.timeout(self.ready - env.now)
            self.busy += slots * latency
            self.slots += slots
            # the last slot executes through cycle ``ready``: done at the start of the next
            env.timeout(1).callbacks.append(lambda _event, done=done: done.succeed())


class _Detailed:
    def __init__(self, plan: Plan):
        self.plan = plan
        gpu = plan.mach.gpu
        self.env = env = CountingEnvironment()
        self.dram = _Dram(plan.mach.dram_bytes_per_cycle)
        self.l2 = _Pipe(gpu.l2_bytes_per_cycle)
        self.smems: list[_Pipe] = []
        self.vecs: list[_Pipe] = []
        self.tcs: list[_TensorCore] = []
        self.next_cta = 0
        self.end = 0.0
        cta = plan.cta
        self.cta_si = cta["si"].tolist()
        self.cta_l2_read = cta["l2_read"].tolist()
        self.cta_dram_read = cta["dram_read"].tolist()
        self.cta_l2_write = cta["l2_write"].tolist()
        self.cta_dram_write = cta["dram_write"].tolist()
        self.steps = [plan.split_steps(si) for si in range(plan.splits)]
        lanes = gpu.vector_lanes_per_tensor_core
        for _ in range(min(plan.sms, plan.ctas)):
            smem = _Pipe(gpu.smem_bytes_per_cycle)
            vecs = [_Pipe(lanes) for _ in range(plan.warps)]
            tcs = [_TensorCore(env, plan.slot_cycles) for _ in range(plan.warps)]
            self.smems.append(smem)
            self.vecs += vecs
            self.tcs += tcs
            env.process(self._sm(smem, vecs, tcs))

    def _sm(self, smem, vecs, tcs):
        while self.next_cta < self.plan.ctas:
            c = self.next_cta
            self.next_cta += 1
            yield from self._cta(c, smem, vecs, tcs)
        self.end = max(self.end, self.env.now)

    def _cta(self, c: int, smem: _Pipe, vecs, tcs):
        env, plan = self.env, self.plan
        steps = self.steps[self.cta_si[c]]
        total = sum(steps)
        loaded = [env.event() for _ in steps]
        state = {"free": plan.t.stages, "waiters": collections.deque()}
        reads = [0] * len(steps)

        def release(s: int) -> None:
            reads[s] += 1
            if reads[s] == plan.warps:
                if state["waiters"]:
                    state["waiters"].popleft().succeed()
                else:
                    state["free"] += 1

        def loader():
            l2_bytes, dram_bytes = self.cta_l2_read[c], self.cta_dram_read[c]
            latency = plan.mach.dram_latency_cycles  # the data arrives this much later
            for s, g in enumerate(steps):
                if state["free"]:
                    state["free"] -= 1
                else:
                    slot = env.event()
                    state["waiters"].append(slot)
                    yield slot
                if dram_bytes:
                    yield env.timeout(self.dram.reserve(env.now, dram_bytes * g / total) - env.now)
                passed = self.l2.reserve(env.now, l2_bytes * g / total) + (
                    latency if dram_bytes else 0
                )
                env.timeout(passed - env.now).callbacks.append(lambda _event, s=s, g=g: fill(s, g))

        def fill(s: int, g: int) -> None:
            """The step has passed L2: write it into shared memory."""
            filled = smem.reserve(env.now, plan.cta_fill_bytes(g))
            env.timeout(filled - env.now).callbacks.append(lambda _event: loaded[s].succeed())

        def reader(fetched: list, freed: list):
            """A warp's fragments: shared memory -> registers, into one of two buffers."""
            for s, g in enumerate(steps):
                if not loaded[s].processed:
                    yield loaded[s]
                if s >= 2:  # the buffer of step s - 2 is free once it has been consumed
                    if not freed[s - 2].triggered:
                        yield freed[s - 2]
                    if not freed[s - 2].value.processed:
                        yield freed[s - 2].value
                yield env.timeout(smem.reserve(env.now, plan.warp_smem_bytes(g)) - env.now)
                release(s)
                fetched[s].succeed()

        def warp(j: int):
            tc, vec = tcs[j], vecs[j]
            fetched = [env.event() for _ in steps]
            freed = [env.event() for _ in steps]  # value: the event that frees step s's buffer
            executed: list = []
            env.process(reader(fetched, freed))
            for s, g in enumerate(steps):
                if not fetched[s].processed:
                    yield fetched[s]
                ops = plan.dequant_ops(g)
                if ops:  # into the second pair of buffers: free once the core is done with s - 2
                    if s >= 2 and not executed[s - 2].processed:
                        yield executed[s - 2]
                    dequantized = env.timeout(vec.reserve(env.now, ops) - env.now)
                    freed[s].succeed(dequantized)
                    yield dequantized
                executed.append(tc.submit(math.ceil(plan.instrs(g) / plan.arrays)))
                if not ops:
                    freed[s].succeed(executed[s])
            yield executed[-1]
            yield env.timeout(vec.reserve(env.now, plan.epilogue_ops) - env.now)

        env.process(loader())
        yield env.all_of([env.process(warp(j)) for j in range(plan.warps)])
        yield env.timeout(smem.reserve(env.now, plan.epilogue_smem_bytes) - env.now)
        yield env.timeout(self.l2.reserve(env.now, self.cta_l2_write[c]) - env.now)
        if self.cta_dram_write[c]:  # written back from L2 while the SM goes on
            self.dram.write_back(env.now, self.cta_dram_write[c])


def run_detailed(plan: Plan) -> dict:
    """Simulate ``plan`` event by event; cycles and busy time of every resource."""
    sim = _Detailed(plan)
    sim.env.run()
    return {
        "cycles": math.ceil(max(sim.end, sim.dram.done_at)),
        "busy": {
            "tensor": float(sum(tc.busy for tc in sim.tcs)),
            "vector": float(sum(v.busy for v in sim.vecs)),
            "smem": float(sum(s.busy for s in sim.smems)),
            "l2": sim.l2.busy,
            "dram": sim.dram.busy,
        },
        "slots": sum(tc.slots for tc in sim.tcs),
        "events": sim.env.events,
    }


PRECOMPUTE_CHUNK_BYTES = 16384
"""Activation bytes one SM takes at a time in a separate precompute kernel."""


def precompute_chunks(gpu, act_bytes: float, tables: int) -> int:
    """Chunks the activations are cut into: 16 KiB each, and at least two per SM while there
    are tables enough."""
    return max(1, math.ceil(act_bytes / PRECOMPUTE_CHUNK_BYTES), min(2 * gpu.sms, tables))


def run_precompute(
    gpu, act_bytes: float, table_bytes: float, ops: float, tables: int,
    dram_bytes_per_cycle: float | None = None,
) -> dict:  # fmt: skip
    """The separate precompute kernel, chunk by chunk: each SM works on two chunks at a time;
    a chunk is read from DRAM through L2, turned into tables on the SM's vector lanes and
    written to L2, which writes it back to DRAM (at ``dram_bytes_per_cycle``, default the
    GPU's peak). Simulated once per distinct kernel in a process (a whole model repeats its
    kernels layer after layer)."""
    return dict(_run_precompute(gpu, act_bytes, table_bytes, ops, tables, dram_bytes_per_cycle))


@functools.lru_cache(maxsize=4096)
def _run_precompute(gpu, act_bytes, table_bytes, ops, tables, dram_bytes_per_cycle) -> dict:
    env = CountingEnvironment()
    dram = _Dram(dram_bytes_per_cycle or gpu.dram_bytes_per_cycle)
    l2 = _Pipe(gpu.l2_bytes_per_cycle)
    chunks = precompute_chunks(gpu, act_bytes, tables)
    read, write, work = act_bytes / chunks, table_bytes / chunks, ops / chunks
    state = {"next": 0, "end": 0.0}

    def lane(vec: _Pipe):
        while state["next"] < chunks:
            state["next"] += 1
            yield env.timeout(dram.reserve(env.now, read) - env.now)
            yield env.timeout(l2.reserve(env.now, read) - env.now)
            yield env.timeout(vec.reserve(env.now, work) - env.now)
            yield env.timeout(l2.reserve(env.now, write) - env.now)
            dram.write_back(env.now, write)
        state["end"] = max(state["end"], env.now)

    for _ in range(min(gpu.sms, chunks)):
        vec = _Pipe(gpu.vector_lanes_per_sm)
        env.process(lane(vec))
        env.process(lane(vec))
    env.run()
    return {"cycles": math.ceil(max(state["end"], dram.done_at)), "events": env.events}
