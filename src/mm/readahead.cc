// Readahead window sizes (see include/errseq/mm/readahead.h).
#include "errseq/mm/readahead.h"

#include <algorithm>
#include <bit>

namespace errseq::mm {

size_t InitialWindow(size_t req, size_t max_pages) {
  const size_t p = std::bit_ceil(std::max<size_t>(req, 1));
  if (p <= max_pages / 32) return 4 * p;
  if (p <= max_pages / 4) return 2 * p;
  return max_pages;
}

size_t NextWindow(size_t cur, size_t max_pages) {
  if (cur < max_pages / 16) return 4 * cur;
  if (cur <= max_pages / 2) return 2 * cur;
  return max_pages;
}

}  // namespace errseq::mm
