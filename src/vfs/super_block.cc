// SuperBlock: the mounted file system and the syscall-shaped API; the reporting rules of
// SEMANTICS.md §3-§4 are in SyncRange, ReportWbErr, SyncFileRange and Syncfs below.
#include "errseq/vfs/super_block.h"

#include <fcntl.h>  // FALLOC_FL_*
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>  // RENAME_NOREPLACE, RENAME_EXCHANGE

#include <fmt/format.h>

#include "errseq/core/errno_name.h"
#include "errseq/core/realtime.h"
#include "errseq/vfs/path.h"

namespace errseq::vfs {
namespace {

thread_local int t_caller_pid = 0;

int CallerPid() { return t_caller_pid ? t_caller_pid : static_cast<int>(::getpid()); }

Status Err(int e) { return Status::Error(e); }

}  // namespace

ScopedCallerPid::ScopedCallerPid(int pid) : prev_(t_caller_pid) { t_caller_pid = pid; }
ScopedCallerPid::~ScopedCallerPid() { t_caller_pid = prev_; }

File::~File() { sb_->Released(*this); }

SuperBlock::SuperBlock(std::unique_ptr<FileSystem> fs, MountOptions options)
    : options_(options),
      fs_(std::move(fs)),
      readahead_pages_(std::min<size_t>(
          (options.readahead_kb ? *options.readahead_kb : fs_->ReadaheadKb()) / 4, 16384)),
      ledger_(options.ledger_capacity),
      wb_(std::make_unique<mm::Writeback>(options.writeback)) {}

Result<std::unique_ptr<SuperBlock>> SuperBlock::Mount(std::unique_ptr<FileSystem> fs,
                                                      MountOptions options) {
  auto root = fs->GetAttr("");
  if (!root.ok()) return root.status();
  if (!S_ISDIR(root->mode)) {
    return Status::Error(-ENOTDIR, fmt::format("{}: the root is not a directory", fs->TypeName()));
  }
  return std::unique_ptr<SuperBlock>(new SuperBlock(std::move(fs), options));
}

SuperBlock::~SuperBlock() {
  if (!unmounted_.load()) Unmount().IgnoreError();
  {
    std::lock_guard lock(inodes_mu_);
    inodes_.clear();
  }
  wb_.reset();  // stops the flusher and releases the mappings it still held
}

Status SuperBlock::Unmount() {
  if (unmounted_.exchange(true)) return Status::Ok();
  const errseq_t before = s_wb_err_.Load();
  Status fs_status = SyncWholeFs();
  FlushDelayedErrors();
  wb_->Stop();
  const errseq_t after = s_wb_err_.Load();
  if (after != before) {
    return Status::Error(Errseq::ErrnoOf(after),
                         fmt::format("writeback failed while unmounting ({}): data written "
                                     "before the unmount is lost",
                                     ErrnoName(Errseq::ErrnoOf(after))));
  }
  // Errors recorded in a file that no fsync (or O_SYNC write, or sync_file_range) ever reported
  // (a block device's too: its errors are not in s_wb_err_, and its last close, before any
  // unmount, leaves a failure of its writeback unseen).
  int unseen_err = 0;
  size_t unseen_files = 0;
  // Under legacy tracking "reported" means the flags were consumed; else the errseq was seen.
  const bool legacy = options_.profile == Profile::kLegacy;
  wb_->ForEachMapping([&](mm::Mapping& m) {
    errseq_t v = m.wb_err().Load();
    int err = legacy ? m.legacy().TestAndKeep() : (v != 0 && !Errseq::IsSeen(v) ? Errseq::ErrnoOf(v) : 0);
    if (err != 0) {
      unseen_err = err;
      ++unseen_files;
    }
  });
  if (unseen_files > 0) {
    return Status::Error(unseen_err, fmt::format("{} file(s) had a writeback error ({}) that no "
                                                 "fsync ever reported: data written earlier is "
                                                 "lost", unseen_files, ErrnoName(unseen_err)));
  }
  if (!fs_status.ok()) return fs_status;
  return Status::Ok();
}

// ---- inodes ------------------------------------------------------------------------------

Result<std::shared_ptr<Inode>> SuperBlock::GetInode(const std::string& path, const NodeAttr& attr,
                                                    std::shared_ptr<mm::AddressSpaceOps> data) {
  {
    std::lock_guard lock(inodes_mu_);
    auto it = inodes_.find(attr.ino);
    if (it != inodes_.end()) {
      if ((it->second->mode() & S_IFMT) == (attr.mode & S_IFMT)) {
        Inode& i = *it->second;
        if (i.path_ != path) {  // a hard link: remember the old name too
          std::erase(i.other_names_, path);
          i.other_names_.push_back(std::move(i.path_));
          i.path_ = path;
          NamesChanged(i);
        }
        ++it->second->open_count_;
        return it->second;
      }
      inodes_.erase(it);  // the number now names a different kind of file
    }
  }
  std::shared_ptr<mm::Mapping> mapping;
  if (S_ISREG(attr.mode) || attr.block_device) {
    auto ops = data ? Result<std::shared_ptr<mm::AddressSpaceOps>>(std::move(data))
                    : fs_->OpenData(path, attr);
    if (!ops.ok()) return ops.status();
    mm::Mapping::Options mo;
    mo.owner = attr.ino;
    mo.policy = options_.policy;
    mo.sb_err = attr.block_device ? nullptr : &s_wb_err_;
    mo.observer = this;
    mo.initial_size = attr.size;
    mo.max_write_pages = options_.writeback.max_write_pages;
    mo.cache_reads = options_.cache_reads;
    mo.readahead_pages = readahead_pages_;
    mapping = std::make_shared<mm::Mapping>(std::move(*ops), wb_.get(), mo);
    wb_->Register(mapping);
  }
  auto inode = std::make_shared<Inode>(attr.ino, attr.mode, attr.block_device, std::move(mapping),
                                       path);
  inode->mtime_ns = attr.mtime_ns;
  inode->ctime_ns = attr.ctime_ns;
  inode->atime_ns = attr.atime_ns;
  inode->uid = attr.uid;
  inode->gid = attr.gid;
  bool shrink;
  {
    std::lock_guard lock(inodes_mu_);
    auto [it, inserted] = inodes_.emplace(attr.ino, inode);
    if (!inserted) it->second->path_ = path;  // lost a race: use the one already there
    ++it->second->open_count_;
    inode = it->second;
    shrink = inodes_.size() > options_.inode_cache_limit;
  }
  if (shrink) ShrinkInodeCache();
  return inode;
}

void SuperBlock::Released(File& f) {
  bool shrink, gone, device;
  {
    std::lock_guard lock(inodes_mu_);
    const bool last = --f.inode_->open_count_ == 0;
    shrink = last && inodes_.size() > options_.inode_cache_limit;
    gone = last && f.inode_->unlinked_;
    device = last && f.inode_->block_device() && f.inode_->has_data();
    if (device) ++f.inode_->closing_;
  }
  if (gone) Discard(*f.inode_);
  if (device) {
    LastDeviceClose(*f.inode_);
    std::lock_guard lock(inodes_mu_);
    --f.inode_->closing_;
  }
  // Files held open can grow the cache past its limit; it shrinks back as they are closed
  // (each cached file holds host descriptors), not only when the next file comes in.
  if (shrink) ShrinkInodeCache();
}

void SuperBlock::LastDeviceClose(Inode& inode) {
  mm::Mapping& m = inode.mapping();
  m.WriteAll(mm::SyncMode::kAll);
  m.FlushDelayedErrors();
  m.legacy().TestAndClear();
  // Clean pages only: one that a description opened meanwhile dirtied stays (Linux holds the
  // device's open_mutex across the flush; here a write must not be lost for the race). After
  // the writeback above every page is clean but one a failed write left dirty (keep_dirty).
  m.DropCleanPages(SIZE_MAX);
}

void SuperBlock::Discard(Inode& inode) {
  if (!inode.has_data()) return;
  // A write that failed before is not dropped with the pages: under the delayed policy its
  // held-back error is recorded now (syncfs still hears of it).
  inode.mapping().FlushDelayedErrors();
  inode.mapping().DropAllPages();
  wb_->Forget(inode.mapping());  // off the dirty list now, not at the flusher's next pass
}

std::string SuperBlock::PathOf(const Inode& inode) const {
  std::lock_guard lock(inodes_mu_);
  return inode.path_;
}

size_t SuperBlock::CachedInodes() const {
  std::lock_guard lock(inodes_mu_);
  return inodes_.size();
}

bool SuperBlock::HasCachedPages(uint64_t ino) const {
  std::shared_ptr<Inode> inode;
  {
    std::lock_guard lock(inodes_mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return false;
    inode = it->second;
  }
  return inode->has_data() && inode->mapping().CachedPages() > 0;
}

namespace {
// Whether the inode's own errseq (its mapping's, or a directory's) holds an error nobody was
// told of: evict=pin keeps such an inode in core.
bool HoldsUnseenError(Inode& i) {
  const errseq_t v = i.has_data() ? i.mapping().wb_err().Load() : i.dir_wb_err().Load();
  return v != 0 && !Errseq::IsSeen(v);
}
}  // namespace

void SuperBlock::ShrinkInodeCache() {
  std::vector<std::shared_ptr<Inode>> dropped;
  {
    std::lock_guard lock(inodes_mu_);
    const size_t target = options_.inode_cache_limit - options_.inode_cache_limit / 10;
    for (auto it = inodes_.begin(); it != inodes_.end() && inodes_.size() > target;) {
      Inode& i = *it->second;
      // An error held back by the delayed policy must not go with the inode either.
      // A block device's inode lives as long as the device (Evict says why).
      bool busy = i.open_count_ > 0 || i.block_device() ||
                  (i.has_data() && (i.mapping().HasDirtyPages() || i.mapping().HasDelayedError()));
      if (!busy && options_.evict == EvictMode::kPin) busy = HoldsUnseenError(i);  // pinned
      if (busy) {
        ++it;
      } else {
        dropped.push_back(std::move(it->second));
        it = inodes_.erase(it);
      }
    }
  }
  for (auto& i : dropped) {
    if (i->has_data()) i->mapping().DropAllPages();
  }
  // A dropped file written and fsynced since the flusher's last pass is still on its dirty
  // list, which would keep its host descriptor open until that pass.
  if (!dropped.empty()) wb_->ReleaseClean();
}

// ---- open / read / write -------------------------------------------------------------------

Result<std::shared_ptr<File>> SuperBlock::Open(std::string_view path, int flags, mode_t mode) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  const int acc = flags & O_ACCMODE;
  if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR) return Err(-EINVAL);
  auto attr = fs_->GetAttrFollow(*norm);  // open(2) follows a symlink at the end
  std::shared_ptr<mm::AddressSpaceOps> created_data;
  bool created = false;
  if (!attr.ok()) {
    if (attr.err() != -ENOENT || !(flags & O_CREAT)) return attr.status();
    auto c = fs_->CreateOpen(*norm, mode & 07777, (flags & O_EXCL) != 0);
    if (!c.ok()) return c.status();
    attr = c->attr;
    created_data = std::move(c->data);
    created = true;
  } else if ((flags & O_CREAT) && (flags & O_EXCL)) {
    return Err(-EEXIST);
  }
  if (S_ISDIR(attr->mode)) {
    if (acc != O_RDONLY || (flags & O_TRUNC)) return Err(-EISDIR);
  } else {
    if (flags & O_DIRECTORY) return Err(-ENOTDIR);
    if (!S_ISREG(attr->mode) && !attr->block_device) return Err(-ENXIO);
  }
  std::unique_ptr<Directory> dir;
  if (S_ISDIR(attr->mode)) {
    auto d = fs_->OpenDirectory(*norm);
    if (!d.ok()) return d.status();
    auto now = (*d)->Stat();
    if (!now.ok()) return now.status();
    if (now->ino != attr->ino) return Err(-ESTALE);  // replaced since the lookup
    dir = std::move(*d);
  }
  auto inode = GetInode(*norm, *attr, std::move(created_data));
  if (!inode.ok()) return inode.status();
  auto file = std::make_shared<File>(this, *inode, flags, next_file_id_.fetch_add(1), CallerPid(),
                                     std::move(dir));
  // O_TRUNC truncates whatever the access mode (Linux asks for write permission, not a
  // writable description). A file this call created is empty already.
  if ((flags & O_TRUNC) && !created && (*inode)->has_data() && !attr->block_device) {
    if (Status s = TruncateInode(**inode, 0); !s.ok()) return s;
  }
  SampleCursors(*file);
  return file;
}

