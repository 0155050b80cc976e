// RateBudget (plugins/digitalocean/api_client.h), the request budget of one
// DigitalOcean token, on a clock the test moves: no network, and no sleeping
// through rate-limit windows.
//
// acquire() tells its `progress` as soon as it decides to wait. A progress
// that throws turns acquire() into "would this wait?" without blocking, and a
// thread whose progress was called is known to be waiting.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"

#include "core/http_client.h"
#include "plugins/digitalocean/api_client.h"
#include "tests/support/eventually.h"

using namespace keel;
using keel::digitalocean::RateBudget;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::system_clock;

namespace {

// A whole second (ratelimit-reset is a Unix time in seconds).
const system_clock::time_point kStart = system_clock::from_time_t(1'704'067'200);

// The time as the test sets it. Reads are counted: a waiter that spins shows
// up as thousands of them.
class FakeClock {
 public:
  system_clock::time_point now() const {
    ++reads_;
    return kStart + system_clock::duration(offset_.load());
  }
  void set(system_clock::time_point t) { offset_ = (t - kStart).count(); }
  void advance(system_clock::duration d) { offset_ += d.count(); }
  long reads() const { return reads_; }
  RateBudget::Clock function() {
    return [this] { return now(); };
  }

 private:
  std::atomic<system_clock::rep> offset_{0};
  mutable std::atomic<long> reads_{0};
};

// Milliseconds after kStart, which Catch prints readably.
long long at(system_clock::time_point t) { return std::chrono::duration_cast<milliseconds>(t - kStart).count(); }

// Waiters sleep on a condition variable and look at the clock again only when
// woken: pause_until() wakes them all, and a time long past changes nothing.
void wake(RateBudget& budget) { budget.pause_until(system_clock::time_point{}); }

// A response with DigitalOcean's rate-limit headers; `reset` is the text of
// ratelimit-reset (a Unix time, or a small number of seconds from now).
http::Response answer(const std::string& remaining, const std::string& reset, long status = 200) {
  http::Response response;
  response.status = status;
  response.headers = {{"ratelimit-limit", "5000"}, {"ratelimit-remaining", remaining}, {"ratelimit-reset", reset}};
  return response;
}
http::Response answer(long long remaining, system_clock::time_point reset, long status = 200) {
  return answer(std::to_string(remaining), std::to_string(system_clock::to_time_t(reset)), status);
}
void release(RateBudget& budget, RateBudget::Ticket ticket, const http::Response& response) {
  budget.release(ticket, &response);
}

struct WouldWait {
  std::string message;
};

// A request counted if acquire() lets it go at once; nullopt (and why, in
// `message`) if it would wait.
std::optional<RateBudget::Ticket> try_acquire(RateBudget& budget, std::string* message = nullptr) {
  try {
    return budget.acquire([](const std::string& m) { throw WouldWait{m}; });
  } catch (const WouldWait& w) {
    if (message) *message = w.message;
    return std::nullopt;
  }
}

bool eventually(const std::function<bool()>& condition) { return keel::testing::eventually(condition, 5s, 1ms); }

// Whether `condition` still holds a moment later: for "nobody else went",
// which no event announces. These are the only real waits here.
bool still(const std::function<bool()>& condition) {
  std::this_thread::sleep_for(10ms);
  return condition();
}

// Lets every thread still in acquire() through, an hour of fake time at a
// time, so that a test failing halfway does not hang on join.
void drain(RateBudget& budget, FakeClock& clock, const std::function<bool()>& all_done) {
  while (!all_done()) {
    clock.advance(1h);
    wake(budget);
    std::this_thread::sleep_for(1ms);
  }
}

// One thread in acquire().
class Acquirer {
 public:
  Acquirer(RateBudget& budget, FakeClock& clock) : budget_(budget), clock_(clock), thread_([this] { run(); }) {}
  ~Acquirer() {
    drain(budget_, clock_, [this] { return done(); });
    thread_.join();
  }
  bool waiting() const { return waiting_; }
  bool done() const { return done_; }
  RateBudget::Ticket ticket() const { return ticket_; }  // once done()
  std::string message() const {
    std::lock_guard lock(mutex_);
    return message_;
  }

 private:
  void run() {
    ticket_ = budget_.acquire([this](const std::string& m) {
      {
        std::lock_guard lock(mutex_);
        message_ = m;
      }
      waiting_ = true;
    });
    done_ = true;
  }

  RateBudget& budget_;
  FakeClock& clock_;
  std::atomic<bool> waiting_{false};
  std::atomic<bool> done_{false};
  RateBudget::Ticket ticket_;
  mutable std::mutex mutex_;
  std::string message_;
  std::thread thread_;  // last: starts once the rest is built
};

using Acquirers = std::vector<std::unique_ptr<Acquirer>>;

Acquirers start_acquirers(int n, RateBudget& budget, FakeClock& clock) {
  Acquirers out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_unique<Acquirer>(budget, clock));
  return out;
}
int count_done(const Acquirers& acquirers) {
  int n = 0;
  for (const auto& a : acquirers) n += a->done() ? 1 : 0;
  return n;
}
bool all_waiting(const Acquirers& acquirers) {
  for (const auto& a : acquirers)
    if (!a->waiting()) return false;
  return true;
}
const Acquirer* first_done(const Acquirers& acquirers) {
  for (const auto& a : acquirers)
    if (a->done()) return a.get();
  return nullptr;
}

// Threads that each send `requests` requests one after the other: acquire(),
// then `send` with the ticket (which releases it, or not).
class Crowd {
 public:
  Crowd(int threads, int requests, RateBudget& budget, FakeClock& clock,
        std::function<void(RateBudget::Ticket)> send)
      : budget_(budget), clock_(clock), send_(std::move(send)), members_(static_cast<size_t>(threads)) {
    for (auto& m : members_) threads_.emplace_back([this, &m, requests] { run(m, requests); });
  }
  ~Crowd() {
    drain(budget_, clock_, [this] { return finished(); });
    for (auto& t : threads_) t.join();
  }
  // Every thread has finished or is waiting for the budget.
  bool settled() const {
    for (const auto& m : members_)
      if (!m.finished && !m.waiting) return false;
    return true;
  }
  bool finished() const {
    for (const auto& m : members_)
      if (!m.finished) return false;
    return true;
  }
  int acquired() const { return acquired_; }

