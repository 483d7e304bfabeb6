"""LMMA instruction decoder, derived from the field table of :mod:`lutsim.isa.encoding`."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from lutsim.isa.config import CoreConfig
from lutsim.isa.encoding import FIELDS, OPCODES, WORD_BITS, Instr, encode

__all__ = ["INSTR_LAYOUT", "Decoder"]

INSTR_LAYOUT = data.FlexibleLayout(
    WORD_BITS, {name: data.Field(f.width, f.lsb) for name, f in FIELDS.items()}
)
"""The instruction word as an Amaranth layout: one field per entry of ``isa.encoding.FIELDS``
(fields of different opcodes overlap, as in the table)."""


def _used_mask(op: str) -> int:
    mask = 0
    for name in OPCODES[op].fields:
        mask |= FIELDS[name].mask
    return mask


class Decoder(wiring.Component):
    """Combinational decoder of one 64-bit LMMA word for the core ``cfg``.

    Parameters: ``cfg`` — the core configuration.

    Members:
        ``i_word``    In(64)  the instruction word
        ``o_op``      Out(4)  opcode (``isa.encoding.OPCODES[name].code``); 0 (nop) when illegal
        ``o_acc``, ``o_table``, ``o_weight``  Out(4)  register fields
        ``o_addr``    Out(32) word address
        ``o_illegal`` Out(1)  the word is not an instruction this core runs: an unassigned
                              opcode, reserved bits set, an ``lmma`` whose shape or types differ
                              from the core's, or a register beyond the core's count

    Latency: 0 cycles (combinational).
    """

    def __init__(self, cfg: CoreConfig):
        self.cfg = cfg
        super().__init__(
            {
                "i_word": In(WORD_BITS),
                "o_op": Out(FIELDS["op"].width),
                "o_acc": Out(FIELDS["acc"].width),
                "o_table": Out(FIELDS["table"].width),
                "o_weight": Out(FIELDS["weight"].width),
                "o_addr": Out(FIELDS["addr"].width),
                "o_illegal": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        word = data.View(INSTR_LAYOUT, self.i_word)
        # the one lmma this core runs, with its register fields cleared
        suffix_mask = sum(FIELDS[f].mask for f in OPCODES["lmma"].suffix)
        lmma_suffix = (
            encode(
                Instr(
                    "lmma",
                    m=cfg.m,
                    n=cfg.n,
                    k=cfg.k,
                    atype=cfg.act.abbrev,
                    wtype=cfg.weight_type,
                    ctype=cfg.acc.abbrev,
                    otype=cfg.out.abbrev,
                )  # fmt: skip
            )
            & suffix_mask
        )
        counts = {"acc": cfg.acc_regs, "table": cfg.table_regs, "weight": cfg.weight_regs}
        legal = Signal()
        with m.Switch(word.op):
            for name, opcode in OPCODES.items():
                with m.Case(opcode.code):
                    checks = [(self.i_word & ~_used_mask(name) & (2**WORD_BITS - 1)) == 0]
                    if name == "lmma":
                        checks.append((self.i_word & suffix_mask) == lmma_suffix)
                    for reg, count in counts.items():
                        if reg in opcode.operands:
                            checks.append(getattr(word, reg) < count)
                    ok = checks[0]
                    for check in checks[1:]:
                        ok = ok & check
                    m.d.comb += legal.eq(ok)
            with m.Default():
                m.d.comb += legal.eq(0)
        m.d.comb += [
            self.o_illegal.eq(~legal),
            self.o_op.eq(word.op & legal.replicate(FIELDS["op"].width)),
            self.o_acc.eq(word.acc),
            self.o_table.eq(word.table),
            self.o_weight.eq(word.weight),
            self.o_addr.eq(word.addr),
        ]
        return m
