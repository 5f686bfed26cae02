// FuseServer: the libfuse3 low-level handlers (see include/errseq/fuse/fuse_server.h). This file
// is where a Status becomes a FUSE reply (the errno boundary on the way out).
#define FUSE_USE_VERSION 312
#include "errseq/fuse/fuse_server.h"

#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "errseq/core/realtime.h"
#include "errseq/fs/creator.h"
#include "errseq/fuse/mount_info.h"
#include "errseq/fuse/session_loop.h"
#include "errseq/fuse/uring_channel.h"
#include "errseq/vfs/path.h"

namespace errseq::fuse {
namespace {

// O_SYNC/O_DSYNC stay with the kernel: after each write through such a description it sends an
// FSYNC (generic_write_sync), which reports through this description's cursor. Keeping them
// here too would write back and sync every such write twice.
constexpr int kKernelSyncFlags = O_SYNC | O_DSYNC;
// O_DIRECT comes with every WRITE (the description's flags as they are now: fcntl(F_SETFL)
// may change it after the open), so it is taken from there and not kept from the open.
constexpr int kPerRequestFlags = kKernelSyncFlags | O_DIRECT;

constexpr uint32_t kMaxWrite = 1 << 20;  // the largest WRITE the kernel sends us

FuseServer* Server(fuse_req_t req) { return static_cast<FuseServer*>(fuse_req_userdata(req)); }

using FileHandle = std::shared_ptr<vfs::File>;

vfs::File* FileOf(fuse_file_info* fi) { return OpenHandles::Get<FileHandle>(fi->fh)->get(); }

// Sets the ledger's pid for this request, and whom what it creates belongs to.
class RequestScope {
 public:
  explicit RequestScope(fuse_req_t req)
      : pid_(static_cast<int>(fuse_req_ctx(req)->pid)),
        creator_(fuse_req_ctx(req)->uid, fuse_req_ctx(req)->gid) {}

 private:
  vfs::ScopedCallerPid pid_;
  fs::ScopedCreator creator_;
};

struct stat ToStat(const vfs::NodeAttr& a, uint64_t fuse_ino) {
  struct stat st {};
  // The host's number, as readdir shows it, also for an alias node id (FuseIno); the root's 1.
  st.st_ino = fuse_ino < FuseServer::kFirstAlias ? fuse_ino : a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blksize = 4096;
  st.st_blocks = static_cast<blkcnt_t>(a.blocks >= 0 ? static_cast<uint64_t>(a.blocks)
                                                     : (a.size + 511) / 512);
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  auto ts = [](int64_t ns) {
    return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  };
  st.st_atim = ts(a.atime_ns);
  st.st_mtim = ts(a.mtime_ns);
  st.st_ctim = ts(a.ctime_ns);
  return st;
}

// How long the kernel may keep attributes. A file whose pages our cache holds: never, since a
// failed writeback under `revert` changes its size and data without the kernel's knowledge.
// Anything else (directories, files with nothing cached) changes only through the kernel,
// which drops its copy itself, or on the host (seen within the attribute timeout). Under
// default_permissions the kernel asks for directories at every path walk, and for a new
// file's attributes right after CREATE: caching them saves those requests (W5).
double AttrTimeout(FuseServer* s, const vfs::NodeAttr& a) {
  if (S_ISREG(a.mode) && s->sb().HasCachedPages(a.ino)) return 0;
  return s->options().attr_timeout;
}

void ReplyEntry(fuse_req_t req, FuseServer* s, const std::string& path, const vfs::NodeAttr& a) {
  fuse_entry_param e{};
  e.ino = s->Remember(path, a.ino);
  e.generation = 1;
  e.attr = ToStat(a, e.ino);
  e.attr_timeout = AttrTimeout(s, a);
  e.entry_timeout = s->options().entry_timeout;
  fuse_reply_entry(req, &e);
}

// After MKDIR, SYMLINK or LINK made `path` (st OK): its entry; else the error.
void ReplyNewEntry(fuse_req_t req, FuseServer* s, const std::string& path, const Status& st) {
  if (!st.ok()) return (void)fuse_reply_err(req, -st.err());
  auto a = s->sb().Stat(path);
  if (!a.ok()) return (void)fuse_reply_err(req, -a.err());
  ReplyEntry(req, s, path, *a);
}

void OnInit(void* userdata, fuse_conn_info* conn) {
  auto* s = static_cast<FuseServer*>(userdata);
  conn->max_read = static_cast<unsigned>(s->max_read());  // libfuse: the same as the -o max_read
  if (s->splice_max() != 0 && (conn->capable & FUSE_CAP_SPLICE_WRITE)) {
    conn->want |= FUSE_CAP_SPLICE_WRITE;  // fuse_reply_data with a host fd: spliced
  }
  // Every write must reach our page cache: never the kernel's writeback cache.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->max_write = kMaxWrite;
  // No splice: without a write_buf handler libfuse copies every request out of the pipe
  // again, one more syscall per request for nothing.
  conn->want &= ~FUSE_CAP_SPLICE_READ;
}

// The syncfs mirror's hidden file (see syncfs_mirror.h): the handlers below that receive an
// inode number first check for it.
bool IsMirror(fuse_ino_t ino) { return ino == SyncfsMirror::kIno; }

void OnLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  FuseServer* s = Server(req);
  s->AfterInit();
  if (parent == FUSE_ROOT_ID && s->mirror() &&
      s->mirror()->IsHidden(name, static_cast<pid_t>(fuse_req_ctx(req)->pid))) {
    fuse_entry_param e{};  // timeouts 0: nobody else may find it in the dcache
    e.ino = SyncfsMirror::kIno;
    e.generation = 1;
    e.attr = s->mirror()->Attr();
    return (void)fuse_reply_entry(req, &e);
  }
  Status st;
  std::string path = s->Child(parent, name, &st);
  if (!st.ok()) return (void)fuse_reply_err(req, -st.err());
  auto a = s->sb().Stat(path);
  if (!a.ok()) return (void)fuse_reply_err(req, -a.err());
  ReplyEntry(req, s, path, *a);
}

void OnForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Server(req)->Forget(ino, nlookup);
  fuse_reply_none(req);
}

void OnForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Server(req)->Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

// An open description of the kernel's inode `ino` when its name `path` no longer leads to it
// (unlinked, or replaced on the host), else nullptr: requests the kernel sends by inode about
// such a file (fchmod, futimens, open of /proc/PID/fd/N) then go through the file itself.
std::shared_ptr<vfs::File> OpenIfNameGone(FuseServer* s, const std::string& path, fuse_ino_t ino) {
  std::shared_ptr<vfs::File> open = s->OpenFileOf(ino);
  if (!open) return nullptr;
  auto now = s->sb().Stat(path);
  return now.ok() && s->FuseIno(now->ino) == ino ? nullptr : open;
}

void OnGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseServer* s = Server(req);
  s->AfterInit();
  if (IsMirror(ino) && s->mirror()) {
    struct stat st = s->mirror()->Attr();
    return (void)fuse_reply_attr(req, &st, 0);
  }
  vfs::NodeAttr a;
  if (fi) {
    a = s->sb().Fstat(*FileOf(fi));
  } else {
    auto path = s->PathOf(ino);
    if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
    auto r = s->sb().Stat(*path);
    if (r.ok() && s->FuseIno(r->ino) == ino) {
      a = *r;
    } else if (auto open = s->OpenFileOf(ino)) {
      // The name is gone (unlinked) or now belongs to another file (replaced on the host), but
      // the file is open: fstat(2) of it, as Linux answers it.
      a = s->sb().Fstat(*open);
    } else if (auto gone = s->RemovedAttr(ino)) {
      a = *gone;  // removed while open (a directory, a FIFO) or someone's working directory
    } else if (!r.ok()) {
      return (void)fuse_reply_err(req, -r.err());
    } else {
      return (void)fuse_reply_err(req, ESTALE);  // never describe the other file
    }
  }
  struct stat st = ToStat(a, ino);
  fuse_reply_attr(req, &st, AttrTimeout(s, a));
}

void OnSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               fuse_file_info* fi) {
  FuseServer* s = Server(req);
  if (IsMirror(ino) && s->mirror()) {
    struct stat st = s->mirror()->Attr();  // its size never changes
    return (void)fuse_reply_attr(req, &st, 0);
  }
  RequestScope scope(req);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  // Through the file itself where a description of it is at hand: the request's own
  // (ftruncate), or an open one once the name no longer leads to it (fchmod, fchown, futimens
  // or truncate through /proc/PID/fd of an unlinked file: the kernel sends those by inode).
  std::shared_ptr<vfs::File> open =
      fi ? *OpenHandles::Get<FileHandle>(fi->fh) : OpenIfNameGone(s, *path, ino);
  if (to_set & FUSE_SET_ATTR_SIZE) {
    const auto size = static_cast<uint64_t>(attr->st_size);
    Status r;
    if (open && open->writable()) {  // the kernel sends ftruncate of writable ones only
      r = s->sb().Ftruncate(*open, size);
    } else {
      auto f = s->sb().Open(*path, O_WRONLY);
      r = f.ok() ? s->sb().Ftruncate(**f, size) : f.status();
    }
    if (!r.ok()) return (void)fuse_reply_err(req, -r.err());
  }
  vfs::AttrChange change;
  if (to_set & FUSE_SET_ATTR_MODE) change.mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) change.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) change.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    change.atime = timespec{0, UTIME_NOW};
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    change.atime = attr->st_atim;
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    change.mtime = timespec{0, UTIME_NOW};
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    change.mtime = attr->st_mtim;
  }
  if (!open && s->RemovedAttr(ino)) {
    // A FIFO or socket removed while open (the kernel opened it itself: no description of
    // ours): its name is gone or another's, so the change is the removed node's own. Before,
    // it went by the name to another file, and the kernel, handed that file's attributes,
    // failed the call with EIO and took the inode for a bad one.
    auto now = s->sb().Stat(*path);
    if (!now.ok() || s->FuseIno(now->ino) != ino) {
      if (auto gone = s->ChangeRemoved(ino, change)) {
        struct stat st = ToStat(*gone, ino);
        return (void)fuse_reply_attr(req, &st, AttrTimeout(s, *gone));
      }
    }
  }
  Status r = open ? s->sb().SetAttrOf(*open, change) : s->sb().SetAttr(*path, change);
  if (!r.ok()) return (void)fuse_reply_err(req, -r.err());
  auto a = open ? Result<vfs::NodeAttr>(s->sb().Fstat(*open)) : s->sb().Stat(*path);
  if (!a.ok()) return (void)fuse_reply_err(req, -a.err());
  struct stat st = ToStat(*a, ino);
  fuse_reply_attr(req, &st, AttrTimeout(s, *a));
}

// Whether a description opened with `flags` is a direct_io one. A write-only description can
// neither read nor be mapped: its writes skip the kernel's page cache and go from the writer's
// buffer straight into the request (one copy and no kernel page-cache pages fewer). Readers
// and shared mappings of other descriptions still see the data
// (Mount.WriteOnlyWritesReachOurCacheAndReadersSeeThem, kernel 6.18).
bool DirectIo(FuseServer* s, int flags) {
  return s->options().direct_write_only && (flags & O_ACCMODE) == O_WRONLY;
}

