// keel-dr: the worker keel-agent starts for each backup, restore, drill,
// prune or list. It reads one JSON request on stdin, writes JSON lines to
// stdout (progress, then one result or error), and human log lines to
// stderr. The request carries secrets (the backup key, passwords), so it
// never travels through argv or the environment. See docs/backups.md.

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>
#include <spdlog/fmt/fmt.h>

#include "agent/dr/operations.h"
#include "core/crypto.h"

namespace {

using nlohmann::json;
using namespace keel;

// What this worker held at most, for the run record and the benchmark
// (children such as pg_dump are not counted).
long peak_rss_bytes() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss * 1024L;
}

void emit(const json& line) {
  std::string text = line.dump() + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int emit_error(const Error& error, const json& result = nullptr) {
  json line = {{"event", "error"}, {"error", error.message()}, {"code", to_string(error.code())}};
  if (!result.is_null()) line["result"] = result;
  emit(line);
  fmt::print(stderr, "keel-dr: {}\n", error.message());
  return 1;
}

Result<json> dispatch(const std::string& op, const dr::Job& job, const dr::RunContext& context, const json& request,
                      json& partial) {
  std::string snapshot = request.value("snapshot", "");
  if (op == "backup") return dr::run_backup(job, context);
  if (op == "restore") return dr::run_restore(job, context, snapshot, request.value("target", ""));
  if (op == "drill") return dr::run_drill(job, context, snapshot, &partial);
  if (op == "prune") return dr::run_prune(job, context);
  if (op == "list") return dr::list_backups(job);
  return fail(ErrorCode::InvalidConfig, fmt::format("unknown op `{}` (backup, restore, drill, prune, list)", op));
}

}  // namespace

int main() {
  // Dies with the agent that started it: an orphaned backup would hold the
  // job's destination while the restarted agent starts another.
  // (Compared with the parent seen before prctl, not with 1: an agent may
  // itself be PID 1 in a container.)
  const pid_t parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) return 1;

  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  json request = json::parse(input, nullptr, false);
  if (request.is_discarded() || !request.is_object())
    return emit_error(Error(ErrorCode::InvalidConfig, "stdin: expected one JSON request"));

  auto job = dr::job_from_json(request.value("job", json::object()));
  if (!job) return emit_error(job.error());
  dr::RunContext context;
  auto key = crypto::key_from_text(request.value("key", ""));
  if (!key || request.value("key", "").empty())
    return emit_error(Error(ErrorCode::InvalidConfig, "request: no usable backup key"));
  context.key = *key;
  context.spool_dir = request.value("spool_dir", "/tmp");
  context.progress = [](const dr::Progress& p) {
    emit({{"event", "progress"}, {"phase", p.phase}, {"bytes_read", p.bytes_read}, {"bytes_stored", p.bytes_stored}});
  };

  std::string op = request.value("op", "");
  json partial;
  auto result = dispatch(op, *job, context, request, partial);
  if (!result) return emit_error(result.error(), partial);
  emit({{"event", "result"}, {"result", *result}, {"peak_rss_bytes", peak_rss_bytes()}});
  return 0;
}
