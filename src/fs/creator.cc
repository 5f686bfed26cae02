// Creator: the thread-local owner of new entries (see creator.h).
#include "errseq/fs/creator.h"

namespace errseq::fs {
namespace {
thread_local std::optional<Creator> t_creator;
}  // namespace

ScopedCreator::ScopedCreator(uid_t uid, gid_t gid) : prev_(t_creator) {
  t_creator = Creator{uid, gid};
}
ScopedCreator::~ScopedCreator() { t_creator = prev_; }

std::optional<Creator> CurrentCreator() { return t_creator; }

}  // namespace errseq::fs
