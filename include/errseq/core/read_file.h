// ReadFile: a whole text file into memory, with a message that names the file when it cannot be
// read. Used by every loader of user-supplied files (fault tables, scenarios).
#pragma once

#include <string>

#include "errseq/core/status.h"

namespace errseq {

// "PATH: cannot read: No such file or directory" on failure.
Result<std::string> ReadFile(const std::string& path);

}  // namespace errseq
