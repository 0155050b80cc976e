#pragma once
// The optional webhook: every check status change is POSTed as JSON to the
// configured URL, in order, from one background thread, with exponential
// backoff between attempts. Nothing here blocks the checks: when the queue
// is full (the receiver is down for long) the oldest events are dropped and
// counted as failed.
//
//   {"event":"check_status_changed","hostname":"web-1","check":"web","type":"http",
//    "from":"passing","to":"critical","output":"HTTP 500 ...","time":"2026-11-27T18:13:55.123Z"}

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/metrics.h"
#include "agent/scheduler.h"
#include "core/error.h"

namespace keel::agent {

// One POST of `body` (application/json) to config.url; any non-2xx answer
// is an error.
Status post_webhook(const WebhookConfig& config, const std::string& body);

class Webhook {
 public:
  // One delivery attempt; the default is post_webhook (cpp-httplib).
  using Poster = std::function<Status(const WebhookConfig& config, const std::string& body)>;

  static constexpr size_t kMaxQueued = 1000;

  Webhook(AgentCounters& counters, std::string hostname, Poster poster = {});
  ~Webhook();

  void configure(std::optional<WebhookConfig> config);
  void notify(const StatusChange& change);
  // Stops the thread; events still queued are dropped.
  void stop();

  static nlohmann::json event_json(const StatusChange& change, const std::string& hostname);

  // Backoff before attempt `n` (n >= 1): 0.5 s doubling, at most 30 s.
  static std::chrono::milliseconds backoff(int attempt);

 private:
  void run();
  bool deliver(const WebhookConfig& config, const std::string& body);

  AgentCounters& counters_;
  std::string hostname_;
  Poster poster_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<WebhookConfig> config_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace keel::agent
