#include "agent/dr/sources.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "agent/dr/restore_target.h"
#include "agent/dr/source_impl.h"

namespace keel::dr {
namespace {

using nlohmann::json;

std::unexpected<Error> invalid(const std::string& message) {
  return fail(ErrorCode::InvalidConfig, "source: " + message);
}

Result<int> port_of(const json& object, int fallback) {
  if (!object.contains("port")) return fallback;
  const json& p = object["port"];
  if (p.is_number_integer()) return p.get<int>();
  if (p.is_string()) {
    try {
      return std::stoi(p.get<std::string>());
    } catch (...) {
    }
  }
  return invalid("port must be a number");
}

std::string string_of(const json& object, const char* key, const std::string& fallback = {}) {
  if (!object.contains(key) || object[key].is_null()) return fallback;
  return object[key].is_string() ? object[key].get<std::string>() : object[key].dump();
}

// host, port and password, which both servers have.
template <typename Server>
Status read_server(const json& object, const char* type, Server& s) {
  if (!object.is_object()) return invalid(fmt::format("{} must be a map", type));
  s.host = string_of(object, "host", s.host);
  auto port = port_of(object, s.port);
  if (!port) return fail(port.error());
  s.port = *port;
  s.password = string_of(object, "password");
  return {};
}

}  // namespace

Result<Source> source_from_json(const json& j) {
  if (!j.is_object() || j.size() != 1) return invalid("expected exactly one of postgres, redis or files");
  if (j.contains("postgres")) {
    PostgresSource s;
    if (auto ok = read_server(j["postgres"], "postgres", s); !ok) return fail(ok.error());
    s.user = string_of(j["postgres"], "user");
    s.database = string_of(j["postgres"], "database");
    if (s.database.empty()) return invalid("postgres needs `database`");
    // libpq reads a --dbname with `=` or a URI prefix as a connection
    // string, which would override host, port and user.
    if (s.database.find('=') != std::string::npos || s.database.starts_with("postgres://") ||
        s.database.starts_with("postgresql://"))
      return invalid("postgres `database` must be a database name, not a connection string");
    return s;
  }
  if (j.contains("redis")) {
    RedisSource s;
    if (auto ok = read_server(j["redis"], "redis", s); !ok) return fail(ok.error());
    return s;
  }
  if (j.contains("files")) {
    const json& f = j["files"];
    if (!f.is_array() || f.empty()) return invalid("files must be a non-empty list of absolute paths");
    FilesSource s;
    for (const auto& p : f) {
      if (!p.is_string() || p.get<std::string>().empty() || p.get<std::string>().front() != '/')
        return invalid(fmt::format("files: `{}` is not an absolute path", p.is_string() ? p.get<std::string>() : p.dump()));
      s.paths.push_back(p.get<std::string>());
    }
    return s;
  }
  return invalid(fmt::format("unknown source type `{}` (postgres, redis or files)", j.begin().key()));
}

std::string source_type(const Source& source) {
  if (std::holds_alternative<PostgresSource>(source)) return "postgres";
  if (std::holds_alternative<RedisSource>(source)) return "redis";
  return "files";
}

Result<std::unique_ptr<DumpStream>> start_dump(const Source& source) {
  return std::visit([](const auto& s) { return start_dump_of(s); }, source);
}

Status check_restore_target(const Source& source, const std::string& target) {
  const auto* redis = std::get_if<RedisSource>(&source);
  return check_restore_target(source_type(source), redis ? redis->host : std::string(), target);
}

Result<std::unique_ptr<RestoreSink>> start_restore(const Source& source, const std::string& target,
                                                   const std::string& work_dir) {
  if (auto ok = check_restore_target(source, target); !ok) return fail(ok.error());
  return std::visit([&](const auto& s) { return start_restore_of(s, target, work_dir); }, source);
}

Result<std::unique_ptr<ScratchTarget>> make_scratch_target(const Source& source, const std::string& job,
                                                           const std::string& work_dir) {
  return std::visit([&](const auto& s) { return make_scratch_of(s, job, work_dir); }, source);
}

bool value_means_failure(std::string_view value) {
  std::string v;
  for (char c : value)
    if (!std::isspace(static_cast<unsigned char>(c))) v.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return v.empty() || v == "0" || v == "f" || v == "false" || v == "nil" || v == "(nil)" || v == "null";
}

// A dump read from a child's stdout (pg_dump, redis-cli, tar).
ProcessDump::ProcessDump(std::unique_ptr<PipedProcess> process, int max_ok_status)
    : process_(std::move(process)), max_ok_status_(max_ok_status) {}
Result<std::size_t> ProcessDump::read(char* buffer, std::size_t max) { return process_->read(buffer, max); }
Status ProcessDump::finish() { return process_->finish(max_ok_status_); }

// A restore into a child's stdin (pg_restore, tar).
ProcessRestore::ProcessRestore(std::unique_ptr<PipedProcess> process, std::string target)
    : process_(std::move(process)), target_(std::move(target)) {}
Status ProcessRestore::write(std::string_view raw) { return process_->write(raw); }
Status ProcessRestore::finish() { return process_->finish(); }

// A name safe inside identifiers and file names: job names are
// [A-Za-z0-9_.-], reduced here to [a-z0-9_].
std::string identifier_part(const std::string& text) {
  std::string out;
  for (char c : text) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_');
  return out.substr(0, 30);
}

}  // namespace keel::dr
