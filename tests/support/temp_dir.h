#pragma once
// A directory under /tmp that lives as long as the test needs it.

#include <stdlib.h>

#include <stdexcept>
#include <string>

#include "core/files.h"

namespace keel::testing {

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& label = "test") {
    std::string pattern = "/tmp/keel-" + label + ".XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() { (void)keel::files::remove_all(path); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace keel::testing
