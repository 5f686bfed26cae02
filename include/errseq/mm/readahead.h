// Readahead state and window sizes: which pages a read brings into the cache decides which
// later reads reach the disk and its faults. Linux keeps this state per open file description
// (struct file_ra_state, mm/readahead.c); Mapping::Read follows it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace errseq::mm {

// One open file description's readahead state. Guarded by the mu_ of the mapping it reads (a
// description reads one mapping); Mapping::Read reads and updates it.
struct ReadaheadState {
  static constexpr uint64_t kNoRead = UINT64_MAX;
  uint64_t start = 0;            // first page of the last window read ahead
  size_t size = 0;               // pages in that window
  size_t async_size = 0;         // pages at its end; the first of them carries the mark
  uint64_t prev_pos = kNoRead;   // the byte after this description's last read
};

// Linux's default window limit (VM_READAHEAD_PAGES, 128 KiB) for a device that says nothing.
inline constexpr size_t kDefaultReadaheadPages = 32;

// The first window of a sequential reader that asked for `req` pages (get_init_ra_size).
size_t InitialWindow(size_t req, size_t max_pages);
// The window after one of `cur` pages, as a reader reaches the mark (get_next_ra_size).
size_t NextWindow(size_t cur, size_t max_pages);

}  // namespace errseq::mm
