// PassthroughFs (see include/errseq/fs/passthrough_fs.h). Host errno becomes a Status here.
#include "errseq/fs/passthrough_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "errseq/block/direct_writer.h"
#include "errseq/block/posix_io.h"
#include "errseq/fs/creator.h"
#include "errseq/fs/device_readahead.h"
#include "errseq/vfs/path.h"

namespace errseq::fs {
namespace {

Status Errno() { return Status::Error(-errno); }

// Whether `path` is one the VFS makes: not the root, and NormalizePath leaves it as it is (no
// empty, "." or ".." component). Only such a path names one directory, so only it may key the
// directory cache.
bool Plain(const std::string& path) {
  auto norm = vfs::NormalizePath(path);
  return norm.ok() && !path.empty() && *norm == path;
}

int64_t Ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

vfs::NodeAttr ToAttr(const struct stat& st) {
  vfs::NodeAttr a;
  a.ino = st.st_ino;
  a.mode = st.st_mode;
  a.size = static_cast<uint64_t>(st.st_size);
  a.nlink = static_cast<uint32_t>(st.st_nlink);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.atime_ns = Ns(st.st_atim);
  a.mtime_ns = Ns(st.st_mtim);
  a.ctime_ns = Ns(st.st_ctim);
  a.blocks = static_cast<int64_t>(st.st_blocks);
  return a;
}

// fchmod, fchown and futimens of the file or directory open as `fd`.
Status SetAttrOfFd(int fd, const vfs::AttrChange& change) {
  if (change.mode && ::fchmod(fd, *change.mode) != 0) return Errno();
  if (change.uid || change.gid) {
    uid_t uid = change.uid ? *change.uid : static_cast<uid_t>(-1);
    gid_t gid = change.gid ? *change.gid : static_cast<gid_t>(-1);
    if (::fchown(fd, uid, gid) != 0) return Errno();
  }
  if (change.atime || change.mtime) {
    timespec t[2] = {change.atime.value_or(timespec{0, UTIME_OMIT}),
                     change.mtime.value_or(timespec{0, UTIME_OMIT})};
    if (::futimens(fd, t) != 0) return Errno();
  }
  return Status::Ok();
}

// The entries of the directory open as `fd` (which it closes), without "." and "..".
Result<std::vector<vfs::DirEntry>> ReadDirFd(int fd) {
  DIR* d = ::fdopendir(fd);
  if (!d) {
    Status s = Errno();
    ::close(fd);
    return s;
  }
  std::vector<vfs::DirEntry> out;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    mode_t type = e->d_type == DT_UNKNOWN ? 0 : DTTOIF(e->d_type);
    out.push_back({e->d_name, e->d_ino, type});
  }
  Status s = errno ? Errno() : Status::Ok();
  ::closedir(d);
  if (!s.ok()) return s;
  return out;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// openat2 of `path` beneath the directory `root` ("" is that directory itself).
Result<int> OpenBeneathOf(int root, const std::string& path, int flags, mode_t mode = 0) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, root, path.empty() ? "." : path.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == EXDEV) return Status::Error(-EACCES);  // would leave the root
    return Errno();
  }
}

}  // namespace

// Which fault rule paths name which host files, for rules that name a file by a hard link
// errseq has not seen (made on the host directly). Each rule path is resolved beneath the root
// once per fault table, and again a second later. Shared by all of a file system's files.
// Thread-safety: `mu_` guards the resolved paths.
class RuleResolver {
 public:
  // A host file: its device, inode number and birth time. The birth time tells a new file from
  // a removed one whose inode number it got (ext4 gives a freed number out again at once): until
  // 2026-11-27 a rule resolved to a file that was then removed failed the writes of the next new
  // file for up to a second. 0 where the host keeps no birth time.
  struct Id {
    dev_t dev = 0;
    ino_t ino = 0;
    int64_t born_ns = 0;
    bool operator==(const Id&) const = default;
    // For block::FaultRule::file.
    std::string Text() const {
      return std::to_string(dev) + ":" + std::to_string(ino) + ":" + std::to_string(born_ns);
    }
  };
  static std::optional<Id> IdOf(int fd) {
    struct statx sx {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO | STATX_BTIME,
                &sx) != 0 ||
        !S_ISREG(sx.stx_mode)) {
      return std::nullopt;
    }
    const int64_t born = (sx.stx_mask & STATX_BTIME)
                             ? sx.stx_btime.tv_sec * int64_t{1000000000} + sx.stx_btime.tv_nsec
                             : 0;
    return Id{makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino, born};
  }
  explicit RuleResolver(std::shared_ptr<const DirFdCache::Fd> root) : root_(std::move(root)) {}

  // Appends to *names each path= of `table` that names the host file `id` now and is neither
  // `path` nor in *names.
  void AddAliases(const std::shared_ptr<block::FaultTable>& table, Id id,
                  const std::string& path, std::vector<std::string>* names) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    if (table_.lock() != table || now >= until_) {
      resolved_.clear();
      for (const block::FaultRule& r : table->rules()) {
        if (r.path.empty() || std::any_of(resolved_.begin(), resolved_.end(),
                                          [&](const auto& e) { return e.first == r.path; })) {
          continue;
        }
        if (auto i = Identify(r.path)) resolved_.emplace_back(r.path, *i);
      }
      table_ = table;
      until_ = now + std::chrono::seconds(1);
    }
    for (const auto& [p, i] : resolved_) {
      if (i == id && p != path && std::find(names->begin(), names->end(), p) == names->end()) {
        names->push_back(p);
      }
    }
  }

 private:
  // The host file `path` names beneath the root, without following a final symlink; nullopt
  // if it names no regular file there.
  std::optional<Id> Identify(std::string_view path) const {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (path.empty()) return std::nullopt;
    auto fd = OpenBeneathOf(root_->get(), std::string(path), O_PATH | O_NOFOLLOW);
    if (!fd.ok()) return std::nullopt;
    FdCloser c(*fd);
    return IdOf(*fd);
  }

  const std::shared_ptr<const DirFdCache::Fd> root_;  // an O_PATH descriptor of the root
  std::mutex mu_;
  std::weak_ptr<block::FaultTable> table_;            // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point until_;       // GUARDED_BY(mu_)
  std::vector<std::pair<std::string, Id>> resolved_;  // GUARDED_BY(mu_): for table_
};

