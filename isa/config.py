"""The one frozen configuration of a LUT tensor core, shared by every level.

A :class:`CoreConfig` fixes everything the golden model, the RTL, the cycle model, the compiler
and the cost model must agree on. Derived facts are properties. Configurations come from named
presets or TOML/YAML files through one schema check (:func:`config_from_dict`) that rejects
unknown keys and values of the wrong type.

Fields
------
=============== ============ ================================================================
field           default      meaning
=============== ============ ================================================================
m               2            activation rows per tile = tables per table fragment (1..8)
n               64           output columns per tile (1..256)
k               4            activations per table (2..6); the paper's design uses 4
weight_bits     2            bits per weight code (1..4); bit planes processed one per cycle
ternary         false        BitNet b1.58 weights: 2-bit codes {0, 1, 2} with zero point 1
act_format      int8         int8, int16, fp8_e4m3, fp8_e5m2, fp16
table_format    (derived)    int (exact integer entries), int8 (table quantization),
                             fp8_e4m3, fp8_e5m2, fp16, fp32
acc_format      (derived)    int32, fp16, fp32
out_format      (derived)    format of stored accumulators: int32, fp16, fp32
symmetrize      true         weight reinterpretation: half-size tables + negation
table_regs      2            table registers t0.. (1..16)
weight_regs     2            weight registers w0.. (1..16)
acc_regs        2            accumulator registers a0.. (1..16)
bus_words       8            32-bit words moved per cycle on the operand/result port (1..64)
=============== ============ ================================================================

Derived defaults: integer activations get exact integer tables, int32 accumulation and int32
outputs; float activations get fp16 tables and fp32 accumulation and outputs; ``table_format =
"int8"`` implies int32 accumulation. So ``--set act_format=int16`` on any integer preset stays
exact.

Timing contract (cycles; the RTL and the cycle model implement exactly this)
---------------------------------------------------------------------------
Instructions issue in program order; each occupies the core for its latency, and the next issues
on the following cycle.

====== ======================================================================================
nop    1
ldt    ceil(table_fragment_words / bus_words)
ldw    ceil(weight_fragment_words / bus_words)
lda    ceil(acc_fragment_words / bus_words)
sta    ceil(acc_fragment_words / bus_words)
zacc   1
lmma   weight_bits (one bit plane per cycle)
====== ======================================================================================
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import reprlib
import tomllib
import types
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ._io import not_regular
from .formats import FORMATS, Format

__all__ = [
    "ACT_FORMATS",
    "TABLE_FORMATS",
    "ACC_FORMATS",
    "CoreConfig",
    "DEFAULT_PRESET",
    "PRESETS",
    "config_from_dict",
    "load_config",
    "parse_override",
]

ACT_FORMATS = ("int8", "int16", "fp8_e4m3", "fp8_e5m2", "fp16")
TABLE_FORMATS = ("int", "int8", "fp8_e4m3", "fp8_e5m2", "fp16", "fp32")
ACC_FORMATS = ("int32", "fp16", "fp32")
_FLOAT_PRECISION = {"fp8_e4m3": 0, "fp8_e5m2": 0, "fp16": 1, "fp32": 2}

# fmt: off
_RANGES = {          # field: (lowest, highest)
    "m":           (1, 8),
    "n":           (1, 256),
    "k":           (2, 6),
    "weight_bits": (1, 4),
    "table_regs":  (1, 16),
    "weight_regs": (1, 16),
    "acc_regs":    (1, 16),
    "bus_words":   (1, 64),
}
# fmt: on


@dataclass(frozen=True)
class CoreConfig:
    """One LUT tensor core. Validated on construction; see the module docstring."""

    m: int = 2
    n: int = 64
    k: int = 4
    weight_bits: int = 2
    ternary: bool = False
    act_format: str = "int8"
    table_format: str = ""
    acc_format: str = ""
    out_format: str = ""
    symmetrize: bool = True
    table_regs: int = 2
    weight_regs: int = 2
    acc_regs: int = 2
    bus_words: int = 8

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "bool": bool, "str": str}[f.type]
            if type(value) is not expected:
                raise ValueError(
                    f"config key {f.name!r} must be {_TYPE_WORDS[f.type]}, not {_show(value)}"
                )
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be {lo} to {hi}, not {_show(value)}")
        _choice("act_format", self.act_format, ACT_FORMATS)
        act_int = not FORMATS[self.act_format].is_float
        if not self.table_format:
            object.__setattr__(self, "table_format", "int" if act_int else "fp16")
        _choice("table_format", self.table_format, TABLE_FORMATS)
        table_int = self.table_format in ("int", "int8")
        if not self.acc_format:
            object.__setattr__(self, "acc_format", "int32" if table_int else "fp32")
        _choice("acc_format", self.acc_format, ACC_FORMATS)
        if not self.out_format:
            object.__setattr__(self, "out_format", self.acc_format)
        _choice("out_format", self.out_format, ACC_FORMATS)
        if self.ternary and self.weight_bits != 2:
            raise ValueError(f"ternary weights need weight_bits = 2, not {self.weight_bits}")
        if act_int and self.table_format not in ("int", "int8"):
            raise ValueError(
                f"integer activations need table_format int or int8, not {self.table_format!r}"
            )
        if not act_int and self.table_format == "int":
            raise ValueError(f"table_format 'int' needs integer activations, not {self.act_format}")
        if table_int != (self.acc_format == "int32"):
            raise ValueError(
                f"table_format {self.table_format!r} cannot accumulate in {self.acc_format}: "
                "integer tables accumulate in int32, float tables in fp16 or fp32"
            )
        if not table_int and (
            _FLOAT_PRECISION[self.table_format] > _FLOAT_PRECISION[self.acc_format]
        ):
            raise ValueError(
                f"table_format {self.table_format} does not fit the {self.acc_format} accumulator"
            )
        if (self.acc_format == "int32") != (self.out_format == "int32"):
            raise ValueError(
                f"out_format {self.out_format} cannot store an {self.acc_format} accumulator"
            )

    # ---- derived facts (computed once per config: the config is frozen) --------------------
    @functools.cached_property
    def act(self) -> Format:
        return FORMATS[self.act_format]

    @functools.cached_property
    def acc(self) -> Format:
        return FORMATS[self.acc_format]

    @functools.cached_property
    def out(self) -> Format:
        return FORMATS[self.out_format]

    @functools.cached_property
    def table(self) -> Format:
        """Format of one stored table entry (exact integer tables get their derived width)."""
        if self.table_format == "int":
            return Format(f"int{self.table_entry_bits}", "int", self.table_entry_bits)
        return FORMATS[self.table_format]

    @functools.cached_property
    def int_path(self) -> bool:
        """True when accumulation is in integers (exact or INT8-quantized tables)."""
        return self.acc_format == "int32"

    @functools.cached_property
    def exact(self) -> bool:
        """True when the core computes integer dot products exactly (no table quantization)."""
        return self.table_format == "int"

    @functools.cached_property
    def table_quantized(self) -> bool:
        return self.table_format == "int8"

    @functools.cached_property
    def table_entries(self) -> int:
        """Stored entries per table: 2^(K-1) with symmetrization, 2^K without."""
        return 2 ** (self.k - 1) if self.symmetrize else 2**self.k

    @functools.cached_property
    def index_mask(self) -> int:
        """Mask of the weight-index bits that select a stored entry."""
        return self.table_entries - 1

    @functools.cached_property
    def table_entry_bits(self) -> int:
        """Width of an integer table entry: exact sums of K activations (and their negation)."""
        if self.table_format == "int8":
            return 8
        if self.table_format != "int":
            return self.table.bits
        lo, hi = self.act.min_value, self.act.max_finite
        if self.symmetrize:
            extreme = max(-lo, hi) * self.k  # entries are +-sums; negation must also fit
            return int(extreme).bit_length() + 1
        return max(int(hi * self.k).bit_length(), int(-lo * self.k - 1).bit_length()) + 1

    @functools.cached_property
    def code_max(self) -> int:
        """Largest weight code: 2 for ternary, else 2^B - 1."""
        return 2 if self.ternary else 2**self.weight_bits - 1

    @functools.cached_property
    def weight_type(self) -> str:
        """Weight type in LMMA mnemonics: u1..u4, or t2 for ternary."""
        return "t2" if self.ternary else f"u{self.weight_bits}"

    @functools.cached_property
    def mnemonic(self) -> str:
        """The one ``lmma`` mnemonic this core executes."""
        return (
            f"lmma.m{self.m}n{self.n}k{self.k}.{self.act.abbrev}.{self.weight_type}"
            f".{self.acc.abbrev}.{self.out.abbrev}"
        )

    @functools.cached_property
    def table_fragment_words(self) -> int:
        """Words of one table fragment: M tables x entries, one entry per 32-bit word."""
        return self.m * self.table_entries

    @functools.cached_property
    def weight_fragment_words(self) -> int:
        """Words of one weight fragment: B planes x N columns x K index bits, packed."""
        return math.ceil(self.weight_bits * self.n * self.k / 32)

    @functools.cached_property
    def acc_fragment_words(self) -> int:
        """Words of one accumulator fragment: M x N values, one per 32-bit word."""
        return self.m * self.n

    @functools.cached_property
    def latency_cycles(self) -> types.MappingProxyType:
        """Cycles each instruction occupies the core (the timing contract)."""

        def bus(words: int) -> int:
            return math.ceil(words / self.bus_words)

        return types.MappingProxyType(
            {
                "nop": 1,
                "ldt": bus(self.table_fragment_words),
                "ldw": bus(self.weight_fragment_words),
                "lda": bus(self.acc_fragment_words),
                "sta": bus(self.acc_fragment_words),
                "zacc": 1,
                "lmma": self.weight_bits,
            }
        )

    @functools.cached_property
    def lookups_per_lmma(self) -> int:
        return self.m * self.n * self.weight_bits

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the fields only, never the cached derived facts."""
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)

    def replace(self, **changes: Any) -> CoreConfig:
        """A copy with ``changes``. Formats derived from a changed one are derived again unless
        given: changing ``act_format`` re-derives the table, accumulator and output formats."""
        chain = ("act_format", "table_format", "acc_format", "out_format")
        for i, name in enumerate(chain[:-1]):
            if name in changes:
                for later in chain[i + 1 :]:
                    changes.setdefault(later, "")
                break
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_toml(self) -> str:
        lines = []
        for key, value in self.to_dict().items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = f'"{value}"'
            else:
                text = str(value)
            lines.append(f"{key} = {text}")
        return "\n".join(lines) + "\n"


