// PagePool: where page-cache pages come from. Pages are carved out of 2 MiB slabs mapped with
// MADV_HUGEPAGE, so filling the cache costs one page fault per slab instead of one per 4 KiB
// page (and no malloc per page), and the pages of a slab are physically contiguous.
//
// Allocation is next-fit over the slabs in the order they were mapped: each allocation takes
// the first free page at or after the one allocated last, wrapping around. Files are written
// in order, so a run of a file's pages tends to be a run of memory, even after pages were
// freed and reused (a LIFO free list handed them back in reverse): writeback sends such a run
// as a few long iovecs (docs/benchmarks.md, W1). Slabs are kept for the life of the process,
// so the pool's size is the cache's peak size, which the cache limit bounds.
//
// Thread-safe: `mu_` guards the slabs, their free bitmaps and the cursor.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace errseq::mm {

class PagePool {
 public:
  static PagePool& Default();

  // A 4 KiB-aligned page; contents undefined. Aborts if the machine is out of memory.
  std::byte* Alloc();
  // REQUIRES: `page` came from this pool's Alloc() and is not free already (null is ignored).
  void Free(std::byte* page);

  // Maps and touches slabs until the pool holds at least `bytes`, so that filling the cache
  // later costs no page faults (the first touch of memory is slow on some virtual machines).
  // Stops early, without error, if the machine runs out of memory to touch.
  void Reserve(size_t bytes);

  size_t SlabBytes() const;
  size_t FreePages() const;

 private:
  static constexpr size_t kSlabBytes = 2 << 20;
  static constexpr size_t kSlabPages = 512;
  struct Slab {
    std::byte* base;
    std::bitset<kSlabPages> free;  // set: the page may be handed out
    size_t nfree;
  };

  // Maps one more slab; with `populate`, touches it too. False if it could not be touched
  // (out of memory). REQUIRES: mu_ held.
  bool AddSlab(bool populate);

  mutable std::mutex mu_;
  std::vector<Slab> slabs_;                         // GUARDED_BY(mu_), in mapping order
  std::unordered_map<uintptr_t, size_t> by_base_;   // GUARDED_BY(mu_): slab base -> index
  size_t free_pages_ = 0;                           // GUARDED_BY(mu_)
  size_t cur_slab_ = 0, cur_page_ = 0;              // GUARDED_BY(mu_): where the next search starts
};

struct PageDeleter {
  void operator()(std::byte* p) const { PagePool::Default().Free(p); }
};
using PageMemory = std::unique_ptr<std::byte, PageDeleter>;

inline PageMemory AllocPage() { return PageMemory(PagePool::Default().Alloc()); }

}  // namespace errseq::mm