// Opened through the kernel's inode `ino`, or created at `path` (then ino is found here).
void OpenReply(fuse_req_t req, fuse_file_info* fi, std::shared_ptr<vfs::File> file,
               fuse_ino_t ino, const std::string* path, FuseServer* s) {
  fi->fh = s->handles().Add(std::make_unique<FileHandle>(file));
  fi->keep_cache = 0;  // the kernel must not serve pages our cache may have dropped
  if (DirectIo(s, fi->flags)) fi->direct_io = 1;
  // close(2) sends no FLUSH: it would report and consume nothing here (OnFlush), and without
  // this flag the kernel's close also writes the file's shared mappings back and takes any
  // error of that writeback out of its mapping (filemap_check_errors), which no local file
  // system's close does. One request fewer per close (W5).
  fi->noflush = !s->options().flush_on_close;
  if (path) {
    fuse_entry_param e{};
    vfs::NodeAttr a = s->sb().Fstat(*file);
    e.ino = s->Remember(*path, a.ino);
    s->Opened(e.ino, file);
    e.generation = 1;
    e.attr = ToStat(a, e.ino);
    e.attr_timeout = AttrTimeout(s, a);
    e.entry_timeout = s->options().entry_timeout;
    if (fuse_reply_create(req, &e, fi) != 0) s->handles().Release(fi->fh);
  } else {
    s->Opened(ino, file);
    if (fuse_reply_open(req, fi) != 0) s->handles().Release(fi->fh);  // the opener went away
  }
}

void OnOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) {
    fi->fh = 0;  // no vfs::File: its requests never reach the VFS
    fi->keep_cache = 1;
    // No FLUSH at close: a SIGKILLed server closes this file while dying, and a FLUSH then
    // waits for an answer only that server could give (its /dev/fuse closes after).
    fi->noflush = 1;
    return (void)fuse_reply_open(req, fi);
  }
  RequestScope scope(req);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  // O_CREAT/O_EXCL were handled by the kernel; O_TRUNC arrives here.
  const int flags = fi->flags & ~(O_CREAT | O_EXCL | kPerRequestFlags);
  // An open of /proc/PID/fd/N of a file whose name is gone: a new description of the open one.
  auto open = OpenIfNameGone(s, *path, ino);
  auto f = open ? s->sb().Reopen(*open, flags) : s->sb().Open(*path, flags);
  if (!f.ok()) return (void)fuse_reply_err(req, -f.err());
  OpenReply(req, fi, std::move(*f), ino, nullptr, s);
}

void OnCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  FuseServer* s = Server(req);
  RequestScope scope(req);
  Status st;
  std::string path = s->Child(parent, name, &st);
  if (!st.ok()) return (void)fuse_reply_err(req, -st.err());
  auto f = s->sb().Open(path, (fi->flags | O_CREAT) & ~kPerRequestFlags, mode);
  if (!f.ok()) return (void)fuse_reply_err(req, -f.err());
  OpenReply(req, fi, std::move(*f), 0, &path, s);
}

// A READ answered with a range of the host file: libfuse splices it from the host's page cache
// into a pipe and on into the kernel's pages (one copy, none by us), then any zeros past the
// host file's end. A host read error reaches the reader as the READ's error.
void ReplyFromStore(fuse_req_t req, FuseServer* s, const mm::StoreRange& r) {
  std::vector<char> zeros(r.zeros);
  std::unique_ptr<fuse_bufvec, decltype(&std::free)> bv(
      static_cast<fuse_bufvec*>(std::calloc(1, sizeof(fuse_bufvec) + sizeof(fuse_buf))),
      &std::free);
  if (!bv) return (void)fuse_reply_err(req, ENOMEM);
  fuse_buf* b = bv->buf;
  if (r.length != 0) {
    b->size = r.length;
    b->flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    b->fd = r.fd;
    b->pos = static_cast<off_t>(r.offset);
    ++b;
  }
  if (r.zeros != 0) {
    b->size = r.zeros;
    b->mem = zeros.data();
    ++b;
  }
  bv->count = static_cast<size_t>(b - bv->buf);
  s->CountSpliced(r.length);
  fuse_reply_data(req, bv.get(), static_cast<fuse_buf_copy_flags>(0));
}

void OnRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) {
    const size_t end = SyncfsMirror::kSize;
    const size_t n = static_cast<size_t>(off) >= end ? 0 : std::min(size, end - static_cast<size_t>(off));
    std::vector<char> zeros(n);
    return (void)fuse_reply_buf(req, zeros.data(), n);
  }
  vfs::File& file = *FileOf(fi);
  // O_DIRECT comes with every READ as with every WRITE: such a read goes to the source past
  // our cache (SuperBlock::Pread), never spliced from it.
  const int direct = fi->flags & O_DIRECT;
  if (size <= s->splice_max() && !direct) {
    auto range = s->sb().PreadFromStore(file, size, static_cast<uint64_t>(off));
    if (!range.ok()) return (void)fuse_reply_err(req, -range.err());
    if (range->has_value()) return ReplyFromStore(req, s, **range);
  }
  std::unique_ptr<std::byte[]> buf(new std::byte[size]);  // filled by Pread, no zeroing
  auto n = s->sb().Pread(file, {buf.get(), size}, static_cast<uint64_t>(off), direct);
  if (!n.ok()) return (void)fuse_reply_err(req, -n.err());
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.get()), *n);
}

