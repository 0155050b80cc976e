#include "cli/views/backup_view.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <vector>

#include <fmt/format.h>

#include "cli/views/health_view.h"
#include "cli/views/render.h"
#include "core/time.h"

namespace keel::views {

namespace {

using nlohmann::json;

std::string text_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

long long number_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? static_cast<long long>(it->get<double>()) : 0;
}

std::string capitalized(std::string word) {
  if (!word.empty()) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
  return word;
}

// Result fields come from the agent: shown as given, on one harmless line.
std::string one_line(const json& value) {
  return output_line(value.is_string() ? value.get<std::string>() : render_value(value), 80);
}

std::string succeeded_detail(const agents::JobRun& run) {
  const json& r = run.result;
  if (run.kind == "backup")
    return fmt::format("snapshot {}, {} read, {} stored", run.snapshot.empty() ? "-" : run.snapshot,
                       format_bytes(run.bytes_read), format_bytes(run.bytes_stored));
  if (run.kind == "restore")
    return fmt::format("snapshot {} restored to {}", run.snapshot.empty() ? "-" : run.snapshot,
                       r.contains("target") ? one_line(r["target"]) : std::string("the original"));
  if (run.kind == "prune")
    return fmt::format("kept {}, removed {}", r.value("kept", json::array()).size(),
                       r.value("removed", json::array()).size());
  if (run.kind == "drill") {
    auto seconds = [&](const char* key) {
      return r.contains(key) && r[key].is_number() ? format_seconds(r[key].get<double>()) : std::string("-");
    };
    std::string verify = r.contains("verify_output") ? fmt::format(", verify: {}", one_line(r["verify_output"])) : "";
    return fmt::format("snapshot {} restored and {}: RTO {}, RPO {}{}", run.snapshot.empty() ? "-" : run.snapshot,
                       r.value("verified", false) ? "verified" : "NOT verified", seconds("rto_seconds"),
                       seconds("rpo_seconds"), verify);
  }
  return run.snapshot.empty() ? std::string("done") : fmt::format("snapshot {}", run.snapshot);
}

struct Row {
  std::string id, time, age, size, sha;
};

Row manifest_row(const json& m, std::chrono::system_clock::time_point now) {
  // Copies of a string, not assignments of literals: g++ 12 -O2 warns falsely
  // (-Wrestrict) about the latter here.
  const std::string none(1, '-');
  Row row;
  row.id = text_of(m, "id");
  std::string when = text_of(m, "finished");
  if (when.empty()) when = text_of(m, "started");
  auto t = timeutil::parse_rfc3339(when);
  if (t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(*t);
    std::tm utc{};
    char text[32] = "";
    if (::gmtime_r(&tt, &utc)) std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%SZ", &utc);
    row.time = text;
    row.age = format_age(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
  } else {
    row.time = when.empty() ? none : when;
    row.age = none;
  }
  row.size = fmt::format("{} / {}", format_bytes(number_of(m, "raw_bytes")), format_bytes(number_of(m, "stored_bytes")));
  row.sha = text_of(m, "sha256").substr(0, 12);
  if (row.sha.empty()) row.sha = none;
  return row;
}

}  // namespace

std::string format_bytes(long long bytes) {
  if (bytes < 1024) return fmt::format("{} B", std::max(0LL, bytes));
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string format_seconds(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  if (seconds < 60) return fmt::format("{:.1f}s", std::floor(seconds * 10) / 10);
  const long long s = static_cast<long long>(seconds);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string progress_line(const agents::JobRun& run, double elapsed) {
  const double rate = elapsed > 0 ? static_cast<double>(run.bytes_read) / elapsed : 0;
  return fmt::format(" {} read  {} stored  {}/s  {}", format_bytes(run.bytes_read), format_bytes(run.bytes_stored),
                     format_bytes(static_cast<long long>(rate)), format_seconds(elapsed));
}

bool run_passed(const agents::JobRun& run) {
  if (!run.succeeded()) return false;
  if (run.kind == "drill") return run.result.value("verified", false) == true;
  return true;
}

std::string run_summary(const agents::JobRun& run) {
  const std::string what = fmt::format("{} {}", capitalized(run.kind.empty() ? "run" : run.kind), run.job);
  const std::string took = format_seconds(run.duration_seconds);
  if (run.succeeded() && run_passed(run)) return fmt::format("{} succeeded in {}: {}", what, took, succeeded_detail(run));
  if (run.succeeded())  // a drill whose verification did not pass
    return fmt::format("{} failed in {}: {}", what, took, succeeded_detail(run));
  return fmt::format("{} failed after {}: {}", what, took,
                     run.error.empty() ? std::string("the agent gave no reason") : run.error);
}

std::string render_backups(const json& manifests, std::chrono::system_clock::time_point now) {
  if (!manifests.is_array() || manifests.empty()) return "No backups yet.\n";
  std::vector<Row> rows = {{"ID", "TIME", "AGE", "SIZE (raw/stored)", "SHA256"}};
  for (const auto& m : manifests) rows.push_back(manifest_row(m, now));
  std::size_t w_id = 0, w_time = 0, w_age = 0, w_size = 0;
  for (const auto& r : rows) {
    w_id = std::max(w_id, r.id.size());
    w_time = std::max(w_time, r.time.size());
    w_age = std::max(w_age, r.age.size());
    w_size = std::max(w_size, r.size.size());
  }
  std::string out;
  for (const auto& r : rows)
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", r.id, w_id, r.time, w_time, r.age, w_age, r.size,
                       w_size, r.sha);
  return out;
}

namespace {

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

constexpr const char* kKeyWarning =
    "Warning: keep this key safe, and apart from the backups. Without it nobody, keel included, can read or restore "
    "them.\n";

class HumanBackupView : public BackupView {
 public:
  explicit HumanBackupView(const Streams& s) : s_(s) {}
  void started(const agents::JobRun& run, const std::string& server) override {
    put(s_.err, fmt::format("Started {} {} of `{}` on {}\n", run.kind, run.id, run.job, server));
  }
  void finished(const agents::JobRun& run) override {
    if (run_passed(run)) put(s_.out, run_summary(run) + "\n");
    else put(s_.err, fmt::format("Error: {}\n", run_summary(run)));
  }
  void backups(const std::string&, const std::string&, const json& manifests,
               std::chrono::system_clock::time_point now) override {
    put(s_.out, render_backups(manifests, now));
  }
  void key(const std::string& key) override {
    put(s_.err, kKeyWarning);
    put(s_.out, key + "\n");
  }

 private:
  Streams s_;
};

class JsonBackupView : public BackupView {
 public:
  explicit JsonBackupView(const Streams& s) : s_(s) {}
  void started(const agents::JobRun&, const std::string&) override {}
  void finished(const agents::JobRun& run) override {
    put(s_.out, json_document(run.raw, 2) + "\n");
    if (!run_passed(run)) put(s_.err, fmt::format("Error: {}\n", run_summary(run)));
  }
  void backups(const std::string& job, const std::string& server, const json& manifests,
               std::chrono::system_clock::time_point) override {
    put(s_.out, json_document(json({{"job", job}, {"server", server}, {"backups", manifests}}), 2) + "\n");
  }
  void key(const std::string& key) override {
    put(s_.err, kKeyWarning);
    put(s_.out, json_document(json({{"backup_key", key}})) + "\n");
  }

 private:
  Streams s_;
};

}  // namespace

std::unique_ptr<BackupView> make_backup_view(bool json, const Streams& streams) {
  if (json) return std::make_unique<JsonBackupView>(streams);
  return std::make_unique<HumanBackupView>(streams);
}

}  // namespace keel::views
