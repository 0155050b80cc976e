#include "agent/webhook.h"

#include <fmt/format.h>

#include "core/log.h"
#include "core/time.h"

namespace keel::agent {

Webhook::Webhook(AgentCounters& counters, std::string hostname, Poster poster)
    : counters_(counters), hostname_(std::move(hostname)), poster_(poster ? std::move(poster) : Poster(post_webhook)) {}

Webhook::~Webhook() { stop(); }

void Webhook::configure(std::optional<WebhookConfig> config) {
  std::lock_guard lock(mutex_);
  config_ = std::move(config);
  if (config_ && !thread_.joinable() && !stopping_) thread_ = std::thread([this] { run(); });
  wake_.notify_all();
}

void Webhook::notify(const StatusChange& change) {
  std::lock_guard lock(mutex_);
  if (!config_ || stopping_) return;
  if (queue_.size() >= kMaxQueued) {
    queue_.pop_front();
    ++counters_.webhook_failed;
  }
  queue_.push_back(event_json(change, hostname_).dump());
  wake_.notify_all();
}

void Webhook::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

nlohmann::json Webhook::event_json(const StatusChange& change, const std::string& hostname) {
  return {{"event", "check_status_changed"},
          {"hostname", hostname},
          {"check", change.check},
          {"type", checks::to_string(change.type)},
          {"from", checks::to_string(change.from)},
          {"to", checks::to_string(change.to)},
          {"output", change.output},
          {"time", timeutil::rfc3339(change.time)}};
}

std::chrono::milliseconds Webhook::backoff(int attempt) {
  long long ms = 500;
  for (int i = 1; i < attempt && ms < 30'000; ++i) ms *= 2;
  return std::chrono::milliseconds(std::min(ms, 30'000LL));
}

void Webhook::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || (config_ && !queue_.empty()); });
    if (stopping_) return;
    WebhookConfig config = *config_;
    std::string body = queue_.front();
    lock.unlock();
    bool delivered = deliver(config, body);
    lock.lock();
    // The event may have been dropped meanwhile by an overflowing queue.
    if (!queue_.empty() && queue_.front() == body) queue_.pop_front();
    ++(delivered ? counters_.webhook_delivered : counters_.webhook_failed);
  }
}

bool Webhook::deliver(const WebhookConfig& config, const std::string& body) {
  for (int attempt = 1; attempt <= config.attempts; ++attempt) {
    auto st = poster_(config, body);
    if (st) return true;
    logging::event(logging::Level::Warning, "webhook delivery failed",
                   {{"attempt", attempt}, {"of", config.attempts}, {"error", st.error().message()}});
    if (attempt == config.attempts) break;
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, backoff(attempt), [this] { return stopping_; })) return false;
  }
  return false;
}

}  // namespace keel::agent
