// errseqfs: mounts a directory (passthrough) or an image file / block device (-o fs=blockdev)
// through FUSE on errseq's page cache, so unmodified programs see Linux's writeback error
// reporting, with faults armed from the shell (errseqctl) or a fault table (-o faults=FILE).
//
//   errseqfs [-f] [-d] [-o opt,...] SOURCE MOUNTPOINT
//
// Exit status: 0 after a clean unmount; 1 if mounting failed or the final writeback lost data
// (the message says what); 2 for bad arguments.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "errseq/block/fault_device.h"
#include "errseq/block/fault_table_text.h"
#include "errseq/block/file_device.h"
#include "errseq/ctl/control_server.h"
#include "errseq/fs/blockdev_fs.h"
#include "errseq/fs/passthrough_fs.h"
#include "errseq/fuse/fuse_server.h"
#include "errseq/mm/page_pool.h"

namespace {

using namespace errseq;

constexpr const char* kUsage =
    "usage: errseqfs [-f] [-d] [-o opt,...] SOURCE MOUNTPOINT\n"
    "\n"
    "SOURCE is a directory (passthrough), or with -o fs=blockdev an image file or block device\n"
    "shown as one file. Unmount with: fusermount3 -u MOUNTPOINT\n"
    "\n"
    "  -f                     stay in the foreground\n"
    "  -d                     FUSE debug output (implies -f)\n"
    "  -o fs=passthrough|blockdev\n"
    "  -o faults=FILE         fault table to load at mount (docs/fault-tables.md)\n"
    "  -o profile=errseq|errseq-4.13|legacy|sticky\n"
    "  -o policy=clean|keep_dirty|revert|delayed\n"
    "  -o evict=pin|linux\n"
    "  -o dirty_expire_ms=N   age at which dirty pages are written back (default 30000)\n"
    "  -o cache_size=N[k|m|g] page cache size (default 256m; the source's own page cache\n"
    "                         holds the data too)\n"
    "  -o prefault=on|off     map and touch the page cache's memory before serving the first\n"
    "                         request (default on), not in the writes that fill it\n"
    "  -o dirty_background=N  start background writeback above this (default 8m)\n"
    "  -o dirty_limit=N       throttle writers while dirty data and data being written\n"
    "                         back are above this (default half the cache)\n"
    "  -o persist_after=N     write-behind: each time N more bytes of a file were written\n"
    "                         back, the source makes them durable (fdatasync) in the\n"
    "                         background, so a long stream's fsync waits for little\n"
    "                         (default 32m; 0: only fsync, sync and unmount do)\n"
    "  -o ctl=SOCKET          control socket for errseqctl (default under $XDG_RUNTIME_DIR\n"
    "                         or /run/errseq)\n"
    "  -o allow_other         let other users in (off by default); default_permissions is on\n"
    "  -o cache_reads=on|off  keep pages that are only read in the page cache (default off:\n"
    "                         the source and the kernel cache them already; pages written\n"
    "                         are always cached)\n"
    "  -o read_ahead_kb=N     the mount's readahead (default 4096; 0: the kernel's 128)\n"
    "  -o splice_reads=on|off reads that find nothing in errseq's cache are spliced from\n"
    "                         the source file to the kernel (default on; READs then stay\n"
    "                         within /proc/sys/fs/pipe-max-size unless max_read= is given)\n"
    "  -o entry_timeout=S     how long the kernel may keep a name it looked up (default 1;\n"
    "                         seconds): a name changed in the source behind the mount's\n"
    "                         back is seen that late\n"
    "  -o attr_timeout=S      how long the kernel may keep the attributes of directories\n"
    "                         and of files errseq caches nothing of (default 1); files\n"
    "                         with cached pages: never (a failed writeback may change them)\n"
    "  -o spin_us=N           after a request, the thread reading the FUSE device polls it\n"
    "                         this long before it sleeps (default 50; 0: never polls)\n"
    "  -o loop=errseq|libfuse which request loop (default errseq: one reading thread answers\n"
    "                         quick requests itself; libfuse: fuse_session_loop_mt)\n"
    "  -o io_uring=auto|on|off  requests over io_uring, one queue per CPU (default auto: when\n"
    "                         the kernel offers it, i.e. fuse.enable_uring=Y on Linux 6.14+;\n"
    "                         on: the mount fails otherwise; docs/errseqfs.md)\n"
    "  -o direct_write_only=on|off  files opened write-only bypass the kernel's page cache\n"
    "                         (default on; their writes still reach errseq's cache)\n"
    "  -o flush_on_close=on|off  close(2) sends the kernel's FLUSH request (default off:\n"
    "                         it would report and consume nothing, and costs a round trip)\n"
    "  -o xattr=on|off        extended attributes (user.*, trusted.*, security.*) of the\n"
    "                         source (default off: the kernel then asks before every\n"
    "                         write through its page cache; docs/errseqfs.md)\n"
    "  -o syncfs_mirror=on|off  syncfs(2) on the mount reports the super block's writeback\n"
    "                         errors (default on; needs root; docs/errseqfs.md)\n"
    "  other -o options go to libfuse\n";

int Bad(const std::string& what) {
  std::fprintf(stderr, "errseqfs: %s\n(see errseqfs --help)\n", what.c_str());
  return 2;
}

bool ParseOnOff(const std::string& s, bool* out) {
  if (s != "on" && s != "off") return false;
  *out = s == "on";
  return true;
}

// Seconds for a kernel cache timeout: a decimal number from 0 to 86400 ("1", "0.5", "10").
bool ParseSeconds(const std::string& s, double* out) {
  if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789.") != std::string::npos ||
      s.find('.') != s.rfind('.') || s == ".") {
    return false;
  }
  const double v = std::strtod(s.c_str(), nullptr);
  if (v > 86400) return false;
  *out = v;
  return true;
}

