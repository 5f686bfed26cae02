#!/usr/bin/env python3
"""Random scenarios, answered by the Linux kernel, then run on errseq: a differential search.

Why it exists: the scenario files say what Linux does, but only for the cases someone thought
of. This script writes random scenarios (../shared/scenarios/README.md format: several files,
descriptions opened, duplicated and closed, writes, reads, every sync call (sync_file_range
with its flags too), read and write faults armed and healed, evictions, unlinks, opens with
O_TRUNC, remounts),
lets the kernel answer every command with `../shared/tools/scn_kernel.py` (ext4 on a loop
device over a fault-injecting FUSE file, as for the checked-in scenarios), writes the kernel's
answers into the files as expectations, runs them on the kernel again (a file whose answers
change is dropped: not deterministic), and then runs the confirmed files with errseq-conform on
the library and through an errseqfs mount, both with `--evict linux`: the kernel loses an
unseen error when it evicts the inode, where errseq by default keeps the inode in core until
somebody is told (until 2026-11-28 the library ran with that default and differed from the
kernel whenever a file was evicted with an error nobody had been told of, seed 40133).
Every file errseq answers differently is a candidate fault, to be read by a person; one worth
keeping is reduced by hand and added to tests/scenarios/.

Needs root (the kernel runner mounts), ../shared/tools/scn_kernel.py and a build of
errseq-conform and errseqfs. Not part of the test command: it needs the shared tool and takes
minutes.

    python3 scripts/scn_fuzz.py --seed 1 --count 20 --out /var/tmp/scn-fuzz build/rel

With `--blockdev` every scenario works on the block device file `@dev` instead (the loop device
itself on the kernel, `fs=blockdev` on errseq): its first 256 KiB written and synced first,
then the same calls, faults on the whole device, no unlink or remount.

Generated files keep to what the kernel target can answer deterministically: every file is
written and fsynced to 64 KiB first (each followed by a 4 KiB file, so that no two
files' blocks are neighbours), and later writes stay inside it (so `fail ... data` names
blocks that exist and do not move); faults are healed before an unlink; `evict` runs only
when no description is open (the kernel's drop_caches drops every clean page, open or not).
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
KERNEL_TOOL = os.path.join(os.path.dirname(PROJECT), "shared", "tools", "scn_kernel.py")
FILE_SIZE = 64 * 1024
DEV_SPAN = 256 * 1024  # of the block device, in --blockdev runs (errseq-conform's is 1 MiB)
PAGE = 4096


class Gen:
    """One random scenario. Tracks which descriptions are open on which file."""

    OPS = [("write", 26), ("read", 12), ("fsync", 10), ("fdatasync", 5), ("syncfs", 5),
           ("open", 9), ("close", 7), ("dup", 2), ("sync", 3), ("fail", 6), ("heal", 4),
           ("sync_file_range", 3),
           ("evict", 3), ("unlink", 1), ("trunc", 1), ("remount", 1)]

    HEADER = ["about    random scenario (scripts/scn_fuzz.py); answers from the kernel"]

    def __init__(self, rng, name, files, nops, without=()):
        self.rng = rng
        self.ops = [(o, w) for o, w in self.OPS if o not in without]
        self.lines = ["name     %s" % name] + self.HEADER + [""]
        self.files = files
        self.handles = {}  # handle -> (file, access, generation of the file)
        self.gen = {f: 0 for f in self.files}
        self.armed = False
        self.next_handle = 0
        self.setup()
        for _ in range(nops):
            self.step()
        for h in sorted(self.handles):
            self.emit("close %s" % h)

    def setup(self):
        for i, f in enumerate(self.files):
            self.create(f)
            # A block between the files: the block layer merges writes to neighbouring blocks
            # into one I/O, so a fault on one file's last block would fail the next file's
            # first block too (seed 7063: an ENOSPC armed on f0 reached f1).
            self.emit("open new pad%d rdwr creat trunc" % i)
            self.emit("write new 0 %d 0x01" % PAGE)
            self.emit("fsync new")
            self.emit("close new")

    def emit(self, line):
        self.lines.append(line)

    def create(self, f):
        self.emit("open new %s rdwr creat trunc" % f)
        # In 4 KiB writes: ext4 caches a large write in a large folio, and a range sync (an
        # O_DSYNC write) then writes back the whole folio, other pages' dirty data too;
        # errseq's cache works in pages (docs/semantics.md).
        for off in range(0, FILE_SIZE, PAGE):
            self.emit("write new %d %d 0x01" % (off, PAGE))
        self.emit("fsync new")
        self.emit("close new")

    def fault_target(self):
        return "data " + self.rng.choice(self.files)

    def new_handle(self):
        self.next_handle += 1
        return "h%d" % self.next_handle

    def pick(self, want=None):
        hs = sorted(self.handles)
        if want:
            good = [h for h in hs if want in self.handles[h][1]]
            if good and self.rng.random() < 0.95:
                hs = good
        return self.rng.choice(hs) if hs else None

    def range(self):
        r = self.rng
        if r.random() < 0.6:
            off = r.randrange(FILE_SIZE // PAGE) * PAGE
            n = r.choice([PAGE, PAGE, 2 * PAGE, 3 * PAGE])
        else:
            off = r.randrange(FILE_SIZE)
            n = r.choice([1, 100, 512, 1000, 3000, PAGE, 5000])
        return off, max(1, min(n, FILE_SIZE - off))

    def step(self):
        r = self.rng
        ops = self.ops
        op = r.choices([o for o, _ in ops], [w for _, w in ops])[0]
        if op != "open" and not self.handles and op in (
                "write", "read", "fsync", "fdatasync", "syncfs", "close", "dup", "sync_file_range"):
            op = "open"
        if op == "open":
            f = r.choice(self.files)
            acc = r.choice(["rdonly", "wronly", "rdwr", "rdwr"])
            extra = r.choice(["", "", "", "", "", " dsync", " sync"]) if acc != "rdonly" else ""
            h = self.new_handle()
            self.handles[h] = (f, {"rdonly": "r", "wronly": "w", "rdwr": "rw"}[acc], self.gen[f])
            self.emit("open %s %s %s%s" % (h, f, acc, extra))
        elif op == "close":
            h = self.pick()
            del self.handles[h]
            self.emit("close %s" % h)
        elif op == "dup":
            h = self.pick()
            n = self.new_handle()
            self.handles[n] = self.handles[h]
            self.emit("dup %s %s" % (h, n))
        elif op == "write":
            h = self.pick("w")
            off, n = self.range()
            self.emit("write %s %d %d 0x%02x" % (h, off, n, r.randrange(0x10, 0xff)))
        elif op == "read":
            h = self.pick("r")
            off, n = self.range()
            self.emit("read %s %d %d 0x00" % (h, off, n))
        elif op in ("fsync", "fdatasync", "syncfs"):
            self.emit("%s %s" % (op, self.pick()))
        elif op == "sync_file_range":
            off, n = self.range()
            flags = r.choice(["write", "wait_before|write|wait_after", "write|wait_after",
                              "wait_after", "wait_before"])
            self.emit("sync_file_range %s %d %d %s" % (self.pick(), off, n, flags))
        elif op == "sync":
            self.emit("sync")
        elif op == "fail":
            kind = r.choices(["write", "read", "all"], [7, 2, 1])[0]
            err = r.choices(["EIO", "ENOSPC"], [4, 1])[0]
            self.emit("fail %s %s %s" % (kind, self.fault_target(), err))
            self.armed = True
        elif op == "heal":
            self.emit("heal")
            self.armed = False
        elif op == "evict":
            if self.handles:
                return
            for f in self.files:
                self.emit("evict %s" % f)
        elif op == "unlink":
            # A new file may get the old one's blocks, which the kernel's faults name.
            if self.armed:
                self.emit("heal")
                self.armed = False
            f = r.choice(self.files)
            self.emit("unlink %s" % f)
            self.gen[f] += 1
            self.create(f)
        elif op == "trunc":
            # open(O_TRUNC) with other descriptions open, then the whole file written again
            # and fsynced through it. Healed first: ext4 gives the file new blocks, and the
            # kernel's faults name the old ones.
            if self.armed:
                self.emit("heal")
                self.armed = False
            f = r.choice(self.files)
            h = self.new_handle()
            self.handles[h] = (f, "rw", self.gen[f])
            self.emit("open %s %s rdwr trunc" % (h, f))
            for off in range(0, FILE_SIZE, PAGE):
                self.emit("write %s %d %d 0x%02x" % (h, off, PAGE, r.randrange(0x10, 0xff)))
            self.emit("fsync %s" % h)
        elif op == "remount":
            for h in sorted(self.handles):
                self.emit("close %s" % h)
            self.handles.clear()
            self.emit("remount")


class DevGen(Gen):
    """One random scenario on the block device file `@dev` (`needs blockdev`): the same calls
    on the device's first DEV_SPAN bytes, faults on the whole device, no unlink or remount."""

    OPS = [(o, w) for o, w in Gen.OPS if o not in ("unlink", "remount")]

    HEADER = ["about    random block-device scenario (scripts/scn_fuzz.py --blockdev); "
              "answers from the kernel",
              "needs    blockdev"]

    def setup(self):
        self.emit("open new @dev wronly")  # every page of the span on the device once
        for off in range(0, DEV_SPAN, PAGE):
            self.emit("write new %d %d 0x01" % (off, PAGE))
        self.emit("fsync new")
        self.emit("close new")

    def fault_target(self):
        return "device"

    def range(self):
        off, n = Gen.range(self)
        off = off * DEV_SPAN // FILE_SIZE // PAGE * PAGE + off % PAGE
        return off, max(1, min(n, DEV_SPAN - off))


