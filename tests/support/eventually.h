#pragma once
// Polls a condition until it holds or the time is up: for tests that wait on
// another process or thread without assuming how fast the machine is.

#include <chrono>
#include <thread>

namespace keel::testing {

template <typename Condition>
bool eventually(Condition done, std::chrono::milliseconds limit = std::chrono::seconds(15),
                std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

}  // namespace keel::testing
