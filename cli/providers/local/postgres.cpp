#include "cli/providers/local/postgres.h"

#include <signal.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include <fmt/format.h>
#include "core/log.h"

#include "core/crypto.h"
#include "core/files.h"

namespace keel::providers::local {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Account = std::optional<process::UserIds>;

constexpr const char* kNeeds = "local databases need PostgreSQL";
constexpr const char* kInstallRoot = "/usr/lib/postgresql";
// Where clusters go when the postgres account cannot reach the project.
constexpr const char* kExternalRoot = "/var/lib/keel-local";
constexpr const char* kDefaultPackage = "postgresql-15";  // Debian 12's PostgreSQL
constexpr std::size_t kPasswordLength = 24;
constexpr std::size_t kMaxIdentifier = 63;  // PostgreSQL's NAMEDATALEN - 1
// The cluster's superuser: keel's own role, whose password only keel has
// (secrets.json). The stack's `user` is an ordinary role that owns its
// database, so that the application cannot read files or run programs as
// the server's account (/proc/<postmaster>/environ, COPY ... PROGRAM).
constexpr const char* kSuperuser = "postgres";

// A recorded string fact ("" when missing).
std::string fact(const Instance& instance, const char* key) { return instance.facts.value(key, ""); }

std::string bin_dir(const std::string& version) { return fmt::format("{}/{}/bin", kInstallRoot, version); }

// Installed majors, the Debian way (/usr/lib/postgresql/N/bin/initdb), newest first.
std::vector<int> installed_majors() {
  std::vector<int> majors;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kInstallRoot, ec)) {
    const std::string name = entry.path().filename().string();
    int major = 0;
    auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), major);
    if (error == std::errc() && end == name.data() + name.size() && files::exists(bin_dir(name) + "/initdb"))
      majors.push_back(major);
  }
  std::sort(majors.rbegin(), majors.rend());
  return majors;
}

Result<std::string> resolve_version(const std::string& requested) {
  if (requested.empty()) {
    auto majors = installed_majors();
    if (majors.empty())
      return fail(ErrorCode::Unavailable, missing_package_message(kNeeds, "initdb", kDefaultPackage));
    return std::to_string(majors.front());
  }
  if (requested.find_first_not_of("0123456789") != std::string::npos)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("version '{}' is not a PostgreSQL major version such as \"15\"", requested));
  if (!files::exists(bin_dir(requested) + "/initdb"))
    return fail(ErrorCode::Unavailable,
                missing_package_message(fmt::format("local databases need PostgreSQL {}", requested),
                                        bin_dir(requested) + "/initdb", "postgresql-" + requested));
  return requested;
}

// A program of the cluster's own version (pg_ctl, createdb, ...).
Result<std::string> pg_binary(const std::string& version, const std::string& program) {
  std::string path = bin_dir(version) + "/" + program;
  if (!files::exists(path))
    return fail(ErrorCode::Unavailable, missing_package_message(kNeeds, path, "postgresql-" + version));
  return path;
}

// PostgreSQL refuses to run as root, so root hands the cluster to the
// `postgres` account that the Debian packages create.
Result<Account> server_account() {
  if (!process::running_as_root()) return Account();
  auto user = process::lookup_user("postgres");
  if (!user)
    return fail(ErrorCode::Unavailable,
                fmt::format("local databases run PostgreSQL as the system user postgres when keel "
                            "runs as root, and that user does not exist; install the Debian package "
                            "{} (apt-get install {})",
                            kDefaultPackage, kDefaultPackage));
  return Account(*user);
}