 private:
  struct Member {
    std::atomic<bool> waiting{false};
    std::atomic<bool> finished{false};
  };
  void run(Member& m, int requests) {
    for (int i = 0; i < requests; ++i) {
      auto ticket = budget_.acquire([&m](const std::string&) { m.waiting = true; });
      ++acquired_;
      m.waiting = false;
      send_(ticket);
    }
    m.finished = true;
  }

  RateBudget& budget_;
  FakeClock& clock_;
  std::function<void(RateBudget::Ticket)> send_;
  std::vector<Member> members_;
  std::atomic<int> acquired_{0};
  std::vector<std::thread> threads_;  // last: they use the rest
};

// The budget logs every wait at info; these tests wait on purpose.
class QuietLog {
  keel::logging::Capture kept_{keel::logging::Level::Warning};
};

}  // namespace

TEST_CASE("do rate budget: before any rate-limit header nothing waits", "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1h, clock.function());

  std::vector<RateBudget::Ticket> tickets;
  for (int i = 0; i < 100; ++i) {
    auto ticket = try_acquire(budget);
    REQUIRE(ticket);
    tickets.push_back(*ticket);
  }
  CHECK_FALSE(budget.state().remaining);
  CHECK(budget.state().in_flight == 100);

  // Answers without the headers, and no answer at all, leave it unknown.
  http::Response plain;
  plain.status = 200;
  for (size_t i = 0; i < tickets.size(); ++i) budget.release(tickets[i], i % 2 ? &plain : nullptr);
  CHECK_FALSE(budget.state().remaining);
  CHECK(budget.state().in_flight == 0);
  CHECK(try_acquire(budget));
}

