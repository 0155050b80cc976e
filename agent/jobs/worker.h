#pragma once
// One keel-dr run, seen from the agent (the worker itself is agent/dr/).
//
// keel-dr takes no arguments. The agent starts it in its own process group,
// writes ONE JSON request to its stdin and closes it:
//   {"op": "backup|restore|drill|prune|list", "run_id", "job": {...}, "key",
//    "snapshot"?, "target"?, "spool_dir"}
// keel-dr answers with JSON lines on stdout:
//   {"event":"progress","bytes_read":N,"bytes_stored":M}   (a few per second at most)
//   {"event":"result","result":{...}}                       last, then exit 0
//   {"event":"error","error":"message","code":"Corrupt"}    last, then exit 1
// and writes human log lines (without secrets) on stderr, which go to the
// agent's log tagged with the job and run.
//
// A worker that ends without a result line failed ("keel-dr exited with
// exit status 2: <its last stderr lines>"). A cancelled worker (the agent is
// stopping) or one past its timeout gets SIGTERM, then SIGKILL after
// kWorkerGrace, on its whole process group.

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::agent {

inline constexpr std::chrono::milliseconds kWorkerGrace{5000};

// A cancellation any thread may raise, seen at once by a worker waiting in
// poll() (an eventfd).
class Cancel {
 public:
  Cancel();
  ~Cancel();
  Cancel(const Cancel&) = delete;
  Cancel& operator=(const Cancel&) = delete;

  void raise();
  bool raised() const { return raised_.load(); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::atomic<bool> raised_{false};
};

struct WorkerCall {
  std::string worker;                      // keel-dr's path, or a name on PATH
  nlohmann::json request;                  // written to stdin; holds the key: never logged
  std::string job, run_id;                 // tags for the log lines
  std::chrono::milliseconds timeout{0};    // 0: none
  std::function<void(long long bytes_read, long long bytes_stored)> on_progress;
  const Cancel* cancel = nullptr;
};

// Runs keel-dr to its end and answers the "result" object. Errors: the
// worker's own (message and code), a timeout, a cancellation, or a worker
// that died without a result. An error line may carry what was done before
// the failure (a drill's restore time, say) as "result": it lands in
// `partial` when given.
Result<nlohmann::json> run_worker(const WorkerCall& call, nlohmann::json* partial = nullptr);

// The worker's error codes ("NotFound", "not_found", ...) as ErrorCode;
// Internal when unknown.
ErrorCode error_code_from_string(std::string_view text);

}  // namespace keel::agent
