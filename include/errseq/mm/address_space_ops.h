// AddressSpaceOps: what a file system supplies to move one file's pages to and from its backing
// store (mirrors the kernel's address_space_operations: readahead/read_folio, writepages, and
// the fs's fsync tail). The page cache calls these without holding any mapping lock, so an
// implementation may block on I/O. Each must be thread-safe: writeback of one range and a
// read-in of another may run at once.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

#include "errseq/core/status.h"

namespace errseq::mm {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

// Bytes of the backing store that a reader may move itself (splice(2) from `fd`, which stays
// open while the file does): `length` bytes at `offset`, then `zeros` bytes of zeros (past the
// store's end, within i_size).
struct StoreRange {
  int fd = -1;
  uint64_t offset = 0;
  size_t length = 0;
  size_t zeros = 0;
};

class AddressSpaceOps {
 public:
  virtual ~AddressSpaceOps() = default;

  // Fills whole pages starting at page `first_index` (one iovec per page) from the backing
  // store; bytes past the end of the backing data read as zeros.
  virtual Status ReadPages(uint64_t first_index, std::span<const iovec> pages) = 0;

  // Writes whole pages starting at `first_index` to the backing store, except bytes at or past
  // `file_size` (the in-memory i_size when writeback started), which are not written.
  virtual Status WritePages(uint64_t first_index, std::span<const iovec> pages,
                            uint64_t file_size) = 0;

  // A run of pages for WritePagesForSync: whole pages from `first_index` on, one iovec each.
  struct PageRun {
    uint64_t first_index = 0;
    std::span<const iovec> pages;
  };

  // Writes several runs for a writeback that waits (fsync, sync, an inode's last writeback):
  // `results[k]` becomes what writing `runs[k]` gave, as WritePages would. A store may write
  // them all at once (the passthrough store: direct I/O, in parallel). Default: WritePages for
  // each run in turn.
  virtual void WritePagesForSync(std::span<const PageRun> runs, uint64_t file_size,
                                 std::span<Status> results) {
    for (size_t k = 0; k < runs.size(); ++k) {
      results[k] = WritePages(runs[k].first_index, runs[k].pages, file_size);
    }
  }

  // O_DIRECT: what a direct write's offset and length must be multiples of (ext4: the disk's
  // logical block size; a device: its own), or 0 (the default): the store takes no direct
  // writes, and the caller writes through the cache instead.
  virtual uint32_t DirectAlignment() const { return 0; }

  // An O_DIRECT write: `data` to the store at `offset` now, past the cache (the caller has
  // written the range's cached pages back and dropped them), the fault table deciding first as
  // for any write of those bytes. Its error is the caller's alone: nothing is recorded, no
  // description is told. REQUIRES: DirectAlignment() != 0, and `offset` and the length are
  // multiples of it.
  virtual Result<size_t> WriteDirect(uint64_t /*offset*/, std::span<const std::byte> /*data*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }

  // Makes everything written so far durable (the fs's fsync tail: host fdatasync, device
  // flush). A failure here means written data may be lost.
  virtual Status Sync(bool datasync) = 0;

  // Makes what WritePages wrote so far durable, for background writeback (the store's own
  // write-behind: Writeback::QueuePersist). Not a call of the user's, so unlike Sync no fault
  // rules apply; a failure still means written data may be lost and is recorded like one.
  // -EOPNOTSUPP (the default): nothing cheaper than the user's own sync; never called again.
  virtual Status Persist() { return Status::Error(-95 /*EOPNOTSUPP*/); }

  // How many bytes the backing store holds now (the on-disk i_size), for the revert policy.
  virtual Result<uint64_t> BackingSize() = 0;

  // Sets the backing store's size (ftruncate of this very file, whatever its names are now).
  // -EOPNOTSUPP: the store can only be truncated by name (the caller falls back to that).
  virtual Status SetBackingSize(uint64_t /*size*/) { return Status::Error(-95 /*EOPNOTSUPP*/); }

  // lseek(2) SEEK_DATA or SEEK_HOLE in the store's own copy of the file (its holes). -ENXIO
  // past the store's end; -EOPNOTSUPP: the store has no holes to tell of.
  virtual Result<uint64_t> SeekStore(uint64_t /*offset*/, int /*whence*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }

  // A run of bytes [start, end) of the store.
  struct Extent {
    uint64_t start = 0;
    uint64_t end = 0;
  };

  // The store's written blocks that meet [offset, offset + len), in order, whole blocks (the
  // last may reach past the end of the file): what an O_DIRECT read must read aligned, since
  // ext4 checks a direct read's alignment only where blocks are written (holes and unwritten
  // extents read as zeros unchecked). -EOPNOTSUPP (the default): every byte is written (a
  // device).
  virtual Result<std::vector<Extent>> WrittenExtents(uint64_t /*offset*/, uint64_t /*len*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }

  // fallocate(2) of this very file in the store, `mode` as there (0, FALLOC_FL_KEEP_SIZE,
  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE [| FALLOC_FL_KEEP_SIZE]).
  // The cache's side (Mapping::Freeze/Thaw, i_size) is the caller's. -EOPNOTSUPP: not here.
  virtual Status Fallocate(int /*mode*/, uint64_t /*offset*/, uint64_t /*len*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }

  // A device shown as a file: its logical block size, to which fallocate aligns (as
  // blkdev_fallocate). 0: not a device.
  virtual uint32_t DeviceBlockSize() const { return 0; }

  // The store's bytes [offset, offset + len) (offset page-aligned) as a StoreRange for a reader
  // that moves them itself instead of ReadPages copying them, after the same checks ReadPages
  // makes (read faults). -EOPNOTSUPP: this store cannot hand out a descriptor.
  virtual Result<StoreRange> ReadRange(uint64_t /*offset*/, size_t /*len*/) {
    return Status::Error(-95 /*EOPNOTSUPP*/);
  }
};

}  // namespace errseq::mm
