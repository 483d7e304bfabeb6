"""One distribution, one import name: the wheel holds ``lutsim`` (with the levels as its
subpackages) and nothing else, and an installed wheel works from outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ("isa", "hw", "sim", "compiler", "reports")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"^## As a library\n.*?^```python\n(.*?)^```$", text, re.M | re.S)
    assert found, "README.md has no Python example under '## As a library'"
    return found.group(1)


def test_every_folder_is_a_subpackage():
    tools = _setuptools()
    expected = {"lutsim": "lutsim", **{f"lutsim.{level}": level for level in LEVELS}}
    assert tools["package-dir"] == expected
    present = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert present - {"tests", "benchmarks"} == set(expected.values())
    # a level's own subpackages (reports/flow, ...) install under their level's name
    nested = {
        f"{name}.{'.'.join(p.parent.relative_to(ROOT / folder).parts)}"
        for name, folder in expected.items()
        for p in (ROOT / folder).rglob("*/__init__.py")
    }
    assert sorted(tools["packages"]) == sorted(set(expected) | nested)


def test_public_api_is_lazy(tmp_path):
    code = (
        "import sys, lutsim, lutsim.isa.config\n"
        "heavy = [m for m in ('amaranth', 'simpy', 'lutsim.sim', 'lutsim.hw', 'lutsim.compiler')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert lutsim.load_config is lutsim.isa.config.load_config\n"
        "assert set(lutsim.__all__) <= set(dir(lutsim))\n"
        "try:\n    lutsim.nope\nexcept AttributeError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "module 'lutsim' has no attribute 'nope'\n"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = out.glob("lutsim-*.whl")
    return path


def test_wheel_holds_only_lutsim(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"lutsim", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for module in ("cli", "isa/config", "hw/core", "sim/gpu", "compiler/driver", "reports/report"):
        assert f"lutsim/{module}.py" in names, f"lutsim/{module}.py missing from the wheel"
    assert "lutsim/compiler/models/llama2-7b.json" in names


def test_installed_wheel_runs_outside_the_repository(wheel, tmp_path):
    """A fresh venv with the wheel (no dependencies fetched: the test venv's site-packages is
    on its path, without the editable install's finder), used from an unrelated directory."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()  # fmt: skip
    )
    (site / "lutsim_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--disable-pip-version-check", "-q", str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([python, "-c", "import lutsim.isa; print(lutsim.isa.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout
    helped = subprocess.run([venv / "bin" / "lutsim", "--help"], cwd=work, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert helped.returncode == 0 and "report" in helped.stdout, helped.stderr
    ran = subprocess.run([python, "-c", _readme_example()], cwd=work, env=env,
                         capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert len(lines) == 3 and "'within_bound': True" in lines[0], ran.stdout
    assert float(lines[1]) > 0, ran.stdout
