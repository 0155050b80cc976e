#pragma once
// Ctrl-C during apply and destroy, as Terraform users expect it. Until the
// changes start (loading, refresh, planning, the prompt), a SIGINT or
// SIGTERM ends keel at once: nothing was changed. Once graceful() is
// called, the first one asks the run to stop gracefully (nothing new
// starts, the changes in flight finish, state is saved), and a second one
// ends keel at once, with exit status 130 (the state journal has every
// change that finished, and the next run replays it).
//
// While a watch lives, SIGINT and SIGTERM are blocked in the thread that made
// it and in every thread started after it, and taken by the watch's own
// thread (a signalfd), so no signal handler ever runs inside the engine.
// Make it first thing in the command, before any thread starts; keel's
// children run in process groups of their own, so a terminal's Ctrl-C does
// not reach them.

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include <signal.h>

namespace keel::commands {

class InterruptWatch {
 public:
  InterruptWatch();
  ~InterruptWatch();
  InterruptWatch(const InterruptWatch&) = delete;
  InterruptWatch& operator=(const InterruptWatch&) = delete;

  // From now on the first signal is a request: `on_first` runs on the
  // watch's thread (to print what happens next), interrupted() turns true.
  void graceful(std::function<void()> on_first);
  const std::atomic<bool>& interrupted() const { return interrupted_; }

 private:
  void watch();
  int next_signal(int slice_ms);

  std::mutex mu_;
  std::function<void()> on_first_;  // set: graceful mode
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> stop_{false};
  sigset_t signals_{}, old_mask_{};
  int signal_fd_ = -1;  // reads the blocked SIGINT and SIGTERM
  int stop_fd_ = -1;    // an eventfd: the destructor's wake-up
  std::thread thread_;
};

}  // namespace keel::commands
