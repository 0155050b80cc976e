#pragma once
// Modules: parts of keel built as shared objects beside it and loaded with
// dlopen on first use, so that startup (`keel --version`, `--help`,
// `validate`) does not load libraries only some commands need. keel-net.so
// carries libcurl (and its ~20 dependencies), keel-ssh.so libssh,
// keel-crypto.so libcrypto (which `plan` needs for the state's key).
//
// Where a module is looked for, in order (relative to the running binary,
// from /proc/self/exe, never from the environment or the working directory;
// nowhere when /proc/self/exe cannot be read):
//   DIR/NAME            the build tree: modules are built beside keel
//   DIR/../lib/keel/NAME  an installed tree (bin/keel, lib/keel/NAME)
//
// A module exports one C function, ENTRY, returning a table of functions
// that starts with a ModuleHeader; the header must match the one keel was
// built with (a module of another build is refused, not called).
// Modules are never unloaded: objects they make (sessions, clients) live
// as long as the process.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/log.h"

namespace keel::modules {

// What a module and keel pass each other, beyond the table's size: raise
// it when a table's functions or the types they take change (KEEL_VERSION
// stays the same between commits).
inline constexpr int kModuleInterface = 2;  // 2: the header's write_log_to

struct ModuleHeader {
  std::size_t table_size;  // sizeof the module's table: catches a layout change
  const char* version;     // KEEL_VERSION of the module's build
  int interface_version;   // kModuleInterface of the module's build
  // The module's own logging::write_log_to: load() points the module's log
  // at keel's (core/log.h).
  void (*write_log_to)(const logging::Target& target);
};

inline constexpr ModuleHeader header_for(std::size_t table_size) {
  return {table_size, KEEL_VERSION, kModuleInterface, &logging::write_log_to};
}

// The places `file_name` is looked for, in order; none when where keel is
// installed is unknown.
std::vector<std::string> search_paths(std::string_view file_name);

// Loads `file_name` (once per process; later calls return the same table)
// and returns what its `entry` function returns, after checking the header
// against `table_size`. Unavailable when the module is missing (naming it and
// where it was looked for), Internal when it cannot be loaded or is of
// another build.
Result<const void*> load(std::string_view file_name, const char* entry, std::size_t table_size);

// The module at `path`, without the search or the once-per-process cache
// (tests; load() calls it).
Result<const void*> load_file(const std::string& path, const char* entry, std::size_t table_size);

}  // namespace keel::modules
