"""The package layering of DESIGN.md section 2, enforced on the source with ``ast``.

Every level installs as a subpackage of ``lutsim`` (``isa/`` is ``lutsim.isa``) and is imported
by that name. ``isa`` imports nothing of ours (within itself only relative imports); ``hw``,
``sim`` and ``compiler`` import only ``isa`` and themselves (so ``hw`` and ``sim`` never import
each other); ``reports`` may import ``isa``, ``hw``, ``sim`` and ``compiler``; the ``lutsim``
package itself (the CLI and the public API) anything. A level's bare name (``import isa``) is an
error everywhere: it only resolves inside a source checkout.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ("isa", "hw", "sim", "compiler", "reports")
# fmt: off
ALLOWED = {             # folder: the parts of lutsim it may import
    "isa":      set(),
    "hw":       {"isa", "hw"},
    "sim":      {"isa", "sim"},
    "compiler": {"isa", "compiler"},
    "reports":  {"isa", "hw", "sim", "compiler", "reports"},
    "lutsim":   {"isa", "hw", "sim", "compiler", "reports", "lutsim"},
}
# fmt: on
_DYNAMIC = {"import_module", "__import__"}


def _imports(path: Path, root: Path) -> list[tuple[int, str | None]]:
    """(line, module) of every import in one file: the absolute module name, or None for a
    relative import that stays inside the file's package, or ``..`` for one that climbs out.
    ``from lutsim import isa`` counts as ``lutsim.isa``."""
    package = path.relative_to(root).parts[:-1]
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                found.append((node.lineno, ".." if node.level > len(package) else None))
            elif node.module == "lutsim":
                found += [(node.lineno, f"lutsim.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module or ""))
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) in _DYNAMIC
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _part(module: str) -> str | None:
    """The part of lutsim a module belongs to (a level, ``lutsim`` for the package itself,
    ``tests`` or ``benchmarks``), ``bare`` for a level's name without ``lutsim.``, or None for
    a module that is not ours."""
    top, _, rest = module.partition(".")
    if top == "lutsim":
        level = rest.partition(".")[0]
        return level if level in LEVELS else "lutsim"
    if top in LEVELS:
        return "bare"
    return top if top in ("tests", "benchmarks") else None


def violations(root: Path) -> list[str]:
    """Every import under ``root`` that breaks the layering, as ``file:line: message``."""
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            for line, module in sorted(_imports(path, root), key=lambda item: item[0]):
                if module is None:
                    continue
                part = _part(module)
                if module == "..":
                    problems.append(f"{where}:{line}: relative import climbs out of {package}")
                elif part == "bare":
                    problems.append(f"{where}:{line}: import lutsim.{module}, not {module}")
                elif part == package == "isa":
                    problems.append(f"{where}:{line}: isa must import itself relatively")
                elif part is not None and part not in allowed:
                    problems.append(f"{where}:{line}: {package} must not import {module}")
    return problems


def test_layering():
    problems = violations(ROOT)
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_every_package_is_checked():
    present = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    present -= {"tests", "benchmarks"}
    assert present <= set(ALLOWED), f"packages without a layering rule: {present - set(ALLOWED)}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_clean_tree_passes(tmp_path):
    root = _tree(tmp_path, {
        "isa/__init__.py": "from . import config\n",
        "isa/config.py": "import numpy\nfrom .formats import Format\n",
        "isa/sub/x.py": "from ..config import y\n",
        "hw/core.py": "import lutsim.isa.config\nfrom lutsim.isa import golden\nfrom . import lut\n",
        "sim/core.py": "from lutsim.isa.config import CoreConfig\nfrom lutsim.sim import gpu\n",
        "compiler/passes.py": "from lutsim import isa\n",
        "reports/cost.py": "from lutsim import hw, sim, compiler\n",
        "lutsim/cli.py": "import lutsim.reports\nimport importlib\nimportlib.import_module('lutsim.hw')\n",
        "lutsim/__init__.py": "from .cli import main\nfrom . import isa\n",
    })  # fmt: skip
    assert violations(root) == []


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("isa/golden.py", "import lutsim.hw\n", "isa/golden.py:1: isa must not import lutsim.hw"),
        ("isa/golden.py", "from lutsim.isa import formats\n", "isa/golden.py:1: isa must import itself relatively"),
        ("isa/golden.py", "from lutsim import isa\n", "isa/golden.py:1: isa must import itself relatively"),
        ("isa/golden.py", "import lutsim\n", "isa/golden.py:1: isa must not import lutsim"),
        ("isa/golden.py", "\nfrom ..hw import x\n", "isa/golden.py:2: relative import climbs out of isa"),
        ("hw/lut.py", "from lutsim.sim.core import run\n", "hw/lut.py:1: hw must not import lutsim.sim.core"),
        ("sim/core.py", "import lutsim.hw.lut as lut\n", "sim/core.py:1: sim must not import lutsim.hw.lut"),
        ("sim/core.py", "from lutsim import hw, isa\n", "sim/core.py:1: sim must not import lutsim.hw"),
        ("compiler/p.py", "def f():\n    from lutsim.reports import cost\n", "compiler/p.py:2: compiler must not import lutsim.reports"),
        ("hw/x.py", "import importlib\nimportlib.import_module('lutsim.sim')\n", "hw/x.py:2: hw must not import lutsim.sim"),
        ("hw/y.py", "from lutsim import load_config\n", "hw/y.py:1: hw must not import lutsim.load_config"),
        ("sim/z.py", "from isa.config import CoreConfig\n", "sim/z.py:1: import lutsim.isa.config, not isa.config"),
        ("lutsim/cli.py", "import reports\n", "lutsim/cli.py:1: import lutsim.reports, not reports"),
        ("reports/r.py", "import lutsim.cli\n", "reports/r.py:1: reports must not import lutsim.cli"),
        ("sim/a/b.py", "from ...hw import x\n", "sim/a/b.py:1: relative import climbs out of sim"),
        ("hw/t.py", "import tests.isa\n", "hw/t.py:1: hw must not import tests.isa"),
    ],
)  # fmt: skip
def test_bad_import_is_caught(tmp_path, path, text, message):
    root = _tree(tmp_path, {path: text})
    assert violations(root) == [message]


def test_real_tree_is_read():
    modules = [module for _, module in _imports(ROOT / "isa" / "config.py", ROOT)]
    assert None in modules and "tomllib" in modules, f"unexpected imports {modules}"
