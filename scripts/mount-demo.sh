#!/usr/bin/env bash
# The main job through real mounts: two errseqfs mounts (errseq and legacy tracking) over
# directories under /var/tmp/errseq-demo, and the same story on each, played by unmodified
# programs: dd writes a table without fsync; the disk fails in writeback (errseqctl); a backup
# tool (coreutils `sync --data`) fsyncs first; then the database's checkpointer, which had the
# file open all along (python3), fsyncs; last a volume monitor (coreutils `sync --file-system`)
# calls syncfs. Prints what each was told, side by side, and each mount's ledger; then
# unmounts. Needs root and /dev/fuse.
set -uo pipefail
bin=${1:?usage: mount-demo.sh BUILD_DIR}
fs=$bin/tools/errseqfs/errseqfs
ctl=$bin/tools/errseqctl/errseqctl
base=/var/tmp/errseq-demo
for p in errseq legacy; do
  fusermount3 -u -q "$base/$p/mnt" 2>/dev/null
done
rm -rf "$base"
declare -A result
cleanup() {
  for p in errseq legacy; do
    mountpoint -q "$base/$p/mnt" && fusermount3 -u "$base/$p/mnt"
  done
}
trap cleanup EXIT

for p in errseq legacy; do
  d=$base/$p
  mkdir -p "$d/src" "$d/mnt"
  "$fs" -o "profile=$p,ctl=$d/ctl.sock" "$d/src" "$d/mnt" || { echo "errseqfs failed to mount"; exit 1; }
  c() { "$ctl" -s "$d/ctl.sock" "$@"; }

  dd if=/dev/urandom of="$d/mnt/table" bs=64k count=4 status=none   # buffered, no fsync
  # The checkpointer opens the table now and fsyncs later, when told to.
  coproc CKPT { python3 -u -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
print("ready", flush=True)
sys.stdin.readline()
try:
    os.fsync(fd); print("0")
except OSError as e:
    print(os.strerror(e.errno))
' "$d/mnt/table"; }
  read -r _ <&"${CKPT[0]}"
  c fail write data table EIO >/dev/null
  c sync                      # background writeback runs and fails; nobody is told
  c heal
  if out=$(sync --data "$d/mnt/table" 2>&1); then result[$p,backup]=0; else result[$p,backup]="${out##*: }"; fi
  echo go >&"${CKPT[1]}"
  read -r ck <&"${CKPT[0]}"
  result[$p,ckpt]=$ck
  wait "$CKPT_PID" 2>/dev/null
  if out=$(sync --file-system "$d/mnt/table" 2>&1); then result[$p,syncfs]=0; else result[$p,syncfs]="${out##*: }"; fi
  c events > "$d/events.txt"
done

printf '\nA table written with dd (no fsync); the disk fails during writeback; then:\n\n'
printf '  %-58s %-22s %s\n' "who asks" "errseq (Linux 5.8+)" "legacy (before 4.13)"
printf '  %-58s %-22s %s\n' "backup tool: sync --data table (opens, fdatasyncs)" "${result[errseq,backup]}" "${result[legacy,backup]}"
printf '  %-58s %-22s %s\n' "database checkpointer: fsync on its long-open descriptor" "${result[errseq,ckpt]}" "${result[legacy,ckpt]}"
printf '  %-58s %-22s %s\n' "volume monitor: sync --file-system table (syncfs)" "${result[errseq,syncfs]}" "${result[legacy,syncfs]}"
printf '\nUnder legacy tracking the backup tool consumed the error, and the checkpointer was told\n'
printf 'nothing: its data is gone and it does not know. Under errseq both were told, and so\n'
printf 'was the volume monitor: the super block keeps its own errseq for syncfs (Linux 5.8+).\n'
for p in errseq legacy; do
  printf '\nLedger of the %s mount (errseqctl events):\n' "$p"
  sed 's/^/  /' "$base/$p/events.txt"
done
status=0
for p in errseq legacy; do
  fusermount3 -u "$base/$p/mnt" || status=1
done
sleep 0.5
trap - EXIT
exit $status
