#include "tests/cloudsim/rate_limiter.h"

#include <algorithm>

namespace keel::cloudsim {

void RateLimiter::expire(TimePoint now) {
  while (!window_.empty() && window_.front() + kWindow <= now) window_.pop_front();
}

RateLimiter::Verdict RateLimiter::verdict(TimePoint now) const {
  Verdict v;
  if (limit_ <= 0) {
    v.limit = v.remaining = kUnlimitedReport;
    v.reset_unix = unix_seconds_ceil(now);
    return v;
  }
  v.limit = limit_;
  v.remaining = std::max(0, limit_ - static_cast<int>(window_.size()));
  TimePoint frees = window_.empty() ? now : window_.front() + kWindow;
  v.reset_unix = unix_seconds_ceil(frees);
  v.allowed = v.remaining > 0;
  if (!v.allowed) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(frees - now).count();
    v.retry_after_seconds = std::max<int>(1, static_cast<int>((wait + 999) / 1000));
  }
  return v;
}

RateLimiter::Verdict RateLimiter::peek(TimePoint now) {
  expire(now);
  return verdict(now);
}

RateLimiter::Verdict RateLimiter::take(TimePoint now) {
  expire(now);
  if (limit_ > 0) window_.push_back(now);
  Verdict v = verdict(now);
  v.allowed = true;  // this request has its slot, even if it was the last one
  v.retry_after_seconds = 0;
  return v;
}

}  // namespace keel::cloudsim