_TYPE_WORDS = {"int": "an integer", "bool": "true or false", "str": "a string"}
_FIELD_TYPES = {f.name: f.type for f in fields(CoreConfig)}

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 2, 40, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


def _show(value: Any) -> str:
    """``repr(value)`` for an error message: short, one line, safe for any value from a file."""
    if isinstance(value, int) and abs(value) >= 1 << 64:
        return f"a {value.bit_length()}-bit integer"  # repr() refuses over 4300 digits
    try:
        return _REPR.repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"


def _one_line(text: str) -> str:
    """A third-party error text as one line."""
    return " ".join(str(text).split())


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}, not {_show(value)}")


def config_from_dict(data: Any, source: str = "config") -> CoreConfig:
    """The one schema check: a mapping of known keys to values of the right type."""
    if not isinstance(data, dict):
        raise ValueError(f"{source} must be a table of keys, not {type(data).__name__}")
    unknown = [key for key in data if key not in _FIELD_TYPES]
    if unknown:
        raise ValueError(f"unknown config key {_show(unknown[0])} in {source}")
    for key in ("table_format", "acc_format", "out_format"):
        if data.get(key) == "":  # an empty string is the constructor's "derive", not a value
            raise ValueError(f"config key {key!r} must name a format; leave it out to derive it")
    return CoreConfig(**data)


