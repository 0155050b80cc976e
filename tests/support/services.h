#pragma once
// Servers the DR tests talk to, started once per test process by the
// scripts in tests/support (sshd, s3rver) and stopped when it exits.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/process.h"
#include "tests/support/temp_dir.h"

namespace keel::testing {

// tests/support of this source tree: KEEL_SOURCE_DIR when set, else found
// from this file's path (CMake compiles it by its absolute path).
inline std::string support_script(const std::string& name) {
  const char* source = std::getenv("KEEL_SOURCE_DIR");
  std::filesystem::path root = source ? std::filesystem::path(source) : std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  return (root / "tests" / "support" / name).string();
}

inline keel::Result<keel::process::Outcome> run(std::vector<std::string> argv) {
  keel::process::Options options;
  options.argv = std::move(argv);
  options.timeout = std::chrono::seconds(180);  // s3rver's first npm install
  // The scripts read their settings from the environment (KEEL_NPM_PREFIX,
  // SSHD_USER, S3RVER_BIN, ...), which children do not get by default.
  options.environment = keel::process::Environment::InheritExceptKeel;
  return keel::process::run_checked(options);
}

// KEY=value lines, split at the first '='.
inline std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (auto eq = line.find('='); eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  return out;
}

// A server started by a tests/support script in its own temp dir, stopped
// when the test process exits.
class Service {
 public:
  Service(std::string start, std::function<void(const std::string&)> stop, const std::string& env_file)
      : stop_(std::move(stop)) {
    auto started = run({support_script(start), dir_.path});
    if (!started) {
      error_ = started.error().message();
      return;
    }
    env_ = read_env_file(dir_.path + "/" + env_file);
    running_ = true;
  }
  ~Service() {
    if (running_) stop_(dir_.path);
  }
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  bool running() const { return running_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_.path; }
  std::string env(const std::string& key) const {
    auto it = env_.find(key);
    return it == env_.end() ? "" : it->second;
  }
  
 private:
  TempDir dir_{"dr-service"};
  std::function<void(const std::string&)> stop_;
  std::map<std::string, std::string> env_;
  std::string error_;
  bool running_ = false;
};

// The shared sshd, or nullptr after a WARN saying why the caller skips.
inline const Service* sshd() {
  if (!keel::process::running_as_root()) {
    WARN("skipped: start-sshd.sh needs root (sshd switches to the login user)");
    return nullptr;
  }
  static Service service("start-sshd.sh", [](const std::string& dir) { (void)run({support_script("stop-sshd.sh"), dir}); },
                         "sshd.env");
  if (!service.running()) FAIL("start-sshd.sh: " << service.error());
  return &service;
}

inline const Service* s3rver() {
  if (!std::filesystem::exists(support_script("start-s3.sh"))) {
    WARN("skipped: tests/support/start-s3.sh is not there yet");
    return nullptr;
  }
  static Service service("start-s3.sh", [](const std::string& dir) { (void)run({support_script("stop-s3.sh"), dir}); },
                         "s3.env");
  if (!service.running()) FAIL("start-s3.sh: " << service.error());
  return &service;
}


}  // namespace keel::testing