void SuperBlock::SampleCursors(File& file) {
  const auto mode_sample = options_.profile == Profile::kErrseq413 ? Errseq::SampleMode::kV4_13
                                                                    : Errseq::SampleMode::kMainline;
  std::lock_guard lock(file.mu_);
  if (file.inode().has_data()) {
    file.f_wb_err_ = file.inode().mapping().wb_err().Sample(mode_sample);
  } else if (file.inode().is_dir()) {
    file.f_wb_err_ = file.inode().dir_wb_err().Sample(mode_sample);
  }
  file.f_sb_err_ = s_wb_err_.Sample(mode_sample);
  if (options_.md_cursor) {
    if (mm::Mapping* md = fs_->MetadataMapping()) {
      file.f_md_wb_err_ = md->wb_err().Sample(mode_sample);
    }
  }
}

Result<std::shared_ptr<File>> SuperBlock::Reopen(File& f, int flags) {
  const int acc = flags & O_ACCMODE;
  if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR) return Err(-EINVAL);
  const std::shared_ptr<Inode>& inode = f.inode_;
  if (inode->is_dir()) {
    if (acc != O_RDONLY || (flags & O_TRUNC)) return Err(-EISDIR);
  } else if (flags & O_DIRECTORY) {
    return Err(-ENOTDIR);
  }
  {
    std::lock_guard lock(inodes_mu_);
    ++inode->open_count_;  // File's destructor takes it off again
  }
  auto file = std::make_shared<File>(this, inode, flags, next_file_id_.fetch_add(1), CallerPid());
  if ((flags & O_TRUNC) && inode->has_data() && !inode->block_device()) {
    if (Status s = TruncateInode(*inode, 0); !s.ok()) return s;
  }
  SampleCursors(*file);
  return file;
}

