#!/usr/bin/env bash
# The file-system workloads W1-W5 of ../shared/tools/bench_driver.c, in one run, on:
#   backing  the backing directory itself (the kernel: the limit)
#   errseqfs a passthrough errseqfs mount over that directory
#   null     null_fuse (every write discarded: the limit of FUSE with the writeback cache off)
# RUNS repetitions each (default 3), interleaved; prints every result line and the medians.
# The driver is compiled from ../shared at run time, never copied into the project.
# Usage: bench/fuse_bench.sh BUILD_DIR [WORKDIR]   (root; WORKDIR default /var/tmp/errseq-fuse-bench)
# WORKLOADS="w1 w2" runs only those; ERRSEQFS_OPTS=a=b,c=d adds -o options to the errseqfs mount;
# WARM_MB=N touches and frees N MiB of memory before each measurement (default 0: none).
# URING=1 sets the fuse module's enable_uring=Y for the run (put back at exit), so that both
# FUSE file systems take their requests over io_uring (errseqfs -o io_uring=auto, null_fuse
# --uring); otherwise they use it only if the parameter is already Y.
# Ends with bench/fuse_report.py: medians, ratios and goals as a table; PLOT=FILE.png also
# draws them (needs gnuplot: apt-get install gnuplot-nox).
set -euo pipefail
build=${1:?usage: fuse_bench.sh BUILD_DIR [WORKDIR]}
work=${2:-/var/tmp/errseq-fuse-bench}
runs=${RUNS:-3}
workloads=${WORKLOADS:-w1 w2 w3 w5 w4}
extra=${ERRSEQFS_OPTS:+,$ERRSEQFS_OPTS}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work"/{backing,mnt,nullmnt}
driver=$work/driver
gcc -O2 -Wall -o "$driver" "$here/../shared/tools/bench_driver.c"
uring_param=/sys/module/fuse/parameters/enable_uring
uring_old=$(cat "$uring_param" 2>/dev/null || echo none)
cleanup() {
  fusermount3 -u -q "$work/mnt" 2>/dev/null || true
  fusermount3 -u -q "$work/nullmnt" 2>/dev/null || true
  if [[ $uring_old != none ]]; then echo "$uring_old" > "$uring_param"; fi
}
trap cleanup EXIT
if [[ ${URING:-0} == 1 ]]; then
  echo Y > "$uring_param" || { echo "URING=1: cannot set $uring_param" >&2; exit 1; }
fi
echo "fuse.enable_uring: $(cat "$uring_param" 2>/dev/null || echo 'absent (no FUSE over io_uring)')"

mount_errseqfs() {
  "$build/tools/errseqfs/errseqfs" -o "ctl=$work/ctl.sock$extra" "$work/backing" "$work/mnt"
}
# fusermount3 -u returns before errseqfs has finished its final writeback: wait for it, so
# that it does not run into the next measurement.
unmount_errseqfs() {
  fusermount3 -u "$work/mnt"
  for _ in $(seq 400); do pgrep -f "errseqfs -o ctl=$work/ctl.sock" >/dev/null || return 0; sleep 0.05; done
  echo "errseqfs did not exit after unmount" >&2
}
mount_null() {
  "$build/bench/null_fuse" --uring "$work/nullmnt" 2>/dev/null &
  for _ in $(seq 100); do mountpoint -q "$work/nullmnt" && return; sleep 0.05; done
}
# The same memory state before every measurement. This kind of VM hands memory that has
# been free for a couple of seconds back to the hypervisor (free page reporting), and touching
# it again is slow (~0.5 GB/s): without this step a target's speed depends on how much memory
# the runs before it happened to free (docs/benchmarks.md, "Memory on this machine"). dd
# touches WARM_MB of memory and frees it, so every target starts with that much of it fresh.
# Off by default (WARM_MB=0): the figures in docs/benchmarks.md are taken without it, and one
# run with WARM_MB=2048 is shown beside them. It costs several seconds per measurement.
warm_mb=${WARM_MB:-0}
warm_up() {
  if (( warm_mb > 0 )); then
    dd if=/dev/zero of=/dev/null bs="${warm_mb}M" count=1 iflag=fullblock status=none
  fi
}
results=$work/results.txt
: > "$results"
# Each run starts with another target: a target measured right after another one inherits the
# state it left (memory freed, files deleted on the host disk), so no target always comes second.
targets=(backing errseqfs null)
for r in $(seq "$runs"); do
  k=$(( (r - 1) % 3 ))
  order=("${targets[@]:k}" "${targets[@]:0:k}")
  for wl in $workloads; do
    for target in "${order[@]}"; do
      case $target in
        backing) dir=$work/backing/b ;;
        errseqfs) mount_errseqfs; dir=$work/mnt/e ;;
        null) mount_null; dir=$work/nullmnt ;;
      esac
      mkdir -p "$dir" 2>/dev/null || true
      if [[ $wl == w4 ]]; then "$driver" w1 "$dir" >/dev/null; fi
      if [[ $wl == w4 && $target == errseqfs ]]; then  # cold: our cache too
        unmount_errseqfs; mount_errseqfs
      fi
      warm_up
      line=$("$driver" "$wl" "$dir" | grep RESULT || echo "RESULT $wl failed")
      echo "$target run=$r $line" | tee -a "$results"
      "$driver" clean "$dir" >/dev/null 2>&1 || true
      case $target in
        errseqfs) unmount_errseqfs ;;
        null) fusermount3 -u "$work/nullmnt"; wait ;;
      esac
    done
  done
done
echo "results in $results"
python3 "$here/bench/fuse_report.py" "$results" ${PLOT:+"$PLOT"}