TEST_CASE("do rate budget: N remaining let N requests go, then all wait for the reset's second",
          "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1h, clock.function());
  const auto reset = kStart + 30s;

  auto first = try_acquire(budget);
  REQUIRE(first);
  release(budget, *first, answer(3, reset));
  REQUIRE(budget.state().remaining == 3);
  CHECK(at(budget.state().reset_at) == at(reset));

  for (int i = 0; i < 3; ++i) CHECK(try_acquire(budget));
  CHECK(budget.state().remaining == 0);
  CHECK(budget.state().in_flight == 3);
  std::string why;
  CHECK_FALSE(try_acquire(budget, &why));
  CHECK_THAT(why, Catch::Contains("the request budget is spent") && Catch::Contains("(31s left)"));

  // ratelimit-reset counts whole seconds: the oldest request expires within
  // the second after it.
  clock.set(reset + 999ms);
  CHECK_FALSE(try_acquire(budget));

  auto waiters = start_acquirers(2, budget, clock);
  REQUIRE(eventually([&] { return all_waiting(waiters); }));
  CHECK(count_done(waiters) == 0);
  CHECK_THAT(waiters[0]->message(), Catch::Contains("the request budget is spent"));

  // The window moves on: one request probes it, the other waits for the
  // probe's answer or another second.
  clock.set(reset + 1s);
  wake(budget);
  REQUIRE(eventually([&] { return count_done(waiters) == 1; }));
  CHECK(still([&] { return count_done(waiters) == 1; }));
  CHECK(budget.state().remaining == 0);
  CHECK(at(budget.state().reset_at) == at(reset + 1s));
  CHECK(budget.state().in_flight == 4);

  SECTION("the probe's answer sets the pace again") {
    release(budget, first_done(waiters)->ticket(), answer(10, reset + 60s));
    REQUIRE(eventually([&] { return count_done(waiters) == 2; }));
    // 10 remaining, minus the 3 still in flight, minus the one that just went.
    CHECK(budget.state().remaining == 6);
    CHECK(at(budget.state().reset_at) == at(reset + 60s));
  }
  SECTION("without an answer, another request probes a second later") {
    clock.set(reset + 2s);
    wake(budget);
    REQUIRE(eventually([&] { return count_done(waiters) == 2; }));
    CHECK(budget.state().remaining == 0);
  }
}

TEST_CASE("do rate budget: answers count the requests in flight, and old answers only lower",
          "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1h, clock.function());
  auto go = [&] {
    auto ticket = try_acquire(budget);
    REQUIRE(ticket);
    return *ticket;
  };

  // The server may not have counted the two requests still in flight.
  auto a = go(), b = go(), c = go();
  release(budget, a, answer(100, kStart + 60s));
  CHECK(budget.state().remaining == 98);
  CHECK(budget.state().in_flight == 2);
  release(budget, b, answer(99, kStart + 60s));
  release(budget, c, answer(98, kStart + 60s));
  CHECK(budget.state().remaining == 98);
  CHECK(budget.state().in_flight == 0);

  // d and e are sent, then e's answer arrives first: it is fresh, and d's
  // (from a request sent before that) is old. An old answer never raises the
  // estimate nor moves the reset...
  auto d = go(), e = go();
  CHECK(budget.state().remaining == 96);
  release(budget, e, answer(90, kStart + 61s));
  CHECK(budget.state().remaining == 89);  // d still in flight
  CHECK(at(budget.state().reset_at) == at(kStart + 61s));
  release(budget, d, answer(95, kStart + 70s));
  CHECK(budget.state().remaining == 89);
  CHECK(at(budget.state().reset_at) == at(kStart + 61s));

  // ... but it lowers it when it knows of more requests.
  auto f = go(), g = go();
  release(budget, g, answer(50, kStart + 61s));
  CHECK(budget.state().remaining == 49);
  release(budget, f, answer(40, kStart + 61s));
  CHECK(budget.state().remaining == 40);

  // A small ratelimit-reset is seconds from now, not a Unix time.
  clock.set(kStart + 5s);
  release(budget, go(), answer("30", "30"));
  CHECK(budget.state().remaining == 30);
  CHECK(at(budget.state().reset_at) == at(kStart + 35s));

  // Headers that are not numbers, and a failed exchange, change nothing but
  // the count in flight.
  release(budget, go(), answer("lots", "soon"));
  budget.release(go(), nullptr);
  CHECK(budget.state().remaining == 28);
  CHECK(at(budget.state().reset_at) == at(kStart + 35s));
  CHECK(budget.state().in_flight == 0);
}