def _preset_table() -> dict[str, dict[str, Any]]:
    presets: dict[str, dict[str, Any]] = {"m2n64k4": {}}
    weights = {"w1": {"weight_bits": 1}, "w2": {"weight_bits": 2}, "w4": {"weight_bits": 4},
               "w1.58": {"weight_bits": 2, "ternary": True}}  # fmt: skip
    acts = {"int8": {"act_format": "int8"}, "fp16": {"act_format": "fp16"},
            "fp16-int8table": {"act_format": "fp16", "table_format": "int8"},
            "fp8-int8table": {"act_format": "fp8_e4m3", "table_format": "int8"}}  # fmt: skip
    for wname, w in weights.items():
        for aname, a in acts.items():
            presets[f"m2n64k4-{wname}-{aname}"] = {**w, **a}
    presets["m2n64k4-w2-fp16-fp16acc"] = {"act_format": "fp16", "acc_format": "fp16"}
    presets["m2n64k4-w2-int8-nosym"] = {"symmetrize": False}
    return presets


PRESETS: dict[str, dict[str, Any]] = _preset_table()
"""Named presets: the paper's M2N64K4 tile with W1/W2/W4/ternary and INT8/FP16 activations."""
DEFAULT_PRESET = "m2n64k4"


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``KEY=VALUE`` override, converting VALUE to the field's type."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ValueError(f"override {_show(text)} must look like KEY=VALUE")
    if key not in _FIELD_TYPES:
        raise ValueError(f"unknown config key {_show(key)} in --set")
    kind = _FIELD_TYPES[key]
    if kind == "int":
        try:
            if not raw.isascii():  # int() would take other scripts' digits ("٤" is 4)
                raise ValueError
            return key, int(raw, 0)
        except ValueError:
            raise ValueError(f"config key {key!r} must be an integer, not {_show(raw)}") from None
    if kind == "bool":
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"config key {key!r} must be true or false, not {_show(raw)}")
        return key, raw.lower() in ("true", "1")
    return key, raw


