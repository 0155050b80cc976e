#include "cli/commands/interrupt_watch.h"

#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace keel::commands {

InterruptWatch::InterruptWatch() {
  ::sigemptyset(&signals_);
  ::sigaddset(&signals_, SIGINT);
  ::sigaddset(&signals_, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
  thread_ = std::thread([this] { watch(); });
}

InterruptWatch::~InterruptWatch() {
  stop_ = true;
  thread_.join();
  // A signal that arrived after the run ended is still pending: it ends keel
  // as it would have without the watch, once unblocked.
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void InterruptWatch::graceful(std::function<void()> on_first) {
  std::lock_guard lock(mu_);
  on_first_ = std::move(on_first);
}

void InterruptWatch::watch() {
  // Waits in short slices, so that the destructor is never kept waiting.
  const timespec slice{0, 100'000'000};
  while (!stop_) {
    int sig = ::sigtimedwait(&signals_, nullptr, &slice);
    if (sig < 0) continue;
    std::function<void()> on_first;
    {
      std::lock_guard lock(mu_);
      on_first = on_first_;
    }
    if (!on_first) {
      static const char kNothing[] = "\nInterrupted; nothing was changed.\n";
      (void)!::write(STDERR_FILENO, kNothing, sizeof kNothing - 1);
      ::_exit(130);
    }
    if (!interrupted_.exchange(true)) {
      on_first();
      continue;
    }
    static const char kNow[] = "\nSecond interrupt: stopping at once. Every change that finished is in the state "
                               "journal; the next keel command replays it.\n";
    (void)!::write(STDERR_FILENO, kNow, sizeof kNow - 1);
    ::_exit(130);
  }
}

}  // namespace keel::commands