namespace {

// One host file's data path. Its names (`path_` and `others_`, guarded by `mu_`) follow renames
// and links, for fault matching. A rule whose path= is none of those names still matches if
// that path names this very host file (a hard link made on the host; RuleResolver).
class HostFileData final : public mm::AddressSpaceOps {
 public:
  // `st`: the open file's fstat (its identity, for the RuleResolver).
  HostFileData(int fd, const struct stat& st, std::string path,
               std::shared_ptr<block::FaultInjector> faults, std::shared_ptr<RuleResolver> resolver)
      : fd_(fd), path_(std::move(path)), faults_(std::move(faults)),
        resolver_(std::move(resolver)), id_{st.st_dev, st.st_ino, 0} {}
  ~HostFileData() override { ::close(fd_); }

  int fd() const { return fd_; }

  void SetNames(const std::string& path, const std::vector<std::string>& others) {
    std::lock_guard lock(mu_);
    path_ = path;
    others_ = others;
  }

  Status ReadPages(uint64_t first_index, std::span<const iovec> pages) override {
    const uint64_t off = first_index << mm::kPageShift;
    const uint64_t len = pages.size() * mm::kPageSize;
    if (Status s = Fault(block::IoOp::kRead, off, len); !s.ok()) return s;
    auto n = block::PreadvAll(fd_, off, pages, /*allow_eof=*/true);
    if (!n.ok()) return n.status();
    Sequential(off, len);
    // Zero what lies past the end of the host file.
    uint64_t pos = 0;
    for (const iovec& v : pages) {
      if (pos + v.iov_len > *n) {
        size_t keep = *n > pos ? static_cast<size_t>(*n - pos) : 0;
        std::memset(static_cast<char*>(v.iov_base) + keep, 0, v.iov_len - keep);
      }
      pos += v.iov_len;
    }
    return Status::Ok();
  }

  Result<mm::StoreRange> ReadRange(uint64_t offset, size_t len) override {
    if (Status s = Fault(block::IoOp::kRead, offset, len); !s.ok()) return s;
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Errno();
    const uint64_t host = static_cast<uint64_t>(st.st_size);
    const size_t have =
        offset >= host ? 0 : static_cast<size_t>(std::min<uint64_t>(len, host - offset));
    Sequential(offset, len, /*hint_readahead=*/false);
    return mm::StoreRange{fd_, offset, have, len - have};
  }

  // What of a run of pages goes to the host: `full` whole pages from `off`, then `tail` bytes
  // of the next (the bytes before file_size, the in-memory i_size when writeback started).
  // `done` is set instead when nothing is to be written: the run was truncated away (OK), or
  // the fault table failed (its error) or dropped (OK) it. Both write paths decide here.
  struct RunPlan {
    std::optional<Status> done;
    uint64_t off = 0, len = 0, tail = 0;
    size_t full = 0;
  };
  RunPlan Plan(uint64_t first_index, size_t pages, uint64_t file_size) const {
    RunPlan p;
    p.off = first_index << mm::kPageShift;
    if (p.off >= file_size) {  // truncated away meanwhile: nothing to write
      p.done = Status::Ok();
      return p;
    }
    p.len = std::min<uint64_t>(pages * mm::kPageSize, file_size - p.off);
    const block::FaultOutcome f = Decide(block::IoOp::kWrite, p.off, p.len);
    if (f.kind == block::FaultOutcome::Kind::kFail) p.done = Status::Error(f.err);
    if (f.kind == block::FaultOutcome::Kind::kDrop) p.done = Status::Ok();
    p.full = static_cast<size_t>(p.len / mm::kPageSize);
    p.tail = p.len - p.full * mm::kPageSize;
    return p;
  }

  Status WritePages(uint64_t first_index, std::span<const iovec> pages,
                    uint64_t file_size) override {
    const RunPlan p = Plan(first_index, pages.size(), file_size);
    if (p.done) return *p.done;
    const uint64_t off = p.off, len = p.len;
    const size_t n = p.full + (p.tail ? 1 : 0);
    std::shared_lock buffered(host_write_mu_);
    Status st = block::PwritevAll(fd_, off, Coalesce(pages.first(n), p.tail));
    // A long run: have the host start writing it out now, so its disk works while more data
    // arrives instead of all at the next fsync. The data stays in the host's page cache, which
    // serves reads of pages our cache does not keep (cache_reads=off). Only a hint: errors
    // surface at the host fsync.
    if (st.ok() && len >= kStartWritebackMin) {
      ::sync_file_range(fd_, static_cast<off64_t>(off), static_cast<off64_t>(len),
                        SYNC_FILE_RANGE_WRITE);
    }
    return st;
  }