TEST_CASE("do rate budget: a reset already past lets one request probe, the others wait for its answer",
          "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1h, clock.function());
  auto first = try_acquire(budget);
  REQUIRE(first);
  release(budget, *first, answer(0, kStart - 10s));

  auto probe = try_acquire(budget);
  REQUIRE(probe);
  CHECK(budget.state().remaining == 0);
  CHECK(at(budget.state().reset_at) == at(kStart));
  std::string why;
  CHECK_FALSE(try_acquire(budget, &why));
  CHECK_THAT(why, Catch::Contains("the request budget is spent"));

  release(budget, *probe, answer(100, kStart + 50s));
  CHECK(budget.state().remaining == 100);
  CHECK(try_acquire(budget));
  CHECK(budget.state().remaining == 99);
}

TEST_CASE("do rate budget: a 429 pauses every caller until its time", "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1h, clock.function());
  auto first = try_acquire(budget);
  REQUIRE(first);
  release(budget, *first, answer(1000, kStart + 60s));

  budget.pause_until(kStart + 20s);
  budget.pause_until(kStart + 5s);  // never shortens a pause
  CHECK(at(budget.state().paused_until) == at(kStart + 20s));

  auto waiters = start_acquirers(3, budget, clock);
  REQUIRE(eventually([&] { return all_waiting(waiters); }));
  CHECK_THAT(waiters[0]->message(), Catch::Contains("429") && Catch::Contains("(20s left)"));
  CHECK(budget.state().in_flight == 0);

  clock.set(kStart + 20s - 1ms);
  CHECK_FALSE(try_acquire(budget));

  clock.set(kStart + 20s);
  wake(budget);
  REQUIRE(eventually([&] { return count_done(waiters) == 3; }));
  CHECK(budget.state().in_flight == 3);
  CHECK(budget.state().remaining == 997);
}

TEST_CASE("do rate budget: max_wait caps a far-off reset, then one request probes", "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(10min, clock.function());
  // A reset a day away: the clocks disagree, or the server is wrong.
  auto first = try_acquire(budget);
  REQUIRE(first);
  release(budget, *first, answer(0, kStart + 24h));

  auto waiters = start_acquirers(3, budget, clock);
  REQUIRE(eventually([&] { return all_waiting(waiters); }));

  clock.set(kStart + 10min - 1ms);
  wake(budget);
  CHECK(still([&] { return count_done(waiters) == 0; }));

  // One request goes; the others wait for its answer, as after a reset.
  clock.set(kStart + 10min);
  wake(budget);
  REQUIRE(eventually([&] { return count_done(waiters) == 1; }));
  CHECK(still([&] { return count_done(waiters) == 1; }));
  CHECK(budget.state().in_flight == 1);
  CHECK(budget.state().remaining == 0);

  SECTION("an answer with a budget lets the others go") {
    release(budget, first_done(waiters)->ticket(), answer(5, kStart + 11min));
    REQUIRE(eventually([&] { return count_done(waiters) == 3; }));
    CHECK(budget.state().remaining == 3);
  }
  SECTION("an answer with the same far-off reset: another max_wait, counted from the probe") {
    release(budget, first_done(waiters)->ticket(), answer(0, kStart + 24h));
    clock.set(kStart + 20min - 1ms);
    wake(budget);
    CHECK(still([&] { return count_done(waiters) == 1; }));
    clock.set(kStart + 20min);
    wake(budget);
    REQUIRE(eventually([&] { return count_done(waiters) == 2; }));
    CHECK(still([&] { return count_done(waiters) == 2; }));
  }
  SECTION("no answer: another request probes a second later") {
    clock.set(kStart + 10min + 1s);
    wake(budget);
    REQUIRE(eventually([&] { return count_done(waiters) == 2; }));
    CHECK(still([&] { return count_done(waiters) == 2; }));
  }
}

