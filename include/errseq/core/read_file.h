// ReadFile: a whole text file into memory, with a message that names the file when it cannot be
// read. Used by every loader of user-supplied files (fault tables, scenarios). ReadFd: the same
// from a descriptor kept open.
#pragma once

#include <string>

#include "errseq/core/status.h"

namespace errseq {

// "PATH: cannot read: No such file or directory" on failure.
Result<std::string> ReadFile(const std::string& path);

// All of an open file from its start (pread: the descriptor's position is left alone), for a
// file kept open to be read again (/proc files). The error is the bare errno.
Result<std::string> ReadFd(int fd);

}  // namespace errseq
