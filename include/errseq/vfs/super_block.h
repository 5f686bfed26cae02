// SuperBlock: one mounted file system (mirrors struct super_block) and the syscall-shaped API on
// open file descriptions. It owns the FileSystem, the Writeback (flusher) for its mappings, the
// in-core inode table, `s_wb_err` (the super block's errseq, for syncfs) and the event ledger.
//
// The reporting rules of SEMANTICS.md §3-§4 live here and only here: which call checks and
// advances which cursor under which tracking profile. Every call returns an errno-style Status
// with the codes Linux gives (EBADF, EINVAL, EISDIR, ENOENT, EEXIST, ENOTDIR, ENOTEMPTY, ...).
//
// Thread-safety: every method may be called from any thread. `inodes_mu_` guards the inode
// table and each Inode's path/open count/unlinked flag; a File's own mutex guards its position
// and cursors. No SuperBlock lock is held during I/O.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "errseq/core/errseq.h"
#include "errseq/core/status.h"
#include "errseq/mm/error_observer.h"
#include "errseq/mm/writeback.h"
#include "errseq/vfs/file.h"
#include "errseq/vfs/file_system.h"
#include "errseq/vfs/inode.h"
#include "errseq/vfs/ledger.h"
#include "errseq/vfs/options.h"

namespace errseq::vfs {

// sync_file_range flags, as in <fcntl.h>.
inline constexpr unsigned kSyncFileRangeWaitBefore = 1;
inline constexpr unsigned kSyncFileRangeWrite = 2;
inline constexpr unsigned kSyncFileRangeWaitAfter = 4;

// The pid recorded in the ledger for calls made on this thread (a FUSE server sets the
// requester's pid around each request); getpid() when none is set.
class ScopedCallerPid {
 public:
  explicit ScopedCallerPid(int pid);
  ~ScopedCallerPid();

 private:
  int prev_;
};

class SuperBlock final : public mm::ErrorObserver {
 public:
  static Result<std::unique_ptr<SuperBlock>> Mount(std::unique_ptr<FileSystem> fs,
                                                   MountOptions options);
  ~SuperBlock() override;  // unmounts if Unmount() was not called (errors go to the ledger)

  // Writes back every dirty page and makes it durable. Fails if that final writeback failed,
  // or if any file still holds a writeback error that no fsync ever reported (data was lost
  // and nobody was told): the last chance to say so.
  // REQUIRES: no File of this super block is open.
  Status Unmount();

  // open(2). flags: O_RDONLY/O_WRONLY/O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_SYNC,
  // O_DSYNC, O_DIRECTORY. Samples the file's cursors.
  Result<std::shared_ptr<File>> Open(std::string_view path, int flags, mode_t mode = 0644);
  // A new description of the file `f` is open on, whatever its names are now: open(2) of
  // /proc/self/fd/N, which reaches a file after its unlink too. `flags` as for Open, without
  // O_CREAT; its cursors are sampled now, as at any open.
  Result<std::shared_ptr<File>> Reopen(File& f, int flags);

  // A read through an O_DIRECT description (or, for Pread, with `read_flags` O_DIRECT: a
  // front end that learns of it per read) goes to the store past the cache, as ext4's direct
  // read does on Linux 6.18: the range's dirty pages are written back and waited for first,
  // and an error taken from the file's legacy flags there is the read's (once); then the
  // store is read, cached pages or not, and its error is the read's own, errno kept. Where
  // the store's blocks are written the read must be aligned to its direct-I/O unit (EINVAL;
  // holes and unwritten extents need not be). A store that takes no direct I/O reads through
  // the cache.
  Result<size_t> Read(File& f, std::span<std::byte> buf);
  Result<size_t> Pread(File& f, std::span<std::byte> buf, uint64_t offset, int read_flags = 0);
  // Pread of `size` bytes as a range of the store for the caller to move itself (splice), when
  // every byte would come from the store uncached (mm::Mapping::ReadFromStore); nullopt: call
  // Pread. Makes Pread's checks and, on a range, its atime update.
  Result<std::optional<mm::StoreRange>> PreadFromStore(File& f, size_t size, uint64_t offset);
  Result<size_t> Write(File& f, std::span<const std::byte> buf);
  // `sync_flags`: O_DSYNC or O_SYNC for this call only, as pwritev2's RWF_DSYNC / RWF_SYNC
  // (the write then syncs its range and reports like an O_DSYNC / O_SYNC descriptor's), and
  // O_DIRECT for this call only (a front end that learns of it per write: FUSE).
  // A write through an O_DIRECT description goes to the store at once, past the cache, and a
  // failure is this call's error, recorded nowhere (WriteDirect).
  Result<size_t> Pwrite(File& f, std::span<const std::byte> buf, uint64_t offset,
                        int sync_flags = 0);
  // A kernel's writeback of a shared mapping's page through `f` (FUSE marks it
  // FUSE_WRITE_CACHE; the file handle is any writable one of the file): at `offset` even
  // where `f` was opened with O_APPEND, and never synced as an O_SYNC description's write
  // would be (that sync would report, and so consume, the description's writeback errors):
  // both apply to write calls, not to pages.
  Result<size_t> WriteMappedPage(File& f, std::span<const std::byte> buf, uint64_t offset);
  // SEEK_SET, SEEK_CUR, SEEK_END; SEEK_DATA and SEEK_HOLE see the source's holes except where
  // the cache holds data not yet written back (-ENXIO at or past i_size).
  Result<uint64_t> Lseek(File& f, int64_t offset, int whence);
  Status Ftruncate(File& f, uint64_t size);
  // fallocate(2): mode 0 or FALLOC_FL_KEEP_SIZE (reserve space, extending i_size unless
  // KEEP_SIZE), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE (with or
  // without KEEP_SIZE). The range reads as zeros at once: cached pages wholly inside it are
  // dropped, dirty or not, as Linux's ext4 does; partial pages are zeroed in the cache. Other
  // modes (collapse, insert, unshare): -EOPNOTSUPP. Reports nothing: writeback errors stay
  // for fsync.
  Status Fallocate(File& f, int mode, uint64_t offset, uint64_t len);

