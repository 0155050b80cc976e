// PostgreSQL: pg_dump's custom format without its own compression (zstd
// does that, faster and better), pg_restore in one transaction so that a
// failed restore leaves the database as it was.

#include <fmt/format.h>

#include "agent/dr/source_impl.h"
#include "core/crypto.h"
#include "core/process.h"

namespace keel::dr {
namespace {

constexpr std::chrono::minutes kSqlTimeout{10};

std::map<std::string, std::string> pg_env(const PostgresSource& s) {
  std::map<std::string, std::string> env = {{"PGCONNECT_TIMEOUT", "10"}, {"PGAPPNAME", "keel-dr"}};
  if (!s.password.empty()) env["PGPASSWORD"] = s.password;
  return env;
}

std::vector<std::string> connection_args(const PostgresSource& s, const std::string& database) {
  std::vector<std::string> args = {"--host", s.host, "--port", std::to_string(s.port), "--no-password",
                                   "--dbname", database};
  if (!s.user.empty()) {
    args.push_back("--username");
    args.push_back(s.user);
  }
  return args;
}

// Runs SQL through psql with `name` bound as a psql variable (so database
// names are quoted by psql itself: :'name' as a literal, :"name" as an
// identifier). Returns psql's unaligned output.
Result<std::string> run_sql(const PostgresSource& s, const std::string& database, const std::string& sql,
                            const std::string& name = {}) {
  process::Options options;
  options.argv = {"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
  if (!name.empty()) {
    options.argv.push_back("-v");
    options.argv.push_back("name=" + name);
  }
  for (auto& a : connection_args(s, database)) options.argv.push_back(a);
  options.env = pg_env(s);
  options.stdin_data = sql;
  options.timeout = kSqlTimeout;
  auto outcome = process::run(options);
  if (!outcome) return fail(outcome.error().with_context("psql"));
  if (outcome->exit_code != 0) {
    std::string out = outcome->output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return fail(ErrorCode::Unavailable, fmt::format("psql on database {}: {}: {}", database, outcome->describe(), out));
  }
  return outcome->output;
}

Result<bool> database_exists(const PostgresSource& s, const std::string& name) {
  auto out = run_sql(s, "postgres", "SELECT 1 FROM pg_database WHERE datname = :'name';", name);
  if (!out) return fail(out.error());
  return out->find('1') != std::string::npos;
}

Status create_database(const PostgresSource& s, const std::string& name) {
  auto out = run_sql(s, "postgres", "CREATE DATABASE :\"name\";", name);
  if (!out) return fail(out.error().with_context("create database " + name));
  return {};
}

Status drop_database(const PostgresSource& s, const std::string& name) {
  auto out = run_sql(s, "postgres", "DROP DATABASE IF EXISTS :\"name\" WITH (FORCE);", name);
  if (!out) return fail(out.error().with_context("drop database " + name));
  return {};
}

Result<std::unique_ptr<PipedProcess>> start_pg_restore(const PostgresSource& s, const std::string& database) {
  process::Child::Spec spec;
  spec.argv = {"pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
               "--clean", "--if-exists"};
  for (auto& a : connection_args(s, database)) spec.argv.push_back(a);
  spec.env = pg_env(s);
  return PipedProcess::start("pg_restore", spec);
}

class PostgresScratch final : public ScratchTarget {
 public:
  PostgresScratch(PostgresSource source, std::string database, std::unique_ptr<RestoreSink> sink)
      : source_(std::move(source)), database_(std::move(database)), sink_(std::move(sink)) {}
  ~PostgresScratch() override {
    sink_.reset();  // pg_restore must be gone before the database can be dropped
    (void)drop_database(source_, database_);
  }
  RestoreSink& sink() override { return *sink_; }
  Result<Verdict> verify(const std::string& query) override {
    auto out = run_sql(source_, database_, query);
    if (!out) return Verdict{false, out.error().message()};
    std::string first = out->substr(0, out->find('\n'));
    return Verdict{!value_means_failure(first), *out};
  }

 private:
  PostgresSource source_;
  std::string database_;
  std::unique_ptr<RestoreSink> sink_;
};

}  // namespace

Result<std::unique_ptr<DumpStream>> start_dump_of(const PostgresSource& s) {
  process::Child::Spec spec;
  spec.argv = {"pg_dump", "--format=custom", "--compress=0"};
  for (auto& a : connection_args(s, s.database)) spec.argv.push_back(a);
  spec.env = pg_env(s);
  auto process = PipedProcess::start("pg_dump", spec);
  if (!process) return fail(process.error());
  return std::make_unique<ProcessDump>(std::move(*process));
}

Result<std::unique_ptr<RestoreSink>> start_restore_of(const PostgresSource& s, const std::string& target,
                                                      const std::string&) {
  std::string database = target.empty() ? s.database : target;
  auto exists = database_exists(s, database);
  if (!exists) return fail(exists.error());
  if (!*exists)
    if (auto made = create_database(s, database); !made) return fail(made.error());
  auto process = start_pg_restore(s, database);
  if (!process) return fail(process.error());
  return std::make_unique<ProcessRestore>(std::move(*process), "database " + database);
}

Result<std::unique_ptr<ScratchTarget>> make_scratch_of(const PostgresSource& s, const std::string& job,
                                                       const std::string&) {
  std::string database = fmt::format("keel_drill_{}_{}", identifier_part(job), crypto::hex_encode(crypto::random_bytes(4)));
  if (auto made = create_database(s, database); !made) return fail(made.error());
  auto process = start_pg_restore(s, database);
  if (!process) {
    (void)drop_database(s, database);
    return fail(process.error());
  }
  auto sink = std::make_unique<ProcessRestore>(std::move(*process), "database " + database);
  return std::make_unique<PostgresScratch>(s, database, std::move(sink));
}

}  // namespace keel::dr
