#include "cli/views/exec_view.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "cli/views/render.h"

namespace keel::views {

namespace {

std::string plural(std::size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// "servers.web[12]" -> ("servers.web", 12); nullopt without a trailing [N].
std::optional<std::pair<std::string, long>> split_index(const std::string& address) {
  if (address.empty() || address.back() != ']') return std::nullopt;
  const auto open = address.rfind('[');
  if (open == std::string::npos || open + 2 > address.size() - 1) return std::nullopt;
  long index = 0;
  for (std::size_t i = open + 1; i + 1 < address.size(); ++i) {
    const char c = address[i];
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + (c - '0');
    if (index > 1000000000L) return std::nullopt;
  }
  return std::make_pair(address.substr(0, open), index);
}

std::string ranges(const std::vector<long>& indexes) {
  std::string out;
  for (std::size_t i = 0; i < indexes.size();) {
    std::size_t j = i;
    while (j + 1 < indexes.size() && indexes[j + 1] == indexes[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", indexes[i]) : fmt::format("{}-{}", indexes[i], indexes[j]);
    i = j + 1;
  }
  return out;
}

std::string describe_end(const fleet::HostRun& run) {
  const std::string elapsed = format_elapsed(run.duration);
  switch (run.outcome) {
    case fleet::Outcome::Exited: return fmt::format("exit {} in {}", run.exit_status.value_or(-1), elapsed);
    case fleet::Outcome::Failed:
      return fmt::format("failed after {}: {}", elapsed, run.error ? run.error->message() : "unknown error");
    case fleet::Outcome::Unreachable:
      return fmt::format("unreachable: {}", run.error ? run.error->message() : "unknown error");
  }
  return "";
}

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

class HumanExecView : public ExecView {
 public:
  HumanExecView(const Streams& s, ExecLayout layout, std::size_t width) : s_(s), layout_(layout), width_(width) {}
  bool collects_output() const override { return layout_ == ExecLayout::Grouped; }
  void skipped(const std::vector<std::string>& addresses) override {
    if (addresses.empty()) return;
    put(s_.err, fmt::format("keel: skipped, not reachable over SSH (no `ssh` in their state): {}\n",
                            compact_addresses(addresses)));
  }
  void line(const std::string& address, ssh::Stream stream, std::string_view text) override {
    if (layout_ == ExecLayout::Streamed)
      put(stream == ssh::Stream::Stdout ? s_.out : s_.err, exec_line(address, width_, text));
  }
  void host_finished(const fleet::HostRun& run) override {
    if (layout_ == ExecLayout::Grouped) put(s_.out, render_exec_group(run));
    else if (auto problem = exec_problem_line(run, width_); !problem.empty()) put(s_.err, problem);
  }
  void finished(const std::string&, const std::vector<fleet::HostRun>& runs, const std::vector<std::string>&,
                std::chrono::milliseconds total, int) override {
    put(s_.out, fmt::format("\n{}", render_exec_summary(runs, total)));
  }

 private:
  Streams s_;
  ExecLayout layout_;
  std::size_t width_;
};

class JsonExecView : public ExecView {
 public:
  explicit JsonExecView(const Streams& s) : s_(s) {}
  bool collects_output() const override { return true; }
  void skipped(const std::vector<std::string>&) override {}  // in the document
  void line(const std::string&, ssh::Stream, std::string_view) override {}
  void host_finished(const fleet::HostRun&) override {}
  void finished(const std::string& command, const std::vector<fleet::HostRun>& runs,
                const std::vector<std::string>& skipped, std::chrono::milliseconds total, int exit_code) override {
    const auto doc = exec_to_json(command, runs, skipped, total, exit_code);
    // Remote output need not be UTF-8: invalid bytes become U+FFFD.
    put(s_.out, doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }

 private:
  Streams s_;
};

}  // namespace

std::unique_ptr<ExecView> make_exec_view(bool json, ExecLayout layout, const Streams& streams, std::size_t width) {
  if (json) return std::make_unique<JsonExecView>(streams);
  return std::make_unique<HumanExecView>(streams, layout, width);
}

std::string exec_line(const std::string& address, std::size_t width, std::string_view line) {
  return fmt::format("{:<{}} | {}\n", address, width, line);
}

std::string exec_problem_line(const fleet::HostRun& run, std::size_t width) {
  if (run.outcome == fleet::Outcome::Exited) return "";
  return fmt::format("{:<{}} ! {}\n", run.address, width, describe_end(run));
}

std::string render_exec_group(const fleet::HostRun& run) {
  std::string out = fmt::format("--- {} ({}): {}\n", run.address, run.host, describe_end(run));
  out += run.output;
  if (!run.output.empty() && run.output.back() != '\n') out += '\n';
  return out;
}

std::string render_exec_summary(const std::vector<fleet::HostRun>& runs, std::chrono::milliseconds total) {
  std::map<int, std::vector<std::string>> by_status;
  std::vector<const fleet::HostRun*> failed, unreachable;
  for (const auto& r : runs) {
    switch (r.outcome) {
      case fleet::Outcome::Exited: by_status[r.exit_status.value_or(-1)].push_back(r.address); break;
      case fleet::Outcome::Failed: failed.push_back(&r); break;
      case fleet::Outcome::Unreachable: unreachable.push_back(&r); break;
    }
  }
  std::string out;
  for (const auto& [status, addresses] : by_status)
    out += fmt::format("exit {}: {}: {}\n", status, plural(addresses.size(), "host", "hosts"),
                       compact_addresses(addresses));
  auto with_reasons = [&out](const char* what, const std::vector<const fleet::HostRun*>& list) {
    if (list.empty()) return;
    out += fmt::format("{}: {}\n", what, plural(list.size(), "host", "hosts"));
    for (const auto* r : list)
      out += fmt::format("  {}: {}\n", r->address, r->error ? r->error->message() : "unknown error");
  };
  with_reasons("did not finish", failed);
  with_reasons("unreachable", unreachable);
  const auto s = fleet::summarize(runs);
  out += fmt::format("{} ok, {} failed, {} unreachable ({}) in {}\n", s.ok, s.failed, s.unreachable,
                     plural(runs.size(), "host", "hosts"), format_elapsed(total));
  return out;
}

nlohmann::json exec_to_json(const std::string& command, const std::vector<fleet::HostRun>& runs,
                            const std::vector<std::string>& skipped, std::chrono::milliseconds total,
                            int exit_code) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& r : runs) {
    hosts.push_back({
        {"address", r.address},
        {"host", r.host},
        {"outcome", fleet::to_string(r.outcome)},
        {"exit_status", r.exit_status ? nlohmann::json(*r.exit_status) : nlohmann::json(nullptr)},
        {"output", r.output},
        {"error", r.error ? nlohmann::json(r.error->message()) : nlohmann::json(nullptr)},
        {"error_kind", r.error ? nlohmann::json(to_string(r.error->code())) : nlohmann::json(nullptr)},
        {"duration_ms", r.duration.count()},
    });
  }
  const auto s = fleet::summarize(runs);
  return {
      {"format_version", 1},
      {"command", command},
      {"exit_code", exit_code},
      {"duration_ms", total.count()},
      {"hosts", std::move(hosts)},
      {"skipped", skipped},
      {"summary",
       {{"hosts", runs.size()}, {"ok", s.ok}, {"failed", s.failed}, {"unreachable", s.unreachable}}},
  };
}

std::string compact_addresses(const std::vector<std::string>& addresses) {
  std::string out;
  for (std::size_t i = 0; i < addresses.size();) {
    const auto first = split_index(addresses[i]);
    std::size_t j = i + 1;
    std::string item = addresses[i];
    if (first) {
      std::vector<long> indexes{first->second};
      for (; j < addresses.size(); ++j) {
        const auto next = split_index(addresses[j]);
        if (!next || next->first != first->first) break;
        indexes.push_back(next->second);
      }
      item = fmt::format("{}[{}]", first->first, ranges(indexes));
    }
    if (!out.empty()) out += ", ";
    out += item;
    i = j;
  }
  return out;
}

}  // namespace keel::views