MISMATCH = re.compile(r"^(?P<path>\S+\.scn):(?P<line>\d+): \[[^\]]+\] (?P<text>.*): "
                      r"expected (?P<exp>.*?), got (?P<got>.*)$")


def kernel_run(files, mkfs_opts):
    """Run the kernel on FILES; return {path: {line_no: got}} for every mismatch."""
    cmd = [sys.executable, KERNEL_TOOL]
    if mkfs_opts:
        cmd += ["--mkfs-opts", mkfs_opts]
    p = subprocess.run(cmd + files, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit("scn_kernel.py failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
    out = {}
    for line in p.stdout.splitlines():
        m = MISMATCH.match(line)
        if m:
            out.setdefault(m["path"], {})[int(m["line"])] = m["got"]
    return out


def apply_answers(path, answers):
    """Write the kernel's answers into PATH as expectations. False if one cannot be used."""
    lines = open(path).read().split("\n")
    for line_no, got in answers.items():
        text = lines[line_no - 1]
        words = text.split()
        if got.startswith("runner error"):
            lines[line_no - 1] = "# dropped (%s): %s" % (got, text)
            continue
        if words[0] == "read" and "bytes" in got:
            # One value over the whole length: that is the byte; several: the read is dropped.
            m = re.match(r"(\d+) bytes, values (0x[0-9a-f]{2})(?:$|, first)", got)
            if m and int(m[1]) == int(words[3]):
                words[4] = m[2]
                lines[line_no - 1] = " ".join(words)
            else:
                lines[line_no - 1] = "# dropped (kernel read %s): %s" % (got, text)
            continue
        if not re.fullmatch(r"E[A-Z0-9]+", got):
            return False
        lines[line_no - 1] = "%s => %s" % (text.split("=>")[0].rstrip(), got)
    open(path, "w").write("\n".join(lines))
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", help="build directory holding tools/errseq-conform and tools/errseqfs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--ops", type=int, default=40)
    ap.add_argument("--files", type=int, default=2)
    ap.add_argument("--blockdev", action="store_true",
                    help="scenarios on the block device file @dev instead of files on ext4")
    ap.add_argument("--no-sync-file-range", action="store_true",
                    help="no sync_file_range: the mount target skips every file with a wait flag")
    ap.add_argument("--out", default="/var/tmp/scn-fuzz")
    ap.add_argument("--mkfs-opts", default="-b 4096",
                    help="for the kernel's ext4 (errseq's page cache works in 4 KiB pages)")
    ap.add_argument("--errseqfs-options", default="",
                    help="more options for the mount (e.g. cache_reads=on, io_uring=on)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("scn_fuzz: needs root (the kernel runner mounts ext4 on a loop device)")
    if not os.path.exists(KERNEL_TOOL):
        sys.exit("scn_fuzz: %s not found" % KERNEL_TOOL)
    conform = os.path.join(args.build, "tools", "errseq-conform", "errseq-conform")
    errseqfs = os.path.join(args.build, "tools", "errseqfs", "errseqfs")
    for b in (conform, errseqfs):
        if not os.access(b, os.X_OK):
            sys.exit("scn_fuzz: %s not built" % b)

    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    files = []
    for i in range(args.count):
        seed = args.seed + i
        name = "fuzz-%d" % seed
        cls = DevGen if args.blockdev else Gen
        files_of = ["@dev"] if args.blockdev else ["f%d" % i for i in range(args.files)]
        g = cls(random.Random(seed), name, files_of, args.ops,
                without=("sync_file_range",) if args.no_sync_file_range else ())
        path = os.path.join(args.out, name + ".scn")
        open(path, "w").write("\n".join(g.lines) + "\n")
        files.append(path)

    # The kernel answers; its answers become the expectations; it must then agree with itself.
    pending = list(files)
    for _ in range(4):
        answers = kernel_run(pending, args.mkfs_opts)
        still = []
        for f in pending:
            if f in answers:
                if apply_answers(f, answers[f]):
                    still.append(f)
                else:
                    os.rename(f, f + ".unusable")
        pending = still
        if not pending:
            break
    for f in pending:
        print("not deterministic on the kernel: %s" % f)
        os.rename(f, f + ".unstable")
    kept = [f for f in files if os.path.exists(f)]
    print("%d of %d scenarios answered by the kernel" % (len(kept), len(files)))
    if not kept:
        return 1

    # The kernel does not pass syncfs to a FUSE server, so syncfs through the mount writes
    # nothing back (docs/errseqfs.md, "syncfs through the mount"), and every later result can
    # differ for it. For the mount each syncfs comes after a sync (which writes everything back
    # and reports nothing): the kernel's answers stay the same, the known limit drops out. Not
    # on a block device, where syncfs writes nothing on Linux either.
    mount_dir = os.path.join(args.out, "mount")
    os.makedirs(mount_dir)
    mount_files = []
    for f in kept:
        lines = open(f).read().split("\n")
        out = []
        for l in lines:
            if l.startswith("syncfs ") and not args.blockdev:
                out.append("sync")
            out.append(l)
        g = os.path.join(mount_dir, os.path.basename(f))
        open(g, "w").write("\n".join(out))
        mount_files.append(g)

    failed = 0
    mount_opts = ["--errseqfs-options", args.errseqfs_options] if args.errseqfs_options else []
    for label, extra, paths in (("library", ["--evict", "linux"], kept),
                                ("mount", ["--target", "mount", "--errseqfs", errseqfs,
                                           "--evict", "linux"] + mount_opts,
                                 mount_files)):
        p = subprocess.run([conform] + extra + paths, capture_output=True, text=True)
        lines = [l for l in (p.stdout + p.stderr).splitlines() if "expected" in l or "error" in l]
        # How many files ran: a target skips a file it cannot run (the mount: any
        # sync_file_range with a wait flag, which no FUSE request carries; --no-sync-file-range).
        summary = [l for l in p.stdout.splitlines() if re.match(r"\d+ passed", l)]
        print("== %s: %d differences (%s)" % (label, len(lines), summary[-1] if summary else "?"))
        print("\n".join(lines[:60]))
        failed |= bool(lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