Status SuperBlock::CheckRead(File& f, uint64_t offset) {
  if (!f.readable()) return Err(-EBADF);
  if (f.inode().is_dir()) return Err(-EISDIR);
  if (offset > static_cast<uint64_t>(INT64_MAX)) return Err(-EINVAL);
  return Status::Ok();
}

Result<size_t> SuperBlock::Pread(File& f, std::span<std::byte> buf, uint64_t offset,
                                 int read_flags) {
  if (read_flags & ~O_DIRECT) return Err(-EINVAL);
  if (Status s = CheckRead(f, offset); !s.ok()) return s;
  if (((f.flags() | read_flags) & O_DIRECT) && f.inode().mapping().ops().DirectAlignment()) {
    return ReadDirect(f, buf, offset);
  }
  std::shared_lock io(f.inode().io_mu_);
  auto r = f.inode().mapping().Read(offset, buf, &f.ra_);
  if (r.ok()) f.inode().atime_ns = RealtimeNs();
  return r;
}

Result<std::optional<mm::StoreRange>> SuperBlock::PreadFromStore(File& f, size_t size,
                                                                  uint64_t offset) {
  if (Status s = CheckRead(f, offset); !s.ok()) return s;
  std::shared_lock io(f.inode().io_mu_);
  auto r = f.inode().mapping().ReadFromStore(offset, size);
  if (r.ok() && r->has_value()) f.inode().atime_ns = RealtimeNs();
  return r;
}

Result<size_t> SuperBlock::Read(File& f, std::span<std::byte> buf) {
  if (Status s = CheckRead(f, 0); !s.ok()) return s;
  std::lock_guard pos(f.pos_mu_);
  if ((f.flags() & O_DIRECT) && f.inode().mapping().ops().DirectAlignment()) {
    auto r = ReadDirect(f, buf, f.pos_);
    if (r.ok()) f.pos_ += *r;
    return r;
  }
  std::shared_lock io(f.inode().io_mu_);
  auto r = f.inode().mapping().Read(f.pos_, buf, &f.ra_);
  if (r.ok()) {
    f.pos_ += *r;
    f.inode().atime_ns = RealtimeNs();  // as Pread
  }
  return r;
}

namespace {

// ext4's direct read (iomap_dio_rw) goes extent by extent: a hole or an unwritten extent reads
// as zeros unchecked, but a written extent's part of the read must start and end on the
// direct-I/O unit and land at an aligned place of the caller's buffer (checked on 6.18: a
// read at 100 of a file all hole gives zeros, one that reaches a written block EINVAL, also
// where the block starts aligned).
Status CheckDirectReadAlignment(mm::AddressSpaceOps& ops, uint64_t offset, uint64_t len,
                                uint32_t align) {
  const uint64_t mask = align - 1;
  if (((offset | len) & mask) == 0) return Status::Ok();
  const Status unaligned = Status::Error(
      -EINVAL, fmt::format("O_DIRECT read of {} bytes at {} not aligned to {} bytes", len,
                           offset, align));
  auto written = ops.WrittenExtents(offset, len);
  if (!written.ok()) return written.err() == -EOPNOTSUPP ? unaligned : written.status();
  for (const mm::AddressSpaceOps::Extent& e : *written) {
    const uint64_t s = std::max(e.start, offset);
    const uint64_t end = std::min(e.end, offset + len);
    if (s < end && ((s - offset) | s | end) & mask) return unaligned;
  }
  return Status::Ok();
}

}  // namespace

Result<size_t> SuperBlock::ReadDirect(File& f, std::span<std::byte> buf, uint64_t offset) {
  Inode& inode = f.inode();
  mm::Mapping& m = inode.mapping();
  std::shared_lock io(inode.io_mu_);  // no truncate or direct write of the file meanwhile
  const uint64_t size = m.size();
  // Nothing to read: neither written back nor checked (iomap_dio_rw answers at i_size first).
  if (buf.empty() || offset >= size) return size_t{0};
  const uint64_t len = std::min<uint64_t>(buf.size(), INT64_MAX - offset);
  // kiocb_write_and_wait: the range's dirty pages written back and waited for, and the
  // file's legacy flags taken (filemap_check_errors): an error nobody was told of fails this
  // read once, whichever pages it came from, and stays for every description's fsync.
  if (const int pending =
          m.WriteAndWaitRange(offset >> mm::kPageShift, (offset + len - 1) >> mm::kPageShift);
      pending != 0) {
    Report(f, pending, 0, "read(O_DIRECT)");
    return Status::Error(pending);
  }
  if (Status s = CheckDirectReadAlignment(m.ops(), offset, len, m.ops().DirectAlignment());
      !s.ok()) {
    return s;
  }
  auto n = m.ReadDirect(offset, buf.first(static_cast<size_t>(len)));
  if (n.ok()) inode.atime_ns = RealtimeNs();
  return n;
}

