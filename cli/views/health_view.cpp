#include "cli/views/health_view.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>

#include <fmt/format.h>

#include "cli/views/render.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::views {

namespace {

using checks::CheckStatus;
using Clock = std::chrono::system_clock;

// Characters, not bytes: UTF-8 continuation bytes do not count.
std::size_t text_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string pad(const std::string& text, std::size_t width) {
  const std::size_t w = text_width(text);
  return w >= width ? text : text + std::string(width - w, ' ');
}

const char* color_of(CheckStatus status) {
  switch (status) {
    case CheckStatus::Passing: return "\033[32m";
    case CheckStatus::Warning: return "\033[33m";
    case CheckStatus::Critical: return "\033[31m";
    case CheckStatus::Unknown: return "\033[35m";
  }
  return "";
}

std::string colored(const std::string& text, CheckStatus status, bool color) {
  return color ? fmt::format("{}{}\033[0m", color_of(status), text) : text;
}

std::optional<std::chrono::seconds> age_of(const agents::CheckReport& c, Clock::time_point now) {
  if (!c.last_run_unix) return std::nullopt;
  const double delta = timeutil::unix_seconds(now) - *c.last_run_unix;
  return std::chrono::seconds(static_cast<long long>(std::max(0.0, std::floor(delta))));
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

struct Row {
  std::string host, check, status, age, output;
  CheckStatus severity = CheckStatus::Unknown;
};

std::string summary_line(const agents::HealthSummary& s) {
  std::string line = fmt::format("Status: {} — {} host{}", upper(checks::to_string(s.status)), s.hosts,
                                 s.hosts == 1 ? "" : "s");
  if (s.unreachable > 0) line += fmt::format(" ({} unreachable)", s.unreachable);
  line += fmt::format(", {} check{}", s.checks, s.checks == 1 ? "" : "s");
  std::vector<std::string> parts;
  for (auto status : {CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Unknown}) {
    const int n = s.counts.count(status) ? s.counts.at(status) : 0;
    if (n > 0 || status == CheckStatus::Passing) parts.push_back(fmt::format("{} {}", n, checks::to_string(status)));
  }
  if (s.checks > 0) line += fmt::format(": {}", fmt::join(parts, ", "));
  return line;
}

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

class HumanHealthView : public HealthView {
 public:
  HumanHealthView(const Streams& s, const HealthTableStyle& style, const HealthWatch& watch)
      : s_(s), style_(style), watch_(watch) {}
  void round(const std::vector<agents::HostHealth>& hosts, const agents::HealthSummary& summary,
             Clock::time_point when) override {
    std::string text = render_health(hosts, summary, when, style_);
    if (watch_.on && watch_.redraw) {
      const std::time_t t = Clock::to_time_t(when);
      std::tm local{};
      char stamp[32] = "";
      if (::localtime_r(&t, &local)) std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
      // Home, clear: the next round replaces this one on the screen.
      text = fmt::format("\033[H\033[2Jkeel health, every {}s (Ctrl-C to stop)   {}\n\n{}", watch_.interval, stamp, text);
    } else if (watch_.on) {
      text += "\n";  // rounds apart in a log
    }
    put(s_.out, text);
  }

 private:
  Streams s_;
  HealthTableStyle style_;
  HealthWatch watch_;
};

class JsonHealthView : public HealthView {
 public:
  JsonHealthView(const Streams& s, bool lines) : s_(s), lines_(lines) {}
  void round(const std::vector<agents::HostHealth>& hosts, const agents::HealthSummary& summary,
             Clock::time_point when) override {
    const auto doc = health_to_json(hosts, summary, when);
    put(s_.out, json_document(doc, lines_ ? -1 : 2) + "\n");
  }

 private:
  Streams s_;
  bool lines_;  // --watch: one document per line
};

}  // namespace

std::unique_ptr<HealthView> make_health_view(bool json, const Streams& streams, const HealthTableStyle& style,
                                             const HealthWatch& watch) {
  if (json) return std::make_unique<JsonHealthView>(streams, watch.on);
  return std::make_unique<HumanHealthView>(streams, style, watch);
}

std::string format_age(std::chrono::seconds age) {
  const long long s = std::max<long long>(0, age.count());
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string output_line(const std::string& output, std::size_t max) {
  std::string line = output.substr(0, output.find('\n'));
  for (char& c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = ' ';  // tabs, CR, and ESC of colour or cursor sequences
  }
  // C1 controls (U+009B is a one-character ESC [), bidi overrides, bad UTF-8.
  line = text::printable(line);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  if (max == 0 || text_width(line) <= max) return line;
  // Keep max-1 characters, then the ellipsis.
  std::size_t kept = 0, i = 0;
  for (; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) {
      if (kept == max - 1) break;
      ++kept;
    }
  }
  return line.substr(0, i) + "…";
}

std::string render_health(const std::vector<agents::HostHealth>& hosts, const agents::HealthSummary& summary,
                          Clock::time_point now, const HealthTableStyle& style) {
  if (hosts.empty())
    return fmt::format("No servers with an agent in state: nothing to check (apply a stack with servers first).\n{}\n",
                       summary_line(summary));
  std::vector<Row> rows;
  for (const auto& h : hosts) {
    if (!h.reachable) {
      // The request is the same for every host: only the reason is news.
      std::string reason = h.error;
      const std::string request = fmt::format("GET {}/v1/checks: ", h.agent_url);
      if (reason.rfind(request, 0) == 0) reason.erase(0, request.size());
      rows.push_back({h.address, "-", "unknown", "-", fmt::format("agent unreachable: {}", reason),
                      CheckStatus::Unknown});
      continue;
    }
    if (h.checks.empty()) {
      rows.push_back({h.address, "-", "passing", "-", "no checks", CheckStatus::Passing});
      continue;
    }
    for (const auto& c : h.checks) {
      auto age = age_of(c, now);
      rows.push_back({h.address, shown_text(c.name), checks::to_string(c.status), age ? format_age(*age) : "-", c.output,
                      c.status});
    }
  }
  Row header{"HOST", "CHECK", "STATUS", "AGE", "OUTPUT", CheckStatus::Unknown};
  std::size_t w_host = text_width(header.host), w_check = text_width(header.check), w_status = 8,
              w_age = text_width(header.age);
  for (const auto& r : rows) {
    w_host = std::max(w_host, text_width(r.host));
    w_check = std::max(w_check, text_width(r.check));
    w_age = std::max(w_age, text_width(r.age));
  }
  const std::size_t used = w_host + w_check + w_status + w_age + 8;  // four gaps of two
  const std::size_t w_output = style.width > used + 20 ? style.width - used : 20;

  std::string out = fmt::format("{}  {}  {}  {}  {}\n", pad(header.host, w_host), pad(header.check, w_check),
                                pad(header.status, w_status), pad(header.age, w_age), header.output);
  for (const auto& r : rows) {
    out += fmt::format("{}  {}  {}  {}  {}\n", pad(r.host, w_host), pad(r.check, w_check),
                       colored(pad(r.status, w_status), r.severity, style.color), pad(r.age, w_age),
                       output_line(r.output, w_output));
  }
  out += "\n";
  out += colored(summary_line(summary), summary.status, style.color);
  out += "\n";
  return out;
}

nlohmann::json health_to_json(const std::vector<agents::HostHealth>& hosts, const agents::HealthSummary& summary,
                              Clock::time_point now) {
  using nlohmann::json;
  json out_hosts = json::array();
  for (const auto& h : hosts) {
    json checks = json::array();
    for (const auto& c : h.checks) {
      auto age = age_of(c, now);
      checks.push_back({{"name", c.name},
                        {"type", c.type},
                        {"status", checks::to_string(c.status)},
                        {"output", c.output},
                        {"last_run", c.last_run.empty() ? json() : json(c.last_run)},
                        {"last_run_unix", c.last_run_unix ? json(*c.last_run_unix) : json()},
                        {"age_seconds", age ? json(age->count()) : json()},
                        {"duration_ms", c.duration_ms},
                        {"interval", c.interval}});
    }
    json host = {{"address", h.address},
                 {"agent_url", h.agent_url},
                 {"reachable", h.reachable},
                 {"status", checks::to_string(h.reachable ? h.status : CheckStatus::Unknown)},
                 {"checks", checks}};
    if (!h.reachable) host["error"] = h.error;
    out_hosts.push_back(std::move(host));
  }
  json counts = json::object();
  for (const auto& [status, n] : summary.counts) counts[checks::to_string(status)] = n;
  return {{"format_version", 1},
          {"status", checks::to_string(summary.status)},
          {"exit_code", summary.exit_code},
          {"checked_at", timeutil::rfc3339(now)},
          {"summary",
           {{"hosts", summary.hosts},
            {"unreachable", summary.unreachable},
            {"checks", summary.checks},
            {"counts", counts}}},
          {"hosts", out_hosts}};
}

}  // namespace keel::views