bool ParseSize(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t mult = 1;
  std::string d = s;
  switch (d.back()) {
    case 'k': case 'K': mult = 1ull << 10; break;
    case 'm': case 'M': mult = 1ull << 20; break;
    case 'g': case 'G': mult = 1ull << 30; break;
    default: break;
  }
  if (mult != 1) d.pop_back();
  if (d.empty() || d.size() > 15 || d.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::stoull(d) * mult;
  return true;
}

// Every in-core inode of a source file holds a host descriptor, two once an fsync has written
// it with direct I/O. Under the usual soft limit of 1024 descriptors a program holding a
// thousand files open through the mount (a database's tables), or one that creates files one
// after another, got EMFILE from errseqfs long before its own limit. So: the soft limit goes up
// to the hard one, as a file server's should, and the cache of in-core inodes nobody has open
// is kept small enough for the descriptors left (two each, 128 kept for everything else).
// Returns that cache limit.
size_t RaiseFileLimit(size_t inode_cache_limit) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return inode_cache_limit;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit up = rl;
    up.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return inode_cache_limit;
  const rlim_t spare = rl.rlim_cur > 256 ? (rl.rlim_cur - 128) / 2 : 64;
  return std::min<size_t>(inode_cache_limit, static_cast<size_t>(spare));
}

}  // namespace