void OnWrite(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) {
    SyncfsMirror* m = s->mirror();
    uint64_t token = 0;
    int err = m ? m->OnWrite(&token) : 0;
    if (err != 0) {
      fuse_reply_err(req, -err);  // the kernel records it in the mount's errseqs
    } else {
      fuse_reply_write(req, size);
    }
    if (m) m->AfterWrite(token);
    return;
  }
  RequestScope scope(req);
  vfs::File& file = *FileOf(fi);
  // An O_SYNC / O_DSYNC / RWF_DSYNC write comes with those flags, and its range is synced as
  // Linux's generic_write_sync does. Through a direct_io description (see OpenReply) the
  // kernel sends nothing more: the sync is done here. Through any other it sends the write's
  // WRITEs, then an FSYNC of the whole file: the range is noted here and synced there
  // (SyncedWrites). A mapped page's writeback is never such a write.
  const bool direct_io = DirectIo(s, file.flags());
  const int write_sync = fi->writepage ? 0 : (fi->flags & kKernelSyncFlags);
  const int sync_flags = direct_io ? write_sync : 0;
  // An O_DIRECT description's write goes past our cache to the source, its error its own
  // (SuperBlock::WriteDirect); a mapped page's writeback never does.
  const int direct = fi->flags & O_DIRECT;
  const std::span<const std::byte> buf{reinterpret_cast<const std::byte*>(data), size};
  // The kernel's writeback of a shared mapping's page goes through any writable handle of the
  // file, maybe an O_APPEND one: it must land where the page is, not at the end of the file.
  // (A write call through an O_APPEND handle is appended here: the kernel leaves O_APPEND to
  // the server while its writeback cache is off.)
  auto n = fi->writepage ? s->sb().WriteMappedPage(file, buf, static_cast<uint64_t>(off))
                         : s->sb().Pwrite(file, buf, static_cast<uint64_t>(off),
                                          sync_flags | direct);
  // An error the write's sync recorded must be in the kernel's super-block errseq before the
  // caller can call syncfs (as OnFsync).
  if (SyncfsMirror* m = s->mirror(); m && sync_flags) m->WaitHandedOver(std::chrono::seconds(1));
  if (!n.ok()) {
    // The kernel records a failed writeback of a mapped page in its own mapping.
    if (fi->writepage) s->synced_writes().KernelHoldsError(ino);
    return (void)fuse_reply_err(req, -n.err());
  }
  if (write_sync && !direct_io) {
    // An O_APPEND description's write landed at an end of file another append may have moved
    // since: its sync covers the whole file rather than miss the bytes.
    const bool append = file.flags() & O_APPEND;
    s->synced_writes().Wrote(fi->fh, static_cast<uint32_t>(fuse_req_ctx(req)->pid), ino,
                             append ? 0 : static_cast<uint64_t>(off),
                             append ? UINT64_MAX : *n, write_sync);
  }
  fuse_reply_write(req, *n);
}

void OnFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, 0);  // close reports nothing and consumes nothing (never ENOSYS)
}

void OnRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (IsMirror(ino)) return (void)fuse_reply_err(req, 0);
  Server(req)->synced_writes().Forget(fi->fh);
  Server(req)->handles().Release(fi->fh);
  fuse_reply_err(req, 0);
}

void OnFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return (void)fuse_reply_err(req, 0);  // its WRITEs were answered already
  RequestScope scope(req);
  // The kernel's sync of an O_SYNC / O_DSYNC write: its range only (SyncedWrites).
  auto written = s->synced_writes().TakeFollowUp(
      fi->fh, static_cast<uint32_t>(fuse_req_ctx(req)->pid), ino);
  Status r = written ? s->sb().SyncWritten(*FileOf(fi), written->start,
                                           written->end - written->start, written->sync_flags)
             : datasync ? s->sb().Fdatasync(*FileOf(fi))
                        : s->sb().Fsync(*FileOf(fi));
  // An error this fsync recorded must be in the kernel's super-block errseq before the caller
  // can call syncfs. Bounded: every worker thread might be waiting here.
  if (SyncfsMirror* m = s->mirror()) m->WaitHandedOver(std::chrono::seconds(1));
  // Under revert, the kernel's copy of pages this fsync's writeback dropped must be gone
  // before the caller can read again (the drop was queued when the error was recorded).
  if (CacheInvalidator* iv = s->invalidator()) iv->WaitDone(std::chrono::seconds(1));
  fuse_reply_err(req, -r.err());
}

// Extended attributes (-o xattr=on only). The kernel asks a size first (size 0).
void ReplySized(fuse_req_t req, const Result<std::string>& v, size_t size) {
  if (!v.ok()) return (void)fuse_reply_err(req, -v.err());
  if (size == 0) return (void)fuse_reply_xattr(req, v->size());
  if (v->size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, v->data(), v->size());
}

// The kernel asks these by inode (fgetxattr and the others of a file whose name is gone as
// well): such a file's attributes are read through an open description of it.
void OnGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return (void)fuse_reply_err(req, ENODATA);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  auto open = OpenIfNameGone(s, *path, ino);
  ReplySized(req, s->sb().GetXattr(*path, name, open.get()), size);
}

void OnListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return ReplySized(req, std::string(), size);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  auto open = OpenIfNameGone(s, *path, ino);
  ReplySized(req, s->sb().ListXattr(*path, open.get()), size);
}

void OnSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return (void)fuse_reply_err(req, EPERM);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  auto open = OpenIfNameGone(s, *path, ino);
  const std::string v(value, size);
  fuse_reply_err(req, -s->sb().SetXattr(*path, name, v, flags, open.get()).err());
}

void OnRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return (void)fuse_reply_err(req, EPERM);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  auto open = OpenIfNameGone(s, *path, ino);
  fuse_reply_err(req, -s->sb().RemoveXattr(*path, name, open.get()).err());
}

// SEEK_DATA and SEEK_HOLE only: the kernel answers the other whences itself.
void OnLseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return (void)fuse_reply_err(req, ENXIO);
  auto r = s->sb().Lseek(*FileOf(fi), off, whence);
  if (!r.ok()) return (void)fuse_reply_err(req, -r.err());
  fuse_reply_lseek(req, static_cast<off_t>(*r));
}

void OnFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return (void)fuse_reply_err(req, EOPNOTSUPP);
  if (offset < 0 || length <= 0) return (void)fuse_reply_err(req, EINVAL);
  RequestScope scope(req);
  Status r = s->sb().Fallocate(*FileOf(fi), mode, static_cast<uint64_t>(offset),
                               static_cast<uint64_t>(length));
  fuse_reply_err(req, -r.err());
}

// An open directory: its names as they were at the open (what READDIR hands out, by
// position), and its vfs description, through which fsync, fstat and xattrs reach the
// directory itself; none for a directory already removed when it was opened.
struct DirHandle {
  std::vector<vfs::DirEntry> entries;
  std::shared_ptr<vfs::File> file;
};

void OnOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseServer* s = Server(req);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  RequestScope scope(req);
  auto file = s->sb().Open(*path, O_RDONLY | O_DIRECTORY);
  std::vector<vfs::DirEntry> entries;
  if (!file.ok() || s->FuseIno((*file)->inode().ino()) != ino) {
    // Removed while someone holds it (open, or a working directory), its name now gone or
    // another's: it opens, as on Linux, and lists nothing (the kernel answers getdents of a
    // removed directory with ENOENT itself, which readdir(3) takes for the end).
    auto gone = s->RemovedAttr(ino);
    if (!gone || !S_ISDIR(gone->mode)) {
      const bool other = file.ok() || file.err() == -ENOTDIR;  // the name is another's now
      return (void)fuse_reply_err(req, other ? ESTALE : -file.err());
    }
    fi->fh = s->handles().Add(std::make_unique<DirHandle>());
  } else {
    auto ls = (*file)->directory()->List();
    if (!ls.ok()) return (void)fuse_reply_err(req, -ls.err());
    // "." and ".." first, as a local file system lists them (programs count on them: a
    // directory is empty when it lists two names). Their numbers are the host's, as the rest.
    auto parent = s->sb().Stat(*path + "/..");  // the root's ".." is the root, as at "/"
    entries.reserve(ls->size() + 2);
    entries.push_back({".", (*file)->inode().ino(), S_IFDIR});
    entries.push_back({"..", parent.ok() ? parent->ino : 0, S_IFDIR});
    std::move(ls->begin(), ls->end(), std::back_inserter(entries));
    s->Opened(ino, *file);
    fi->fh = s->handles().Add(std::make_unique<DirHandle>(DirHandle{std::move(entries), *file}));
  }
  if (fuse_reply_open(req, fi) != 0) s->handles().Release(fi->fh);
}

void OnReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto* h = OpenHandles::Get<DirHandle>(fi->fh);
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < h->entries.size(); ++i) {
    struct stat st {};
    st.st_ino = h->entries[i].ino;
    st.st_mode = h->entries[i].type;
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, h->entries[i].name.c_str(),
                                    &st, static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OnReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Server(req)->handles().Release(fi->fh);
  fuse_reply_err(req, 0);
}

// fsync(2) of a directory: the source's fsync of it, so that names made, renamed or removed
// in it are durable (the pattern of every program that replaces a file by renaming a new one
// over it). Before, this answered 0 and the rename could be lost with the source's journal.
// A directory removed before it was opened has nothing left to sync. Never ENOSYS.
void OnFsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  FuseServer* s = Server(req);
  auto* h = OpenHandles::Get<DirHandle>(fi->fh);
  if (!h->file) return (void)fuse_reply_err(req, 0);
  RequestScope scope(req);
  Status r = datasync ? s->sb().Fdatasync(*h->file) : s->sb().Fsync(*h->file);
  // A failure is recorded in the super block: in the kernel's too before the caller can
  // call syncfs (as OnFsync).
  if (SyncfsMirror* m = s->mirror(); m && !r.ok()) m->WaitHandedOver(std::chrono::seconds(1));
  fuse_reply_err(req, -r.err());
}

// A request that makes a new name in `parent` (mkdir, symlink, mknod): `make` makes it, on
// behalf of the requester; the reply describes what it made.
template <class Make>
void MakeEntry(fuse_req_t req, fuse_ino_t parent, const char* name, const Make& make) {
  FuseServer* s = Server(req);
  RequestScope scope(req);
  Status st;
  std::string path = s->Child(parent, name, &st);
  if (st.ok()) st = make(s->sb(), path);
  ReplyNewEntry(req, s, path, st);
}

void OnMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  MakeEntry(req, parent, name,
            [&](vfs::SuperBlock& sb, const std::string& path) { return sb.Mkdir(path, mode); });
}

void OnReadlink(fuse_req_t req, fuse_ino_t ino) {
  FuseServer* s = Server(req);
  auto path = s->PathOf(ino);
  if (!path.ok()) return (void)fuse_reply_err(req, -path.err());
  auto target = s->sb().Readlink(*path);
  if (!target.ok()) return (void)fuse_reply_err(req, -target.err());
  fuse_reply_readlink(req, target->c_str());
}

void OnSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  MakeEntry(req, parent, name, [&](vfs::SuperBlock& sb, const std::string& path) {
    return sb.Symlink(target, path);
  });
}

void OnUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  FuseServer* s = Server(req);
  Status st;
  std::string path = s->Child(parent, name, &st);
  vfs::NodeAttr removed;
  if (st.ok()) st = s->sb().Unlink(path, &removed);
  if (st.ok()) {
    if (removed.nlink > 1) {
      s->Unlinked(path, removed.ino);
    } else {
      s->Removed(removed);
    }
  }
  fuse_reply_err(req, -st.err());
}

void OnLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  FuseServer* s = Server(req);
  if (IsMirror(ino)) return (void)fuse_reply_err(req, EPERM);
  auto from = s->PathOf(ino);
  if (!from.ok()) return (void)fuse_reply_err(req, -from.err());
  Status st;
  std::string to = s->Child(newparent, newname, &st);
  if (st.ok()) st = s->sb().Link(*from, to);
  ReplyNewEntry(req, s, to, st);
}

void OnRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  FuseServer* s = Server(req);
  Status st;
  std::string path = s->Child(parent, name, &st);
  Result<vfs::NodeAttr> before = Status::Error(-ENOENT);
  if (st.ok()) before = s->sb().Stat(path);
  if (st.ok()) st = s->sb().Rmdir(path);
  if (st.ok() && before.ok()) s->Removed(*before);
  fuse_reply_err(req, -st.err());
}

void OnRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  FuseServer* s = Server(req);
  Status st;
  std::string from = s->Child(parent, name, &st);
  std::string to = st.ok() ? s->Child(newparent, newname, &st) : "";
  vfs::NodeAttr replaced;  // ino 0: nothing was replaced
  if (st.ok()) st = s->sb().Rename2(from, to, flags, &replaced);
  if (st.ok()) {
    // A replaced directory, or file with no other name, is gone (its number free on the host).
    const bool gone = replaced.ino != 0 && (S_ISDIR(replaced.mode) || replaced.nlink <= 1);
    s->Renamed(from, to, replaced.nlink > 1 && !gone ? replaced.ino : 0,
               flags == RENAME_EXCHANGE);
    if (gone) s->Removed(replaced);
  }
  fuse_reply_err(req, -st.err());
}