Status SuperBlock::WriteAt(File& f, std::span<const std::byte> buf, uint64_t offset, bool use_pos,
                           size_t* written, int sync_flags, bool mapped_page) {
  *written = 0;
  if (!f.writable()) return Err(-EBADF);
  Inode& inode = f.inode();
  if (inode.is_dir()) return Err(-EISDIR);
  if (offset > static_cast<uint64_t>(INT64_MAX)) return Err(-EINVAL);
  mm::Mapping& m = inode.mapping();
  bool append = (f.flags() & O_APPEND) != 0 && !mapped_page;
  if (inode.block_device()) {  // a device never grows
    const uint64_t size = m.size();
    if (append) offset = size;
    append = false;
    if (buf.empty()) return Status::Ok();
    if (offset >= size) return Err(-ENOSPC);
    buf = buf.first(static_cast<size_t>(std::min<uint64_t>(buf.size(), size - offset)));
  }
  uint64_t landed = offset;
  const bool direct = !mapped_page && ((f.flags() | sync_flags) & O_DIRECT) != 0;
  auto n = [&]() -> Result<size_t> {
    if (direct) return WriteDirect(f, buf, offset, append, &landed);
    std::shared_lock io(inode.io_mu_);
    return m.Write(offset, buf, append, &landed);
  }();
  if (!n.ok()) return n.status();
  *written = *n;
  const int64_t now = RealtimeNs();
  inode.mtime_ns = now;
  inode.ctime_ns = now;
  if (use_pos) f.pos_ = landed + *n;
  // A mapped page's writeback is no write call: it syncs nothing and reports nothing.
  const int sync = mapped_page ? 0 : (f.flags() | sync_flags) & (O_SYNC | O_DSYNC);
  if (sync != 0 && *n > 0) {
    if (Status s = SyncWritten(f, landed, *n, sync); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SuperBlock::SyncWritten(File& f, uint64_t offset, uint64_t len, int sync_flags) {
  if (len == 0) return Status::Ok();
  // An fsync of the range just written, with fsync's reporting. It can fail with an earlier
  // writeback error of the file (SEMANTICS.md §3).
  const bool datasync = (sync_flags & O_SYNC) != O_SYNC;
  return SyncRange(f, offset, offset + len - 1, datasync,
                   datasync ? "write(O_DSYNC)" : "write(O_SYNC)");
}

Result<size_t> SuperBlock::WriteDirect(File& f, std::span<const std::byte> buf, uint64_t offset,
                                       bool append, uint64_t* landed) {
  Inode& inode = f.inode();
  mm::Mapping& m = inode.mapping();
  std::unique_lock io(inode.io_mu_);  // no buffered write or read-in of the file meanwhile
  if (append) offset = m.size();
  *landed = offset;
  if (buf.empty()) return size_t{0};
  const uint64_t first = offset >> mm::kPageShift;
  const uint64_t last = (offset + buf.size() - 1) >> mm::kPageShift;
  // kiocb_invalidate_pages: the range's cached pages are written back and waited for, the
  // file's legacy error flags taken (filemap_write_and_wait_range's filemap_check_errors), and
  // the pages dropped. Then the store is written directly, and its error is this call's only.
  // An unaligned write is refused only then (iomap_dio_bio_iter), as it would be on ext4.
  const uint64_t align = m.ops().DirectAlignment();
  m.WriteRange(first, last, mm::SyncMode::kAll);
  const int pending = align != 0 ? m.legacy().TestAndClear() : 0;
  if (pending != 0 && options_.profile == Profile::kLegacy) {
    // Under legacy tracking those flags are the only record: the direct write that takes them
    // reports them, as generic_file_direct_write did before 4.13, or nobody would be told.
    Report(f, pending, 0, "write(O_DIRECT)");
    return Status::Error(pending);
  }
  if (align != 0 && pending == 0 && m.InvalidateRange(first, last)) {
    if (((offset | buf.size()) & (align - 1)) != 0) return Status::Error(-EINVAL);
    auto n = m.ops().WriteDirect(offset, buf);
    if (n.ok() && offset + *n > m.size()) m.GrowSize(offset + *n);
    return n;
  }
  // Where that failed (iomap_dio_rw's -ENOTBLK), ext4 writes through the page cache instead,
  // then writes the range back and waits (filemap_write_and_wait_range, which takes the legacy
  // flags again), and drops the range only if that found no error. The error is recorded for
  // fsync as any is, and not returned: ext4 does not look at it. So do we; likewise for a store
  // that takes no direct writes.
  auto n = m.Write(offset, buf, false, landed);
  if (!n.ok() || *n == 0) return n;
  const uint64_t end = (offset + *n - 1) >> mm::kPageShift;
  if (m.WriteAndWaitRange(first, end) == 0) (void)m.InvalidateRange(first, end);
  return n;
}

Result<size_t> SuperBlock::Pwrite(File& f, std::span<const std::byte> buf, uint64_t offset,
                                  int sync_flags) {
  if (sync_flags & ~(O_SYNC | O_DSYNC | O_DIRECT)) return Err(-EINVAL);
  size_t n = 0;
  Status s = WriteAt(f, buf, offset, false, &n, sync_flags);
  if (!s.ok()) return s;
  return n;
}

Result<size_t> SuperBlock::WriteMappedPage(File& f, std::span<const std::byte> buf,
                                           uint64_t offset) {
  size_t n = 0;
  Status s = WriteAt(f, buf, offset, false, &n, 0, /*mapped_page=*/true);
  if (!s.ok()) return s;
  return n;
}

Result<size_t> SuperBlock::Write(File& f, std::span<const std::byte> buf) {
  std::lock_guard pos(f.pos_mu_);
  size_t n = 0;
  Status s = WriteAt(f, buf, f.pos_, true, &n);
  if (!s.ok()) return s;
  return n;
}

Result<uint64_t> SuperBlock::Lseek(File& f, int64_t offset, int whence) {
  std::lock_guard pos(f.pos_mu_);
  int64_t base;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = static_cast<int64_t>(f.pos_); break;
    case SEEK_END: base = static_cast<int64_t>(f.inode().size()); break;
    case SEEK_DATA:
    case SEEK_HOLE: {
      if (offset < 0) return Err(-ENXIO);
      auto r = SeekDataOrHole(f.inode(), static_cast<uint64_t>(offset), whence);
      if (!r.ok()) return r;
      f.pos_ = *r;
      return f.pos_;
    }
    default: return Err(-EINVAL);
  }
  if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0) return Err(-EINVAL);
  f.pos_ = static_cast<uint64_t>(base + offset);
  return f.pos_;
}

// Data is what the store holds as data plus every page the cache has not written to it yet;
// holes are the store's holes that no such page covers. -ENXIO at or past i_size.
Result<uint64_t> SuperBlock::SeekDataOrHole(Inode& inode, uint64_t offset, int whence) {
  const uint64_t size = inode.size();
  if (offset >= size) return Err(-ENXIO);
  if (!inode.has_data()) return whence == SEEK_DATA ? offset : size;
  mm::Mapping& m = inode.mapping();
  // The store's answer; past its end everything is a hole; no holes at all if it cannot tell.
  auto store = [&](uint64_t at) -> uint64_t {
    auto r = m.ops().SeekStore(at, whence);
    if (r.ok()) return *r;
    if (r.err() == -ENXIO) return whence == SEEK_DATA ? size : at;
    return whence == SEEK_DATA ? at : size;
  };
  if (whence == SEEK_DATA) {
    const uint64_t page = m.NextUnwritten(offset >> mm::kPageShift);
    const uint64_t cached = page == UINT64_MAX ? size : std::max(offset, page << mm::kPageShift);
    const uint64_t data = std::min(store(offset), cached);
    return data >= size ? Err(-ENXIO) : Result<uint64_t>(data);
  }
  uint64_t at = offset;
  while (at < size) {
    // Asked page by page, from the start of `at`'s page: a page that is a hole at its start is
    // one throughout, `at` with it. A hole the store reports inside a page is its end of file,
    // which the cache's file goes past: the page holding that last byte is data to its end, as
    // a local file system's block would be.
    const uint64_t page_size = uint64_t{1} << mm::kPageShift;
    const uint64_t start = at & ~(page_size - 1);
    const uint64_t found = store(start);
    const uint64_t hole = found > start ? (found + page_size - 1) & ~(page_size - 1) : at;
    if (hole >= size) break;
    const uint64_t index = hole >> mm::kPageShift;
    if (m.NextUnwritten(index) != index) return hole;
    at = m.NextWritten(index) << mm::kPageShift;  // the cache's data covers it: look past
  }
  return size;
}

Status SuperBlock::Ftruncate(File& f, uint64_t size) {
  Inode& inode = f.inode();
  if (!f.writable() || inode.is_dir() || inode.block_device()) return Err(-EINVAL);
  if (size > static_cast<uint64_t>(INT64_MAX)) return Err(-EFBIG);
  return TruncateInode(inode, size);
}

Status SuperBlock::TruncateInode(Inode& inode, uint64_t size) {
  std::unique_lock io(inode.io_mu_);
  inode.mapping().Truncate(size);
  // Through the open file: its name may be gone or name another file by now.
  Status s = inode.mapping().ops().SetBackingSize(size);
  if (s.err() == -EOPNOTSUPP || s.err() == -EBADF || s.err() == -EINVAL) {
    bool unlinked;
    {
      std::lock_guard lock(inodes_mu_);
      unlinked = inode.unlinked_;
    }
    s = unlinked ? Status::Ok() : fs_->Truncate(PathOf(inode), size);
  }
  if (!s.ok()) return s;
  const int64_t now = RealtimeNs();
  inode.mtime_ns = now;
  inode.ctime_ns = now;
  return Status::Ok();
}

Status SuperBlock::StoreCoversBeforeZeroing(mm::Mapping& m, uint64_t offset, uint64_t len) {
  // The zeroing drops the cache's dirty pages in the range, and the store may be shorter than
  // the file (a write that made it longer is not written back yet): if it were, the file
  // would shrink to the store's size at the next mount. So first the store grows to cover the
  // range's part of the file, as ext4 writes its on-disk size before a punch
  // (ext4_update_disksize_before_punch).
  if (offset >= m.size()) return Status::Ok();
  const uint64_t need = std::min(m.size(), offset + len);
  auto have = m.ops().BackingSize();
  if (!have.ok() || *have >= need) return Status::Ok();
  Status s = m.ops().SetBackingSize(need);
  return s.err() == -EOPNOTSUPP ? Status::Ok() : s;
}

Status SuperBlock::Fallocate(File& f, int mode, uint64_t offset, uint64_t len) {
  // The checks and their order are vfs_fallocate's.
  if (len == 0 || offset > static_cast<uint64_t>(INT64_MAX) ||
      len > static_cast<uint64_t>(INT64_MAX)) {
    return Err(-EINVAL);
  }
  switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
    case FALLOC_FL_ZERO_RANGE:
      break;
    case FALLOC_FL_PUNCH_HOLE:
      if (!(mode & FALLOC_FL_KEEP_SIZE)) return Err(-EOPNOTSUPP);
      break;
    default:
      return Err(-EOPNOTSUPP);
  }
  if (!f.writable()) return Err(-EBADF);
  Inode& inode = f.inode();
  if (inode.is_dir()) return Err(-EISDIR);
  if (!inode.has_data()) return Err(-ENODEV);
  if (offset + len > static_cast<uint64_t>(INT64_MAX)) return Err(-EFBIG);
  mm::Mapping& m = inode.mapping();
  const bool zeroes = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
  std::unique_lock io(inode.io_mu_);
  if (inode.block_device()) {
    // A device (blkdev_fallocate): nothing to allocate; a range within the device (KEEP_SIZE
    // cuts one that runs past its end) and aligned to its logical block size.
    if (!zeroes) return Err(-EOPNOTSUPP);
    const uint64_t dev_size = m.size();
    if (offset >= dev_size) return Err(-EINVAL);
    if (len > dev_size - offset) {
      if (!(mode & FALLOC_FL_KEEP_SIZE)) return Err(-EINVAL);
      len = dev_size - offset;
    }
    const uint64_t bs = m.ops().DeviceBlockSize();
    if (bs == 0 || ((offset | len) & (bs - 1)) != 0) return Err(-EINVAL);
  }
  // No page of the range may be written back while the store is zeroed (it would put the old
  // bytes back), nor be dropped before the store has done it (a refusal must lose nothing).
  // A device is the exception, as in Linux: its cache is dropped, dirty pages too, before the
  // device is zeroed, so a failed zeroing leaves what the device holds (the error is the
  // call's, not a writeback error).
  if (zeroes) m.Freeze(offset, len);
  Status s = zeroes && !inode.block_device() ? StoreCoversBeforeZeroing(m, offset, len)
                                           : Status::Ok();
  if (s.ok()) s = m.ops().Fallocate(mode, offset, len);
  if (zeroes) m.Thaw(s.ok() || inode.block_device());
  if (!s.ok()) return s;
  const bool grows = !(mode & FALLOC_FL_KEEP_SIZE) && offset + len > m.size();
  if (grows) m.GrowSize(offset + len);
  const int64_t now = RealtimeNs();
  if (zeroes || grows) inode.mtime_ns = now;
  inode.ctime_ns = now;
  return Status::Ok();
}

