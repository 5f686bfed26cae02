// Whole transfers over preadv/pwritev: retry short transfers and EINTR, so a caller either moves
// every byte or gets an errno. The one place host I/O errno becomes a Status for the layers
// that do I/O on host files (FileDevice, the passthrough file system).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>

#include "errseq/core/status.h"

namespace errseq::block {

// Writes all of `iov` at `offset`; a write that makes no progress is -EIO.
Status PwritevAll(int fd, uint64_t offset, std::span<const iovec> iov);

// Reads all of `iov` at `offset`. With `allow_eof`, stops at end of file and returns how many
// bytes were read (the rest of `iov` is left as it was); without it, EOF before the end is -EIO.
Result<uint64_t> PreadvAll(int fd, uint64_t offset, std::span<const iovec> iov, bool allow_eof);

}  // namespace errseq::block