void OnStatfs(fuse_req_t req, fuse_ino_t) {
  auto sv = Server(req)->sb().StatFs();
  if (!sv.ok()) return (void)fuse_reply_err(req, -sv.err());
  fuse_reply_statfs(req, &*sv);
}

void OnMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  MakeEntry(req, parent, name,
            [&](vfs::SuperBlock& sb, const std::string& path) { return sb.Mknod(path, mode); });
}

// Sets the readahead of the FUSE mount at `mnt` through its bdi. Returns a reason on failure.
std::string SetReadAhead(const std::string& mnt, unsigned kb) {
  std::string dev = MountDevice(mnt);
  if (dev.empty()) return "the mount is not in /proc/self/mountinfo";
  std::ofstream out("/sys/class/bdi/" + dev + "/read_ahead_kb");
  out << kb << std::endl;
  return out.good() ? "" : "cannot write /sys/class/bdi/" + dev + "/read_ahead_kb";
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o{};
  o.init = OnInit;
  o.lookup = OnLookup;
  o.forget = OnForget;
  o.forget_multi = OnForgetMulti;
  o.getattr = OnGetattr;
  o.setattr = OnSetattr;
  o.open = OnOpen;
  o.create = OnCreate;
  o.read = OnRead;
  o.write = OnWrite;
  o.flush = OnFlush;
  o.release = OnRelease;
  o.fsync = OnFsync;
  o.fallocate = OnFallocate;
  o.lseek = OnLseek;
  o.opendir = OnOpendir;
  o.readdir = OnReaddir;
  o.releasedir = OnReleasedir;
  o.fsyncdir = OnFsyncdir;
  o.mkdir = OnMkdir;
  o.mknod = OnMknod;
  o.unlink = OnUnlink;
  o.link = OnLink;
  o.readlink = OnReadlink;
  o.symlink = OnSymlink;
  o.rmdir = OnRmdir;
  o.rename = OnRename;
  o.statfs = OnStatfs;
  return o;
}();

// The same with the xattr requests answered (-o xattr=on).
const fuse_lowlevel_ops kOpsWithXattr = [] {
  fuse_lowlevel_ops o = kOps;
  o.getxattr = OnGetxattr;
  o.listxattr = OnListxattr;
  o.setxattr = OnSetxattr;
  o.removexattr = OnRemovexattr;
  return o;
}();

}  // namespace

FuseServer::FuseServer(std::unique_ptr<vfs::FileSystem> fs, vfs::MountOptions mount_options,
                       std::string source, Options options)
    : fs_(std::move(fs)),
      mount_options_(std::move(mount_options)),
      source_(std::move(source)),
      options_(std::move(options)) {
  auto root = fs_->GetAttr("");
  root_host_ino_ = root.ok() ? root->ino : 0;
  // Absolute paths: the VFS refuses "" as a name.
  nodes_[FUSE_ROOT_ID] = {{"/"}, 1, {}, std::nullopt};
}

void FuseServer::Crash() {
  sb_->DiscardCache();
  Exit();
}

void FuseServer::Exit() {
  fuse_session* se = session_.load();
  if (!se) return;
  fuse_session_exit(se);
  // The loop notices only when a request arrives: make one, from a thread that may block. A
  // LOOKUP of a name that cannot exist always reaches us (attributes may be cached; failed
  // lookups are not).
  std::thread([probe = mountpoint_abs_ + "/.errseqfs-exit-" + std::to_string(::getpid())] {
    struct stat st;
    ::stat(probe.c_str(), &st);
  }).detach();
}

FuseServer::~FuseServer() = default;

void FuseServer::AfterInit() {
  std::call_once(after_init_, [this] {
    if (options_.read_ahead_kb == 0) return;
    // mountinfo escapes spaces and the like; such a mount point keeps the kernel's default.
    std::string why = SetReadAhead(mountpoint_abs_, options_.read_ahead_kb);
    if (!why.empty() && options_.debug) {
      std::fprintf(stderr, "errseqfs: readahead left as it was: %s\n", why.c_str());
    }
  });
}

Result<std::string> FuseServer::PathOf(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return Status::Error(-ESTALE);
  return it->second.paths.front();
}

std::string FuseServer::Child(uint64_t parent_ino, const char* name, Status* st) {
  auto parent = PathOf(parent_ino);
  if (!parent.ok()) {
    *st = parent.status();
    return "";
  }
  if (std::strchr(name, '/') || std::strcmp(name, "..") == 0 || std::strcmp(name, ".") == 0) {
    *st = Status::Error(-EINVAL);
    return "";
  }
  *st = Status::Ok();
  return *parent == "/" ? "/" + std::string(name) : *parent + "/" + name;
}

uint64_t FuseServer::FuseIno(uint64_t host_ino) {
  if (host_ino == root_host_ino_) return FUSE_ROOT_ID;
  std::lock_guard lock(mu_);
  return FuseInoLocked(host_ino);
}

uint64_t FuseServer::FuseInoLocked(uint64_t host_ino) const {
  if (host_ino == root_host_ino_) return FUSE_ROOT_ID;
  auto a = aliases_.find(host_ino);
  return a == aliases_.end() ? host_ino : a->second;
}

uint64_t FuseServer::Remember(const std::string& path, uint64_t host_ino) {
  std::lock_guard lock(mu_);
  uint64_t ino = FuseInoLocked(host_ino);
  if (auto it = nodes_.find(ino); it != nodes_.end() && it->second.gone) {
    // The host gave a gone file's number to this one while the kernel still holds the gone
    // one's inode: the kernel must see another inode, or it would take the new file for the
    // old (a removed directory someone is in would turn into a symlink, and fail with EIO).
    ino = next_alias_++;
    aliases_[host_ino] = ino;
  }
  Node& n = nodes_[ino];
  n.host_ino = host_ino;
  if (n.paths.empty() || n.paths.front() != path) {
    std::erase(n.paths, path);
    n.paths.insert(n.paths.begin(), path);
  }
  ++n.nlookup;
  return ino;
}

