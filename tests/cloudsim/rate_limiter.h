#pragma once
// DigitalOcean's per-token limit: at most N requests in any sliding window
// of 60 seconds. Not thread-safe: the owning tenant locks around it.

#include <cstdint>
#include <deque>

#include "tests/cloudsim/clock.h"

namespace keel::cloudsim {

class RateLimiter {
 public:
  // What the ratelimit-* headers report when the limit is off (0): a number
  // no client will ever exhaust, rather than 0, which a client that paces
  // itself on ratelimit-remaining would read as "stop".
  static constexpr int kUnlimitedReport = 1'000'000;
  static constexpr std::chrono::seconds kWindow{60};

  struct Verdict {
    bool allowed = true;
    int limit = 0;               // ratelimit-limit
    int remaining = 0;           // ratelimit-remaining
    int64_t reset_unix = 0;      // ratelimit-reset: when the oldest request leaves the window
    int retry_after_seconds = 0; // retry-after, when !allowed: until a slot frees (>= 1)
  };

  explicit RateLimiter(int per_minute = 0) : limit_(per_minute) {}

  // 0 means unlimited. Requests already in the window stay there.
  void set_limit(int per_minute) { limit_ = per_minute; }

  // Whether a request may go through now, without taking a slot.
  Verdict peek(TimePoint now);
  // Takes a slot for a request that peek() allowed.
  Verdict take(TimePoint now);
  void clear() { window_.clear(); }

 private:
  void expire(TimePoint now);
  Verdict verdict(TimePoint now) const;

  int limit_;
  std::deque<TimePoint> window_;  // arrival times, oldest first
};

}  // namespace keel::cloudsim