  // An fsync's (or sync's) writeback: every run's whole pages as direct I/O, all in flight at
  // once (block::DirectWriter), so the disk writes them in parallel and the host's fsync that
  // follows finds them written; the fault table decides for each run first, as in WritePages.
  // A partial last page goes through the host's page cache (direct I/O writes whole blocks, and
  // must not write past the end of the file). Where the host file system takes no direct I/O,
  // run after run through WritePages.
  void WritePagesForSync(std::span<const PageRun> runs, uint64_t file_size,
                         std::span<Status> results) override {
    block::DirectWriter* direct = Direct();
    if (direct == nullptr) {
      mm::AddressSpaceOps::WritePagesForSync(runs, file_size, results);
      return;
    }
    std::unique_lock direct_only(host_write_mu_);
    std::vector<std::vector<iovec>> iovs;  // the direct runs' pieces, alive until written
    std::vector<block::DirectRun> jobs;
    std::vector<size_t> job_run;  // which run each job is
    iovs.reserve(runs.size());
    jobs.reserve(runs.size());
    for (size_t k = 0; k < runs.size(); ++k) {
      const RunPlan p = Plan(runs[k].first_index, runs[k].pages.size(), file_size);
      results[k] = p.done.value_or(Status::Ok());
      if (p.done) continue;
      if (p.tail != 0) {
        const iovec last{runs[k].pages[p.full].iov_base, static_cast<size_t>(p.tail)};
        results[k] = block::PwritevAll(fd_, p.off + p.full * mm::kPageSize, {&last, 1});
      }
      if (p.full == 0 || !results[k].ok()) continue;
      iovs.push_back(Coalesce(runs[k].pages.first(p.full), 0));
      jobs.push_back({p.off, iovs.back(), Status::Ok()});
      job_run.push_back(k);
    }
    direct->WriteAll(jobs);
    for (size_t j = 0; j < jobs.size(); ++j) results[job_run[j]] = jobs[j].result;
  }

  // O_DIRECT: offsets and lengths in multiples of 512 bytes, as ext4 asks of direct I/O on a
  // disk with 512-byte logical blocks.
  uint32_t DirectAlignment() const override { return 512; }
  // The bytes go to the host file now, through its page cache (the host's fsync at the
  // caller's next fsync makes them durable, as a disk's cache flush would). A dropped write (a
  // lying disk, `crash`) reports success.
  Result<size_t> WriteDirect(uint64_t offset, std::span<const std::byte> data) override {
    const block::FaultOutcome f = Decide(block::IoOp::kWrite, offset, data.size());
    if (f.kind == block::FaultOutcome::Kind::kFail) return Status::Error(f.err);
    if (f.kind == block::FaultOutcome::Kind::kDrop) return data.size();
    std::shared_lock buffered(host_write_mu_);
    const iovec v{const_cast<std::byte*>(data.data()), data.size()};
    if (Status st = block::PwritevAll(fd_, offset, {&v, 1}); !st.ok()) return st;
    return data.size();
  }

  // The pages as few iovecs as possible (pages next to each other in memory become one), the
  // last one cut to `last_len` bytes if that is not 0: fewer segments for the kernel to walk.
  static std::vector<iovec> Coalesce(std::span<const iovec> pages, uint64_t last_len) {
    std::vector<iovec> out;
    out.reserve(pages.size());
    for (size_t k = 0; k < pages.size(); ++k) {
      iovec v = pages[k];
      if (k + 1 == pages.size() && last_len != 0) v.iov_len = last_len;
      if (!out.empty() &&
          static_cast<char*>(out.back().iov_base) + out.back().iov_len == v.iov_base) {
        out.back().iov_len += v.iov_len;
      } else {
        out.push_back(v);
      }
    }
    return out;
  }

  // After a read of [off, off + len) from the host. A sequential reader: have the host read
  // well ahead of us, so the next requests find its page cache warm instead of waiting for the
  // disk one request at a time. Past the first kDropBehindAfter bytes of a stream, drop what the
  // host cached well behind the reader: the reader's own (FUSE) page cache holds those pages
  // now, and a second copy of a long stream in the host's page cache doubles its memory (and
  // the first touches of it, which are slow on some virtual machines: W4 in
  // docs/benchmarks.md).
  //
  // The host keeps a file's pages in large folios (ext4 on 6.18: up to 2 MiB, aligned to their
  // size), and POSIX_FADV_DONTNEED drops only folios wholly inside its range: ranges the size
  // of our READs (1004 KiB) cut through nearly every folio and dropped nothing (1021 of 1024
  // MiB still cached by the host after a W4). So what goes is everything from where the last
  // drop ended up to a kDropAlign boundary behind the reader: folios never straddle one.
  void Sequential(uint64_t off, uint64_t len, bool hint_readahead = true) {
    if (next_seq_.exchange(off + len, std::memory_order_relaxed) != off) {
      // Not the next request of a stream: a new stream, or one served out of order. A new one
      // starting behind what was dropped drops from its own start again.
      const uint64_t start = std::max(off & ~(kDropAlign - 1), kDropBehindAfter - kDropBehindLag);
      uint64_t cur = dropped_to_.load(std::memory_order_relaxed);
      while (start < cur && !dropped_to_.compare_exchange_weak(cur, start)) {
      }
      return;
    }
    if (hint_readahead) ::readahead(fd_, static_cast<off64_t>(off + len), kReadAhead);
    if (off < kDropBehindAfter) return;
    const uint64_t to = (off - kDropBehindLag) & ~(kDropAlign - 1);
    uint64_t from = dropped_to_.load(std::memory_order_relaxed);
    while (from < to && !dropped_to_.compare_exchange_weak(from, to)) {
    }
    if (from < to) {  // [from, to) is this call's alone
      ::posix_fadvise(fd_, static_cast<off_t>(from), static_cast<off_t>(to - from),
                      POSIX_FADV_DONTNEED);
    }
  }

  Status Sync(bool datasync) override {
    if (Status s = Fault(block::IoOp::kFlush, 0, 0); !s.ok()) return s;
    int rc = datasync ? ::fdatasync(fd_) : ::fsync(fd_);
    return rc == 0 ? Status::Ok() : Errno();
  }

  // Write-behind: the host's fdatasync, outside the fault table (no call of the user's).
  Status Persist() override { return ::fdatasync(fd_) == 0 ? Status::Ok() : Errno(); }

  Status SetBackingSize(uint64_t size) override {
    std::shared_lock buffered(host_write_mu_);  // zeroes the tail of the new last block
    return ::ftruncate(fd_, static_cast<off_t>(size)) == 0 ? Status::Ok() : Errno();
  }

