#!/usr/bin/env bash
# Installs the Debian 12 packages errseq needs to build and test, only those missing.
# Used by scripts/run.sh and scripts/test.sh; safe to run again.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ pkg-config   # build
  libgtest-dev libgmock-dev          # tests (GoogleTest)
  libbenchmark-dev                   # bench/ (Google Benchmark)
  libfmt-dev                         # formatting of tables and messages
  libcli11-dev                       # command-line parsing of the tools
  nlohmann-json3-dev                 # JSON output (errseq-conform --json)
  util-linux                         # losetup, for the real-block-device test
  libfuse3-dev fuse3                 # errseqfs (FUSE low-level API) and fusermount3
  liburing-dev                       # errseqfs: FUSE requests over io_uring
  sqlite3                            # the sqlite3 workload test on a mount
  stress-ng                          # its file stressors run on a mount (a test)
  python3                            # the long-lived process in scripts/mount-demo.sh
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "errseq: missing Debian packages: ${missing[*]}" >&2
    echo "errseq: run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "errseq: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