  Status Fsync(File& f);
  Status Fdatasync(File& f);
  // generic_write_sync: the sync an O_SYNC / O_DSYNC write (`sync_flags`) makes of the `len`
  // bytes it wrote through `f` at `offset`, with fsync's reporting. Pwrite does it itself; a
  // front end that learns of the write and of its sync in separate requests (FUSE without
  // direct_io: WRITEs, then an FSYNC) calls it at the second.
  Status SyncWritten(File& f, uint64_t offset, uint64_t len, int sync_flags);
  Status SyncFileRange(File& f, uint64_t offset, uint64_t nbytes, unsigned flags);
  // syncfs(2). Through a block device's file it is the syncfs of the file system the device
  // node lives on, which holds none of the device's pages and none of its errors: nothing is
  // written and nothing reported (not the device's writeback errors, nor a device flush that
  // failed at sync(2)).
  Status Syncfs(File& f);
  void Sync();  // sync(2): writes everything back, reports nothing, consumes nothing

  // chmod, chown, utimensat (never following a symlink at the end of `path`). A time change
  // first writes the file's dirty pages back, so that a later writeback of data written before
  // it cannot move the backing file's mtime past the time that was set.
  Status SetAttr(std::string_view path, const AttrChange& change);
  // fchmod, fchown, futimens: the same through an open description, whatever the file's names
  // are now (none, after an unlink).
  Status SetAttrOf(File& f, const AttrChange& change);

  // lstat(2): a symlink at the end of `path` is described, not followed.
  Result<NodeAttr> Stat(std::string_view path);
  // The identity of the file `path` names now, for a fault rule (FileSystem::FileIdentity).
  std::string FileIdentity(std::string_view path);
  Status Symlink(std::string_view target, std::string_view path);
  Result<std::string> Readlink(std::string_view path);
  NodeAttr Fstat(File& f);
  Status Mkdir(std::string_view path, mode_t mode = 0755);
  Status Rmdir(std::string_view path);
  // `removed`, if given, receives the attributes the name had (its inode number, its link
  // count before the call).
  Status Unlink(std::string_view path, NodeAttr* removed = nullptr);
  // `replaced`, if given, receives the attributes of the other file `to` named before, if any
  // (its link count before the call); it is left alone otherwise.
  Status Rename(std::string_view from, std::string_view to, NodeAttr* replaced = nullptr);
  // renameat2(2) with flags: 0 (Rename), RENAME_NOREPLACE, or RENAME_EXCHANGE (the two names
  // swap; both must exist). Anything else: -EINVAL.
  Status Rename2(std::string_view from, std::string_view to, unsigned flags,
                 NodeAttr* replaced = nullptr);
  // mknod(2) of a FIFO or a unix socket; S_IFREG (or no type) creates an empty regular file.
  // Device nodes: -EPERM.
  Status Mknod(std::string_view path, mode_t mode);
  // statfs(2) of the file system.
  Result<struct statvfs> StatFs();
  // lgetxattr, lsetxattr, llistxattr, lremovexattr of `path` (see FileSystem); with `open`,
  // the f*xattr calls through that description instead: the file itself, whatever its names
  // are now (none, after an unlink).
  Result<std::string> GetXattr(std::string_view path, const std::string& name,
                               File* open = nullptr);
  Status SetXattr(std::string_view path, const std::string& name, const std::string& value,
                  int flags, File* open = nullptr);
  Result<std::string> ListXattr(std::string_view path, File* open = nullptr);
  Status RemoveXattr(std::string_view path, const std::string& name, File* open = nullptr);
  // link(2): a second name for a file (never a directory). Both names share one in-core inode,
  // so one page cache and one errseq.
  Status Link(std::string_view from, std::string_view to);
  Result<std::vector<DirEntry>> ReadDir(std::string_view path);

