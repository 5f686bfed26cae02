// PagePool (see include/errseq/mm/page_pool.h).
#include "errseq/mm/page_pool.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "errseq/mm/address_space_ops.h"

namespace errseq::mm {
namespace {

constexpr size_t kSlab = 2 << 20;

std::byte* MapSlab() {
  // Map twice the size and keep the 2 MiB-aligned middle, so the kernel can back it with one
  // huge page.
  void* raw = ::mmap(nullptr, 2 * kSlab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0);
  if (raw == MAP_FAILED) {
    std::fprintf(stderr, "errseq: out of memory for the page cache\n");
    std::abort();
  }
  auto base = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (base + kSlab - 1) & ~(uintptr_t{kSlab} - 1);
  if (aligned > base) ::munmap(raw, aligned - base);
  uintptr_t end = base + 2 * kSlab;
  if (end > aligned + kSlab) ::munmap(reinterpret_cast<void*>(aligned + kSlab), end - aligned - kSlab);
  ::madvise(reinterpret_cast<void*>(aligned), kSlab, MADV_HUGEPAGE);  // a hint; failure is fine
  return reinterpret_cast<std::byte*>(aligned);
}

}  // namespace

PagePool& PagePool::Default() {
  static PagePool* pool = new PagePool();  // never destroyed: pages may be freed at exit
  return *pool;
}

std::byte* PagePool::Alloc() {
  std::lock_guard lock(mu_);
  if (!free_.empty()) {
    std::byte* p = free_.back();
    free_.pop_back();
    return p;
  }
  if (slab_next_ == slab_end_) {
    slab_next_ = MapSlab();
    slab_end_ = slab_next_ + kSlab;
    ++slabs_;
  }
  std::byte* p = slab_next_;
  slab_next_ += kPageSize;
  return p;
}

void PagePool::Free(std::byte* page) {
  if (!page) return;
  std::lock_guard lock(mu_);
  free_.push_back(page);
}

size_t PagePool::SlabBytes() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return slabs_ * kSlab;
}

}  // namespace errseq::mm
