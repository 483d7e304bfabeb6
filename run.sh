#!/usr/bin/env bash
# The main job: set up (first run only), then `lutsim report` with any extra arguments.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/scripts/setup.sh"
exec "$LUTSIM_PYTHON" -m lutsim report "$@"