  // Drops the in-core inode of `path` if no description holds it open and no page of it is dirty
  // (drop_caches for one file: it writes nothing back, and Linux keeps a dirty inode; checked on
  // 6.18 with tests/scenarios/evict-keeps-a-dirty-file.scn). Under evict=pin an inode whose
  // errseq holds an error nobody has seen stays in core too. A file kept for any reason still
  // loses its clean pages, as drop_caches drops every clean page. A block device's inode is never
  // dropped (Linux keeps a bdev's inode, and its errseq, as long as the device exists): its clean
  // pages are, and kDevice says so. Returns whether it was evicted; `why` (if given) says which
  // case.
  enum class Evicted { kYes, kNotInCore, kOpen, kDirty, kPinned, kDevice };
  Result<bool> Evict(std::string_view path, Evicted* why = nullptr);
  static const char* EvictedName(Evicted e);

  // A simulated power cut: every cached page is dropped, written back or not. Data not yet
  // written back is lost, and nobody is told (as after a real power cut).
  void DiscardCache();

  // mm::ErrorObserver: every recorded writeback error lands in the ledger.
  void OnWritebackError(const mm::ErrorRecord& r) override;

  const MountOptions& options() const { return options_; }
  FileSystem& fs() { return *fs_; }
  Errseq& s_wb_err() { return s_wb_err_; }
  Ledger& ledger() { return ledger_; }
  mm::Writeback::Stats WritebackStats() const { return wb_->GetStats(); }
  // Whether a write of `bytes` made now could be throttled (wait for the flusher) because
  // dirty memory is near its limit.
  bool WriteMayBeThrottled(uint64_t bytes) const { return wb_->MayThrottle(bytes); }
  size_t CachedInodes() const;
  // Whether the page cache holds any page of inode `ino` (only then can a writeback failure
  // change what the file shows behind a front end's back: revert drops pages and size).
  bool HasCachedPages(uint64_t ino) const;

 private:
  friend class File;
  SuperBlock(std::unique_ptr<FileSystem> fs, MountOptions options);