bool valid_identifier(const std::string& name, bool allow_leading_digit) {
  if (name.empty() || name.size() > kMaxIdentifier) return false;
  if (!allow_leading_digit && std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::string external_base(const std::string& dir) {
  return fmt::format("{}/{}", kExternalRoot, crypto::sha256_hex(dir).substr(0, 16));
}
std::string log_path(const std::string& data_dir) {
  return (fs::path(data_dir).parent_path() / "postgres.log").string();
}

Status make_private_dir(const std::string& path, const Account& account) {
  if (auto st = files::make_dirs(path, 0700); !st) return st;
  return account ? chown_to(path, *account) : Status();
}

// Can the account write into `base` (and so traverse every parent)?
bool reachable(const std::string& base, const process::UserIds& account) {
  auto outcome = process::run(command({"test", "-w", base, "-a", "-x", base}, account, 10s));
  return outcome && outcome->exit_code == 0;
}

// The directory that will hold the cluster (data/) and its log: inside the
// resource directory when the account can reach it, else under kExternalRoot.
Result<std::string> prepare_base(const std::string& dir, const Account& account) {
  const std::string base = join(dir, "pg");
  if (auto st = make_private_dir(base, account); !st) return fail(st.error());
  if (!account || reachable(base, *account)) return base;
  if (auto st = files::remove_all(base); !st) return fail(st.error());
  const std::string external = external_base(dir);
  logging::debug(fmt::runtime("local: {} cannot reach {}; the cluster goes to {}"), account->name, dir,
                external);
  if (auto st = files::make_dirs(kExternalRoot, 0755); !st) return fail(st.error());
  if (auto st = files::remove_all(external); !st) return fail(st.error());
  if (auto st = make_private_dir(external, account); !st) return fail(st.error());
  return external;
}

// Writes a file the server account owns and reads.
Status write_owned(const std::string& path, const std::string& text, const Account& account) {
  if (auto st = files::write_atomic(path, text, 0600); !st) return st;
  return account ? chown_to(path, *account) : Status();
}

// The role keel administers the cluster as, and its password. Clusters made
// before keel had a superuser of its own made the stack's user the
// superuser; they carry no `superuser` fact and keep working as they are.
std::string admin_user(const Instance& instance) {
  return instance.facts.value("superuser", fact(instance, "user"));
}
std::string admin_password(const Instance& instance) {
  return instance.facts.contains("superuser") ? instance.secrets.value("superuser_password", "")
                                              : instance.secrets.value("password", "");
}

Status run_initdb(const Instance& instance, const std::string& base, const Account& account) {
  auto initdb = pg_binary(fact(instance, "version"), "initdb");
  if (!initdb) return fail(initdb.error());
  // initdb reads the superuser's password from this file; it must not outlive
  // initdb, whatever happens.
  const std::string pwfile = join(base, ".pwfile");
  struct RemoveOnExit {
    std::string path;
    ~RemoveOnExit() { (void)files::remove_all(path); }
  } remove_pwfile{pwfile};
  if (auto st = write_owned(pwfile, admin_password(instance) + "\n", account); !st) return st;
  auto outcome = process::run_checked(
      command({*initdb, "-D", join(base, "data"), "-U", admin_user(instance), "--auth=scram-sha-256",
               "--pwfile=" + pwfile, "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"},
              account, 180s));
  if (!outcome) return fail(outcome.error().with_context("initdb"));
  return {};
}

// Runs SQL as the superuser over TCP. The SQL goes to psql's stdin, never
// argv, since it may hold a password; `vars` become psql variables (names
// only: :"name" quotes them as identifiers).
Status run_admin_sql(const Instance& instance, const std::string& sql,
                     const std::vector<std::pair<std::string, std::string>>& vars) {
  auto account = server_account();
  if (!account) return fail(account.error());
  auto psql = pg_binary(fact(instance, "version"), "psql");
  if (!psql) return fail(psql.error());
  std::vector<std::string> argv = {*psql, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                                   "-p", std::to_string(instance.port()), "-U", admin_user(instance), "-d",
                                   "postgres"};
  for (const auto& [name, value] : vars) {
    argv.push_back("-v");
    argv.push_back(name + "=" + value);
  }
  auto options = command(std::move(argv), *account, 60s);
  options.env["PGPASSWORD"] = admin_password(instance);
  options.env["PGCONNECT_TIMEOUT"] = "10";
  options.stdin_data = sql;
  auto outcome = process::run_checked(options);
  if (!outcome) return fail(outcome.error().with_context("psql"));
  return {};
}

// The stack's user: an ordinary role (LOGIN, and CREATEDB so that restores
// into a new database and restore drills work) owning its database.
Status create_user_and_database(const Instance& instance) {
  const std::string password = instance.secrets.value("password", "");
  // Generated by keel, so plain letters and digits; checked all the same,
  // because it is written into SQL.
  if (password.empty() || !std::all_of(password.begin(), password.end(),
                                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
    return fail(ErrorCode::Internal, "the generated database password is not alphanumeric");
  const bool maintenance_db = fact(instance, "database") == "postgres";
  std::string sql =
      // A failed statement must not reach the server log: this one holds a password.
      "SET log_min_error_statement = panic;\n"
      "SET log_statement = 'none';\n"
      "CREATE ROLE :\"user\" LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION PASSWORD '" +
      password + "';\n";
  sql += maintenance_db ? "ALTER DATABASE postgres OWNER TO :\"user\";\n"
                        : "CREATE DATABASE :\"database\" OWNER :\"user\";\n";
  auto st = run_admin_sql(instance, sql, {{"user", fact(instance, "user")}, {"database", fact(instance, "database")}});
  if (!st) return fail(st.error().with_context("create role " + fact(instance, "user") + " and its database"));
  return {};
}

// The listen address and port live in keel.conf, included from
// postgresql.conf, so that a port change rewrites one small file.
Status include_keel_conf(const std::string& data_dir, const Account& account) {
  const std::string conf = join(data_dir, "postgresql.conf");
  // The data directory is the server account's: never follow a link there.
  auto text = files::read_regular_file(conf, 1 << 20);
  if (!text) return fail(text.error());
  return write_owned(conf,
                     *text +
                         "\n# Added by keel: address and port, rewritten when the port changes.\n"
                         "include 'keel.conf'\n",
                     account);
}

Status write_keel_conf(const std::string& data_dir, int port, const Account& account) {
  return write_owned(join(data_dir, "keel.conf"),
                     fmt::format("# Written by keel's local provider.\n"
                                 "listen_addresses = '127.0.0.1'\n"
                                 "port = {}\n"
                                 "unix_socket_directories = ''\n",
                                 port),
                     account);
}

// The postmaster's pid, when it is alive.
std::optional<long> postmaster_pid(const std::string& data_dir) {
  auto pid = read_pid_file(join(data_dir, "postmaster.pid"));
  if (pid && process::process_alive(*pid, "postgres")) return pid;
  return std::nullopt;
}

// The major version a cluster was made with (its PG_VERSION file).
std::string cluster_version(const std::string& data_dir) {
  auto text = files::read_regular_file(join(data_dir, "PG_VERSION"), 64);
  if (!text) return "";
  std::string version = text->substr(0, text->find_first_of("\r\n"));
  // It becomes part of a path to a program: digits only.
  if (version.empty() || version.find_first_not_of("0123456789") != std::string::npos) return "";
  return version;
}

Status stop_cluster(const std::string& data_dir, long pid) {
  auto account = server_account();
  if (!account) return fail(account.error());
  auto pg_ctl = pg_binary(cluster_version(data_dir), "pg_ctl");
  if (!pg_ctl) {
    // The binaries are gone (package removed): SIGINT is what "-m fast" sends.
    return stop_process(pid, "postgres", SIGINT, 60s);
  }
  auto outcome =
      process::run(command({*pg_ctl, "-D", data_dir, "-m", "fast", "-w", "-t", "60", "stop"}, *account, 90s));
  if (!outcome) return fail(outcome.error());
  // pg_ctl fails when the server stopped on its own meanwhile: that is fine.
  if (outcome->exit_code != 0 && postmaster_pid(data_dir))
    return fail(ErrorCode::Unavailable,
                fmt::format("pg_ctl stop: {}: {}", outcome->describe(), last_lines(outcome->output, 5)));
  return {};
}

class PostgresServer final : public Server {
 public:
  Status plan(const provider::CreateRequest& request, Instance& instance) const override {
    auto engine = string_setting(request.config, "engine", "postgres");
    if (!engine) return fail(engine.error());
    if (*engine != "postgres")
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("engine '{}' is not offered by local databases (only postgres)", *engine));
    auto version = string_setting(request.config, "version", "");
    if (!version) return fail(version.error());
    auto resolved = resolve_version(*version);
    if (!resolved) return fail(resolved.error());
    auto user = string_setting(request.config, "user", "keel");
    if (!user) return fail(user.error());
    if (!valid_identifier(*user, false))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("user '{}': use up to 63 letters, digits, '_' or '-', not starting "
                              "with a digit",
                              *user));
    if (*user == kSuperuser || user->rfind("pg_", 0) == 0)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("user '{}': {} is the cluster's superuser, which keel keeps for itself, and "
                              "names starting with pg_ are PostgreSQL's; choose another name",
                              *user, kSuperuser));
    auto database = database_name(request);
    if (!database) return fail(database.error());
    if (auto account = server_account(); !account) return fail(account.error());
    instance.facts["engine"] = "postgres";
    instance.facts["version"] = *resolved;
    instance.facts["user"] = *user;
    instance.facts["database"] = *database;
    instance.facts["host"] = "127.0.0.1";
    instance.facts["superuser"] = kSuperuser;
    return {};
  }

  Status init(Instance& instance) const override {
    auto account = server_account();
    if (!account) return fail(account.error());
    auto base = prepare_base(instance.dir, *account);
    if (!base) return fail(base.error());
    instance.secrets["password"] = crypto::random_alnum(kPasswordLength);
    instance.secrets["superuser_password"] = crypto::random_alnum(kPasswordLength);
    if (auto st = run_initdb(instance, *base, *account); !st) return st;
    const std::string data_dir = join(*base, "data");
    instance.facts["data_dir"] = data_dir;
    return include_keel_conf(data_dir, *account);
  }

  Status start(const Instance& instance) const override {
    auto account = server_account();
    if (!account) return fail(account.error());
    auto pg_ctl = pg_binary(fact(instance, "version"), "pg_ctl");
    if (!pg_ctl) return fail(pg_ctl.error());
    const std::string data_dir = fact(instance, "data_dir");
    const int port = instance.port();
    if (auto st = write_keel_conf(data_dir, port, *account); !st) return st;
    const std::string log = log_path(data_dir);
    const std::size_t log_start = file_size(log);
    auto outcome =
        process::run(command({*pg_ctl, "-D", data_dir, "-l", log, "-w", "-t", "60", "start"}, *account, 90s));
    if (!outcome) return fail(outcome.error());
    if (outcome->exit_code != 0) return start_failure(*outcome, read_from(log, log_start), port);
    // pg_ctl -w returns once postmaster.pid says "ready"; the socket is open by then.
    return wait_for(
        10s, [port]() -> Result<bool> { return process::port_open(port); },
        fmt::format("postgres on 127.0.0.1:{}", port));
  }

  Status after_first_start(const Instance& instance) const override { return create_user_and_database(instance); }

  Status stop(const std::string& dir) const override {
    for (const auto& base : {join(dir, "pg"), external_base(dir)}) {
      const std::string data_dir = join(base, "data");
      if (auto pid = postmaster_pid(data_dir)) {
        if (auto st = stop_cluster(data_dir, *pid); !st) return st;
      }
    }
    return {};
  }

  bool running(const Instance& instance) const override {
    const std::string data_dir = fact(instance, "data_dir");
    return !data_dir.empty() && postmaster_pid(data_dir).has_value() && process::port_open(instance.port());
  }

  std::vector<std::string> external_dirs(const std::string& dir) const override {
    return {external_base(dir)};
  }

  provider::Attributes attributes(const Instance& instance) const override {
    const auto& f = instance.facts;
    const std::string password = instance.secrets.value("password", "");
    provider::Attributes a = Json::object();
    for (const char* key : {"engine", "version", "port", "user", "database", "host", "data_dir"})
      a[key] = f.value(key, Json());
    a["password"] = password;
    a["uri"] = fmt::format("postgresql://{}:{}@127.0.0.1:{}/{}", f.value("user", ""), password,
                           instance.port(), f.value("database", ""));
    return a;
  }

 private:
  // `database`, or the resource's name: "databases.db[2]" -> "db_2".
  static Result<std::string> database_name(const provider::CreateRequest& request) {
    auto fallback = resource_name(request.tags.address, '_');
    if (!fallback) return fallback;
    auto database = string_setting(request.config, "database", *fallback);
    if (!database) return database;
    if (!valid_identifier(*database, true))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("database '{}': use up to 63 letters, digits, '_' or '-'", *database));
    if (*database == "template0" || *database == "template1")
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("database '{}' is one of the cluster's templates; choose another name", *database));
    return database;
  }

  static Status start_failure(const process::Outcome& outcome, const std::string& log, int port) {
    if (log.find("Address already in use") != std::string::npos)
      return fail(ErrorCode::Conflict, fmt::format("port {} on 127.0.0.1 is in use", port));
    return fail(ErrorCode::Unavailable, fmt::format("pg_ctl start: {}: {}", outcome.describe(),
                                                    last_lines(log.empty() ? outcome.output : log, 10)));
  }
};

}  // namespace

std::unique_ptr<Server> make_postgres_server() { return std::make_unique<PostgresServer>(); }

}  // namespace keel::providers::local
