#pragma once
// The kit's request budget: one per account, shared by everything in
// flight, so that a provider keeps to the API's limits instead of being
// throttled, and stops everyone when it is.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "core/http_client.h"
#include "core/provider.h"

namespace keel::kit {

// The request budget of one account (a token, an AWS account and region),
// shared by every call in flight, polling included. Two limits, either or
// both:
//
// - A window the API reports (DigitalOcean): counts requests sent against the
// remaining estimate (ratelimit-remaining of the freshest response minus the
// requests in flight) and holds every sender back when nothing remains,
// until ratelimit-reset (when the oldest request in the window expires);
// then one request probes the API and its answer sets the pace again.
//
// Answers arrive out of order, and an old one reports more remaining than
// there is: a response counts as fresh only when its request was sent after
// the last fresh response arrived; the others can only lower the estimate.
//
// - A steady rate the client keeps to (AWS, which reports nothing and
//   throttles instead): at most Pace::per_second requests start per second,
//   and at most Pace::burst in any window of burst / per_second seconds (a
//   sliding window of the starts). burst 1 is an even pace; more lets
//   requests that are ready together (a delete's two calls side by side)
//   go at once when the window has room, at the same rate over time. The
//   budget starts as if its last window had been used at the full pace:
//   the account's limit counts the requests of whatever ran just before
//   (the previous keel command), which this one cannot see.
//
// And everyone stops until pause_until() after the API asked to slow down
// (a 429, a Throttling error).
//
// A request sent while a Background lives on its thread (a wait's poll)
// gives way to the others waiting for the budget, for up to
// RateBudget::kMaxYield: the next look at a resource that is still on its
// way can come a moment later, a create on the apply's critical path
// cannot. Never longer, so polls are slowed, never starved.
class RateBudget {
 public:
  // Where the time comes from: a parameter only so that unit tests can move
  // time on instead of sleeping; unset: std::chrono::system_clock::now.
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // How the API tells its budget, and what messages call it.
  struct Pace {
    std::string service = "the API";               // "DigitalOcean": in messages
    std::string throttled = "the API asked to slow down";  // why a pause_until() holds everyone
    std::string remaining_header;  // "ratelimit-remaining"; empty: none
    std::string reset_header;      // "ratelimit-reset" (Unix time, or seconds from now)
    double per_second = 0;         // requests started per second at most; 0: no such limit
    int burst = 1;                 // requests started in any burst / per_second seconds at most
  };
  RateBudget(Pace pace, std::chrono::milliseconds max_wait = std::chrono::hours(1), Clock clock = {});

  // What release() needs to know about a request sent.
  struct Ticket {
    std::uint64_t epoch = 0;
  };
  // Blocks while the budget is spent or the API asked everyone to wait, then
  // counts one request as sent. `progress` hears about long waits.
  Ticket acquire(const provider::ProgressFn& progress = {});
  // After the exchange; `response` is null when there was none.
  void release(Ticket ticket, const http::Response* response);
  // The API asked to slow down: nobody sends before `until`.
  void pause_until(std::chrono::system_clock::time_point until);

  struct State {
    std::optional<long long> remaining;
    std::chrono::system_clock::time_point reset_at;
    std::chrono::system_clock::time_point paused_until;
    int in_flight = 0;
  };
  State state() const;

  static constexpr std::chrono::milliseconds kMaxYield{1000};

 private:
  const Pace pace_;
  const std::chrono::milliseconds max_wait_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<long long> remaining_;  // unknown until the first response says
  std::chrono::system_clock::time_point reset_at_{};
  std::chrono::system_clock::time_point paused_until_{};
  std::chrono::system_clock::time_point logged_until_{};
  std::chrono::system_clock::time_point probed_at_{};  // when a request last probed a spent budget
  // Pace::per_second: the starts within the last window, oldest first (at
  // most Pace::burst); the next request may start when there are fewer, or
  // when the oldest leaves the window.
  std::deque<std::chrono::system_clock::time_point> starts_;
  std::chrono::system_clock::duration window_{};
  int in_flight_ = 0;
  int foreground_waiting_ = 0;  // requests not Background waiting for their turn
  std::uint64_t epoch_ = 0;  // counts fresh responses
};

// Marks the requests this thread sends while it lives as background (see
// RateBudget). Nests.
class Background {
 public:
  Background();
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  static bool active();

 private:
  bool was_;
};


}  // namespace keel::kit
