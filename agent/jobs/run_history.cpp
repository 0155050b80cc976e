#include "agent/jobs/run_history.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.h"

namespace keel::agent {

namespace {

using Json = nlohmann::json;

bool newer(const Run& a, const Run& b) { return a.started != b.started ? a.started > b.started : a.id > b.id; }

std::string line_of(const Run& run) {
  return to_json(run).dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace

Status RunHistory::open(const std::string& dir) {
  if (auto st = files::make_dirs(dir, 0700); !st) return fail(st.error().with_context("job history"));
  std::lock_guard lock(mutex_);
  path_ = dir + "/runs.jsonl";
  file_.reset();
  shelves_.clear();
  file_lines_ = 0;
  std::string text;
  if (files::exists(path_)) {
    auto read = files::read_file(path_);
    if (!read) return fail(read.error().with_context("job history"));
    text = std::move(*read);
  }
  bool dirty = !text.empty() && text.back() != '\n';
  size_t line_number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line(text.data() + pos, end - pos);
    const bool last = end + 1 >= text.size();
    pos = end + 1;
    ++line_number;
    if (line.empty()) continue;
    auto json = Json::parse(line, nullptr, false);
    Result<Run> run = json.is_discarded() ? Result<Run>(fail(ErrorCode::Corrupt, "not JSON")) : run_from_json(json);
    if (run) {
      keep(*run);
      ++file_lines_;
      continue;
    }
    dirty = true;
    // The last line is where a crash tears an append: expected, not worth a warning.
    if (!last)
      logging::event(logging::Level::Warning, "job history: a bad line is skipped",
                     {{"file", path_}, {"line", line_number}, {"error", run.error().message()}});
  }
  if (dirty) {
    if (auto st = compact(); !st) return st;
  }
  auto file = files::AppendFile::open(path_, 0600);
  if (!file) return fail(file.error().with_context("job history"));
  file_.emplace(std::move(*file));
  return {};
}

bool RunHistory::is_open() const {
  std::lock_guard lock(mutex_);
  return file_.has_value();
}

void RunHistory::keep(const Run& run) {
  Shelf& shelf = shelves_[{run.job, run.kind}];
  shelf.recent.push_back(run);
  if (shelf.recent.size() > kPerKind) shelf.recent.erase(shelf.recent.begin());
  if (run.succeeded() && (!shelf.last_success || !newer(*shelf.last_success, run))) shelf.last_success = run;
}

std::vector<Run> RunHistory::kept_runs() const {
  std::vector<Run> out;
  for (const auto& [key, shelf] : shelves_) {
    out.insert(out.end(), shelf.recent.begin(), shelf.recent.end());
    if (shelf.last_success &&
        std::none_of(shelf.recent.begin(), shelf.recent.end(),
                     [&](const Run& r) { return r.id == shelf.last_success->id; }))
      out.push_back(*shelf.last_success);
  }
  std::sort(out.begin(), out.end(), [](const Run& a, const Run& b) { return newer(b, a); });
  return out;
}

Status RunHistory::compact() {
  std::string text;
  auto runs = kept_runs();
  for (const auto& run : runs) text += line_of(run);
  if (auto st = files::write_atomic(path_, text, 0600); !st) return fail(st.error().with_context("job history"));
  file_lines_ = runs.size();
  if (file_) {
    // The old descriptor points at the replaced file.
    auto file = files::AppendFile::open(path_, 0600);
    if (!file) {
      file_.reset();
      return fail(file.error().with_context("job history"));
    }
    file_.emplace(std::move(*file));
  }
  return {};
}

Status RunHistory::record(const Run& run) {
  std::lock_guard lock(mutex_);
  keep(run);
  if (!file_) return fail(ErrorCode::Internal, "job history: the file is not open");
  if (auto st = file_->append(line_of(run)); !st) return st;
  if (auto st = file_->sync(); !st) return st;
  if (++file_lines_ > compact_lines_) return compact();
  return {};
}

std::optional<Run> RunHistory::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, shelf] : shelves_) {
    for (const auto& run : shelf.recent)
      if (run.id == id) return run;
    if (shelf.last_success && shelf.last_success->id == id) return shelf.last_success;
  }
  return std::nullopt;
}

std::vector<Run> RunHistory::runs(const std::string& job) const {
  std::lock_guard lock(mutex_);
  std::vector<Run> out;
  for (const auto& run : kept_runs())
    if (job.empty() || run.job == job) out.push_back(run);
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<Run> RunHistory::last(const std::string& job, RunKind kind, bool succeeded) const {
  std::lock_guard lock(mutex_);
  auto it = shelves_.find({job, kind});
  if (it == shelves_.end()) return std::nullopt;
  if (succeeded) return it->second.last_success;
  if (it->second.recent.empty()) return std::nullopt;
  return *std::max_element(it->second.recent.begin(), it->second.recent.end(),
                           [](const Run& a, const Run& b) { return newer(b, a); });
}

size_t RunHistory::file_lines() const {
  std::lock_guard lock(mutex_);
  return file_lines_;
}

}  // namespace keel::agent
