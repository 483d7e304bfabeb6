# Shared set-up for ./run.sh and ./test.sh; source it, do not run it.
#
# Makes sure that the Debian packages below are installed, that .venv exists and holds this
# project installed with its dev extras (reinstalled whenever pyproject.toml changes), and
# exports the environment every level expects. Quiet on success; on failure prints the log.
# After sourcing: LUTSIM_ROOT is the repository, LUTSIM_PYTHON the venv's interpreter.

LUTSIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LUTSIM_PYTHON="$LUTSIM_ROOT/.venv/bin/python"

# ---- Debian packages, installed with apt-get when missing -------------------------------
# One package name per entry.
LUTSIM_APT_PACKAGES=(
    ccache             # caches the C++ objects of Verilator builds (the runtime is the same in each)
    qflow-tech-osu018  # OSU 0.18 um standard cells (liberty) for synthesis
    opensta            # static timing and power on the synthesized netlist
    iverilog           # runs the exported wrapper's self-checking testbench (lutsim export --wrapper)
    libpython3.11      # the shared libpython cocotb embeds in the simulator (Debian's python3.11)
)

_lutsim_quiet() {  # run a command with its output to a log; show the log only if it fails
    local log
    log="$(mktemp)"
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "setup: failed: $*" >&2
        return 1
    fi
    rm -f "$log"
}

_lutsim_setup() {
    local python="${PYTHON:-python3}" missing=() pkg stamp
    command -v "$python" >/dev/null || { echo "setup: $python not found" >&2; return 1; }
    # Debian's own python3 needs python3-venv for `python3 -m venv`.
    if ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
        missing+=(python3-venv)
    fi
    for pkg in "${LUTSIM_APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        export DEBIAN_FRONTEND=noninteractive
        _lutsim_quiet apt-get update || return 1
        _lutsim_quiet apt-get install -y --no-install-recommends "${missing[@]}" || return 1
    fi

    if [[ ! -x "$LUTSIM_PYTHON" ]]; then
        _lutsim_quiet "$python" -m venv "$LUTSIM_ROOT/.venv" || return 1
    fi
    stamp="$(sha256sum "$LUTSIM_ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [[ "$(cat "$LUTSIM_ROOT/.venv/.lutsim-stamp" 2>/dev/null)" != "$stamp" ]]; then
        _lutsim_quiet "$LUTSIM_PYTHON" -m pip install --disable-pip-version-check \
            -e "$LUTSIM_ROOT[dev]" || return 1
        echo "$stamp" >"$LUTSIM_ROOT/.venv/.lutsim-stamp" || return 1
    fi
}

# One set-up at a time per checkout (two concurrent pip installs into one venv break it).
exec {_lutsim_lock}<"$LUTSIM_ROOT"
flock "$_lutsim_lock"
_lutsim_status=0
_lutsim_setup || _lutsim_status=$?
flock -u "$_lutsim_lock"
exec {_lutsim_lock}<&-
((_lutsim_status == 0)) || exit "$_lutsim_status"
unset _lutsim_status _lutsim_lock

# Amaranth: use its bundled Yosys, never a system one (Debian's breaks CXXRTL).
export AMARANTH_USE_YOSYS=builtin
