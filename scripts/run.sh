#!/usr/bin/env bash
# The main job: installs what is missing, builds errseq (RelWithDebInfo) and runs errseq-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/rel --target errseq-demo
exec build/rel/tools/errseq-demo/errseq-demo "$@"