// ---- the reporting rules (SEMANTICS.md §3-§4) ------------------------------------------------

void SuperBlock::Report(File& f, int err, errseq_t cursor, const char* call) {
  Event e;
  e.kind = Event::Kind::kReported;
  e.ino = f.inode().ino();
  e.err = err;
  e.value = cursor;
  e.file_id = f.id();
  e.call = call;
  e.pid = CallerPid();
  e.path = PathOf(f.inode());
  ledger_.Append(std::move(e));
}

int SuperBlock::CheckAndAdvance(File& f, Errseq& e, errseq_t& cursor, errseq_t* after) {
  std::lock_guard lock(f.mu_);
  const int err = e.CheckAndAdvance(&cursor);
  if (after != nullptr) *after = cursor;
  return err;
}

int SuperBlock::ReportWbErr(File& f, const char* call) {
  mm::Mapping& m = f.inode().mapping();
  int err;
  errseq_t cursor = 0;
  if (options_.profile == Profile::kLegacy) {
    err = m.legacy().TestAndClear();  // the first caller anywhere gets it
  } else {
    err = CheckAndAdvance(f, m.wb_err(), f.f_wb_err_, &cursor);
    (void)m.legacy().TestAndClear();  // file_check_and_advance_wb_err clears them too
  }
  if (options_.md_cursor) {
    if (mm::Mapping* md = fs_->MetadataMapping()) {
      const int md_err = CheckAndAdvance(f, md->wb_err(), f.f_md_wb_err_);
      if (err == 0) err = md_err;
    }
  }
  if (err != 0) Report(f, err, cursor, call);
  return err;
}

Status SuperBlock::SyncRange(File& f, uint64_t start, uint64_t end, bool datasync,
                             const char* call) {
  Inode& inode = f.inode();
  int err = 0;
  if (inode.has_data()) {
    mm::Mapping& m = inode.mapping();
    // Write back and wait. Page errors are recorded in the mapping, not returned here.
    m.WriteRange(start >> mm::kPageShift, end >> mm::kPageShift, mm::SyncMode::kAll);
    if (inode.block_device()) {
      // blkdev_fsync: write back, wait and check the errseq; only then flush the device's
      // cache. A failed flush is this caller's alone (recorded nowhere: every fsync sends
      // its own flush), and a device without a cache flush (EOPNOTSUPP) has nothing to lose.
      err = ReportWbErr(f, call);
      if (err == 0) {
        Status s = m.SyncStore(datasync, mm::Mapping::StoreSyncError::kCallerOnly);
        if (!s.ok() && s.err() != -EOPNOTSUPP) {
          err = s.err();
          Report(f, err, 0, call);
        }
      }
    } else {
      // The fs's durability step; its failure means written data may be gone: SyncStore
      // records it like a failed page write so that every description learns of it.
      m.SyncStore(datasync).IgnoreError();
      // Always check and advance, even when writing failed (the cursor must move).
      err = ReportWbErr(f, call);
    }
    if (options_.policy == mm::FailurePolicy::kDelayed) m.FlushDelayedErrors();
  } else if (Directory* d = f.directory()) {
    // The directory's names become durable. Its failure is a failed metadata write: recorded
    // in the super block, so that every description's syncfs hears of it (SEMANTICS.md §2:
    // a directory block's failed write is recorded in its inode's mapping and so in the super
    // block). The directory's own errseq stands for its mapping's: this caller, and every
    // other description at its next fsync of the directory, is told once, and a description
    // opened after somebody was told is not.
    const Status s = d->Sync(datasync);
    if (!s.ok()) RecordFsError(s.err(), inode.ino(), PathOf(inode), &inode.dir_wb_err());
    if (options_.profile == Profile::kLegacy) {
      err = s.err();  // the flag the failure set is taken by this check at once
      if (err != 0) Report(f, err, 0, call);
    } else {
      errseq_t cursor;
      err = CheckAndAdvance(f, inode.dir_wb_err(), f.f_wb_err_, &cursor);
      if (err != 0) Report(f, err, cursor, call);
    }
  }
  if (options_.profile == Profile::kSticky && err == 0 && Sticky() != 0) {
    err = Sticky();
    Report(f, err, 0, call);
  }
  return err ? Err(err) : Status::Ok();
}

