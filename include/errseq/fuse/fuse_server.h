// FuseServer: the FUSE front end (libfuse3 low-level API, SessionLoop's threads) over one
// SuperBlock. It holds no semantics: every request becomes one call on the VFS, and every
// handler ends in exactly one fuse_reply_*.
//
// - The FUSE inode number is the file system's own inode number (the root is 1); a node table
//   maps it to the file's current path (the VFS is path-based).
// - Each FUSE open creates one vfs::File (fuse_file_info::fh points at it), so FSYNC, FLUSH and
//   RELEASE reach the open file description the kernel means. FLUSH answers 0 (close consumes
//   nothing); fsync and flush are never answered with ENOSYS.
// - The kernel's writeback cache stays off, so every write reaches our page cache; open sets
//   keep_cache=0 so reads after a reopen come from our cache. Write-only opens use direct_io
//   (no kernel page cache for them at all). A READ none of whose pages our cache holds is
//   answered with the host file's range, which libfuse splices (Options::splice_reads).
// - The requester's pid is recorded in the ledger for every report.
// - syncfs on the mount reports super-block errors through a SyncfsMirror (SEMANTICS.md §9),
//   whose hidden file the handlers below serve.
// - Requests come over io_uring when the kernel offers it (UringChannel, Options::io_uring),
//   else through /dev/fuse; the handlers are the same.
// Thread-safety: `mu_` guards the node table; max_read_ and splice_max_ are set before the
// session starts; spliced_read_bytes_ and channel_ptr_ are atomic; everything else is the
// VFS's business.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "errseq/fuse/cache_invalidator.h"
#include "errseq/fuse/open_handles.h"
#include "errseq/fuse/synced_writes.h"
#include "errseq/fuse/syncfs_mirror.h"
#include "errseq/vfs/super_block.h"

struct fuse_session;

namespace errseq::fuse {

class UringChannel;

class FuseServer {
 public:
  enum class IoUring { kOff, kAuto, kOn };
  struct Options {
    std::string mountpoint;
    bool foreground = true;
    bool debug = false;
    bool allow_other = false;
    // How long the kernel may keep attributes of directories and of files with no cached page
    // (files with cached pages: never, since a failed writeback may change their size).
    double attr_timeout = 1.0;
    double entry_timeout = 1.0;
    unsigned max_threads = 8;
    unsigned spin_us = 50;      // SessionLoop: how long the reading thread polls before sleeping
    bool libfuse_loop = false;  // libfuse's multi-threaded loop instead of SessionLoop
    // Requests over io_uring (UringChannel): auto when the kernel offers it, on (else the
    // mount fails), off.
    IoUring io_uring = IoUring::kAuto;
    bool flush_on_close = false;  // else FOPEN_NOFLUSH on every open: no FLUSH at close (W5)
    // Answer the xattr requests. Off: the kernel is told ENOSYS once and asks no more; on, it
    // asks GETXATTR security.capability before every write through its page cache.
    bool xattr = false;
    bool direct_write_only = true;  // write-only opens bypass the kernel's page cache
    bool syncfs_mirror = true;  // see syncfs_mirror.h
    // The mount's readahead (its bdi's read_ahead_kb; 0: the kernel's 128). FUSE READs grow
    // with it up to max_read (1004 KiB, see splice_reads): cold sequential reads ran 2.5x
    // faster at 4096 (W4).
    unsigned read_ahead_kb = 4096;
    // READs whose bytes all come uncached from the host file are answered by splicing that
    // range (host page cache -> pipe -> the kernel's pages: our copy of the data is skipped).
    bool splice_reads = true;
    // While it returns true, quick requests may wait long (the fault table delays I/O): the
    // io_uring queues then hand every request to a worker (UringChannel). Null: never. The
    // server adds its own reason: dirty memory near the limit (a WRITE could be throttled).
    std::function<bool()> requests_may_wait;
    std::vector<std::string> fuse_options;  // passed to libfuse as -o (the usual fuse ones)
  };

  FuseServer(std::unique_ptr<vfs::FileSystem> fs, vfs::MountOptions mount_options,
             std::string source, Options options);
  ~FuseServer();

  // Mounts, daemonizes unless foreground, mounts the super block (its threads start only now,
  // after any fork), calls `ready` with it, serves until unmounted (fusermount3 -u, a signal,
  // or Exit()), then unmounts the super block, writing back everything. Returns the first
  // failure: of mounting (nothing stays mounted) or of the final writeback.
  Status Run(const std::function<void(vfs::SuperBlock&)>& ready = nullptr);
  // Ends the loop from any thread.
  void Exit();
  // errseqctl crash: drops everything not written back, then ends the loop. The caller has
  // cut the power first (a fault table that drops every write, flush and discard), so what
  // requests still being served write meanwhile never reaches the store either, through the
  // flusher or the unmount's writeback.
  void Crash();

