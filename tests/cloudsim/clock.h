#pragma once
// The simulator's notion of "now": the system clock plus an offset that a
// test may move forward (POST /_sim/clock/advance), so that provisioning
// and the rate-limit window can be crossed without sleeping. Each tenant
// has its own clock, so one test moving time does not disturb another.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace keel::cloudsim {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  TimePoint now() const {
    return std::chrono::system_clock::now() + std::chrono::milliseconds(offset_ms_.load());
  }
  void advance(std::chrono::milliseconds by) { offset_ms_ += by.count(); }
  void reset() { offset_ms_ = 0; }
  std::chrono::milliseconds offset() const { return std::chrono::milliseconds(offset_ms_.load()); }

 private:
  std::atomic<int64_t> offset_ms_{0};
};

// Seconds since the Unix epoch, rounded up: DigitalOcean's ratelimit-reset
// is "when the slot frees", and rounding down would promise it too early.
inline int64_t unix_seconds_ceil(TimePoint when) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  return (ms + 999) / 1000;
}

}  // namespace keel::cloudsim
