#include "plugins/sdk/rate_budget.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <string_view>

#include <fmt/format.h>
#include "core/log.h"

namespace keel::kit {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

std::optional<long long> parse_integer(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  long long value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string seconds_text(milliseconds d) { return fmt::format("{:.1f}s", static_cast<double>(d.count()) / 1000.0); }

thread_local bool background_requests = false;

}  // namespace

Background::Background() : was_(background_requests) { background_requests = true; }
Background::~Background() { background_requests = was_; }
bool Background::active() { return background_requests; }

// --- RateBudget --------------------------------------------------------------------------

RateBudget::RateBudget(Pace pace, milliseconds max_wait, Clock clock)
    : pace_(std::move(pace)),
      max_wait_(max_wait), clock_(clock ? std::move(clock) : Clock([] { return system_clock::now(); })) {
  if (pace_.per_second <= 0) return;
  const int burst = std::max(1, pace_.burst);
  const auto step = std::chrono::duration_cast<system_clock::duration>(std::chrono::duration<double>(1.0 / pace_.per_second));
  window_ = step * burst;
  // As if the window before now had been used at the full pace, the oldest
  // start leaving it now: the first requests go one step apart, as an even
  // pace would send them, until the window has room of this run's own.
  const auto now = clock_();
  for (int i = 0; i < burst; ++i) starts_.push_back(now - window_ + step * i);
}

RateBudget::Ticket RateBudget::acquire(const provider::ProgressFn& progress) {
  std::unique_lock lock(mutex_);
  std::optional<system_clock::time_point> wait_started;
  steady_clock::time_point last_report{};
  const bool background = Background::active();
  bool counted = false;  // in foreground_waiting_
  // Leaves the queue of foreground requests, if this one joined it.
  auto leave = [&] {
    if (!counted) return;
    counted = false;
    if (--foreground_waiting_ == 0) changed_.notify_all();
  };
  for (;;) {
    const auto now = clock_();
    system_clock::time_point until{};
    bool capped = false;  // by max_wait
    std::string why;
    if (now < paused_until_) {
      until = paused_until_;
      why = pace_.throttled;
    } else if (remaining_ && *remaining_ <= 0) {
      // ratelimit-reset is in whole seconds: the oldest request expires
      // within the second after it.
      const auto reset = reset_at_ + std::chrono::seconds(1);
      // Counted from the last probe too: otherwise every request that has
      // waited max_wait would go at once, not just one.
      const bool waited_enough = wait_started && now - std::max(*wait_started, probed_at_) >= max_wait_;
      if (now < reset && !waited_enough) {
        until = reset;
        capped = true;
        why = "the request budget is spent";
      } else {
        // The window has moved on: one request probes it, and the others
        // wait for its answer (which sets the pace again) or a second.
        remaining_ = 1;
        reset_at_ = now;
        probed_at_ = now;
      }
    }
    bool pacing = false;  // waiting only for the next slot of Pace::per_second
    if (pace_.per_second > 0)
      while (!starts_.empty() && starts_.front() + window_ <= now) starts_.pop_front();
    if (until == system_clock::time_point{} && pace_.per_second > 0 &&
        starts_.size() >= static_cast<size_t>(std::max(1, pace_.burst))) {
      until = starts_.front() + window_;
      pacing = true;
      why = fmt::format("keeping to {:g} requests a second", pace_.per_second);
    }
    // A background request lets the foreground ones waiting go first (for
    // kMaxYield at most), checking again at each of their slots.
    if (until == system_clock::time_point{} && background && foreground_waiting_ > 0 &&
        now < wait_started.value_or(now) + kMaxYield) {
      const auto step = pace_.per_second > 0 ? std::chrono::duration_cast<system_clock::duration>(
                                                   std::chrono::duration<double>(1.0 / pace_.per_second))
                                             : std::chrono::duration_cast<system_clock::duration>(milliseconds(10));
      // Never past kMaxYield, whatever the pace (under 1 a second, one step
      // would be longer).
      until = std::min(now + step, wait_started.value_or(now) + kMaxYield);
      pacing = true;  // a short wait: not worth a log line
      why = "letting other requests go first";
    }
    if (until == system_clock::time_point{}) {
      leave();
      if (pace_.per_second > 0) starts_.push_back(now);
      if (remaining_) --*remaining_;
      ++in_flight_;
      return Ticket{epoch_};
    }
    // Keeping to a steady rate makes many waits of a fraction of a second:
    // only such a wait of a second or more is worth a log or progress line.
    const bool long_wait = !pacing || until - now >= std::chrono::seconds(1);
    if (!background && !counted) {
      counted = true;
      ++foreground_waiting_;
    }
    if (!wait_started) {
      wait_started = now;
      if (long_wait && until != logged_until_) {  // once per wait, not once per waiting thread
        logged_until_ = until;
        logging::info("{}: waiting {} before the next request: {}", pace_.service,
                     seconds_text(std::chrono::duration_cast<milliseconds>(until - now)), why);
      }
    }
    if (progress && long_wait && steady_clock::now() - last_report >= std::chrono::seconds(5)) {
      last_report = steady_clock::now();
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(until - now).count();
      lock.unlock();
      try {
        progress(fmt::format("waiting for the {} rate limit: {} ({}s left)", pace_.service, why, left));
      } catch (...) {
        lock.lock();
        leave();  // or every later poll would yield its full second
        throw;
      }
      lock.lock();
      continue;
    }
    // A 429's pause has no cap: a limit already past would make this spin.
    const auto limit = capped ? std::max(*wait_started, probed_at_) + max_wait_ : until;
    // Relative to `now`, which may come from a test's clock (a steady wait
    // also sits out a jump of the wall clock in at most five seconds).
    changed_.wait_for(lock, std::min({until, limit, now + std::chrono::seconds(5)}) - now);
  }
}

void RateBudget::release(Ticket ticket, const http::Response* response) {
  std::lock_guard lock(mutex_);
  --in_flight_;
  if (response) {
    auto remaining = pace_.remaining_header.empty() ? std::nullopt : parse_integer(response->header(pace_.remaining_header));
    auto reset = pace_.reset_header.empty() ? std::nullopt : parse_integer(response->header(pace_.reset_header));
    // Fresh: sent after the last fresh answer arrived, so the server counted
    // at least as much as that one had.
    const bool fresh = ticket.epoch == epoch_ || !remaining_;
    if (remaining) {
      // The server may not have counted the requests still in flight yet.
      const long long estimate = std::max(0LL, *remaining - in_flight_);
      remaining_ = fresh || !remaining_ ? estimate : std::min(*remaining_, estimate);
      if (fresh) ++epoch_;
    }
    if (reset && (fresh || reset_at_ == system_clock::time_point{})) {
      // A Unix time (DigitalOcean); a small number would be seconds from now.
      reset_at_ = *reset > 1'000'000'000LL ? system_clock::from_time_t(static_cast<std::time_t>(*reset))
                                            : clock_() + std::chrono::seconds(std::max(0LL, *reset));
    }
  }
  changed_.notify_all();
}

void RateBudget::pause_until(system_clock::time_point until) {
  std::lock_guard lock(mutex_);
  paused_until_ = std::max(paused_until_, until);
  changed_.notify_all();
}

RateBudget::State RateBudget::state() const {
  std::lock_guard lock(mutex_);
  return State{remaining_, reset_at_, paused_until_, in_flight_};
}

}  // namespace keel::kit
