#include "plugins/sdk/poller.h"

#include <algorithm>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "plugins/sdk/rate_budget.h"

namespace keel::kit {

using nlohmann::json;
using std::chrono::milliseconds;

Poller::Poller(WaitOptions options) : options_(options) {
  options_.first = std::max(options_.first, milliseconds(1));
  options_.max = std::max(options_.max, options_.first);
  options_.factor = std::max(options_.factor, 1.0);
  options_.share = std::max(options_.share, 0.0);
}

milliseconds Poller::next_interval(milliseconds interval, Clock::duration waited) const {
  if (options_.share > 0) {
    const auto share = std::chrono::duration_cast<milliseconds>(waited * options_.share);
    return std::clamp(share, options_.first, options_.max);
  }
  return std::min(options_.max, milliseconds(static_cast<long long>(static_cast<double>(interval.count()) * options_.factor)));
}

Result<json> Poller::until(const Watch& watch, const provider::ProgressFn& progress,
                           const provider::WaitingFn& waiting) const {
  if (waiting) waiting();
  const Clock::time_point start = Clock::now();
  milliseconds interval = options_.first;
  Clock::time_point due = watch.look_now ? start : start + interval;
  int missing = 0;
  std::optional<Clock::time_point> first_missing;
  for (;;) {
    std::this_thread::sleep_until(due);
    // Any round that started within half an interval of `due` will do: the
    // waiters of one kind fall into step and share their list calls. A
    // look at once takes none from before the wait (nor from before the
    // write that it waits on).
    const bool at_once = due == start;
    const Clock::time_point not_before = at_once ? start : due - interval / 2;
    auto snapshot = [&] {
      // A look at once is what the caller waits on next, not a poll that
      // may give way: it does not.
      std::optional<Background> polls;
      if (!at_once) polls.emplace();
      return watch.source->get(not_before, progress);
    }();
    if (!snapshot) return fail(snapshot.error().with_context(fmt::format("waiting for {} {}", watch.what, watch.goal)));
    std::optional<json> item;
    if (const json* found = (*snapshot)->find(watch.id)) item = *found;
    else if (watch.fetch_one) {
      auto one = [&] {
        Background polls;
        return watch.fetch_one();
      }();
      if (!one) return fail(one.error().with_context(fmt::format("waiting for {} {}", watch.what, watch.goal)));
      item = std::move(*one);
    }
    if (!item) {
      if (watch.gone_is_done) return json();
      if (!first_missing) first_missing = Clock::now();
      // So many polls, and as many seconds since the first miss: early
      // polls come every 200 ms (AWS), and eventual consistency lasts
      // seconds, not polls.
      if (++missing > watch.missing_polls_allowed &&
          Clock::now() - *first_missing >= std::chrono::seconds(watch.missing_polls_allowed))
        return fail(ErrorCode::NotFound, fmt::format("{} disappeared while waiting for it {}", watch.what, watch.goal));
    } else if (!watch.gone_is_done) {
      auto over = watch.done(*item);
      if (!over) return fail(over.error());
      if (*over) return std::move(*item);
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start);
    if (Clock::now() - start >= watch.timeout)
      return fail(ErrorCode::Timeout, fmt::format("{} is still not done waiting {} after {}s", watch.what, watch.goal,
                                                  elapsed.count()));
    if (progress) {
      std::string state = item && watch.state ? watch.state(*item) : std::string();
      progress(state.empty() ? fmt::format("waiting for {} {} ({}s)", watch.what, watch.goal, elapsed.count())
                             : fmt::format("waiting for {} {} ({}, {}s)", watch.what, watch.goal, state, elapsed.count()));
    }
    interval = next_interval(interval, Clock::now() - start);
    due = std::max((*snapshot)->started + interval, Clock::now() + milliseconds(50));
  }
}

Status Poller::until_all(SnapshotSource& source, const std::string& what,
                         const std::function<Result<bool>(const Snapshot&)>& done, const provider::ProgressFn& progress,
                         std::chrono::milliseconds timeout, const provider::WaitingFn& waiting) const {
  if (waiting) waiting();
  const Clock::time_point start = Clock::now();
  milliseconds interval = options_.first;
  Clock::time_point wanted = start;  // the first look: a snapshot of now, not one from before the caller's writes
  for (;;) {
    auto snapshot = [&] {
      Background polls;
      return source.get(wanted, progress);
    }();
    if (!snapshot) return fail(snapshot.error().with_context(fmt::format("waiting for {}", what)));
    auto over = done(**snapshot);
    if (!over) return fail(over.error());
    if (*over) return {};
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start);
    if (Clock::now() - start >= timeout)
      return fail(ErrorCode::Timeout, fmt::format("still waiting for {} after {}s", what, elapsed.count()));
    if (progress) progress(fmt::format("waiting for {} ({}s)", what, elapsed.count()));
    const Clock::time_point due = std::max((*snapshot)->started + interval, Clock::now() + milliseconds(50));
    std::this_thread::sleep_until(due);
    // As in until(): a round started within half an interval of `due` is shared.
    wanted = due - interval / 2;
    interval = next_interval(interval, Clock::now() - start);
  }
}

}  // namespace keel::kit