Status SuperBlock::Fsync(File& f) { return SyncRange(f, 0, UINT64_MAX, false, "fsync"); }
Status SuperBlock::Fdatasync(File& f) { return SyncRange(f, 0, UINT64_MAX, true, "fdatasync"); }

Status SuperBlock::SyncFileRange(File& f, uint64_t offset, uint64_t nbytes, unsigned flags) {
  if (flags & ~(kSyncFileRangeWaitBefore | kSyncFileRangeWrite | kSyncFileRangeWaitAfter)) {
    return Err(-EINVAL);
  }
  if (offset > static_cast<uint64_t>(INT64_MAX) || nbytes > static_cast<uint64_t>(INT64_MAX) ||
      offset + nbytes > static_cast<uint64_t>(INT64_MAX)) {
    return Err(-EINVAL);
  }
  Inode& inode = f.inode();
  if (!inode.has_data()) return Status::Ok();
  mm::Mapping& m = inode.mapping();
  const uint64_t first = offset >> mm::kPageShift;
  const uint64_t last = nbytes == 0 ? UINT64_MAX : (offset + nbytes - 1) >> mm::kPageShift;
  if (flags & kSyncFileRangeWaitBefore) {
    m.WaitRange(first, last);
    if (int err = ReportWbErr(f, "sync_file_range"); err != 0) return Err(err);
  }
  if (flags & kSyncFileRangeWrite) m.WriteRange(first, last, mm::SyncMode::kNone);
  if (flags & kSyncFileRangeWaitAfter) {
    m.WaitRange(first, last);
    if (int err = ReportWbErr(f, "sync_file_range"); err != 0) return Err(err);
  }
  return Status::Ok();
}

void SuperBlock::FlushDelayedErrors() {
  if (options_.policy != mm::FailurePolicy::kDelayed) return;
  wb_->ForEachMapping([](mm::Mapping& m) { m.FlushDelayedErrors(); });
}

Status SuperBlock::SyncWholeFs() {
  wb_->SyncAll();
  Status s = fs_->SyncFs();
  // Written data may be gone: every description's syncfs must hear of it.
  if (!s.ok()) RecordFsError(s.err(), 0, "(file system sync)");
  return s;
}

void SuperBlock::RecordFsError(int err, uint64_t ino, std::string path, Errseq* inode_errseq) {
  Event e;
  e.ino = ino;
  e.err = err;
  e.value = s_wb_err_.Set(err);
  if (inode_errseq != nullptr) e.value = inode_errseq->Set(err);
  e.path = std::move(path);
  Recorded(std::move(e));
}

Status SuperBlock::Syncfs(File& f) {
  // Through a block device's file: the device node's file system, which holds none of the
  // device's data and none of this super block's errors (Linux: the syncfs of /dev; the
  // device's pages belong to the bdev pseudo file system, which no syncfs reaches, and a
  // device flush that failed at sync(2) is not /dev's error): nothing written, nothing told.
  const bool device = f.inode().block_device();
  Status fs_status = device ? Status::Ok() : SyncWholeFs();
  int err = 0;
  if (options_.profile == Profile::kLegacy) {
    err = fs_status.err();  // before 5.8 syncfs reported only the fs's own sync error
  } else if (!device) {
    errseq_t cursor;
    err = CheckAndAdvance(f, s_wb_err_, f.f_sb_err_, &cursor);
    if (err != 0) Report(f, err, cursor, "syncfs");
  }
  FlushDelayedErrors();
  if (options_.profile == Profile::kSticky && !device && err == 0 && Sticky() != 0) {
    err = Sticky();
    Report(f, err, 0, "syncfs");
  }
  return err ? Err(err) : Status::Ok();
}

void SuperBlock::Sync() {
  SyncWholeFs().IgnoreError();  // sync(2) reports nothing; the error is recorded for syncfs
  FlushDelayedErrors();
}

void SuperBlock::DiscardCache() {
  wb_->ForEachMapping([](mm::Mapping& m) { m.DropAllPages(); });
}

void SuperBlock::OnWritebackError(const mm::ErrorRecord& r) {
  sticky_err_.store(r.err, std::memory_order_release);
  Event e;
  e.kind = Event::Kind::kRecorded;
  e.ino = r.owner;
  e.offset = r.offset;
  e.length = r.length;
  e.err = r.err;
  e.value = r.value;
  {
    std::lock_guard lock(inodes_mu_);
    auto it = inodes_.find(r.owner);
    if (it != inodes_.end()) {
      e.path = it->second->path_;
      e.in_sb_errseq = !it->second->block_device();
    }
  }
  Recorded(std::move(e));
}

void SuperBlock::Recorded(Event e) {
  if (options_.on_error) options_.on_error(e);  // seq and time are stamped by the ledger
  ledger_.Append(std::move(e));
}

// ---- names ---------------------------------------------------------------------------------

std::string SuperBlock::FileIdentity(std::string_view path) {
  auto norm = NormalizePath(path);
  return norm.ok() ? fs_->FileIdentity(*norm) : std::string();
}

Result<NodeAttr> SuperBlock::Stat(std::string_view path) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  auto attr = fs_->GetAttr(*norm);
  if (!attr.ok()) return attr;
  std::lock_guard lock(inodes_mu_);
  auto it = inodes_.find(attr->ino);
  if (it != inodes_.end() && it->second->has_data()) {
    attr->size = it->second->size();
    attr->mtime_ns = it->second->mtime_ns;
    attr->ctime_ns = it->second->ctime_ns;
    CountUnwrittenBlocks(*it->second, *attr);
  }
  return attr;
}

// While dirty pages wait in the cache the store's block count is behind (ext4 counts delayed
// allocations at once): count each dirty page as a block of its own, but never more than a
// file without holes would have (a dirty page may overwrite a block the store has already).
void SuperBlock::CountUnwrittenBlocks(Inode& i, NodeAttr& a) {
  const auto dirty = static_cast<int64_t>(i.mapping().DirtyPages());
  if (a.blocks < 0 || dirty == 0) return;
  const auto whole = static_cast<int64_t>((a.size + mm::kPageSize - 1) / mm::kPageSize * 8);
  a.blocks = std::min(a.blocks + dirty * 8, std::max(a.blocks, whole));
}

