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
#include <cstdlib>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>
#include <fmt/format.h>

#include "agent/dr/manifest.h"
#include "agent/dr/operations.h"
#include "core/crypto.h"
#include "core/log.h"

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

// Messages can quote names read from the destination, which need not be
// UTF-8: replaced, never a reason to throw.
void emit(const json& line) {
  std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int emit_error(const Error& error, const json& result = nullptr) {
  json line = {{"event", "error"}, {"error", error.message()}, {"code", to_string(error.code())}};
  if (!result.is_null()) line["result"] = result;
  emit(line);
  logging::error("keel-dr: {}", error.message());
  return 1;
}

// A string field of the request; absent is empty, another type an error.
Result<std::string> string_field(const json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end() || it->is_null()) return std::string();
  if (!it->is_string()) return fail(ErrorCode::InvalidConfig, fmt::format("request: `{}` must be a string", key));
  return it->get<std::string>();
}

Result<json> dispatch(const std::string& op, const dr::Job& job, const dr::RunContext& context, const json& request,
                      json& partial) {
  auto snapshot = string_field(request, "snapshot");
  if (!snapshot) return fail(snapshot.error());
  if (!snapshot->empty() && !dr::valid_backup_id(*snapshot))
    return fail(ErrorCode::InvalidConfig, fmt::format("request: `{}` is not a backup id", *snapshot));
  auto target = string_field(request, "target");
  if (!target) return fail(target.error());
  if (op == "backup") return dr::run_backup(job, context);
  if (op == "restore") return dr::run_restore(job, context, *snapshot, *target);
  if (op == "drill") return dr::run_drill(job, context, *snapshot, &partial);
  if (op == "prune") return dr::run_prune(job, context);
  if (op == "list") return dr::list_backups(job, context);
  return fail(ErrorCode::InvalidConfig, fmt::format("unknown op `{}` (backup, restore, drill, prune, list)", op));
}

}  // namespace

int run() {
  // Dies with the agent that started it: an orphaned backup would hold the
  // job's destination while the restarted agent starts another.
  // (Compared with the parent seen before prctl, not with 1: an agent may
  // itself be PID 1 in a container.)
  const pid_t parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) return 1;
  // Its log is its stderr, which the agent relays at each line's level; the
  // agent passes KEEL_LOG=debug when it logs at debug itself.
  if (const char* text = std::getenv("KEEL_LOG"); text && *text)
    if (auto level = logging::level_from_string(text)) logging::setup(logging::Format::Text, *level);

  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  json request = json::parse(input, nullptr, false);
  if (request.is_discarded() || !request.is_object())
    return emit_error(Error(ErrorCode::InvalidConfig, "stdin: expected one JSON request"));

  auto job = dr::job_from_json(request.contains("job") ? request["job"] : json::object());
  if (!job) return emit_error(job.error());
  dr::RunContext context;
  auto key_text = string_field(request, "key");
  auto key = crypto::key_from_text(key_text ? *key_text : "");
  if (!key_text || key_text->empty() || !key)
    return emit_error(Error(ErrorCode::InvalidConfig, "request: no usable backup key"));
  context.key = *key;
  auto spool = string_field(request, "spool_dir");
  if (!spool) return emit_error(spool.error());
  context.spool_dir = spool->empty() ? "/tmp" : *spool;
  context.progress = [](const dr::Progress& p) {
    emit({{"event", "progress"}, {"phase", p.phase}, {"bytes_read", p.bytes_read}, {"bytes_stored", p.bytes_stored}});
  };

  auto op_field = string_field(request, "op");
  if (!op_field) return emit_error(op_field.error());
  const std::string& op = *op_field;
  json partial;
  auto result = dispatch(op, *job, context, request, partial);
  if (!result) return emit_error(result.error(), partial);
  emit({{"event", "result"}, {"result", *result}, {"peak_rss_bytes", peak_rss_bytes()}});
  return 0;
}

int main() {
  // The last resort (STYLE.md): a library that throws on input no check
  // foresaw ends in an error line, not in std::terminate.
  try {
    return run();
  } catch (const std::exception& e) {
    return emit_error(Error(ErrorCode::Internal, fmt::format("keel-dr: unexpected error: {}", e.what())));
  }
}