def _file_label(path: Path) -> str:
    """The file name as it appears in messages (quoted when it holds a line break or such)."""
    return path.name if path.name.isprintable() else _show(path.name)


@functools.cache
def _strict_yaml_loader():
    """``yaml.SafeLoader`` that rejects a key written twice in one mapping (as TOML does) and
    reports a scalar its tag cannot convert (``!!int x``, ``!!bool``) as a marked YAML error."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_object(self, node, deep=False):
            try:
                return super().construct_object(node, deep=deep)
            except (ValueError, LookupError, AttributeError, TypeError) as err:
                if isinstance(err, yaml.YAMLError) or not isinstance(node, yaml.ScalarNode):
                    raise
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                detail = f": {_one_line(err)}" if type(err) is ValueError else ""
                raise yaml.constructor.ConstructorError(
                    None, None, f"cannot read {_show(node.value)} as {tag}{detail}", node.start_mark
                ) from None

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # keys merged in with << may be overridden
                    key = self.construct_object(key_node, deep=deep)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:
                        continue  # unhashable: SafeLoader reports it
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {_show(key)}", key_node.start_mark
                        )
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _read_file(path: Path) -> Any:
    """The parsed document: a dict for TOML, any YAML value (an empty file is ``{}``). Only a
    regular file is read (a FIFO or a device would block or never end)."""
    if not_regular(path):  # a directory gets the OS's own message below
        raise ValueError(f"cannot read config file {str(path)!r}: not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        reason = err.strerror or _one_line(err)
        raise ValueError(f"cannot read config file {str(path)!r}: {reason}") from None
    except UnicodeDecodeError as err:
        reason = f"not UTF-8 ({err.reason} at byte {err.start})"
        raise ValueError(f"cannot read config file {str(path)!r}: {reason}") from None
    where = _file_label(path)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.load(text, Loader=_strict_yaml_loader())
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            at = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            reason = _one_line(err.problem or err.context or "syntax error")
            raise ValueError(f"{where}: invalid YAML: {reason}{at}") from None
        except yaml.reader.ReaderError as err:  # a character YAML does not allow
            line = text.count("\n", 0, err.position) + 1
            column = err.position - text.rfind("\n", 0, err.position)
            raise ValueError(
                f"{where}: invalid YAML: character #x{err.character:04x} is not allowed "
                f"(at line {line}, column {column})"
            ) from None
        except yaml.YAMLError as err:
            raise ValueError(f"{where}: invalid YAML: {_one_line(err)}") from None
        except RecursionError:
            raise ValueError(f"{where}: invalid YAML: nesting is too deep") from None
        return {} if data is None else data
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{where}: invalid TOML: {_one_line(err)}") from None
    except ValueError:  # int() refuses literals of more than 4300 digits
        raise ValueError(f"{where}: invalid TOML: an integer has too many digits") from None
    except RecursionError:
        raise ValueError(f"{where}: invalid TOML: nesting is too deep") from None


def load_config(
    name: str | os.PathLike[str] | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> CoreConfig:
    """A preset name or a TOML/YAML file path, then ``KEY=VALUE`` overrides, validated once."""
    name = os.fspath(name) if name else DEFAULT_PRESET
    if name in PRESETS:
        data: Any = dict(PRESETS[name])
        source = f"preset {name!r}"
    elif name.endswith((".toml", ".yaml", ".yml")) or _exists(Path(name)):
        data = _read_file(Path(name))
        source = _file_label(Path(name))
    else:
        raise ValueError(f"unknown config {name!r}: not a preset name or a TOML/YAML file")
    if isinstance(data, dict):
        data = dict(data)
        given = set()
        for text in overrides:
            key, value = parse_override(text)
            if key in given:
                raise ValueError(f"override {key!r} is given twice")
            given.add(key)
            data[key] = value
    return config_from_dict(data, source)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long to be a path
        return False
