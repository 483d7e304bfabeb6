#!/usr/bin/env bash
# The test suite: set up (first run only), then pytest on 2 workers with any extra arguments
# (paths are relative to the repository, e.g. ./test.sh tests/lutsim).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/setup.sh"
cd "$LUTSIM_ROOT"
exec "$LUTSIM_PYTHON" -m pytest -n 2 "$@"
