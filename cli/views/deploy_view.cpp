#include "cli/views/deploy_view.h"

#include <algorithm>

#include <fmt/format.h>

#include "cli/views/render.h"
#include "core/text.h"

namespace keel::views {

using deploy::HostOutcome;

namespace {

std::string indent(const std::string& text, const std::string& prefix) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += prefix + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

std::string outcome_word(const deploy::RolloutResult& result, const deploy::HostResult& host) {
  if (host.outcome == HostOutcome::Switched)
    return result.action == deploy::Action::Deploy ? "deployed" : "rolled back";
  return deploy::to_string(host.outcome);
}

}  // namespace

std::string format_size(long long bytes) {
  if (bytes >= 1'000'000) return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  if (bytes >= 1'000) return fmt::format("{:.0f} kB", static_cast<double>(bytes) / 1e3);
  return fmt::format("{} B", bytes);
}

void DeployProgress::started(const deploy::RolloutResult& plan) {
  std::lock_guard lock(mutex_);
  batches_ = plan.batches.size();
  size_t hosts = 0;
  for (const auto& b : plan.batches) {
    hosts += b.size();
    for (const auto& h : b) width_ = std::max(width_, h.size());
  }
  const size_t size = plan.batches.empty() ? 0 : plan.batches.front().size();
  const std::string batching = plan.batches.size() == 1 ? std::string("in one batch")
                                                        : fmt::format("in {} batches of {}", plan.batches.size(), size);
  if (plan.action == deploy::Action::Deploy)
    std::fprintf(out_, "Deploying %s release %s (%s) to %zu host%s %s\n", plan.app.c_str(), plan.release.c_str(),
                 format_size(artifact_size_).c_str(), hosts, hosts == 1 ? "" : "s", batching.c_str());
  else
    std::fprintf(out_, "Rolling %s back to the previous release on %zu host%s %s\n", plan.app.c_str(), hosts,
                 hosts == 1 ? "" : "s", batching.c_str());
  std::fflush(out_);
}

void DeployProgress::batch_started(size_t index, const std::vector<std::string>& hosts) {
  std::lock_guard lock(mutex_);
  std::fprintf(out_, "batch %zu/%zu: %s\n", index + 1, batches_, fmt::format("{}", fmt::join(hosts, ", ")).c_str());
  std::fflush(out_);
}

void DeployProgress::host_step(const std::string& address, const std::string& step, const std::string& detail) {
  std::lock_guard lock(mutex_);
  std::string text = detail;
  if (step == "upload" && text.empty()) text = format_size(artifact_size_);
  if (text.empty())
    std::fprintf(out_, "  %-*s  %s\n", static_cast<int>(width_), address.c_str(), step.c_str());
  else
    std::fprintf(out_, "  %-*s  %-8s %s\n", static_cast<int>(width_), address.c_str(), step.c_str(), text.c_str());
  std::fflush(out_);
}

void DeployProgress::batch_finished(size_t index, bool ok) {
  std::lock_guard lock(mutex_);
  std::fprintf(out_, "batch %zu/%zu %s\n", index + 1, batches_, ok ? "done" : "FAILED: put back");
  std::fflush(out_);
}

std::string render_rollout(const deploy::RolloutResult& result) {
  std::string out;
  size_t width = 4, outcome_width = 7, release_width = 7;
  for (const auto& h : result.hosts) {
    width = std::max(width, h.address.size());
    outcome_width = std::max(outcome_width, outcome_word(result, h).size());
    release_width = std::max(release_width, h.current.empty() ? size_t{1} : h.current.size());
  }
  out += fmt::format("\n{:<{}}  {:<{}}  {:<{}}  {}\n", "HOST", width, "OUTCOME", outcome_width, "RELEASE",
                     release_width, "NOTE");
  for (const auto& h : result.hosts) {
    std::string note;
    if (h.failed) note = fmt::format("{} failed: {}", h.step, h.error);
    else if (!h.error.empty()) note = h.error;
    if (!h.rollback_error.empty()) note += (note.empty() ? "" : "; ") + h.rollback_error;
    for (const auto& w : h.warnings) note += (note.empty() ? "" : "; ") + w;
    if (note.empty() && !h.pruned.empty())
      note = fmt::format("pruned {} old release{}", h.pruned.size(), h.pruned.size() == 1 ? "" : "s");
    const std::string release = h.outcome == HostOutcome::Unknown ? "?" : (h.current.empty() ? "-" : h.current);
    std::string line = fmt::format("{:<{}}  {:<{}}  {:<{}}  {}", h.address, width, outcome_word(result, h),
                                   outcome_width, shown_text(release), release_width, shown_text(note));
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  for (const auto& h : result.hosts) {
    if (!h.failed) continue;
    // A failed health gate's output is its checks', shown below.
    // Hosts' and agents' text: escape sequences shown, not obeyed (render.h).
    if (!h.output.empty() && h.step != "health")
      out += fmt::format("\n{}: output of `{}`:\n{}", h.address, h.step, indent(text::printable_lines(h.output), "    | "));
    for (const auto& c : h.checks) {
      if (c.passed) continue;
      out += fmt::format("\n{}: check `{}` is {}{}; its last output:\n{}", h.address, shown_text(c.name),
                         shown_text(c.status), c.fresh ? "" : " (no run since the switch)",
                         indent(c.output.empty() ? std::string("(none)") : text::printable_lines(c.output), "    | "));
    }
  }
  return out;
}

nlohmann::json rollout_to_json(const deploy::RolloutResult& result) {
  using nlohmann::json;
  auto or_null = [](const std::string& s) { return s.empty() ? json() : json(s); };
  json hosts = json::array();
  for (const auto& h : result.hosts) {
    json checks = json::array();
    for (const auto& c : h.checks)
      checks.push_back({{"name", c.name}, {"status", c.status}, {"passed", c.passed}, {"fresh", c.fresh},
                        {"output", c.output}});
    hosts.push_back({{"address", h.address},
                     {"batch", h.batch < 0 ? json() : json(h.batch + 1)},
                     {"outcome", deploy::to_string(h.outcome)},
                     {"from", or_null(h.from)},
                     {"to", or_null(h.to)},
                     {"release", h.outcome == HostOutcome::Unknown ? json() : or_null(h.current)},
                     {"failed", h.failed},
                     {"step", or_null(h.step)},
                     {"error", or_null(h.error)},
                     {"output", or_null(h.output)},
                     {"checks", checks},
                     {"rollback_error", or_null(h.rollback_error)},
                     {"pruned", h.pruned},
                     {"warnings", h.warnings},
                     {"seconds", h.seconds}});
  }
  return {{"app", result.app},
          {"action", deploy::to_string(result.action)},
          {"release", or_null(result.release)},
          {"outcome", result.ok ? "deployed" : "failed"},
          {"error", or_null(result.error)},
          {"preflight_failed", result.preflight_failed},
          {"batches", result.batches},
          {"failed_batch", result.failed_batch < 0 ? json() : json(result.failed_batch + 1)},
          {"hosts", hosts}};
}

namespace {

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

class HumanDeployView : public DeployView {
 public:
  HumanDeployView(const Streams& s, long long artifact_size) : s_(s), progress_(s.out, artifact_size) {}
  deploy::RolloutObserver* observer() override { return &progress_; }
  void finished(const deploy::RolloutResult& result, const std::string& not_recorded,
                const std::string& history) override {
    std::string text = render_rollout(result);
    const size_t n = result.hosts.size();
    if (result.ok && result.action == deploy::Action::Rollback)
      text += fmt::format("\nRolled {} back on {} host{}.\n", result.app, n, n == 1 ? "" : "s");
    else if (result.ok)
      text += fmt::format("\nDeployed {} release {} to {} host{}.\n", result.app, result.release, n, n == 1 ? "" : "s");
    put(s_.out, text);
    if (!not_recorded.empty())
      put(s_.err, fmt::format("Warning: the rollout was not recorded in {}: {}\n", history, not_recorded));
    if (!result.ok)
      put(s_.err, fmt::format("Error: {} of {} failed: {}\n", deploy::to_string(result.action), result.app,
                              result.error));
  }

 private:
  Streams s_;
  DeployProgress progress_;
};

class JsonDeployView : public DeployView {
 public:
  explicit JsonDeployView(const Streams& s) : s_(s) {}
  deploy::RolloutObserver* observer() override { return nullptr; }
  void finished(const deploy::RolloutResult& result, const std::string& not_recorded, const std::string&) override {
    auto doc = rollout_to_json(result);
    if (!not_recorded.empty()) doc["warnings"] = {fmt::format("not recorded: {}", not_recorded)};
    put(s_.out, json_document(doc, 2) + "\n");
  }

 private:
  Streams s_;
};

}  // namespace

std::unique_ptr<DeployView> make_deploy_view(bool json, const Streams& streams, long long artifact_size) {
  if (json) return std::make_unique<JsonDeployView>(streams);
  return std::make_unique<HumanDeployView>(streams, artifact_size);
}

}  // namespace keel::views