NodeAttr SuperBlock::Fstat(File& f) {
  Inode& i = f.inode();
  NodeAttr a;
  bool unlinked;
  std::string path;
  {
    std::lock_guard lock(inodes_mu_);
    unlinked = i.unlinked_;
    path = i.path_;
  }
  if (Directory* d = f.directory()) {  // nothing of a directory's is kept in core
    if (auto now = d->Stat(); now.ok()) return *now;
  }
  // The file itself where the file system can tell (one fstat, right after a rename or an
  // unlink too); else by the name it was opened by, which may be a symlink.
  auto from_fs = i.has_data() ? fs_->GetAttrOf(i.mapping().ops())
                              : Result<NodeAttr>(Status::Error(-EOPNOTSUPP));
  if (from_fs.ok()) {
    a = *from_fs;
  } else if (!unlinked) {
    from_fs = fs_->GetAttrFollow(path);
    if (from_fs.ok() && from_fs->ino == i.ino()) a = *from_fs;
  }
  a.ino = i.ino();
  a.mode = i.mode();
  a.size = i.size();
  a.block_device = i.block_device();
  if (unlinked) a.nlink = 0;
  a.mtime_ns = i.mtime_ns;
  a.ctime_ns = i.ctime_ns;
  a.atime_ns = i.atime_ns;
  a.uid = i.uid;
  a.gid = i.gid;
  if (i.has_data()) CountUnwrittenBlocks(i, a);
  return a;
}

Status SuperBlock::SetAttr(std::string_view path, const AttrChange& change) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  if (change.empty()) return Status::Ok();
  if (change.mode && (*change.mode & ~07777)) return Err(-EINVAL);
  auto attr = fs_->GetAttr(*norm);
  if (!attr.ok()) return attr.status();
  std::shared_ptr<Inode> inode;
  {
    std::lock_guard lock(inodes_mu_);
    auto it = inodes_.find(attr->ino);
    if (it != inodes_.end()) inode = it->second;
  }
  if (inode) AttrChanging(*inode, change);
  if (Status s = fs_->SetAttr(*norm, change); !s.ok()) return s;
  if (inode) AttrChanged(*inode, change);
  return Status::Ok();
}

Status SuperBlock::SetAttrOf(File& f, const AttrChange& change) {
  if (change.empty()) return Status::Ok();
  if (change.mode && (*change.mode & ~07777)) return Err(-EINVAL);
  Inode& inode = f.inode();
  AttrChanging(inode, change);
  Status s = inode.has_data()  ? fs_->SetAttrOf(inode.mapping().ops(), change)
             : f.directory() ? f.directory()->SetAttr(change)
                             : Err(-EOPNOTSUPP);
  if (s.err() == -EOPNOTSUPP) {  // no handle on the file itself: by its name
    bool unlinked;
    {
      std::lock_guard lock(inodes_mu_);
      unlinked = inode.unlinked_;
    }
    s = unlinked ? Err(-ENOENT) : fs_->SetAttr(PathOf(inode), change);
  }
  if (!s.ok()) return s;
  AttrChanged(inode, change);
  return Status::Ok();
}

void SuperBlock::AttrChanging(Inode& inode, const AttrChange& change) {
  if (inode.has_data() && (change.atime || change.mtime)) {
    // Errors of this writeback are recorded like any other and reported by the next fsync.
    inode.mapping().WriteAll(mm::SyncMode::kAll);
  }
}

void SuperBlock::AttrChanged(Inode& inode, const AttrChange& change) {
  NodeAttr a;
  a.mode = inode.mode();
  a.uid = inode.uid;
  a.gid = inode.gid;
  a.atime_ns = inode.atime_ns;
  a.mtime_ns = inode.mtime_ns;
  change.ApplyTo(a, RealtimeNs());
  inode.mode_ = a.mode;
  inode.uid = a.uid;
  inode.gid = a.gid;
  inode.atime_ns = a.atime_ns;
  inode.mtime_ns = a.mtime_ns;
  inode.ctime_ns = a.ctime_ns;
}

Status SuperBlock::Symlink(std::string_view target, std::string_view path) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  if (norm->empty()) return Err(-EEXIST);
  return fs_->Symlink(std::string(target), *norm);
}

Result<std::string> SuperBlock::Readlink(std::string_view path) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  if (norm->empty()) return Err(-EINVAL);
  return fs_->Readlink(*norm);
}

Status SuperBlock::Mkdir(std::string_view path, mode_t mode) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  if (norm->empty()) return Err(-EEXIST);
  return fs_->Mkdir(*norm, mode & 07777);
}

Status SuperBlock::Rmdir(std::string_view path) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  if (norm->empty()) return Err(-EBUSY);
  return fs_->Rmdir(*norm);
}

Status SuperBlock::Unlink(std::string_view path, NodeAttr* removed) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  if (norm->empty()) return Err(-EISDIR);
  auto attr = fs_->UnlinkFile(*norm);
  if (!attr.ok()) return attr.status();
  if (removed) *removed = *attr;
  std::shared_ptr<Inode> gone;
  {
    std::lock_guard lock(inodes_mu_);
    gone = NameRemoved(attr->ino, *norm, attr->nlink);
  }
  if (gone) Discard(*gone);
  return Status::Ok();
}

std::shared_ptr<Inode> SuperBlock::NameRemoved(uint64_t ino, const std::string& path,
                                               uint32_t nlink) {
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return nullptr;
  if (nlink > 1) {
    ForgetName(*it->second, path);  // other links remain: it stays, known by another name
    return nullptr;
  }
  std::shared_ptr<Inode> inode = std::move(it->second);
  inodes_.erase(it);
  inode->unlinked_ = true;
  return inode->open_count_ == 0 ? inode : nullptr;
}

void SuperBlock::ForgetName(Inode& inode, const std::string& path) {
  std::erase(inode.other_names_, path);
  if (inode.path_ == path && !inode.other_names_.empty()) {
    inode.path_ = std::move(inode.other_names_.back());
    inode.other_names_.pop_back();
  }
  NamesChanged(inode);
}

void SuperBlock::NamesChanged(Inode& inode) {
  if (inode.has_data()) fs_->Renamed(inode.mapping().ops(), inode.path_, inode.other_names_);
}

Status SuperBlock::Link(std::string_view from, std::string_view to) {
  auto f = NormalizePath(from);
  if (!f.ok()) return f.status();
  auto t = NormalizePath(to);
  if (!t.ok()) return t.status();
  if (f->empty()) return Err(-EPERM);  // the root is a directory
  if (t->empty()) return Err(-EEXIST);
  auto attr = fs_->GetAttr(*f);
  if (!attr.ok()) return attr.status();
  if (S_ISDIR(attr->mode)) return Err(-EPERM);
  if (Status s = fs_->Link(*f, *t); !s.ok()) return s;
  std::lock_guard lock(inodes_mu_);
  auto it = inodes_.find(attr->ino);
  if (it == inodes_.end()) return Status::Ok();
  Inode& inode = *it->second;
  if (inode.path_ != *t) {
    std::erase(inode.other_names_, *t);
    inode.other_names_.push_back(*t);
    NamesChanged(inode);
  }
  inode.ctime_ns = RealtimeNs();
  return Status::Ok();
}