  Result<std::vector<Extent>> SeekExtents(uint64_t offset, uint64_t len) {
    std::vector<Extent> out;
    const uint64_t end = offset + len;
    for (uint64_t pos = offset; pos < end;) {
      const off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;
        return Errno();
      }
      const off_t hole = ::lseek(fd_, data, SEEK_HOLE);
      if (hole < 0) return Errno();
      const uint64_t from = static_cast<uint64_t>(data) & ~(mm::kPageSize - 1);
      const uint64_t to = (static_cast<uint64_t>(hole) + mm::kPageSize - 1) & ~(mm::kPageSize - 1);
      if (from >= end || to <= pos) break;
      out.push_back({from, to});
      pos = to;
    }
    return out;
  }

  Result<uint64_t> SeekStore(uint64_t offset, int whence) override {
    const off_t r = ::lseek(fd_, static_cast<off_t>(offset), whence);
    if (r < 0) return Errno();
    return static_cast<uint64_t>(r);
  }

  // The host's extents by FIEMAP, its own dirty pages written first (FIEMAP_FLAG_SYNC, as
  // ext4's direct read writes its page cache back before it looks at the extents), unwritten
  // ones left out. A host file system without FIEMAP: SEEK_DATA and SEEK_HOLE, whole pages
  // (there an unwritten extent with cached pages counts as written).
  Result<std::vector<Extent>> WrittenExtents(uint64_t offset, uint64_t len) override {
    std::vector<Extent> out;
    const uint64_t end = offset + len;
    constexpr uint32_t kBatch = 32;
    std::vector<uint64_t> mem((sizeof(fiemap) + kBatch * sizeof(fiemap_extent)) /
                                  sizeof(uint64_t) + 1);
    auto* fm = reinterpret_cast<fiemap*>(mem.data());
    uint32_t flags = FIEMAP_FLAG_SYNC;
    for (uint64_t pos = offset; pos < end;) {
      std::fill(mem.begin(), mem.end(), 0);
      fm->fm_start = pos;
      fm->fm_length = end - pos;
      fm->fm_flags = flags;
      fm->fm_extent_count = kBatch;
      if (::ioctl(fd_, FS_IOC_FIEMAP, fm) != 0) {
        if (errno == EOPNOTSUPP || errno == ENOTTY) return SeekExtents(offset, len);
        return Errno();
      }
      flags = 0;  // written back once is enough
      if (fm->fm_mapped_extents == 0) break;
      bool last = false;
      for (uint32_t k = 0; k < fm->fm_mapped_extents; ++k) {
        const fiemap_extent& e = fm->fm_extents[k];
        if (!(e.fe_flags & FIEMAP_EXTENT_UNWRITTEN)) {
          out.push_back({e.fe_logical, e.fe_logical + e.fe_length});
        }
        pos = e.fe_logical + e.fe_length;
        last = last || (e.fe_flags & FIEMAP_EXTENT_LAST);
      }
      if (last) break;
    }
    return out;
  }

  // Not subject to fault rules: like ext4's, the call changes block maps and page-cache
  // contents; what fails on a bad disk is their later writeback.
  Status Fallocate(int mode, uint64_t offset, uint64_t len) override {
    std::shared_lock buffered(host_write_mu_);  // a punch or zero range zeroes partial blocks
    return ::fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(len)) == 0
               ? Status::Ok()
               : Errno();
  }

  Result<uint64_t> BackingSize() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Errno();
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  // What the fault table says of this I/O of this file (pass when nothing is armed, without
  // copying the names).
  block::FaultOutcome Decide(block::IoOp op, uint64_t off, uint64_t len) const {
    if (!faults_->armed()) return {};
    std::string path;
    std::vector<std::string> others;
    {
      std::lock_guard lock(mu_);
      path = path_;
      others = others_;
    }
    if (resolver_) resolver_->AddAliases(faults_->Current(), Id(), path, &others);
    return faults_->Apply({op, off, len, path, others, IdText()});
  }
  Status Fault(block::IoOp op, uint64_t off, uint64_t len) const {
    block::FaultOutcome f = Decide(op, off, len);
    if (f.kind == block::FaultOutcome::Kind::kFail) return Status::Error(f.err);
    return Status::Ok();  // a dropped read or flush: carry on (a flush that lies)
  }

  // The direct-I/O writer of this file, opened on first use; nullptr where the host file
  // system takes no direct I/O (or the file cannot be opened for writing).
  block::DirectWriter* Direct() {
    std::call_once(direct_once_, [this] {
      auto w = block::DirectWriter::ForFile(fd_);
      if (w.ok()) direct_ = std::move(*w);
    });
    return direct_.get();
  }

  const int fd_;
  // Writes of the host file through its page cache (shared: WritePages, SetBackingSize,
  // Fallocate) never run while an fsync's direct writes of it do (exclusive:
  // WritePagesForSync). A buffered write can dirty a host page (or a large folio holding it)
  // whose bytes a direct write in flight is changing on the disk; the direct write then cannot drop
  // that page from the host's cache, and the kernel records EIO on the file
  // (dio_warn_stale_pagecache, "Page cache invalidation failure on direct I/O"), which our next
  // host fsync would report as a failed write, and the host's cache keeps stale bytes. Reads
  // need no lock: the pages they add are clean, and a direct write drops those.
  std::shared_mutex host_write_mu_;
  std::once_flag direct_once_;
  std::unique_ptr<block::DirectWriter> direct_;  // set once, under direct_once_
  static constexpr size_t kReadAhead = 4 << 20;
  static constexpr uint64_t kDropBehindAfter = 32 << 20, kDropBehindLag = 16 << 20;
  static constexpr uint64_t kDropAlign = 4 << 20;  // a multiple of the host's largest folio
  // Writeback runs at least this long start the host's own writeback at once.
  static constexpr uint64_t kStartWritebackMin = 256 << 10;
  std::atomic<uint64_t> next_seq_{UINT64_MAX};  // where a sequential read would go next
  // Where the host's cache of a sequential stream was dropped up to (Sequential).
  std::atomic<uint64_t> dropped_to_{kDropBehindAfter - kDropBehindLag};
  mutable std::mutex mu_;
  std::string path_;                 // GUARDED_BY(mu_)
  std::vector<std::string> others_;  // GUARDED_BY(mu_): its other names (hard links)
  const std::shared_ptr<block::FaultInjector> faults_;
  const std::shared_ptr<RuleResolver> resolver_;
  // The host file's identity, its birth time read at the first fault decision (only then is
  // it needed).
  const RuleResolver::Id& Id() const {
    std::call_once(id_once_, [this] {
      if (auto i = RuleResolver::IdOf(fd_)) {
        id_ = *i;
        id_text_ = i->Text();
      }
    });
    return id_;
  }
  const std::string& IdText() const {
    Id();
    return id_text_;
  }
  mutable std::once_flag id_once_;
  mutable RuleResolver::Id id_;       // written once, under id_once_
  mutable std::string id_text_;       // written once, under id_once_ (empty: unknown)
};

