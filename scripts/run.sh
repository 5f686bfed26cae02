#!/usr/bin/env bash
# The main job: installs what is missing, builds errseq (RelWithDebInfo), runs errseq-demo (the
# library, errseq vs legacy side by side), then the same story through real errseqfs mounts with
# unmodified programs (scripts/mount-demo.sh) when this machine can mount FUSE (root, /dev/fuse).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/rel --target errseq-demo errseqfs errseqctl
build/rel/tools/errseq-demo/errseq-demo
echo
if [[ $(id -u) -eq 0 && -w /dev/fuse ]]; then
  echo "== Through real mounts (errseqfs), with unmodified programs"
  scripts/mount-demo.sh build/rel
else
  echo "(skipping the errseqfs part: mounting FUSE needs root and /dev/fuse)"
fi