TEST_CASE("do rate budget: a pause longer than max_wait is waited out, not spun through", "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1min, clock.function());
  auto first = try_acquire(budget);
  REQUIRE(first);
  release(budget, *first, answer(0, kStart + 30s));

  auto waiters = start_acquirers(1, budget, clock);
  REQUIRE(eventually([&] { return all_waiting(waiters); }));
  // Another thread's request met a 429 asking for five minutes.
  budget.pause_until(kStart + 5min);
  clock.set(kStart + 2min);
  wake(budget);
  const long reads = clock.reads();
  CHECK(still([&] { return clock.reads() - reads < 20; }));
  CHECK(count_done(waiters) == 0);

  clock.set(kStart + 5min);
  wake(budget);
  REQUIRE(eventually([&] { return count_done(waiters) == 1; }));
}

TEST_CASE("do rate budget: threads acquiring at once never exceed the budget", "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1h, clock.function());
  auto first = try_acquire(budget);
  REQUIRE(first);
  release(budget, *first, answer(20, kStart + 60s));

  std::mutex mutex;
  std::vector<RateBudget::Ticket> held;
  {
    Crowd crowd(8, 5, budget, clock, [&](RateBudget::Ticket t) {
      std::lock_guard lock(mutex);
      held.push_back(t);
    });
    REQUIRE(eventually([&] { return crowd.settled(); }));
    CHECK(budget.state().in_flight == 20);
    CHECK(budget.state().remaining == 0);
    CHECK(still([&] { return crowd.acquired() == 20; }));

    // A fresh answer with room for everyone lets the rest through.
    std::lock_guard lock(mutex);
    release(budget, held.front(), answer(1000, kStart + 60s));
  }
  CHECK(held.size() == 40);
  CHECK(budget.state().in_flight == 39);
  CHECK(budget.state().remaining == 1000 - 19 - 20);
}

TEST_CASE("do rate budget: threads sending against a rate-limited server never get a 429",
          "[unit][rate_budget]") {
  QuietLog quiet;
  FakeClock clock;
  RateBudget budget(1h, clock.function());

  // DigitalOcean's side: `kLimit` requests a minute, counted as they are
  // answered, and each answer reaches the budget at once: the order the
  // budget's freshness rule assumes. One more is a 429. The budget knows nothing before the first answer, so there are
  // fewer threads than that.
  constexpr long long kLimit = 5;
  constexpr int kThreads = 4, kRequests = 8;
  std::mutex server_mutex;
  auto window_end = kStart + 60s;
  long long counted = 0, served = 0, rejected = 0;
  int windows = 1;
  auto send = [&](RateBudget::Ticket ticket) {
    std::lock_guard lock(server_mutex);
    while (clock.now() >= window_end) {
      window_end += 60s;
      counted = 0;
      ++windows;
    }
    if (counted >= kLimit) {
      ++rejected;
      release(budget, ticket, answer(0, window_end, 429));
      return;
    }
    ++counted;
    ++served;
    release(budget, ticket, answer(kLimit - counted, window_end));
  };
  {
    Crowd crowd(kThreads, kRequests, budget, clock, send);
    // Whenever the budget is spent and everyone waits, the window moves on.
    auto windows_seen = [&] {
      std::lock_guard lock(server_mutex);
      return windows;
    };
    for (;;) {
      REQUIRE(eventually([&] {
        const auto state = budget.state();
        return crowd.finished() || (crowd.settled() && state.in_flight == 0 && state.remaining == 0);
      }));
      if (crowd.finished()) break;
      const int before = windows_seen();
      {
        std::lock_guard lock(server_mutex);
        clock.set(window_end + 1s);
      }
      wake(budget);
      REQUIRE(eventually([&] { return windows_seen() != before; }));
    }
  }
  CHECK(rejected == 0);
  CHECK(served == kThreads * kRequests);
  // The budget is spent, not wasted: 32 requests, 5 a window.
  CHECK(windows <= 8);
}