void FuseServer::Opened(uint64_t ino, const std::shared_ptr<vfs::File>& file) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;  // forgotten already: the kernel cannot ask by it
  auto& files = it->second.files;
  std::erase_if(files, [](const std::weak_ptr<vfs::File>& w) { return w.expired(); });
  files.push_back(file);
}

void FuseServer::Removed(const vfs::NodeAttr& attr) {
  std::lock_guard lock(mu_);
  const uint64_t ino = FuseInoLocked(attr.ino);
  if (ino == FUSE_ROOT_ID) return;
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;  // the kernel holds no inode of it
  vfs::NodeAttr a = attr;
  a.nlink = 0;  // as Linux shows a removed file
  if (!S_ISREG(a.mode)) a.size = 0;  // a removed directory's size on Linux; a FIFO's
  it->second.removed = a;
  it->second.gone = true;
  aliases_.erase(attr.ino);  // the number's next file is asked about afresh (Remember)
}

std::optional<vfs::NodeAttr> FuseServer::RemovedAttr(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.removed;
}

std::optional<vfs::NodeAttr> FuseServer::ChangeRemoved(uint64_t ino,
                                                       const vfs::AttrChange& change) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end() || !it->second.removed) return std::nullopt;
  vfs::NodeAttr& a = *it->second.removed;
  change.ApplyTo(a, RealtimeNs());
  return a;
}

std::shared_ptr<vfs::File> FuseServer::OpenFileOf(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return nullptr;
  for (const auto& w : it->second.files) {
    if (auto f = w.lock()) return f;
  }
  return nullptr;
}

void FuseServer::DropName(uint64_t host_ino, const std::string& path) {
  auto it = nodes_.find(FuseInoLocked(host_ino));
  if (it == nodes_.end()) return;
  auto& paths = it->second.paths;
  // The last name stays: an unlinked file that is still open is reached through its File.
  if (paths.size() > 1) std::erase(paths, path);
}

void FuseServer::Unlinked(const std::string& path, uint64_t host_ino) {
  std::lock_guard lock(mu_);
  DropName(host_ino, path);
}

void FuseServer::Forget(uint64_t ino, uint64_t nlookup) {
  if (ino == FUSE_ROOT_ID) return;
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  if (it->second.nlookup <= nlookup) {
    auto a = aliases_.find(it->second.host_ino);
    if (a != aliases_.end() && a->second == ino) aliases_.erase(a);
    nodes_.erase(it);
  } else {
    it->second.nlookup -= nlookup;
  }
}

void FuseServer::Renamed(const std::string& from, const std::string& to,
                         uint64_t replaced_host_ino, bool exchanged) {
  std::lock_guard lock(mu_);
  if (replaced_host_ino != 0) DropName(replaced_host_ino, to);
  for (auto& [ino, n] : nodes_) {
    for (std::string& p : n.paths) vfs::MovePath(p, from, to, exchanged);
  }
}

namespace {

// /proc/sys/fs/pipe-max-size: how far a pipe grows without CAP_SYS_RESOURCE (1 MiB if unknown).
size_t PipeMaxSize() {
  std::ifstream in("/proc/sys/fs/pipe-max-size");
  size_t v = 0;
  return (in >> v) && v >= 4096 ? v : size_t{1} << 20;
}

// max_read=N among the -o options the user gave libfuse, or 0.
size_t UserMaxRead(const std::vector<std::string>& fuse_options) {
  size_t found = 0;
  for (const std::string& group : fuse_options) {
    std::stringstream ss(group);
    std::string o;
    while (std::getline(ss, o, ',')) {
      if (o.rfind("max_read=", 0) == 0) found = std::strtoull(o.c_str() + 9, nullptr, 10);
    }
  }
  return found;
}

}  // namespace