// One open directory of the host: a descriptor of it for the description's life, so that its
// fsync, fstat, attribute changes and xattrs reach it whatever its name is now (renamed, or
// removed while open). Thread-safe: every call is a system call on the const descriptor.
class HostDirectory final : public vfs::Directory {
 public:
  HostDirectory(int fd, std::shared_ptr<block::FaultInjector> faults)
      : fd_(fd), faults_(std::move(faults)) {}
  ~HostDirectory() override { ::close(fd_); }
  HostDirectory(const HostDirectory&) = delete;
  HostDirectory& operator=(const HostDirectory&) = delete;

  int fd() const { return fd_; }

  Result<std::vector<vfs::DirEntry>> List() override {
    // A second description of its own (fdopendir takes over the one it is given, and its
    // position must not be shared between calls).
    const int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno();
    return ReadDirFd(fd);
  }

  // On the host the directory's blocks go to the disk by way of its journal: for fault rules
  // this is one write and one flush of the device (rules naming a file never match it). A
  // dropped write or flush (a disk without power, `errseqctl crash`) skips the host's fsync.
  Status Sync(bool datasync) override {
    for (block::IoOp op : {block::IoOp::kWrite, block::IoOp::kFlush}) {
      block::FaultOutcome f = faults_->Apply({op, 0, 0, {}});
      if (f.kind == block::FaultOutcome::Kind::kFail) return Status::Error(f.err);
      if (f.kind == block::FaultOutcome::Kind::kDrop) return Status::Ok();
    }
    const int rc = datasync ? ::fdatasync(fd_) : ::fsync(fd_);
    return rc == 0 ? Status::Ok() : Errno();
  }

  Result<vfs::NodeAttr> Stat() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Errno();
    return ToAttr(st);
  }

  Status SetAttr(const vfs::AttrChange& change) override { return SetAttrOfFd(fd_, change); }

 private:
  const int fd_;
  const std::shared_ptr<block::FaultInjector> faults_;
};

}  // namespace

Result<std::unique_ptr<PassthroughFs>> PassthroughFs::Open(
    const std::string& root, std::shared_ptr<block::FaultInjector> faults) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Status::FromErrno(e, fmt::format("cannot use '{}' as the passthrough source: {}",
                                            root, strerror(e)));
  }
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH;
  long probe = ::syscall(SYS_openat2, fd, ".", &how, sizeof how);
  if (probe < 0) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno(e, fmt::format("openat2 is not available ({}); errseq needs Linux "
                                            "5.6 or later", strerror(e)));
  }
  ::close(static_cast<int>(probe));
  if (!faults) faults = std::make_shared<block::FaultInjector>();
  return std::unique_ptr<PassthroughFs>(new PassthroughFs(fd, root, std::move(faults)));
}

PassthroughFs::~PassthroughFs() { ::close(root_fd_); }

PassthroughFs::PassthroughFs(int root_fd, std::string root,
                             std::shared_ptr<block::FaultInjector> faults)
    : root_fd_(root_fd),
      root_(std::move(root)),
      faults_(std::move(faults)),
      dirs_([this](const std::string& dir) { return OpenBeneath(dir, O_PATH | O_DIRECTORY); },
            DirFdCache::Options{}) {
  // Its own descriptor of the root: files may outlive this object.
  const int dup = ::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0);
  if (dup >= 0) {
    resolver_ = std::make_shared<RuleResolver>(std::make_shared<const DirFdCache::Fd>(dup));
  }
}

Result<int> PassthroughFs::OpenBeneath(const std::string& path, int flags, mode_t mode) {
  return OpenBeneathOf(root_fd_, path, flags, mode);
}

Result<PassthroughFs::Dir> PassthroughFs::Parent(const std::string& path, std::string* name) {
  size_t slash = path.rfind('/');
  *name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (slash == std::string::npos) return Dir{nullptr, root_fd_};
  const std::string parent = path.substr(0, slash);
  if (!Plain(parent)) {  // not a path the VFS makes: walk it, never cache it
    auto fd = OpenBeneath(parent, O_PATH | O_DIRECTORY);
    if (!fd.ok()) return fd.status();
    auto held = std::make_shared<const DirFdCache::Fd>(*fd);
    return Dir{held, held->get()};
  }
  auto held = dirs_.Get(parent);
  if (!held.ok()) return held.status();
  return Dir{*held, (*held)->get()};
}

Result<vfs::NodeAttr> PassthroughFs::StatBeneath(const std::string& path, int flags) {
  auto fd = OpenBeneath(path, O_PATH | flags);
  if (!fd.ok()) return fd.status();
  FdCloser c(*fd);
  struct stat st;
  if (::fstat(*fd, &st) != 0) return Errno();
  return ToAttr(st);
}

