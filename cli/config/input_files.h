#pragma once
// Files a stack makes keel read: the stack itself and every `${file(PATH)}`.
// Both may be named by whoever writes the stack (a pull request can commit
// `keel.yaml` as a symlink to /dev/zero, or `file("/dev/zero")`), so a read
// is bounded and never waits on a device or a FIFO without a writer.

#include <cstddef>
#include <string>

#include "core/error.h"

namespace keel::config {

inline constexpr size_t kMaxStackBytes = size_t{16} << 20;       // 16 MiB
inline constexpr size_t kMaxFileFunctionBytes = size_t{4} << 20;  // 4 MiB: ${file(PATH)}

enum class Streams { Refused, Allowed };

// The whole content of `path`, at most `max_bytes`. A regular file always;
// a pipe or FIFO only with Streams::Allowed (`-f /dev/stdin`), read until
// its writer closes it. Anything else (a device, a directory, a socket),
// or more than `max_bytes`, is an InvalidConfig error naming the path.
Result<std::string> read_input_file(const std::string& path, size_t max_bytes, Streams streams);

}  // namespace keel::config
