// PagePool (see include/errseq/mm/page_pool.h).
#include "errseq/mm/page_pool.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "errseq/mm/address_space_ops.h"

namespace errseq::mm {
namespace {

std::byte* MapSlab(size_t bytes) {
  // Map twice the size and keep the `bytes`-aligned middle, so the kernel can back a 2 MiB
  // slab with one huge page.
  void* raw = ::mmap(nullptr, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0);
  if (raw == MAP_FAILED) {
    std::fprintf(stderr, "errseq: out of memory for the page cache\n");
    std::abort();
  }
  auto base = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (base + bytes - 1) & ~(uintptr_t{bytes} - 1);
  if (aligned > base) ::munmap(raw, aligned - base);
  uintptr_t end = base + 2 * bytes;
  if (end > aligned + bytes) ::munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
  ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);  // a hint; failure is fine
  return reinterpret_cast<std::byte*>(aligned);
}

}  // namespace

PagePool& PagePool::Default() {
  static PagePool* pool = new PagePool();  // never destroyed: pages may be freed at exit
  return *pool;
}

bool PagePool::AddSlab(bool populate) {
  std::byte* base = MapSlab(kSlabBytes);
  bool populated = true;
  if (populate) {
    // Touch it now (MADV_POPULATE_WRITE, Linux 5.14; by hand before that) rather than in the
    // first write that lands on it. Out of memory: leave it to be touched when used.
    if (::madvise(base, kSlabBytes, MADV_POPULATE_WRITE) != 0) {
      if (errno == EINVAL) {
        for (size_t off = 0; off < kSlabBytes; off += kPageSize) base[off] = std::byte{0};
      } else {
        populated = false;
      }
    }
  }
  Slab s{base, {}, kSlabPages};
  s.free.set();
  by_base_.emplace(reinterpret_cast<uintptr_t>(base), slabs_.size());
  slabs_.push_back(s);
  free_pages_ += kSlabPages;
  return populated;
}

void PagePool::Reserve(size_t bytes) {
  std::lock_guard lock(mu_);
  while (slabs_.size() * kSlabBytes < bytes) {
    if (!AddSlab(/*populate=*/true)) return;  // the machine cannot back it now
  }
}

std::byte* PagePool::Alloc() {
  std::lock_guard lock(mu_);
  if (free_pages_ == 0) {
    AddSlab(/*populate=*/false);
    cur_slab_ = slabs_.size() - 1;
    cur_page_ = 0;
  }
  // Next fit: the first free page at or after the cursor, wrapping around once.
  for (size_t n = 0; n <= slabs_.size(); ++n) {
    Slab& s = slabs_[cur_slab_];
    if (s.nfree > 0) {
      const size_t k = s.free.test(cur_page_) ? cur_page_ : s.free._Find_next(cur_page_);
      if (k < kSlabPages) {
        s.free.reset(k);
        --s.nfree;
        --free_pages_;
        cur_page_ = k + 1;
        if (cur_page_ == kSlabPages) {
          cur_page_ = 0;
          cur_slab_ = (cur_slab_ + 1) % slabs_.size();
        }
        return s.base + k * kPageSize;
      }
    }
    cur_slab_ = (cur_slab_ + 1) % slabs_.size();
    cur_page_ = 0;
  }
  std::fprintf(stderr, "errseq: page pool free count is wrong\n");
  std::abort();
}

void PagePool::Free(std::byte* page) {
  if (!page) return;
  const auto addr = reinterpret_cast<uintptr_t>(page);
  std::lock_guard lock(mu_);
  auto it = by_base_.find(addr & ~(uintptr_t{kSlabBytes} - 1));
  if (it == by_base_.end()) {
    std::fprintf(stderr, "errseq: a page not from the page pool was freed\n");
    std::abort();
  }
  Slab& s = slabs_[it->second];
  const size_t k = (addr - reinterpret_cast<uintptr_t>(s.base)) / kPageSize;
  if (s.free.test(k)) {
    std::fprintf(stderr, "errseq: a page-cache page was freed twice\n");
    std::abort();
  }
  s.free.set(k);
  ++s.nfree;
  ++free_pages_;
}

size_t PagePool::SlabBytes() const {
  std::lock_guard lock(mu_);
  return slabs_.size() * kSlabBytes;
}

size_t PagePool::FreePages() const {
  std::lock_guard lock(mu_);
  return free_pages_;
}

}  // namespace errseq::mm
