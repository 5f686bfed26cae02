#!/usr/bin/env bash
# Runs a test command with the fuse module's enable_uring parameter set to Y (the kernel then
# offers FUSE over io_uring to new mounts), and puts the old value back afterwards. ctest keeps
# the tests run this way apart (RESOURCE_LOCK fuse_enable_uring). Exit 77, which ctest counts
# as skipped, where the parameter is missing (before Linux 6.14) or cannot be written.
f=/sys/module/fuse/parameters/enable_uring
if [[ ! -e $f ]]; then echo "skipped: no $f (FUSE over io_uring needs Linux 6.14 or later)"; exit 77; fi
if [[ ! -w $f ]]; then echo "skipped: cannot write $f (needs root)"; exit 77; fi
old=$(cat "$f")
trap 'echo "$old" > "$f"' EXIT
echo Y > "$f" || exit 77
"$@"