  // `data`: the file's data ops if the caller opened them already (CreateOpen); else OpenData.
  Result<std::shared_ptr<Inode>> GetInode(const std::string& path, const NodeAttr& attr,
                                          std::shared_ptr<mm::AddressSpaceOps> data = nullptr);
  void Released(File& f);  // the last descriptor of `f` is gone
  // The last open description of a block device's file is gone (Linux's blkdev_release of the
  // last opener: sync_blockdev, then kill_bdev): its dirty pages are written back and waited
  // for, the legacy flags that writeback set are taken (filemap_check_errors), and its pages
  // are dropped, so the next opener reads the device. Errors go to its errseq, unseen: the
  // next opener's fsync is told. Close itself still returns 0.
  void LastDeviceClose(Inode& inode);
  // A file with no name left and no open description is gone (Linux: its last iput evicts it,
  // truncate_inode_pages_final): its pages are dropped, dirty ones too, never written back, so
  // no error can come of them. Called without inodes_mu_.
  void Discard(Inode& inode);
  std::string PathOf(const Inode& inode) const;
  // read(2)'s argument checks: readable, not a directory, `offset` within off_t.
  static Status CheckRead(File& f, uint64_t offset);
  // O_DIRECT (ext4's direct write on Linux 6.x): the range's cached pages are written back and
  // dropped, then the store is written (AddressSpaceOps::WriteDirect); its error is returned
  // and recorded nowhere. Where the range cannot be emptied (an earlier writeback error is
  // taken from the legacy flags on the way, or a page stays dirty), or the store takes no
  // direct writes: through the cache, written back at once. Under legacy tracking a pending
  // error taken from the flags is this write's (pre-4.13). Takes the io lock exclusively.
  Result<size_t> WriteDirect(File& f, std::span<const std::byte> buf, uint64_t offset,
                             bool append, uint64_t* landed);
  // O_DIRECT read (Read's comment says what it does). Takes the io lock shared.
  Result<size_t> ReadDirect(File& f, std::span<std::byte> buf, uint64_t offset);
  // `mapped_page`: WriteMappedPage (neither O_APPEND nor O_SYNC nor O_DIRECT applies).
  Status WriteAt(File& f, std::span<const std::byte> buf, uint64_t offset, bool use_pos,
                 size_t* written, int sync_flags = 0, bool mapped_page = false);
  // fsync and everything that behaves like it on a byte range (O_SYNC writes).
  Status SyncRange(File& f, uint64_t start, uint64_t end, bool datasync, const char* call);
  // The reporting step of fsync: the file's cursor (or the legacy flags, by profile).
  int ReportWbErr(File& f, const char* call);
  // One of f's cursors (f_wb_err_, f_sb_err_, f_md_wb_err_) checked against `e` and advanced,
  // under f.mu_: the error to report (0: none), and the cursor after it in *after if given
  // (for the ledger).
  int CheckAndAdvance(File& f, Errseq& e, errseq_t& cursor, errseq_t* after = nullptr);
  void Report(File& f, int err, errseq_t cursor, const char* call);
  static void CountUnwrittenBlocks(Inode& i, NodeAttr& a);
  // At open: the description's cursors start at what its file and this super block hold now.
  void SampleCursors(File& file);
  // The work of truncate(2) on a file's in-core inode, whoever asks: ftruncate, or an open
  // with O_TRUNC (of any access mode, as on Linux). Through the file itself where the file
  // system can, else by its name.
  Status TruncateInode(Inode& inode, uint64_t size);
  // Before a punch or zero range of [offset, offset + len): the store holds at least the
  // range's part of the file (Fallocate says why). REQUIRES: the range frozen.
  static Status StoreCoversBeforeZeroing(mm::Mapping& m, uint64_t offset, uint64_t len);
  // Before the file system makes `change`: a time change writes the file's dirty pages back
  // first (SetAttr says why).
  static void AttrChanging(Inode& inode, const AttrChange& change);
  // After the file system made `change`: the in-core inode follows, and its ctime.
  static void AttrChanged(Inode& inode, const AttrChange& change);
  Result<uint64_t> SeekDataOrHole(Inode& inode, uint64_t offset, int whence);
  void FlushDelayedErrors();
  // Writes back every mapping and runs the fs's own sync; a failure of the latter is recorded
  // in s_wb_err (and the ledger) and returned.
  Status SyncWholeFs();
  // An error was recorded in the errseqs: tells MountOptions::on_error, then the ledger.
  // A failed sync of the file system or of a directory (no page cache holds it): recorded in
  // the super block's errseq, for every description's syncfs, in `inode_errseq` where one is
  // given (a directory's own, for its descriptions' fsync), and in the ledger.
  void RecordFsError(int err, uint64_t ino, std::string path, Errseq* inode_errseq = nullptr);
  void Recorded(Event e);
  int Sticky() const { return sticky_err_.load(std::memory_order_acquire); }
  void ShrinkInodeCache();

  const MountOptions options_;
  const std::unique_ptr<FileSystem> fs_;
  // Each mapping's readahead limit: MountOptions::readahead_kb, else the store's, at most 64 MiB.
  const size_t readahead_pages_;
  // Every regular file's mapping records its errors here too; a block device's file does not
  // (Linux records them in the bdev pseudo file system's super block, which no syncfs reads:
  // a syncfs through a device file reports the file system its node lives on).
  Errseq s_wb_err_;
  Ledger ledger_;
  std::atomic<int> sticky_err_{0};
  std::atomic<uint64_t> next_file_id_{1};
  std::atomic<bool> unmounted_{false};

  // The name `path` of the in-core inode of host inode `ino` went away (an unlink, or a rename
  // over it); the file had `nlink` names. Its last: the inode leaves the table (a new file that
  // gets the number gets a new Inode with a zero errseq, SEMANTICS.md §2; open descriptions
  // keep the old one), and is returned if no description holds it, for Discard. Else another
  // of its names takes the place of `path` (ForgetName). REQUIRES: inodes_mu_ held.
  std::shared_ptr<Inode> NameRemoved(uint64_t ino, const std::string& path, uint32_t nlink);
  // The name `path` went away (unlink, or replaced by a rename): if `inode` was known by it,
  // another of its names takes its place. REQUIRES: inodes_mu_ held.
  void ForgetName(Inode& inode, const std::string& path);
  // Tells the file system the inode's current names (fault rules match them). REQUIRES:
  // inodes_mu_ held.
  void NamesChanged(Inode& inode);
  // What a rename (or, with `swap`, an exchange) of `from` to `to` makes of every in-core
  // inode's names. REQUIRES: inodes_mu_ held.
  void MoveNames(const std::string& from, const std::string& to, bool swap);
  mutable std::mutex inodes_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Inode>> inodes_;  // GUARDED_BY(inodes_mu_)

  // Declared last: destroyed first, after the flusher has stopped.
  std::unique_ptr<mm::Writeback> wb_;
};

}  // namespace errseq::vfs