int main(int argc, char** argv) {
  // libfuse ignores SIGPIPE only while its loop runs; the final writeback after it and the
  // control socket must never die of a peer that went away.
  std::signal(SIGPIPE, SIG_IGN);
  fuse::FuseServer::Options fo;
  fo.foreground = false;
  vfs::MountOptions mo;
  // Write-behind every 32 MiB unless -o persist_after= says otherwise: the disk's cache flush
  // of a long stream is spread over the stream instead of all in its final fsync
  // (docs/benchmarks.md, W1 and W2: write-behind).
  mo.writeback.persist_after_bytes = 32ull << 20;
  mo.cache_reads = false;  // -o cache_reads=on turns it back on
  std::string fs_type = "passthrough", faults_file, ctl_socket;
  std::vector<std::string> positional;
  bool prefault = true;
  bool background_set = false, limit_set = false, cache_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "-f") {
      fo.foreground = true;
    } else if (a == "-d") {
      fo.debug = fo.foreground = true;
    } else if (a == "-o" || (a.size() > 2 && a.compare(0, 2, "-o") == 0)) {
      std::string list = a == "-o" ? (i + 1 < argc ? argv[++i] : "") : a.substr(2);
      if (list.empty()) return Bad("-o needs options");
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        std::string opt = list.substr(pos, comma - pos);
        pos = comma + 1;
        if (opt.empty()) continue;
        size_t eq = opt.find('=');
        std::string key = opt.substr(0, eq), val = eq == std::string::npos ? "" : opt.substr(eq + 1);
        if (key == "fs") {
          if (val != "passthrough" && val != "blockdev") return Bad("fs= must be passthrough or blockdev");
          fs_type = val;
        } else if (key == "faults") {
          faults_file = val;
        } else if (key == "profile") {
          auto p = vfs::ParseProfile(val);
          if (!p) return Bad(fmt::format("unknown profile '{}'", val));
          mo.profile = *p;
        } else if (key == "policy") {
          auto p = mm::ParsePolicy(val);
          if (!p) return Bad(fmt::format("unknown policy '{}'", val));
          mo.policy = *p;
        } else if (key == "evict") {
          auto e = vfs::ParseEvictMode(val);
          if (!e) return Bad(fmt::format("evict= must be pin or linux, not '{}'", val));
          mo.evict = *e;
        } else if (key == "dirty_expire_ms") {
          uint64_t v;
          if (!ParseSize(val, &v) || v > 86'400'000) return Bad("dirty_expire_ms= needs milliseconds");
          mo.writeback.dirty_expire_ms = static_cast<uint32_t>(v);
        } else if (key == "cache_size") {
          uint64_t v;
          if (!ParseSize(val, &v) || v < (1 << 20)) return Bad("cache_size= needs a size of at least 1m");
          mo.writeback.cache_limit_bytes = v;
          cache_set = true;
          mo.writeback.dirty_limit_bytes = std::min(mo.writeback.dirty_limit_bytes, v / 2);
          mo.writeback.dirty_background_bytes = std::min(mo.writeback.dirty_background_bytes, v / 4);
        } else if (key == "dirty_background" || key == "dirty_limit") {
          uint64_t v;
          if (!ParseSize(val, &v) || v < (1 << 20)) return Bad(key + "= needs a size of at least 1m");
          (key == "dirty_background" ? mo.writeback.dirty_background_bytes
                                     : mo.writeback.dirty_limit_bytes) = v;
          (key == "dirty_background" ? background_set : limit_set) = true;
        } else if (key == "persist_after") {
          uint64_t v;
          if (!ParseSize(val, &v) || (v != 0 && v < (1 << 20))) {
            return Bad("persist_after= needs 0 or a size of at least 1m");
          }
          mo.writeback.persist_after_bytes = v;
        } else if (key == "ctl") {
          if (val.empty()) return Bad("ctl= needs a socket path");
          ctl_socket = val;
        } else if (key == "md_cursor") {
          mo.md_cursor = val.empty() || val == "on";
        } else if (key == "allow_other") {
          fo.allow_other = true;
        } else if (key == "read_ahead_kb") {
          uint64_t v;
          if (!ParseSize(val, &v) || v > (1 << 20)) return Bad("read_ahead_kb= needs a number of KiB (0: the kernel's default)");
          fo.read_ahead_kb = static_cast<unsigned>(v);
        } else if (key == "cache_reads") {
          if (!ParseOnOff(val, &mo.cache_reads)) return Bad("cache_reads= must be on or off");
        } else if (key == "entry_timeout" || key == "attr_timeout") {
          double v;
          if (!ParseSeconds(val, &v)) return Bad(key + "= needs seconds, from 0 to 86400");
          (key == "entry_timeout" ? fo.entry_timeout : fo.attr_timeout) = v;
        } else if (key == "spin_us") {
          uint64_t v;
          if (!ParseSize(val, &v) || v > 10000) return Bad("spin_us= needs a number of microseconds (0-10000)");
          fo.spin_us = static_cast<unsigned>(v);
        } else if (key == "loop") {
          if (val != "errseq" && val != "libfuse") return Bad("loop= must be errseq or libfuse");
          fo.libfuse_loop = val == "libfuse";
        } else if (key == "io_uring") {
          if (val == "auto") fo.io_uring = fuse::FuseServer::IoUring::kAuto;
          else if (val == "on") fo.io_uring = fuse::FuseServer::IoUring::kOn;
          else if (val == "off") fo.io_uring = fuse::FuseServer::IoUring::kOff;
          else return Bad("io_uring= must be auto, on or off");
        } else if (key == "direct_write_only") {
          if (!ParseOnOff(val, &fo.direct_write_only)) return Bad("direct_write_only= must be on or off");
        } else if (key == "splice_reads") {
          if (!ParseOnOff(val, &fo.splice_reads)) return Bad("splice_reads= must be on or off");
        } else if (key == "prefault") {
          if (!ParseOnOff(val, &prefault)) return Bad("prefault= must be on or off");
        } else if (key == "xattr") {
          if (!ParseOnOff(val, &fo.xattr)) return Bad("xattr= must be on or off");
        } else if (key == "flush_on_close") {
          if (!ParseOnOff(val, &fo.flush_on_close)) return Bad("flush_on_close= must be on or off");
        } else if (key == "syncfs_mirror") {
          if (!ParseOnOff(val, &fo.syncfs_mirror)) return Bad("syncfs_mirror= must be on or off");
        } else if (key == "default_permissions") {
          // always on
        } else {
          fo.fuse_options.push_back(opt);
        }
      }
    } else if (!a.empty() && a[0] == '-') {
      return Bad(fmt::format("unknown option '{}'", a));
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return Bad("expected SOURCE and MOUNTPOINT");
  // A mount streams its data on to the backing store: start background writeback early, so
  // that the host's own writeback overlaps with incoming writes (W1 in docs/benchmarks.md:
  // 245 MB/s with the library's RAM-fraction defaults, about 600 MB/s with these).
  // The source's page cache holds the data as well, so a large cache here only doubles the
  // memory and costs a first-touch page fault for every page it grows by: 256 MiB roughly
  // doubled cold sequential reads (W4) against half of RAM, and did not slow writes.
  if (!cache_set) {
    uint64_t want = 256ull << 20;
    if (limit_set) want = std::max(want, 2 * mo.writeback.dirty_limit_bytes);
    if (background_set) want = std::max(want, 4 * mo.writeback.dirty_background_bytes);
    auto& wb = mo.writeback;
    wb.cache_limit_bytes = std::min<uint64_t>(wb.cache_limit_bytes, want);
    if (!limit_set) wb.dirty_limit_bytes = std::min(wb.dirty_limit_bytes, wb.cache_limit_bytes / 2);
    if (!background_set) {
      wb.dirty_background_bytes = std::min(wb.dirty_background_bytes, wb.cache_limit_bytes / 4);
    }
  }
  // Background writeback from 8 MiB of dirty data: little is left for the fsync at the end of
  // a stream (W2 in alternating runs against 64 MiB: faster in 12 of 12 pairs, medians 164 and
  // 145 against 149 and 137 MB/s; the final fsync 0.12 against 0.2 s).
  if (!background_set) {
    mo.writeback.dirty_background_bytes = std::min<uint64_t>(mo.writeback.dirty_background_bytes, 8 << 20);
  }
  // Writeback runs of up to 4 MiB (IOV_MAX pages): one host write and one early-writeback
  // hint per 4 MiB instead of four (W1 median 619 against 560 MB/s in alternating runs).
  mo.writeback.max_write_pages = 1024;
  if (!limit_set) {
    mo.writeback.dirty_limit_bytes = std::min<uint64_t>(mo.writeback.dirty_limit_bytes, 1ull << 30);
  }
  mo.inode_cache_limit = RaiseFileLimit(mo.inode_cache_limit);
  const std::string source = positional[0];
  fo.mountpoint = positional[1];
  struct stat st;
  if (::stat(fo.mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "errseqfs: mountpoint '%s' is not a directory\n", fo.mountpoint.c_str());
    return 1;
  }

  auto faults = std::make_shared<block::FaultInjector>();
  // A delay rule (loaded at mount, or later by errseqctl) makes quick requests wait: see
  // FuseServer::Options::requests_may_wait.
  fo.requests_may_wait = [faults] { return faults->delays(); };
  if (!faults_file.empty()) {
    auto rules = block::LoadFaultTableFile(faults_file);
    if (!rules.ok()) {
      std::fprintf(stderr, "errseqfs: %s\n", rules.status().message().c_str());
      return 1;
    }
    faults->Load(std::move(*rules));
  }
  std::unique_ptr<vfs::FileSystem> fs;
  if (fs_type == "passthrough") {
    auto p = fs::PassthroughFs::Open(source, faults);
    if (!p.ok()) {
      std::fprintf(stderr, "errseqfs: %s\n", p.status().message().c_str());
      return 1;
    }
    fs = std::move(*p);
  } else {
    auto dev = block::FileDevice::Open(source);
    if (!dev.ok()) {
      std::fprintf(stderr, "errseqfs: %s\n", dev.status().message().c_str());
      return 1;
    }
    auto fdev = std::make_shared<block::FaultDevice>(std::shared_ptr<block::BlockDevice>(std::move(*dev)), faults);
    auto b = fs::BlockdevFs::Open(fdev, std::filesystem::path(source).filename().string(),
                                  fs::BlockdevFs::ReadaheadKbOf(source));
    if (!b.ok()) {
      std::fprintf(stderr, "errseqfs: %s\n", b.status().message().c_str());
      return 1;
    }
    fs = std::move(*b);
  }
  if (ctl_socket.empty()) ctl_socket = ctl::ControlServer::DefaultSocket(fo.mountpoint);

  std::string mountpoint_abs = std::filesystem::absolute(fo.mountpoint).string();
  fuse::FuseServer server(std::move(fs), mo, source, fo);
  std::unique_ptr<ctl::ControlServer> control;
  Status ctl_status;
  Status s = server.Run([&](vfs::SuperBlock& sb) {
    // After daemonizing (a forked child would fault every page again, copy-on-write), before
    // the loop: the first request waits for it. The first touch of memory is slow on some
    // virtual machines (about 0.5 GB/s here, docs/benchmarks.md), and a page cache that
    // grows inside the writes that fill it makes the first 256 MiB written that slow.
    if (prefault) mm::PagePool::Default().Reserve(mo.writeback.cache_limit_bytes);
    ctl::ControlServer::Hooks hooks;
    // A power cut: from now on the device takes no write, flush or discard (dropped, as
    // by a disk without power), and everything not yet written back is lost.
    hooks.crash = [&server, faults] {
      block::FaultRule off;
      off.ops = static_cast<uint32_t>(block::IoOp::kWrite) |
                static_cast<uint32_t>(block::IoOp::kFlush) |
                static_cast<uint32_t>(block::IoOp::kDiscard);
      off.action = block::FaultRule::Action::kDrop;
      faults->Load({off});
      server.Crash();
    };
    hooks.syncfs_mirror = [&server] { return server.mirror() && server.mirror()->active(); };
    hooks.spliced_read_bytes = [&server] { return server.spliced_read_bytes(); };
    hooks.fuse_transport = [&server] { return server.transport(); };
    hooks.io_uring_requests = [&server] { return server.io_uring_requests(); };
    control = std::make_unique<ctl::ControlServer>(sb, faults, mountpoint_abs, hooks);
    ctl_status = control->Start(ctl_socket);
    if (!ctl_status.ok()) {
      std::fprintf(stderr, "errseqfs: %s (errseqctl will not reach this mount)\n",
                   ctl_status.message().c_str());
    }
  });
  if (control) control->Stop();
  if (!s.ok()) {
    std::fprintf(stderr, "errseqfs: %s\n", s.message().empty() ? s.ToString().c_str() : s.message().c_str());
    return 1;
  }
  return 0;
}
