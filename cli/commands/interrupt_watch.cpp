#include "cli/commands/interrupt_watch.h"

#include <cstdio>
#include <ctime>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace keel::commands {

InterruptWatch::InterruptWatch() {
  ::sigemptyset(&signals_);
  ::sigaddset(&signals_, SIGINT);
  ::sigaddset(&signals_, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
  signal_fd_ = ::signalfd(-1, &signals_, SFD_CLOEXEC | SFD_NONBLOCK);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { watch(); });
}

InterruptWatch::~InterruptWatch() {
  stop_ = true;
  // Wakes the watch at once: keel's exit does not wait out its slice.
  if (stop_fd_ >= 0) (void)!::eventfd_write(stop_fd_, 1);
  thread_.join();
  for (int fd : {signal_fd_, stop_fd_})
    if (fd >= 0) ::close(fd);
  // A signal that arrived after the run ended is still pending: it ends keel
  // as it would have without the watch, once unblocked.
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void InterruptWatch::graceful(std::function<void()> on_first) {
  std::lock_guard lock(mu_);
  on_first_ = std::move(on_first);
}

// The next signal taken, or 0 after `slice` or when the destructor wakes
// the watch. Without the descriptors (none left), sigtimedwait's slice is
// the only wake-up, as it always was.
int InterruptWatch::next_signal(int slice_ms) {
  if (signal_fd_ < 0 || stop_fd_ < 0) {
    const timespec slice{slice_ms / 1000, (slice_ms % 1000) * 1'000'000L};
    const int sig = ::sigtimedwait(&signals_, nullptr, &slice);
    return sig < 0 ? 0 : sig;
  }
  pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  if (::poll(fds, 2, slice_ms) <= 0 || !(fds[0].revents & POLLIN)) return 0;
  signalfd_siginfo info{};
  if (::read(signal_fd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return 0;
  return static_cast<int>(info.ssi_signo);
}

void InterruptWatch::watch() {
  // Waits in slices (a deadline), but the destructor wakes it at once.
  while (!stop_) {
    const int sig = next_signal(stop_fd_ >= 0 ? 1000 : 100);
    if (sig == 0) continue;
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
