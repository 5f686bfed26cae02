// Creator: who new entries are made for, on this thread. A FUSE server running as root makes
// every file, directory, symlink and FIFO on the source as root; the request says which user
// asked. A server sets that user around each request that creates something, and
// PassthroughFs gives what it made to them, so that a database running as its own user on a
// mount with allow_other owns its files on the source as on any local file system.
// Thread-safety: thread-local; nothing shared.
#pragma once

#include <sys/types.h>

#include <optional>

namespace errseq::fs {

struct Creator {
  uid_t uid;
  gid_t gid;
};

// Sets the creator for the calls this thread makes while it lives (nested: the inner wins).
class ScopedCreator {
 public:
  ScopedCreator(uid_t uid, gid_t gid);
  ~ScopedCreator();
  ScopedCreator(const ScopedCreator&) = delete;
  ScopedCreator& operator=(const ScopedCreator&) = delete;

 private:
  std::optional<Creator> prev_;
};

// The creator set on this thread, if any.
std::optional<Creator> CurrentCreator();

}  // namespace errseq::fs
