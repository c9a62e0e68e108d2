#!/usr/bin/env bash
# The main job: installs what is missing, then runs a full pool lifecycle on the embedded
# emulated chain (no network). Extra arguments go to `cocoon-pool simulate`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
if [ "$#" -eq 0 ]; then
    set -- --participants 10 --epochs 3 --seed 1
fi
exec "$root/.venv/bin/cocoon-pool" simulate "$@"
