// kit::RateBudget's steady pace (Pace::per_second and Pace::burst, what the
// AWS plugin keeps to), on a clock the test moves: no sleeping through the
// pace.
//
// A request that the pace holds back waits on a condition variable and
// looks at the clock again when woken, so the test moves the clock, wakes
// it, and sees whether it went. "Went" is awaited with a deadline;
// "still waiting" is looked at after a moment, which a slow machine can
// only make pass, never fail.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "core/log.h"

#include "plugins/sdk/rate_budget.h"
#include "tests/support/eventually.h"

using namespace keel;
using namespace std::chrono_literals;
using kit::RateBudget;
using std::chrono::system_clock;

namespace {

const system_clock::time_point kStart = system_clock::from_time_t(1'704'067'200);

class FakeClock {
 public:
  system_clock::time_point now() const { return kStart + system_clock::duration(offset_.load()); }
  void advance(system_clock::duration d) { offset_ += d.count(); }
  RateBudget::Clock function() {
    return [this] { return now(); };
  }

 private:
  std::atomic<system_clock::rep> offset_{0};
};

// Waiters look at the clock again only when woken.
void wake(RateBudget& budget) { budget.pause_until(system_clock::time_point{}); }

// One request in acquire() on its own thread; the destructor lets it
// through (an hour of fake time at a time) so that a failing test ends.
class Request {
 public:
  Request(RateBudget& budget, FakeClock& clock) : budget_(budget), clock_(clock), thread_([this] { run(); }) {}
  ~Request() {
    while (!done_) {
      clock_.advance(1h);
      wake(budget_);
      std::this_thread::sleep_for(1ms);
    }
    thread_.join();
  }
  bool done() const { return done_; }

 private:
  void run() {
    budget_.acquire();
    done_ = true;
  }
  RateBudget& budget_;
  FakeClock& clock_;
  std::atomic<bool> done_{false};
  std::thread thread_;  // last: starts once the rest is built
};

using Requests = std::vector<std::unique_ptr<Request>>;

Requests send(int n, RateBudget& budget, FakeClock& clock) {
  Requests out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_unique<Request>(budget, clock));
  return out;
}
int count_done(const Requests& requests) {
  int n = 0;
  for (const auto& r : requests) n += r->done() ? 1 : 0;
  return n;
}
bool eventually(const std::function<bool()>& condition) { return keel::testing::eventually(condition, 5s, 1ms); }
bool still(const std::function<bool()>& condition) {
  std::this_thread::sleep_for(10ms);
  return condition();
}

// Moves the clock on and wakes the waiters.
void move(RateBudget& budget, FakeClock& clock, system_clock::duration d) {
  clock.advance(d);
  wake(budget);
}

class QuietLog {
  keel::logging::Capture kept_{keel::logging::Level::Warning};
};

RateBudget::Pace pace(double per_second, int burst) {
  RateBudget::Pace p;
  p.per_second = per_second;
  p.burst = burst;
  return p;
}

}  // namespace

TEST_CASE("rate budget pace: burst 1 sends one request a step from the first on", "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(pace(10, 1), 1h, clock.function());

  auto first = send(1, budget, clock);
  REQUIRE(eventually([&] { return count_done(first) == 1; }));
  auto next = send(2, budget, clock);
  CHECK(still([&] { return count_done(next) == 0; }));
  move(budget, clock, 99ms);
  CHECK(still([&] { return count_done(next) == 0; }));
  move(budget, clock, 1ms);
  REQUIRE(eventually([&] { return count_done(next) == 1; }));
  CHECK(still([&] { return count_done(next) == 1; }));
  move(budget, clock, 100ms);
  REQUIRE(eventually([&] { return count_done(next) == 2; }));

  // A quiet second saves nothing up: still one a step.
  move(budget, clock, 1s);
  auto later = send(2, budget, clock);
  REQUIRE(eventually([&] { return count_done(later) == 1; }));
  CHECK(still([&] { return count_done(later) == 1; }));
}

TEST_CASE("rate budget pace: the first window goes at the even pace as if the one before had been used",
          "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  // 5 in any half second.
  RateBudget budget(pace(10, 5), 1h, clock.function());

  auto requests = send(3, budget, clock);
  REQUIRE(eventually([&] { return count_done(requests) == 1; }));
  CHECK(still([&] { return count_done(requests) == 1; }));
  move(budget, clock, 100ms);
  REQUIRE(eventually([&] { return count_done(requests) == 2; }));
  CHECK(still([&] { return count_done(requests) == 2; }));
  move(budget, clock, 100ms);
  REQUIRE(eventually([&] { return count_done(requests) == 3; }));
}

TEST_CASE("rate budget pace: after a quiet moment a burst goes at once and never more than burst in a window",
          "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(pace(10, 5), 1h, clock.function());
  move(budget, clock, 2s);

  auto requests = send(7, budget, clock);
  REQUIRE(eventually([&] { return count_done(requests) == 5; }));
  CHECK(still([&] { return count_done(requests) == 5; }));
  // The window is half a second: the burst's starts leave it together.
  move(budget, clock, 499ms);
  CHECK(still([&] { return count_done(requests) == 5; }));
  move(budget, clock, 1ms);
  REQUIRE(eventually([&] { return count_done(requests) == 7; }));

  // Over time the rate is per_second's: 2 went at 2.5 s, so 3 more may
  // start before 3 s, and no more.
  auto more = send(4, budget, clock);
  REQUIRE(eventually([&] { return count_done(more) == 3; }));
  CHECK(still([&] { return count_done(more) == 3; }));
  move(budget, clock, 500ms);
  REQUIRE(eventually([&] { return count_done(more) == 4; }));
}