  // Internal: request handlers reach the server through these.
  vfs::SuperBlock& sb() { return *sb_; }
  OpenHandles& handles() { return handles_; }
  SyncedWrites& synced_writes() { return synced_writes_; }
  const Options& options() const { return options_; }
  // A name the kernel's inode `ino` is known by (the one looked up last).
  Result<std::string> PathOf(uint64_t ino);
  std::string Child(uint64_t parent_ino, const char* name, Status* st);
  uint64_t Remember(const std::string& path, uint64_t host_ino);  // returns the FUSE ino
  void Forget(uint64_t ino, uint64_t nlookup);
  // `file` is open through the kernel's inode `ino` (until its last handle goes).
  void Opened(uint64_t ino, const std::shared_ptr<vfs::File>& file);
  // An open description of the kernel's inode `ino`, or nullptr: what still reaches a file
  // whose name is gone (fstat or fchmod of an unlinked file, which the kernel asks by inode).
  std::shared_ptr<vfs::File> OpenFileOf(uint64_t ino);
  // `path` no longer names the file `host_ino` (unlinked); its other names stay.
  void Unlinked(const std::string& path, uint64_t host_ino);
  // The file `attr` described just before is gone from the host: its last name unlinked, a
  // directory removed, or replaced by a rename. Its kernel inode, if still held (an open
  // directory or FIFO, a working directory), is described from then on as `attr` with no
  // links (RemovedAttr), as Linux describes it; a regular file's open descriptions still
  // answer for it first (OpenFileOf). And the host may give its number to a new file, which
  // then gets a kernel inode of its own (FuseIno).
  void Removed(const vfs::NodeAttr& attr);
  std::optional<vfs::NodeAttr> RemovedAttr(uint64_t ino);
  // fchmod, fchown or futimens of such a removed node with no open description of ours to
  // reach it (a FIFO or socket the kernel opened itself): the change is made to what
  // RemovedAttr describes (the host has no name for the inode any more), and the result
  // returned; nullopt if the node is not a removed one.
  std::optional<vfs::NodeAttr> ChangeRemoved(uint64_t ino, const vfs::AttrChange& change);
  // `from` (and everything under it) is now `to`; `replaced_host_ino` (0: none) lost `to`.
  // `exchanged`: RENAME_EXCHANGE, the two names swapped.
  void Renamed(const std::string& from, const std::string& to, uint64_t replaced_host_ino,
               bool exchanged = false);
  uint64_t root_host_ino() const { return root_host_ino_; }
  // The kernel's inode number (FUSE node id) for a host inode number: the number itself, the
  // root FUSE_ROOT_ID, and kFirstAlias and up for a file that took the number of a gone one
  // whose kernel inode is still held (a removed directory someone has open or is in): the
  // kernel must not take the new file for the old.
  uint64_t FuseIno(uint64_t host_ino);
  static constexpr uint64_t kFirstAlias = uint64_t{1} << 63;
  // Called by the first requests: settings the kernel only keeps once INIT is done (the
  // INIT reply resets the mount's readahead to at most what the kernel offered).
  void AfterInit();
  // The kernel-cache invalidator (policy revert only), else nullptr.
  CacheInvalidator* invalidator() { return invalidator_.get(); }
  // The syncfs mirror, or nullptr when it is off.
  SyncfsMirror* mirror() { return mirror_.get(); }
  // The mount's max_read (what INIT must repeat), and the largest READ answered by splicing:
  // 0 when splice_reads is off.
  size_t max_read() const { return max_read_; }
  size_t splice_max() const { return splice_max_; }
  // Bytes of READ replies handed to libfuse as ranges of host files.
  void CountSpliced(size_t n) { spliced_read_bytes_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t spliced_read_bytes() const {
    return spliced_read_bytes_.load(std::memory_order_relaxed);
  }
  // How requests reach the server ("io_uring" or "/dev/fuse"), and how many came over
  // io_uring.
  std::string transport() const;
  uint64_t io_uring_requests() const;

 private:
  // One kernel inode. A file with hard links has several names; paths.front() is the one
  // looked up last. Never empty.
  struct Node {
    std::vector<std::string> paths;
    uint64_t nlookup = 0;
    std::vector<std::weak_ptr<vfs::File>> files;  // opened through it; expired ones pruned
    std::optional<vfs::NodeAttr> removed;         // set by Removed
    uint64_t host_ino = 0;
    bool gone = false;  // the file is gone from the host (Removed)
  };
  uint64_t FuseInoLocked(uint64_t host_ino) const;  // REQUIRES: mu_ held
  // `path` no longer names the node of `host_ino` (its last name stays). REQUIRES: mu_ held.
  void DropName(uint64_t host_ino, const std::string& path);
  std::unique_ptr<vfs::FileSystem> fs_;
  const vfs::MountOptions mount_options_;
  std::unique_ptr<vfs::SuperBlock> sb_;
  // Handles the kernel holds (files, directories); after sb_, so destroyed before it.
  OpenHandles handles_;
  SyncedWrites synced_writes_;
  std::unique_ptr<SyncfsMirror> mirror_;  // created with sb_, before the loop runs
  std::unique_ptr<CacheInvalidator> invalidator_;
  std::atomic<CacheInvalidator*> inval_ptr_{nullptr};  // for on_error
  std::atomic<SyncfsMirror*> mirror_ptr_{nullptr};  // for on_error, which may fire earlier
  std::string mountpoint_abs_;
  std::once_flag after_init_;
  std::atomic<fuse_session*> session_{nullptr};
  const std::string source_;
  const Options options_;
  uint64_t root_host_ino_ = 0;
  size_t max_read_ = 0;    // set in Run, before the session starts
  size_t splice_max_ = 0;  // likewise
  std::atomic<uint64_t> spliced_read_bytes_{0};
  std::unique_ptr<UringChannel> channel_;  // set in Run before the session starts
  std::atomic<UringChannel*> channel_ptr_{nullptr};  // channel_ while Run serves, for stats
  std::mutex mu_;
  std::map<uint64_t, Node> nodes_;  // GUARDED_BY(mu_), by FUSE ino
  // Host inode number -> the alias node id its current file has (FuseIno). GUARDED_BY(mu_)
  std::map<uint64_t, uint64_t> aliases_;
  uint64_t next_alias_ = kFirstAlias;  // GUARDED_BY(mu_)
};

}  // namespace errseq::fuse