Status FuseServer::Run(const std::function<void(vfs::SuperBlock&)>& ready) {
  {
    // Absolute: the process may chdir("/") when it daemonizes.
    std::error_code ec;
    auto abs = std::filesystem::weakly_canonical(options_.mountpoint, ec);
    mountpoint_abs_ = ec ? options_.mountpoint : abs.string();
  }
  std::vector<std::string> args = {"errseqfs", "-o", "fsname=errseqfs:" + source_,
                                   "-o", "subtype=errseqfs", "-o", "default_permissions"};
  // READ size. A spliced reply must fit libfuse's pipe whole (reply, its header and a page per
  // buffer of bookkeeping), and a pipe grows only to /proc/sys/fs/pipe-max-size (1 MiB by
  // default) without CAP_SYS_RESOURCE: READs stay below that unless -o max_read says otherwise.
  const size_t pipe_max = PipeMaxSize();
  const size_t fits = pipe_max > 5 * 4096 ? (pipe_max - 4 * 4096 - 16) & ~size_t{4095} : 0;
  max_read_ = UserMaxRead(options_.fuse_options);
  if (max_read_ == 0) {
    max_read_ = std::clamp<size_t>(options_.splice_reads ? fits : 1 << 20, 128 << 10, 1 << 20);
    args.insert(args.end(), {"-o", "max_read=" + std::to_string(max_read_)});
  }
  splice_max_ = options_.splice_reads ? std::min(fits, max_read_) : 0;
  if (options_.allow_other) args.insert(args.end(), {"-o", "allow_other"});
  for (const auto& o : options_.fuse_options) args.insert(args.end(), {"-o", o});
  if (options_.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops& ops = options_.xattr ? kOpsWithXattr : kOps;
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof ops, this);
  fuse_opt_free_args(&fargs);  // libfuse may have grown the list
  if (!se) return Status::Error(-EINVAL, "cannot create the FUSE session (bad -o option?)");
  auto fail = [&](int stage, Status st) {
    if (stage >= 2) fuse_session_unmount(se);
    if (stage >= 1) fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return st;
  };
  if (fuse_set_signal_handlers(se) != 0) {
    return fail(0, Status::Error(-EIO, "cannot install signal handlers"));
  }
  if (options_.io_uring == IoUring::kOn) {
    if (std::string why = UringChannel::Unavailable(); !why.empty()) {
      return fail(1, Status::Error(-EOPNOTSUPP, "-o io_uring=on: " + why));
    }
  }
  if (fuse_session_mount(se, options_.mountpoint.c_str()) != 0) {
    return fail(1, Status::Error(-EIO, fmt::format("cannot mount on '{}' (missing, busy, or no "
                                                   "access to /dev/fuse)", options_.mountpoint)));
  }
  const std::string mount_dev = MountDevice(mountpoint_abs_);  // ours, while it is mounted
  if (!options_.foreground && fuse_daemonize(0) != 0) {
    return fail(2, Status::Error(-EIO, "cannot daemonize"));
  }
  // The loop exists before the channel: once the rings carry the requests, the device needs
  // no polling.
  SessionLoop loop(se, {.threads = options_.max_threads, .spin_us = options_.spin_us});
  if (options_.io_uring != IoUring::kOff && UringChannel::Unavailable().empty()) {
    UringChannel::Options uo;
    uo.workers = options_.max_threads;
    uo.required = options_.io_uring == IoUring::kOn;
    // Quick requests may also wait when a write could be throttled: with dirty memory within
    // one WRITE per queue of its limit, the next WRITE a queue serves itself could wait for
    // the flusher, which takes as long as the source's disk does. (The rings carry no request
    // before the loop runs, and sb_ is set by then.)
    const uint64_t margin = static_cast<uint64_t>(std::max(1, ::get_nprocs())) *
                            (kMaxWrite + 2 * mm::kPageSize);
    uo.requests_may_wait = [this, margin, user = options_.requests_may_wait] {
      return (user && user()) || (sb_ && sb_->WriteMayBeThrottled(margin));
    };
    uo.on_ready = [&loop, spin = options_.spin_us](bool active) {
      loop.set_spin_us(active ? 0 : spin);  // /dev/fuse carries requests again after a failure
    };
    auto ch = UringChannel::Attach(se, std::move(uo));
    if (!ch.ok()) {
      if (options_.io_uring == IoUring::kOn) {
        return fail(2, Status::Error(ch.err(), "-o io_uring=on: " + ch.status().ToString()));
      }
    } else {
      channel_ = std::move(*ch);
      channel_ptr_.store(channel_.get());
    }
  }
  vfs::MountOptions mo = mount_options_;
  mo.on_error = [this, chained = mo.on_error](const vfs::Event& e) {
    // Only what the super block's errseq holds: a block device's errors reach no syncfs.
    if (SyncfsMirror* m = mirror_ptr_.load(); m && e.in_sb_errseq) m->Record(e.err);
    // revert dropped pages (and maybe size) that the kernel may still hold a copy of.
    if (e.ino != 0 && mount_options_.policy == mm::FailurePolicy::kRevert) {
      if (CacheInvalidator* iv = inval_ptr_.load()) iv->Queue(e.ino);
    }
    if (chained) chained(e);
  };
  auto sb = vfs::SuperBlock::Mount(std::move(fs_), std::move(mo));
  if (!sb.ok()) return fail(2, sb.status());
  sb_ = std::move(*sb);
  if (mount_options_.policy == mm::FailurePolicy::kRevert) {
    invalidator_ = std::make_unique<CacheInvalidator>(se, mountpoint_abs_);
    inval_ptr_.store(invalidator_.get());
  }
  if (options_.syncfs_mirror) {
    mirror_ = std::make_unique<SyncfsMirror>(*sb_, mountpoint_abs_);
    mirror_ptr_.store(mirror_.get());
    mirror_->Start();  // its first requests are served once the loop runs
  }
  session_.store(se);
  if (ready) ready(*sb_);  // with the user's umask: what it makes (the control socket) is ours
  // The kernel has applied the caller's umask to the mode of every CREATE, MKDIR and MKNOD
  // (FUSE_CAP_DONT_MASK is not asked for): ours must not take more bits away on the source.
  ::umask(0);
  int rc;
  if (options_.libfuse_loop) {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, options_.max_threads);
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
  } else {
    rc = loop.Run();
  }
  // When the kernel shuts the connection down while the loop is reading a request, it answers
  // that read with ECONNABORTED instead of ENODEV. At an unmount that is the session's end:
  // seen on 6.18 with the mount already gone, in about one fuse_mount_test run in five, each
  // time failing a random test's unmount with "the FUSE loop failed". With our mount still in
  // place the connection was aborted under it (/sys/fs/fuse/connections/N/abort): a failure.
  if (rc == -ECONNABORTED && !mount_dev.empty() && MountDevice(mountpoint_abs_) != mount_dev) {
    rc = 0;
  }
  Status transport;
  if (channel_) {
    channel_->Stop();
    if (options_.io_uring == IoUring::kOn && channel_->state() != UringChannel::State::kActive) {
      transport = Status::Error(-EOPNOTSUPP, "-o io_uring=on: " + (channel_->failure().empty()
          ? std::string("the kernel did not take io_uring") : channel_->failure()));
    }
  }
  session_.store(nullptr);
  if (invalidator_) {  // it writes to the session's device: before that is closed
    inval_ptr_.store(nullptr);
    invalidator_->Stop();
  }
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);  // aborts the connection if the mirror still holds the mount
  if (mirror_) {
    mirror_ptr_.store(nullptr);
    mirror_->Stop();
  }
  // No request comes any more. Without a RELEASE for each open (the connection was aborted,
  // or errseqctl crash ended the loop under open files) the files are closed here, before the
  // super block goes.
  handles_.ReleaseAll();
  Status unmount = sb_->Unmount();
  channel_ptr_.store(nullptr);
  if (rc < 0) return Status::Error(rc, "the FUSE loop failed");
  if (!unmount.ok()) return unmount;
  return transport;
}

std::string FuseServer::transport() const {
  UringChannel* ch = channel_ptr_.load();
  return ch != nullptr && ch->state() == UringChannel::State::kActive ? "io_uring" : "/dev/fuse";
}

uint64_t FuseServer::io_uring_requests() const {
  UringChannel* ch = channel_ptr_.load();
  return ch != nullptr ? ch->served() : 0;
}

}  // namespace errseq::fuse
