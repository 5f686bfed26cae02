// PagePool: where page-cache pages come from. Pages are carved out of 2 MiB slabs mapped with
// MADV_HUGEPAGE, so filling the cache costs one page fault per slab instead of one per 4 KiB
// page (and no malloc per page); freed pages go on a free list and are reused. Slabs are kept
// for the life of the process, so the pool's size is the cache's peak size, which the cache
// limit bounds. Thread-safe: `mu_` guards the free list and the current slab.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace errseq::mm {

class PagePool {
 public:
  static PagePool& Default();

  // A 4 KiB-aligned page; contents undefined. Aborts if the machine is out of memory.
  std::byte* Alloc();
  void Free(std::byte* page);

  size_t SlabBytes() const;

 private:
  std::mutex mu_;
  std::vector<std::byte*> free_;  // GUARDED_BY(mu_)
  std::byte* slab_next_ = nullptr;  // GUARDED_BY(mu_)
  std::byte* slab_end_ = nullptr;   // GUARDED_BY(mu_)
  size_t slabs_ = 0;                // GUARDED_BY(mu_)
};

struct PageDeleter {
  void operator()(std::byte* p) const { PagePool::Default().Free(p); }
};
using PageMemory = std::unique_ptr<std::byte, PageDeleter>;

inline PageMemory AllocPage() { return PageMemory(PagePool::Default().Alloc()); }

}  // namespace errseq::mm