Result<vfs::NodeAttr> PassthroughFs::GetAttr(const std::string& path) {
  std::string name;
  if (!Plain(path)) return StatBeneath(path, O_NOFOLLOW);  // "" (the root), "..", ...
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  struct stat st;
  if (::fstatat(dir->fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno();
  return ToAttr(st);
}

Result<vfs::NodeAttr> PassthroughFs::GetAttrFollow(const std::string& path) {
  auto a = GetAttr(path);
  if (!a.ok() || !S_ISLNK(a->mode)) return a;  // nothing at the end to follow
  return StatBeneath(path, 0);                 // openat2 follows it, beneath the root
}

// Whether entries made now must be given to someone else than this process (creator.h).
static bool ForSomeoneElse() {
  const auto c = CurrentCreator();
  return c && ::geteuid() == 0 && (c->uid != 0 || c->gid != 0);
}

Status PassthroughFs::GiveToCreator(int dirfd, const std::string& name, bool is_dir, int fd) {
  if (!ForSomeoneElse()) return Status::Ok();
  const Creator c = *CurrentCreator();
  struct stat parent;
  if (::fstat(dirfd, &parent) != 0) return Errno();
  const gid_t gid = (parent.st_mode & S_ISGID) ? static_cast<gid_t>(-1) : c.gid;
  const int rc = fd >= 0 ? ::fchown(fd, c.uid, gid)
                         : ::fchownat(dirfd, name.c_str(), c.uid, gid, AT_SYMLINK_NOFOLLOW);
  if (rc == 0) return Status::Ok();
  Status s = Errno();
  ::unlinkat(dirfd, name.c_str(), is_dir ? AT_REMOVEDIR : 0);
  return s;
}

Result<int> PassthroughFs::CreateFd(const std::string& path, mode_t mode, bool exclusive,
                                    struct stat* st) {
  std::string name;
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  constexpr int kOpen = O_RDWR | O_NOFOLLOW | O_CLOEXEC;
  // For someone else, know whether the file is new (only a new one is given away): create
  // exclusively, and open what is there if that fails for a non-exclusive create.
  const bool give = ForSomeoneElse();
  int fd = ::openat(dir->fd, name.c_str(), kOpen | O_CREAT | (exclusive || give ? O_EXCL : 0),
                    mode);
  bool created = fd >= 0 && (exclusive || give);
  if (fd < 0 && give && !exclusive && errno == EEXIST) {
    fd = ::openat(dir->fd, name.c_str(), kOpen);
  }
  if (fd < 0) return Errno();
  if (created && give) {
    Status g = GiveToCreator(dir->fd, name, false, fd);
    // chown takes set-user-ID and set-group-ID off a file, even as root: the mode the creator
    // asked for (the kernel has masked it already) goes back on.
    if (g.ok() && (mode & (S_ISUID | S_ISGID)) && ::fchmod(fd, mode & 07777) != 0) g = Errno();
    if (!g.ok()) {
      ::close(fd);
      return g;
    }
  }
  if (::fstat(fd, st) != 0) {
    Status s = Errno();
    ::close(fd);
    return s;
  }
  return fd;
}

Result<vfs::NodeAttr> PassthroughFs::Create(const std::string& path, mode_t mode, bool exclusive) {
  struct stat st;
  auto fd = CreateFd(path, mode, exclusive, &st);
  if (!fd.ok()) return fd.status();
  ::close(*fd);
  return ToAttr(st);
}

Result<std::shared_ptr<mm::AddressSpaceOps>> PassthroughFs::OpenData(const std::string& path,
                                                                     const vfs::NodeAttr& attr) {
  auto fd = OpenBeneath(path, O_RDWR);
  if (!fd.ok() && (fd.err() == -EACCES || fd.err() == -EROFS)) fd = OpenBeneath(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (::fstat(*fd, &st) != 0 || st.st_ino != attr.ino) {
    ::close(*fd);
    return Status::Error(-ESTALE);  // replaced on the host between lookup and open
  }
  return std::shared_ptr<mm::AddressSpaceOps>(
      std::make_shared<HostFileData>(*fd, st, path, faults_, resolver_));
}

Result<vfs::FileSystem::Created> PassthroughFs::CreateOpen(const std::string& path, mode_t mode,
                                                          bool exclusive) {
  struct stat st;
  auto fd = CreateFd(path, mode, exclusive, &st);
  if (!fd.ok()) return fd.status();
  if (!S_ISREG(st.st_mode)) {  // a special file that appeared since the lookup
    ::close(*fd);
    return Status::Error(-ENXIO);
  }
  return Created{ToAttr(st), std::make_shared<HostFileData>(*fd, st, path, faults_, resolver_)};
}

Result<vfs::NodeAttr> PassthroughFs::GetAttrOf(mm::AddressSpaceOps& data) {
  struct stat st;
  if (::fstat(static_cast<HostFileData&>(data).fd(), &st) != 0) return Errno();
  return ToAttr(st);
}

std::string PassthroughFs::FileIdentity(const std::string& path) {
  auto fd = OpenBeneath(path, O_PATH | O_NOFOLLOW);
  if (!fd.ok()) return {};
  FdCloser c(*fd);
  auto id = RuleResolver::IdOf(*fd);
  return id ? id->Text() : std::string();
}

size_t PassthroughFs::ReadaheadKb() {
  struct stat st;
  if (::fstat(root_fd_, &st) != 0) return FileSystem::ReadaheadKb();
  return DeviceReadaheadKb(st.st_dev, FileSystem::ReadaheadKb());
}

void PassthroughFs::Renamed(mm::AddressSpaceOps& data, const std::string& path,
                            const std::vector<std::string>& other_names) {
  static_cast<HostFileData&>(data).SetNames(path, other_names);
}

Status PassthroughFs::Truncate(const std::string& path, uint64_t size) {
  auto fd = OpenBeneath(path, O_WRONLY);
  if (!fd.ok()) return fd.status();
  FdCloser c(*fd);
  return ::ftruncate(*fd, static_cast<off_t>(size)) == 0 ? Status::Ok() : Errno();
}

Status PassthroughFs::SetAttr(const std::string& path, const vfs::AttrChange& change) {
  // The file itself, never what a symlink at the end points to; then every change through
  // that descriptor (chmod and utimensat through its /proc/self/fd link, which names exactly
  // this inode: they have no AT_EMPTY_PATH form on every kernel we run on).
  auto fd = OpenBeneath(path, O_PATH | O_NOFOLLOW);
  if (!fd.ok()) return fd.status();
  FdCloser c(*fd);
  struct stat st;
  if (::fstat(*fd, &st) != 0) return Errno();
  const std::string self = "/proc/self/fd/" + std::to_string(*fd);
  if (change.mode) {
    if (S_ISLNK(st.st_mode)) return Status::Error(-EOPNOTSUPP);  // Linux: symlinks have no mode
    if (::chmod(self.c_str(), *change.mode) != 0) return Errno();
  }
  if (change.uid || change.gid) {
    uid_t uid = change.uid ? *change.uid : static_cast<uid_t>(-1);
    gid_t gid = change.gid ? *change.gid : static_cast<gid_t>(-1);
    if (::fchownat(*fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return Errno();
  }
  if (change.atime || change.mtime) {
    timespec t[2] = {change.atime.value_or(timespec{0, UTIME_OMIT}),
                     change.mtime.value_or(timespec{0, UTIME_OMIT})};
    if (S_ISLNK(st.st_mode)) {
      std::string name;
      auto dir = Parent(path, &name);
      if (!dir.ok()) return dir.status();
      if (::utimensat(dir->fd, name.c_str(), t, AT_SYMLINK_NOFOLLOW) != 0) return Errno();
    } else if (::utimensat(AT_FDCWD, self.c_str(), t, 0) != 0) {
      return Errno();
    }
  }
  return Status::Ok();
}

Status PassthroughFs::Symlink(const std::string& target, const std::string& path) {
  if (target.empty()) return Status::Error(-ENOENT);
  if (target.size() >= PATH_MAX || target.find('\0') != std::string::npos) {
    return Status::Error(-ENAMETOOLONG);
  }
  std::string name;
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  if (::symlinkat(target.c_str(), dir->fd, name.c_str()) != 0) return Errno();
  return GiveToCreator(dir->fd, name, false);
}

Result<std::string> PassthroughFs::Readlink(const std::string& path) {
  auto fd = OpenBeneath(path, O_PATH | O_NOFOLLOW);
  if (!fd.ok()) return fd.status();
  FdCloser c(*fd);
  std::string buf(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(*fd, "", buf.data(), buf.size());  // the O_PATH link itself
  if (n < 0) return errno == ENOENT ? Status::Error(-EINVAL) : Errno();  // not a symlink
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Status PassthroughFs::Mkdir(const std::string& path, mode_t mode) {
  std::string name;
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  Status st = ::mkdirat(dir->fd, name.c_str(), mode) == 0 ? Status::Ok() : Errno();
  dirs_.Forget(path);  // an entry a directory removed on the host left behind
  if (!st.ok()) return st;
  return GiveToCreator(dir->fd, name, true);
}

Status PassthroughFs::SetAttrOf(mm::AddressSpaceOps& data, const vfs::AttrChange& change) {
  return SetAttrOfFd(static_cast<HostFileData&>(data).fd(), change);
}

Status PassthroughFs::Rmdir(const std::string& path) {
  std::string name;
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  Status st = ::unlinkat(dir->fd, name.c_str(), AT_REMOVEDIR) == 0 ? Status::Ok() : Errno();
  dirs_.Forget(path);  // from here on, no request works in the removed directory
  return st;
}

Status PassthroughFs::Unlink(const std::string& path) {
  std::string name;
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  return ::unlinkat(dir->fd, name.c_str(), 0) == 0 ? Status::Ok() : Errno();
}

Result<vfs::NodeAttr> PassthroughFs::UnlinkFile(const std::string& path) {
  std::string name;
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  struct stat st;
  if (::fstatat(dir->fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno();
  if (S_ISDIR(st.st_mode)) return Status::Error(-EISDIR);
  if (::unlinkat(dir->fd, name.c_str(), 0) != 0) return Errno();
  return ToAttr(st);
}

Status PassthroughFs::WithTwoParents(
    const std::string& from, const std::string& to,
    const std::function<int(int, const char*, int, const char*)>& op) {
  std::string fname, tname;
  auto fdir = Parent(from, &fname);
  if (!fdir.ok()) return fdir.status();
  auto tdir = Parent(to, &tname);
  if (!tdir.ok()) return tdir.status();
  return op(fdir->fd, fname.c_str(), tdir->fd, tname.c_str()) == 0 ? Status::Ok() : Errno();
}

Status PassthroughFs::Rename(const std::string& from, const std::string& to) {
  Status st = WithTwoParents(from, to, [](int fd, const char* fn, int td, const char* tn) {
    return ::renameat(fd, fn, td, tn);
  });
  // A directory moved (or one replaced at `to`): from here on, no request works in it by its
  // old name. (A request that raced the rename may have.)
  dirs_.Forget(from);
  dirs_.Forget(to);
  return st;
}

Status PassthroughFs::RenameFlags(const std::string& from, const std::string& to,
                                  unsigned flags) {
  if (flags != RENAME_NOREPLACE && flags != RENAME_EXCHANGE) return Status::Error(-EINVAL);
  Status st = WithTwoParents(from, to, [flags](int fd, const char* fn, int td, const char* tn) {
    return ::renameat2(fd, fn, td, tn, flags);
  });
  dirs_.Forget(from);
  dirs_.Forget(to);
  return st;
}

Status PassthroughFs::Mknod(const std::string& path, mode_t mode) {
  if (!S_ISFIFO(mode) && !S_ISSOCK(mode)) return Status::Error(-EPERM);
  std::string name;
  auto dir = Parent(path, &name);
  if (!dir.ok()) return dir.status();
  if (::mknodat(dir->fd, name.c_str(), mode, 0) != 0) return Errno();
  return GiveToCreator(dir->fd, name, false);
}

Result<struct statvfs> PassthroughFs::StatFs() {
  struct statvfs sv;
  if (::fstatvfs(root_fd_, &sv) != 0) return Errno();
  return sv;
}

namespace {
bool XattrAllowed(std::string_view name) {
  return name.starts_with("user.") || name.starts_with("trusted.") ||
         name.starts_with("security.");
}

// A value of the *getxattr/*listxattr kind: `call(buf, size)` with size 0 tells its size; it
// may grow before it is read (ERANGE), then ask again.
Result<std::string> ReadSized(const std::function<ssize_t(char*, size_t)>& call) {
  for (;;) {
    const ssize_t n = call(nullptr, 0);
    if (n < 0) return Errno();
    std::string v(static_cast<size_t>(n), '\0');
    const ssize_t m = call(v.data(), v.size());
    if (m < 0 && errno == ERANGE) continue;
    if (m < 0) return Errno();
    v.resize(static_cast<size_t>(m));
    return v;
  }
}
}  // namespace

Result<PassthroughFs::XattrTarget> PassthroughFs::XattrTargetOf(const vfs::XattrSubject& of) {
  if (of.data) {  // the file's descriptor stays open while `data` lives (the caller holds it)
    const int fd = static_cast<HostFileData&>(*of.data).fd();
    return XattrTarget{nullptr, fmt::format("/proc/self/fd/{}", fd), true};
  }
  if (of.dir) {  // the same for a directory's description
    const int fd = static_cast<HostDirectory&>(*of.dir).fd();
    return XattrTarget{nullptr, fmt::format("/proc/self/fd/{}", fd), true};
  }
  if (of.path.empty()) {
    return XattrTarget{nullptr, fmt::format("/proc/self/fd/{}", root_fd_), true};
  }
  std::string name;
  auto dir = Parent(of.path, &name);
  if (!dir.ok()) return dir.status();
  return XattrTarget{dir->held, fmt::format("/proc/self/fd/{}/{}", dir->fd, name), false};
}

Result<std::string> PassthroughFs::GetXattr(const vfs::XattrSubject& of, const std::string& name) {
  if (!XattrAllowed(name)) return Status::Error(-EOPNOTSUPP);
  auto t = XattrTargetOf(of);
  if (!t.ok()) return t.status();
  const char* p = t->proc_path.c_str();
  return ReadSized([&](char* buf, size_t size) {
    return t->follow ? ::getxattr(p, name.c_str(), buf, size)
                     : ::lgetxattr(p, name.c_str(), buf, size);
  });
}

Status PassthroughFs::SetXattr(const vfs::XattrSubject& of, const std::string& name,
                               const std::string& value, int flags) {
  if (!XattrAllowed(name)) return Status::Error(-EOPNOTSUPP);
  auto t = XattrTargetOf(of);
  if (!t.ok()) return t.status();
  const char* p = t->proc_path.c_str();
  const int rc = t->follow ? ::setxattr(p, name.c_str(), value.data(), value.size(), flags)
                           : ::lsetxattr(p, name.c_str(), value.data(), value.size(), flags);
  return rc == 0 ? Status::Ok() : Errno();
}

Result<std::string> PassthroughFs::ListXattr(const vfs::XattrSubject& of) {
  auto t = XattrTargetOf(of);
  if (!t.ok()) return t.status();
  const char* p = t->proc_path.c_str();
  auto names = ReadSized([&](char* buf, size_t size) {
    return t->follow ? ::listxattr(p, buf, size) : ::llistxattr(p, buf, size);
  });
  if (!names.ok()) return names.status();
  const std::string& all = *names;
  std::string out;
  for (size_t at = 0; at < all.size();) {
    const size_t end = all.find('\0', at);
    const std::string_view one(all.data() + at, (end == std::string::npos ? all.size() : end) - at);
    if (XattrAllowed(one)) out.append(one).push_back('\0');
    at = end == std::string::npos ? all.size() : end + 1;
  }
  return out;
}

Status PassthroughFs::RemoveXattr(const vfs::XattrSubject& of, const std::string& name) {
  if (!XattrAllowed(name)) return Status::Error(-EOPNOTSUPP);
  auto t = XattrTargetOf(of);
  if (!t.ok()) return t.status();
  const char* p = t->proc_path.c_str();
  const int rc = t->follow ? ::removexattr(p, name.c_str()) : ::lremovexattr(p, name.c_str());
  return rc == 0 ? Status::Ok() : Errno();
}

Status PassthroughFs::Link(const std::string& from, const std::string& to) {
  // flags 0: a symlink at `from` is linked itself, as link(2) does on Linux.
  return WithTwoParents(from, to, [](int fd, const char* fn, int td, const char* tn) {
    return ::linkat(fd, fn, td, tn, 0);
  });
}

Result<std::vector<vfs::DirEntry>> PassthroughFs::ReadDir(const std::string& path) {
  auto fd = OpenBeneath(path, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.status();
  return ReadDirFd(*fd);
}

Result<std::unique_ptr<vfs::Directory>> PassthroughFs::OpenDirectory(const std::string& path) {
  auto fd = OpenBeneath(path, O_RDONLY | O_DIRECTORY);  // a symlink at the end is followed
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<vfs::Directory>(std::make_unique<HostDirectory>(*fd, faults_));
}

Status PassthroughFs::SyncFs() {
  if (faults_->armed()) {
    block::FaultOutcome f = faults_->Apply({block::IoOp::kFlush, 0, 0, {}});
    if (f.kind == block::FaultOutcome::Kind::kFail) return Status::Error(f.err);
  }
  return ::syncfs(root_fd_) == 0 ? Status::Ok() : Errno();
}

}  // namespace errseq::fs
