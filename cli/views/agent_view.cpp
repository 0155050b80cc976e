#include "cli/views/agent_view.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "cli/views/render.h"

namespace keel::views {

namespace {

using nlohmann::json;

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

size_t failed_of(const std::vector<AgentHostResult>& results) {
  return static_cast<size_t>(std::count_if(results.begin(), results.end(), [](const auto& r) { return !r.ok; }));
}

class HumanAgentView : public AgentView {
 public:
  explicit HumanAgentView(const Streams& s) : s_(s) {}
  void results(const std::string&, const std::vector<AgentHostResult>& results) override {
    put(s_.out, render_agent_results(results));
  }

 private:
  Streams s_;
};

class JsonAgentView : public AgentView {
 public:
  explicit JsonAgentView(const Streams& s) : s_(s) {}
  void results(const std::string& verb, const std::vector<AgentHostResult>& results) override {
    put(s_.out, json_document(agent_results_to_json(verb, results), 2) + "\n");
  }

 private:
  Streams s_;
};

}  // namespace

std::string render_agent_results(const std::vector<AgentHostResult>& results) {
  size_t width = 4;
  for (const auto& r : results) width = std::max(width, r.address.size());
  std::string out;
  for (const auto& r : results) {
    std::string detail;
    if (r.status.installed)
      detail = fmt::format("{}{}{}", r.status.running ? "running" : "not answering",
                           r.status.service.empty() ? "" : fmt::format(" ({})", r.status.service),
                           r.status.current ? ", this keel's version" : ", another version");
    if (!r.ok && !r.error.empty()) detail += fmt::format("{}{}", detail.empty() ? "" : ": ", r.error);
    std::string line = fmt::format("{:<{}}  {:<4}  {}", r.address, width, r.ok ? "ok" : "FAIL", detail);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  const size_t failed = failed_of(results);
  out += fmt::format("\n{} host{}: {} ok, {} failed\n", results.size(), results.size() == 1 ? "" : "s",
                     results.size() - failed, failed);
  return out;
}

json agent_results_to_json(const std::string& verb, const std::vector<AgentHostResult>& results) {
  json hosts = json::array();
  for (const auto& r : results)
    hosts.push_back({{"address", r.address},
                     {"host", r.host},
                     {"ok", r.ok},
                     {"installed", r.status.installed},
                     {"running", r.status.running},
                     {"current", r.status.current},
                     {"service", r.status.service.empty() ? json() : json(r.status.service)},
                     {"error", r.ok || r.error.empty() ? json() : json(r.error)}});
  const size_t failed = failed_of(results);
  return {{"action", verb}, {"hosts", hosts}, {"summary", {{"ok", results.size() - failed}, {"failed", failed}}}};
}

std::unique_ptr<AgentView> make_agent_view(bool json, const Streams& streams) {
  if (json) return std::make_unique<JsonAgentView>(streams);
  return std::make_unique<HumanAgentView>(streams);
}

}  // namespace keel::views