Status SuperBlock::Rename(std::string_view from, std::string_view to, NodeAttr* replaced) {
  auto f = NormalizePath(from);
  if (!f.ok()) return f.status();
  auto t = NormalizePath(to);
  if (!t.ok()) return t.status();
  if (f->empty() || t->empty()) return Err(-EBUSY);
  auto src = fs_->GetAttr(*f);
  if (!src.ok()) return src.status();
  auto dst = fs_->GetAttr(*t);
  if (Status s = fs_->Rename(*f, *t); !s.ok()) return s;
  if (dst.ok() && dst->ino == src->ino) return Status::Ok();  // two links of one file: no-op
  if (replaced && dst.ok()) *replaced = *dst;
  std::shared_ptr<Inode> gone;
  {
    std::lock_guard lock(inodes_mu_);
    if (dst.ok() && !S_ISDIR(dst->mode)) gone = NameRemoved(dst->ino, *t, dst->nlink);
    MoveNames(*f, *t, /*swap=*/false);
  }
  if (gone) Discard(*gone);
  return Status::Ok();
}

void SuperBlock::MoveNames(const std::string& from, const std::string& to, bool swap) {
  for (auto& [ino, inode] : inodes_) {
    bool any = MovePath(inode->path_, from, to, swap);
    for (std::string& other : inode->other_names_) any = MovePath(other, from, to, swap) || any;
    if (any) NamesChanged(*inode);
  }
}

Status SuperBlock::Rename2(std::string_view from, std::string_view to, unsigned flags,
                           NodeAttr* replaced) {
  if (flags == 0) return Rename(from, to, replaced);
  if (flags != RENAME_NOREPLACE && flags != RENAME_EXCHANGE) return Err(-EINVAL);
  auto f = NormalizePath(from);
  if (!f.ok()) return f.status();
  auto t = NormalizePath(to);
  if (!t.ok()) return t.status();
  if (f->empty() || t->empty()) return Err(-EBUSY);
  if (Status s = fs_->RenameFlags(*f, *t, flags); !s.ok()) return s;
  // NOREPLACE replaced nothing: the names under `from` move, as in Rename. EXCHANGE: the names
  // under each move to the other.
  std::lock_guard lock(inodes_mu_);
  MoveNames(*f, *t, /*swap=*/flags == RENAME_EXCHANGE);
  return Status::Ok();
}

Status SuperBlock::Mknod(std::string_view path, mode_t mode) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  if (norm->empty()) return Err(-EEXIST);
  const mode_t type = mode & S_IFMT;
  if (type == 0 || type == S_IFREG) {
    auto attr = fs_->Create(*norm, mode & 07777, /*exclusive=*/true);
    return attr.ok() ? Status::Ok() : attr.status();
  }
  if (type != S_IFIFO && type != S_IFSOCK) return Err(-EPERM);  // devices, or nonsense
  return fs_->Mknod(*norm, type | (mode & 07777));
}

Result<struct statvfs> SuperBlock::StatFs() { return fs_->StatFs(); }

namespace {

// `open`'s file by its data where it has some (the file system's handle on it), else `path`.
// The data lives as long as the caller's description does.
Result<XattrSubject> XattrSubjectOf(std::string_view path, File* open) {
  if (open && open->inode().has_data()) return XattrSubject{{}, &open->inode().mapping().ops()};
  if (open && open->directory()) return XattrSubject{{}, nullptr, open->directory()};
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  return XattrSubject{*norm, nullptr};
}

}  // namespace

Result<std::string> SuperBlock::GetXattr(std::string_view path, const std::string& name,
                                         File* open) {
  auto of = XattrSubjectOf(path, open);
  if (!of.ok()) return of.status();
  return fs_->GetXattr(*of, name);
}

Status SuperBlock::SetXattr(std::string_view path, const std::string& name,
                            const std::string& value, int flags, File* open) {
  auto of = XattrSubjectOf(path, open);
  if (!of.ok()) return of.status();
  return fs_->SetXattr(*of, name, value, flags);
}

Result<std::string> SuperBlock::ListXattr(std::string_view path, File* open) {
  auto of = XattrSubjectOf(path, open);
  if (!of.ok()) return of.status();
  return fs_->ListXattr(*of);
}

Status SuperBlock::RemoveXattr(std::string_view path, const std::string& name, File* open) {
  auto of = XattrSubjectOf(path, open);
  if (!of.ok()) return of.status();
  return fs_->RemoveXattr(*of, name);
}

Result<std::vector<DirEntry>> SuperBlock::ReadDir(std::string_view path) {
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  return fs_->ReadDir(*norm);
}

const char* SuperBlock::EvictedName(Evicted e) {
  switch (e) {
    case Evicted::kYes: return "evicted";
    case Evicted::kNotInCore: return "not in core";
    case Evicted::kOpen: return "open";
    case Evicted::kDirty: return "dirty";
    case Evicted::kPinned: return "pinned";
    case Evicted::kDevice: return "device";
  }
  return "?";
}

Result<bool> SuperBlock::Evict(std::string_view path, Evicted* why) {
  Evicted ignored;
  Evicted& out = why ? *why : ignored;
  auto norm = NormalizePath(path);
  if (!norm.ok()) return norm.status();
  auto attr = fs_->GetAttr(*norm);
  if (!attr.ok()) return attr.status();
  std::shared_ptr<Inode> inode;
  bool open;
  {
    std::lock_guard lock(inodes_mu_);
    auto it = inodes_.find(attr->ino);
    out = Evicted::kNotInCore;
    if (it == inodes_.end()) return false;
    inode = it->second;
    // A device whose last close is still writing it back counts as open: on Linux that close
    // (blkdev_release) is over before close(2) returns.
    open = inode->open_count_ > 0 || inode->closing_ > 0;
  }
  // Whatever is kept, its clean pages go, as drop_caches drops every clean page.
  auto keep = [&](Evicted reason) {
    if (inode->has_data()) inode->mapping().DropCleanPages(SIZE_MAX);
    out = reason;
    return false;
  };
  if (open) return keep(Evicted::kOpen);
  if (inode->block_device()) return keep(Evicted::kDevice);
  if (inode->has_data()) {
    // drop_caches writes nothing back: a file with dirty pages stays in core, and its errseq
    // with it (Linux keeps an inode whose state says dirty off its LRU). Writeback in flight
    // is waited for; the pages it leaves dirty (keep_dirty) keep the file.
    inode->mapping().WaitRange(0, UINT64_MAX);
    inode->mapping().FlushDelayedErrors();
  }
  Evicted kept = Evicted::kYes;  // decided under inodes_mu_, acted on without it
  {
    std::lock_guard lock(inodes_mu_);
    auto it = inodes_.find(attr->ino);
    if (it == inodes_.end() || it->second != inode || inode->open_count_ > 0) {
      kept = Evicted::kOpen;  // opened again meanwhile
    } else if (inode->has_data() && inode->mapping().HasDirtyPages()) {
      kept = Evicted::kDirty;
    } else if (options_.evict == EvictMode::kPin && HoldsUnseenError(*inode)) {
      kept = Evicted::kPinned;  // until somebody is told
    }
    if (kept == Evicted::kYes) inodes_.erase(it);
  }
  if (kept != Evicted::kYes) return keep(kept);
  if (inode->has_data()) inode->mapping().DropAllPages();
  out = Evicted::kYes;
  return true;
}

}  // namespace errseq::vfs
