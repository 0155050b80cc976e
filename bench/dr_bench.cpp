// keel-dr's PostgreSQL backup and restore, side by side with the floor and
// the usual tools, in one run (the backup issue's benchmark):
//
//   backup of a database loaded with `pgbench -i -s SCALE` (30: ~450 MB):
//     floor       pg_dump -Fc -Z0 | zstd -3 -q -o FILE
//     keel        keel-dr op "backup" into file://DIR/keel-store
//     pgBackRest  backup --type=full, compress-type=zst (Debian's 2.45)
//     restic      pg_dump -Fc -Z0 | restic backup --stdin (Debian's 0.14)
//   restore into a new, empty database:
//     pg_restore --no-owner -d NEWDB FILE   (FILE: a pg_dump -Fc -Z0 dump)
//     keel-dr op "restore" with `target`
//   keel-dr's peak resident memory (its own ru_maxrss, reported on its
//   result line) for the database and for ones loaded with a tenth and a
//   third of the scale (`-s 3`, `-s 10`).
//
// Targets: keel's backup wall time at most 1.10 x the floor and below
// pgBackRest and restic; keel-dr's peak RSS under 64 MB and independent of
// the database's size; keel's restore at most 1.10 x pg_restore.
//
//   dr_bench [--scale 30] [--runs 3] [--keel-dr PATH] [--dir DIR] [--keep]
//
// Wall times are medians over --runs runs (the order of the tools turns
// from one run to the next).
//
// keel-dr is --keel-dr, else $KEEL_DR_BIN, else the keel-dr beside this
// program's directory (build/keel-dr for build/bench/dr_bench). The cluster
// (PostgreSQL 15 if installed, else the newest) runs in a temporary
// directory as the `postgres` account when this runs as root, and listens
// on 127.0.0.1 only (and on a Unix socket in that directory, for
// pgBackRest). Everything is removed at the end, also on failure or Ctrl-C.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>
#include <fmt/format.h>

#include "core/crypto.h"
#include "core/files.h"
#include "core/process.h"

using namespace keel;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kInstallHint = "not installed (scripts/install-deps.sh --bench)";
constexpr double kMB = 1024.0 * 1024.0;
constexpr const char* kUser = "bench";  // the cluster's superuser
constexpr const char* kStanza = "bench";

struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void die(const std::string& message) { throw BenchError(message); }

template <class T>
T must(Result<T> result, const std::string& what) {
  if (!result) die(fmt::format("{}: {}", what, result.error().message()));
  return std::move(*result);
}
void must(Status status, const std::string& what) {
  if (!status) die(fmt::format("{}: {}", what, status.error().message()));
}

void say(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

std::string last_lines(const std::string& text, int n) {
  std::size_t at = text.size();
  while (at > 0 && (text[at - 1] == '\n' || text[at - 1] == ' ')) --at;
  std::size_t end = at;
  for (int i = 0; i < n && at > 0; ++i) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) {
      at = 0;
      break;
    }
  }
  return text.substr(at, end - at);
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

// User + system CPU of every child reaped so far (and of the children they
// reaped): the delta around one run is the CPU of that run's processes on
// this side of the connection; the PostgreSQL server's is not counted.
double children_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::uint64_t tree_bytes(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return fs::file_size(path, ec);
  std::uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) total += it->file_size(size_ec);
  }
  return total;
}

double median(std::vector<double> values) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// One timed run: wall time from fork to reap, and the CPU of the processes.
struct Timed {
  double wall = 0, cpu = 0;
  process::Outcome outcome;
};

Timed timed_run(const process::Options& options, const std::string& what) {
  const double cpu_before = children_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  auto outcome = process::run(options);
  const auto end = std::chrono::steady_clock::now();
  if (!outcome) die(fmt::format("{}: {}", what, outcome.error().message()));
  if (outcome->exit_code != 0)
    die(fmt::format("{}: {}:\n{}", what, outcome->describe(), last_lines(outcome->output, 15)));
  Timed t;
  t.wall = std::chrono::duration<double>(end - start).count();
  t.cpu = children_cpu_seconds() - cpu_before;
  t.outcome = std::move(*outcome);
  return t;
}

void run_untimed(const process::Options& options, const std::string& what) { (void)timed_run(options, what); }

std::string pg_bin_dir() {
  const std::string root = "/usr/lib/postgresql";
  if (files::exists(root + "/15/bin/initdb")) return root + "/15/bin";
  int best = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    int major = 0;
    auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), major);
    if (error == std::errc() && end == name.data() + name.size() && files::exists(fmt::format("{}/{}/bin/initdb", root, name)))
      best = std::max(best, major);
  }
  if (best < 0) die("PostgreSQL is not installed (apt-get install postgresql-15)");
  return fmt::format("{}/{}/bin", root, best);
}

// A PostgreSQL cluster in DIR/pg, run by the `postgres` account when this
// runs as root. TCP on 127.0.0.1 (scram-sha-256), and a Unix socket in
// DIR/sock (trust; the directory is the account's alone) for pgBackRest,
// which connects to a local cluster only through a socket.
class Cluster {
 public:
  Cluster(std::string dir, std::optional<process::UserIds> account)
      : dir_(std::move(dir)), account_(std::move(account)), bin_(pg_bin_dir()) {
    data = dir_ + "/pg/data";
    socket_dir = dir_ + "/sock";
    password = crypto::random_alnum(24);
    port = must(process::free_local_port(), "free port");
  }
  ~Cluster() { stop(false); }

  std::string version() const { return fs::path(bin_).parent_path().filename().string(); }
  std::string bin(const std::string& program) const { return bin_ + "/" + program; }

  // Options that run `argv` as the cluster's account (when root).
  process::Options as_owner(std::vector<std::string> argv) const {
    process::Options o;
    o.argv = std::move(argv);
    o.run_as = account_;
    o.cwd = dir_;
    return o;
  }
  // Options for a client over TCP with the password in the environment.
  process::Options client(std::vector<std::string> argv) const {
    process::Options o;
    o.argv = std::move(argv);
    o.env = {{"PGPASSWORD", password}, {"PGCONNECT_TIMEOUT", "10"}};
    return o;
  }
  std::string connection(const std::string& database) const {
    return fmt::format("--host 127.0.0.1 --port {} --username {} --no-password --dbname {}", port, kUser, database);
  }
  std::vector<std::string> connection_args(const std::string& database) const {
    return {"--host", "127.0.0.1", "--port", std::to_string(port), "--username", kUser, "--no-password",
            "--dbname", database};
  }

  void init() {
    for (const auto& d : {dir_ + "/pg", socket_dir}) {
      must(files::make_dirs(d, 0700), "mkdir " + d);
      own(d);
    }
    const std::string pwfile = dir_ + "/pg/.pwfile";
    must(files::write_atomic(pwfile, password + "\n", 0600), "write " + pwfile);
    own(pwfile);
    auto initdb = as_owner({bin("initdb"), "-D", data, "-U", kUser, "--auth-host=scram-sha-256",
                            "--auth-local=trust", "--pwfile=" + pwfile, "-E", "UTF8", "--locale=C.UTF-8",
                            "--no-instructions"});
    run_untimed(initdb, "initdb");
    (void)files::remove_all(pwfile);
    auto conf = must(files::read_file(data + "/postgresql.conf"), "read postgresql.conf");
    conf += fmt::format(
        "\n# dr_bench\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n"
        "include_if_exists 'bench.conf'\n",
        port, socket_dir);
    must(files::write_atomic(data + "/postgresql.conf", conf, 0600), "write postgresql.conf");
    own(data + "/postgresql.conf");
    write_bench_conf("");
  }

  // Settings that change between phases (WAL archiving for pgBackRest).
  void write_bench_conf(const std::string& text) {
    must(files::write_atomic(data + "/bench.conf", text, 0600), "write bench.conf");
    own(data + "/bench.conf");
  }

  void start() {
    running_ = true;  // also when pg_ctl fails half-way: stop() is harmless then
    run_untimed(as_owner({bin("pg_ctl"), "-D", data, "-l", dir_ + "/pg/postgres.log", "-w", "-t", "120", "start"}),
                fmt::format("pg_ctl start (log: {}/pg/postgres.log)", dir_));
    for (int i = 0; i < 200 && !process::port_open(port); ++i) std::this_thread::sleep_for(50ms);
  }

  void restart() {
    stop(false);
    start();
  }

  // Safe to call from the signal thread: no exceptions, no shared state
  // besides running_.
  void stop(bool immediate) noexcept {
    if (!running_) return;
    running_ = false;
    auto o = as_owner({bin("pg_ctl"), "-D", data, "-m", immediate ? "immediate" : "fast", "-w", "-t", "60", "stop"});
    o.timeout = 90s;
    (void)process::run(o);
  }

  // Runs SQL through psql; returns its unaligned, tuples-only output.
  std::string sql(const std::string& database, const std::string& query) const {
    auto o = client({bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"});
    for (auto& a : connection_args(database)) o.argv.push_back(a);
    o.stdin_data = query;
    auto out = timed_run(o, fmt::format("psql {}: {}", database, query)).outcome.output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  void createdb(const std::string& database) const { sql("postgres", fmt::format("CREATE DATABASE {};", database)); }
  void dropdb(const std::string& database) const {
    sql("postgres", fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE);", database));
  }
  double database_mb(const std::string& database) const {
    return std::stod(sql("postgres", fmt::format("SELECT pg_database_size('{}');", database))) / kMB;
  }
  // Before every timed step, so that no step pays for the previous one's
  // dirty buffers.
  void checkpoint() const { sql("postgres", "CHECKPOINT;"); }

  void own(const std::string& path) const {
    if (account_ && ::chown(path.c_str(), account_->uid, account_->gid) != 0)
      die(fmt::format("chown {} to {}: {}", path, account_->name, std::strerror(errno)));
  }

  std::string data, socket_dir, password;
  int port = 0;

 private:
  std::string dir_;
  std::optional<process::UserIds> account_;
  std::string bin_;
  bool running_ = false;
};

// Stops the cluster and removes the directory on Ctrl-C / SIGTERM: the
// signals are blocked in every thread and taken by this one (children get
// an empty mask back from process::run).
struct Cleanup {
  std::mutex mutex;
  Cluster* cluster = nullptr;
  std::string dir;
  bool keep = false;
};
Cleanup g_cleanup;

void start_signal_thread() {
  sigset_t set;
  ::sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaddset(&set, s);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    if (::sigwait(&set, &sig) != 0) return;
    std::fprintf(stderr, "\ndr_bench: interrupted; stopping the cluster and cleaning up\n");
    std::lock_guard lock(g_cleanup.mutex);
    if (g_cleanup.cluster) g_cleanup.cluster->stop(true);
    if (!g_cleanup.dir.empty() && !g_cleanup.keep) (void)files::remove_all(g_cleanup.dir);
    ::_exit(128 + sig);
  }).detach();
}

std::string default_keel_dr(const char* argv0) {
  if (const char* env = std::getenv("KEEL_DR_BIN"); env && *env) return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) self = fs::absolute(argv0, ec);
  for (fs::path candidate : {self.parent_path().parent_path() / "keel-dr", self.parent_path() / "keel-dr"})
    if (fs::exists(candidate, ec)) return candidate.string();
  return (self.parent_path().parent_path() / "keel-dr").string();
}

// A figure of one tool: medians over the runs.
struct Row {
  explicit Row(std::string row_name) : name(std::move(row_name)) {}
  std::string name;
  bool ran = false;
  std::string note;  // why it did not run
  std::vector<double> walls, cpus;
  std::uint64_t stored = 0;  // bytes, of the last run
  long peak_rss = -1;        // keel-dr only: the largest over the runs
  double wall() const { return median(walls); }
  double cpu() const { return median(cpus); }
  void add(const Timed& t) {
    ran = true;
    walls.push_back(t.wall);
    cpus.push_back(t.cpu);
  }
};

struct Options {
  int scale = 30, small_scale = 3, mid_scale = 10, runs = 3;
  std::string keel_dr, parent;
  bool keep = false;
};

class Bench {
 public:
  Bench(const Options& options, std::string dir, Cluster& cluster)
      : opt_(options), dir_(std::move(dir)), cluster_(cluster), key_(crypto::key_to_text(crypto::random_key())) {}

  void run() {
    have_pgbackrest_ = !process::which("pgbackrest").empty();
    have_restic_ = !process::which("restic").empty();
    if (process::which("zstd").empty()) die("zstd is not installed (apt-get install zstd)");
    if (!files::exists(opt_.keel_dr))
      die(fmt::format("no keel-dr at {} (build it: cmake --build build --target keel-dr, or pass --keel-dr PATH)",
                      opt_.keel_dr));

    say(fmt::format("PostgreSQL {} cluster on 127.0.0.1:{} in {}\n", cluster_.version(), cluster_.port, dir_));
    cluster_.init();
    if (have_pgbackrest_) write_pgbackrest_conf();
    cluster_.start();
    // Before any WAL segment fills up, so that archive-push never fails.
    if (have_pgbackrest_)
      run_untimed(cluster_.as_owner(pgbackrest({"stanza-create"})), "pgbackrest stanza-create");

    load("bench", opt_.scale);
    db_mb_ = cluster_.database_mb("bench");
    say(fmt::format("database bench: {:.1f} MB (pgbench -i -s {}); the whole cluster: {:.1f} MB\n", db_mb_,
                    opt_.scale,
                    std::stod(cluster_.sql("postgres", "SELECT sum(pg_database_size(oid)) FROM pg_database;")) / kMB));

    // pgBackRest first, while WAL is archived; then without archiving. It
    // copies the whole cluster, so the small database is loaded after it.
    Row pgbackrest_row{fmt::format("pgBackRest {} (full, zst)", have_pgbackrest_ ? tool_version("pgbackrest") : "")};
    if (have_pgbackrest_) {
      // Untimed: waits until the WAL of the load is archived, so that the
      // timed backup does not share the CPU with that backlog.
      auto check = cluster_.as_owner(pgbackrest({"check"}));
      run_untimed(check, "pgbackrest check");
      for (int i = 0; i < opt_.runs; ++i) time_pgbackrest(pgbackrest_row);
      cluster_.write_bench_conf("");  // archive_mode off again
      cluster_.restart();
    } else {
      pgbackrest_row.note = kInstallHint;
    }
    load("bench_small", opt_.small_scale);
    load("bench_mid", opt_.mid_scale);
    small_mb_ = cluster_.database_mb("bench_small");
    mid_mb_ = cluster_.database_mb("bench_mid");
    say(fmt::format("databases bench_small: {:.1f} MB (-s {}), bench_mid: {:.1f} MB (-s {})\n", small_mb_,
                    opt_.small_scale, mid_mb_, opt_.mid_scale));

    // Untimed: the dump pg_restore restores, and a warm page cache for all.
    say("pg_dump -Fc -Z0 for pg_restore (untimed) ...");
    auto dump = cluster_.client({"pg_dump", "--format=custom", "--compress=0", "--file", dir_ + "/plain.dump"});
    for (auto& a : cluster_.connection_args("bench")) dump.argv.push_back(a);
    auto dumped = timed_run(dump, "pg_dump");
    say(fmt::format(" {:.1f} s, {:.1f} MB\n", dumped.wall, static_cast<double>(tree_bytes(dir_ + "/plain.dump")) / kMB));

    Row floor{"floor: pg_dump -Fc -Z0 | zstd -3"}, keel{"keel-dr backup"}, restic{fmt::format("restic {} (--stdin)", have_restic_ ? tool_version("restic") : "")};
    if (!have_restic_) restic.note = kInstallHint;
    // The order turns every run, so that none is always first after the
    // checkpoint or always last in the page cache.
    for (int i = 0; i < opt_.runs; ++i) {
      std::vector<std::function<void()>> steps = {[&] { time_floor(floor); },
                                                  [&] { time_keel_backup(keel, "bench", "bench"); }};
      if (have_restic_) steps.push_back([&] { time_restic(restic); });
      std::rotate(steps.begin(), steps.begin() + static_cast<long>(i % steps.size()), steps.end());
      for (auto& run_step : steps) run_step();
    }
    Row keel_small{fmt::format("keel-dr backup of bench_small (-s {})", opt_.small_scale)};
    Row keel_mid{fmt::format("keel-dr backup of bench_mid (-s {})", opt_.mid_scale)};
    for (int i = 0; i < opt_.runs; ++i) {
      time_keel_backup(keel_small, "bench_small", "bench_small");
      time_keel_backup(keel_mid, "bench_mid", "bench_mid");
    }

    Row pg_restore{"pg_restore --no-owner"}, keel_restore{"keel-dr restore"};
    for (int i = 0; i < opt_.runs; ++i) {
      if (i % 2 == 0) {
        time_pg_restore(pg_restore);
        time_keel_restore(keel_restore);
      } else {
        time_keel_restore(keel_restore);
        time_pg_restore(pg_restore);
      }
    }

    report(floor, keel, pgbackrest_row, restic, keel_small, keel_mid, pg_restore, keel_restore);
  }

  int missed = 0;

 private:
  // "pgBackRest 2.45" -> "2.45"; "restic 0.14.0 compiled with ..." -> "0.14.0".
  static std::string tool_version(const std::string& tool) {
    process::Options o;
    o.argv = {tool, "version"};
    auto out = process::run(o);
    if (!out || out->exit_code != 0) return "";
    std::istringstream words(out->output);
    std::string name, version;
    words >> name >> version;
    return version;
  }

  std::string pgbackrest_conf() const { return dir_ + "/pgbackrest.conf"; }

  std::vector<std::string> pgbackrest(std::vector<std::string> command) const {
    std::vector<std::string> argv = {"pgbackrest", "--config=" + pgbackrest_conf(), fmt::format("--stanza={}", kStanza)};
    for (auto& c : command) argv.push_back(std::move(c));
    return argv;
  }

  void write_pgbackrest_conf() {
    for (const char* sub : {"pgbackrest-repo", "pgbackrest-log", "pgbackrest-lock", "pgbackrest-spool"}) {
      std::string d = fmt::format("{}/{}", dir_, sub);
      must(files::make_dirs(d, 0700), "mkdir " + d);
      cluster_.own(d);
    }
    // Defaults otherwise: process-max=1, compress-level 3 for zst, no
    // bundling. start-fast: the backup starts with an immediate checkpoint
    // instead of waiting for a spread one.
    std::string conf = fmt::format(
        "[global]\nrepo1-path={0}/pgbackrest-repo\nlog-path={0}/pgbackrest-log\nlock-path={0}/pgbackrest-lock\n"
        "spool-path={0}/pgbackrest-spool\nlog-level-console=warn\nlog-level-file=info\n"
        "compress-type=zst\nstart-fast=y\narchive-timeout=300\nrepo1-retention-full=99\n\n"
        "[{1}]\npg1-path={2}\npg1-port={3}\npg1-socket-path={4}\npg1-user={5}\n",
        dir_, kStanza, cluster_.data, cluster_.port, cluster_.socket_dir, kUser);
    must(files::write_atomic(pgbackrest_conf(), conf, 0600), "write pgbackrest.conf");
    cluster_.own(pgbackrest_conf());
    cluster_.write_bench_conf(fmt::format(
        "archive_mode = on\narchive_command = 'pgbackrest --config={} --stanza={} archive-push %p'\n",
        pgbackrest_conf(), kStanza));
  }

  void load(const std::string& database, int scale) {
    say(fmt::format("loading {} (pgbench -i -s {}) ...", database, scale));
    cluster_.createdb(database);
    // pgbench has neither --no-password nor --dbname (-d is --debug).
    auto o = cluster_.client({cluster_.bin("pgbench"), "-i", "-q", "-s", std::to_string(scale), "-h", "127.0.0.1",
                              "-p", std::to_string(cluster_.port), "-U", kUser, database});
    auto t = timed_run(o, "pgbench -i");
    say(fmt::format(" {:.1f} s\n", t.wall));
  }

  void step(const Row& row, const Timed& t, const std::string& extra = "") {
    say(fmt::format("  {:<36} {:8.2f} s wall {:8.2f} s CPU{}\n", row.name, t.wall, t.cpu, extra));
  }

  void time_pgbackrest(Row& row) {
    const std::string repo = dir_ + "/pgbackrest-repo/backup";
    const std::uint64_t before = tree_bytes(repo);
    cluster_.checkpoint();
    auto t = timed_run(cluster_.as_owner(pgbackrest({"--type=full", "backup"})), "pgbackrest backup");
    row.add(t);
    row.stored = tree_bytes(repo) - before;
    step(row, t);
  }

  void time_floor(Row& row) {
    const std::string file = dir_ + "/floor.dump.zst";
    cluster_.checkpoint();
    auto o = cluster_.client({"bash", "-c",
                              fmt::format("set -o pipefail; pg_dump --format=custom --compress=0 {} | zstd -3 -q -f -o {}",
                                          cluster_.connection("bench"), file)});
    auto t = timed_run(o, "pg_dump | zstd");
    row.add(t);
    row.stored = tree_bytes(file);
    step(row, t);
  }

  void time_restic(Row& row) {
    const std::string repo = dir_ + "/restic-repo", cache = dir_ + "/restic-cache";
    (void)files::remove_all(repo);
    (void)files::remove_all(cache);
    auto env = [&](process::Options o) {
      o.env["RESTIC_PASSWORD"] = "dr-bench-" + password_suffix_;
      o.env["RESTIC_REPOSITORY"] = repo;
      o.env["RESTIC_CACHE_DIR"] = cache;
      return o;
    };
    process::Options init;
    init.argv = {"restic", "init", "--quiet"};
    run_untimed(env(init), "restic init");
    const std::uint64_t before = tree_bytes(repo);
    cluster_.checkpoint();
    auto o = env(cluster_.client(
        {"bash", "-c",
         fmt::format("set -o pipefail; pg_dump --format=custom --compress=0 {} | restic backup --quiet --stdin "
                     "--stdin-filename db.dump",
                     cluster_.connection("bench"))}));
    auto t = timed_run(o, "pg_dump | restic backup --stdin");
    row.add(t);
    row.stored = tree_bytes(repo) - before;
    step(row, t);
  }

  json job(const std::string& name, const std::string& database) const {
    return {{"name", name},
            {"source",
             {{"postgres",
               {{"host", "127.0.0.1"},
                {"port", cluster_.port},
                {"user", kUser},
                {"password", cluster_.password},
                {"database", database}}}}},
            {"to", fmt::format("file://{}/keel-store", dir_)}};
  }

  // Runs keel-dr with `request` on stdin; returns its result line.
  json keel_dr(const json& request, Row& row, const std::string& what) {
    process::Options o;
    o.argv = {opt_.keel_dr};
    o.stdin_data = request.dump();
    cluster_.checkpoint();
    auto t = timed_run(o, what);
    json result;
    std::istringstream lines(t.outcome.output);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line.front() != '{') continue;
      json parsed = json::parse(line, nullptr, false);
      if (!parsed.is_discarded() && parsed.value("event", "") == "result") result = std::move(parsed);
    }
    if (result.is_null()) die(fmt::format("{}: no result line:\n{}", what, last_lines(t.outcome.output, 15)));
    row.add(t);
    row.peak_rss = std::max(row.peak_rss, result.value("peak_rss_bytes", -1L));
    step(row, t, fmt::format(" {:8.1f} MB peak RSS", static_cast<double>(row.peak_rss) / kMB));
    return result;
  }

  void time_keel_backup(Row& row, const std::string& job_name, const std::string& database) {
    json request = {{"op", "backup"}, {"job", job(job_name, database)}, {"key", key_}, {"spool_dir", spool()}};
    json result = keel_dr(request, row, "keel-dr backup of " + database);
    row.stored = result["result"]["manifest"].value("stored_bytes", std::uint64_t{0});
  }

  void time_keel_restore(Row& row) {
    const std::string target = "keel_restored";
    cluster_.dropdb(target);
    cluster_.createdb(target);  // untimed, as for pg_restore
    json request = {{"op", "restore"}, {"job", job("bench", "bench")}, {"key", key_}, {"spool_dir", spool()},
                    {"target", target}};
    keel_dr(request, row, "keel-dr restore");
    check_restored(target);
  }

  void time_pg_restore(Row& row) {
    const std::string target = "pg_restored";
    cluster_.dropdb(target);
    cluster_.createdb(target);  // untimed
    cluster_.checkpoint();
    auto o = cluster_.client({"pg_restore", "--no-owner"});
    for (auto& a : cluster_.connection_args(target)) o.argv.push_back(a);
    o.argv.push_back(dir_ + "/plain.dump");
    auto t = timed_run(o, "pg_restore");
    row.add(t);
    step(row, t);
    check_restored(target);
  }

  void check_restored(const std::string& database) {
    const std::string want = std::to_string(100000L * opt_.scale);
    const std::string got = cluster_.sql(database, "SELECT count(*) FROM pgbench_accounts;");
    if (got != want) die(fmt::format("{}: pgbench_accounts has {} rows, expected {}", database, got, want));
  }

  std::string spool() {
    std::string d = dir_ + "/spool";
    must(files::make_dirs(d, 0700), "mkdir " + d);
    return d;
  }

  void target(const std::string& name, const std::string& value, bool met) {
    say(fmt::format("  {:<50} {:<46} {}\n", name, value, met ? "PASS" : "MISS"));
    missed += !met;
  }

  void report(const Row& floor, const Row& keel, const Row& pgbackrest, const Row& restic, const Row& keel_small,
              const Row& keel_mid, const Row& pg_restore, const Row& keel_restore) {
    const double floor_wall = floor.wall();
    auto ratio = [](double a, double b) { return b > 0 ? a / b : -1.0; };
    say(fmt::format("\nbackup of bench, {:.1f} MB (pgbench -i -s {}), median of {} run{}; load {}\n", db_mb_,
                    opt_.scale, opt_.runs, opt_.runs > 1 ? "s" : "", load_average()));
    say(fmt::format("  {:<36} {:>8} {:>8} {:>10} {:>16}\n", "tool", "wall s", "CPU s", "stored MB", "ratio to floor"));
    for (const Row* row : {&floor, &keel, &pgbackrest, &restic}) {
      if (!row->ran) {
        say(fmt::format("  {:<36} {}\n", row->name, row->note));
        continue;
      }
      say(fmt::format("  {:<36} {:8.2f} {:8.2f} {:10.1f} {:16.2f}\n", row->name, row->wall(), row->cpu(),
                      static_cast<double>(row->stored) / kMB, ratio(row->wall(), floor_wall)));
    }
    say(fmt::format("\nrestore of that backup into a new, empty database (created untimed for both)\n"));
    say(fmt::format("  {:<36} {:>8} {:>8} {:>10} {:>16}\n", "tool", "wall s", "CPU s", "", "ratio"));
    say(fmt::format("  {:<36} {:8.2f} {:8.2f} {:>10} {:>16}\n", pg_restore.name + " (file)", pg_restore.wall(),
                    pg_restore.cpu(), "", "1.00"));
    say(fmt::format("  {:<36} {:8.2f} {:8.2f} {:>10} {:16.2f}\n", keel_restore.name, keel_restore.wall(),
                    keel_restore.cpu(), "", ratio(keel_restore.wall(), pg_restore.wall())));

    auto mb = [](const Row& row) { return static_cast<double>(row.peak_rss) / kMB; };
    const double big = mb(keel), mid = mb(keel_mid), small = mb(keel_small), restore_rss = mb(keel_restore);
    say("\nkeel-dr peak resident memory (its own ru_maxrss; pg_dump/pg_restore not counted)\n");
    for (auto [what, scale, size, row] : {std::tuple{"backup, ", opt_.small_scale, small_mb_, &keel_small},
                                          std::tuple{"backup, ", opt_.mid_scale, mid_mb_, &keel_mid},
                                          std::tuple{"backup, ", opt_.scale, db_mb_, &keel},
                                          std::tuple{"restore,", opt_.scale, db_mb_, &keel_restore}})
      say(fmt::format("  {} -s {:<4} ({:7.1f} MB database) {:8.1f} MB peak   ({:.2f} s wall)\n", what, scale, size,
                      mb(*row), row->wall()));

    say("\ntargets\n");
    const double backup_ratio = ratio(keel.wall(), floor_wall);
    target("keel backup wall <= 1.10 x floor", fmt::format("{:.2f} x", backup_ratio),
           backup_ratio > 0 && backup_ratio <= 1.10);
    if (pgbackrest.ran)
      target("keel backup wall < pgBackRest", fmt::format("{:.2f} s vs {:.2f} s", keel.wall(), pgbackrest.wall()),
             keel.wall() < pgbackrest.wall());
    else
      say(fmt::format("  {:<50} {}\n", "keel backup wall < pgBackRest", "pgBackRest not installed"));
    if (restic.ran)
      target("keel backup wall < restic", fmt::format("{:.2f} s vs {:.2f} s", keel.wall(), restic.wall()),
             keel.wall() < restic.wall());
    else
      say(fmt::format("  {:<50} {}\n", "keel backup wall < restic", "restic not installed"));
    const double peak = std::max({big, mid, small, restore_rss});
    target("keel-dr peak RSS < 64 MB (backups and restore)", fmt::format("{:.1f} MB", peak), peak > 0 && peak < 64);
    // Independent of size: the peak has stopped growing, i.e. the full-size
    // backup's is within 5% of the one of a third of the data.
    target(fmt::format("keel-dr peak RSS flat: -s {} <= 1.05 x -s {}", opt_.scale, opt_.mid_scale),
           fmt::format("{:.1f} vs {:.1f} MB ({:+.1f}) for {:.1f}x the data", big, mid, big - mid,
                       mid_mb_ > 0 ? db_mb_ / mid_mb_ : 0.0),
           big > 0 && mid > 0 && big <= 1.05 * mid);
    const double restore_ratio = ratio(keel_restore.wall(), pg_restore.wall());
    target("keel restore wall <= 1.10 x pg_restore", fmt::format("{:.2f} x", restore_ratio),
           restore_ratio > 0 && restore_ratio <= 1.10);
  }

  const Options& opt_;
  std::string dir_;
  Cluster& cluster_;
  std::string key_;
  std::string password_suffix_ = crypto::random_alnum(16);
  bool have_pgbackrest_ = false, have_restic_ = false;
  double db_mb_ = 0, small_mb_ = 0, mid_mb_ = 0;
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: dr_bench [--scale N] [--runs N] [--keel-dr PATH] [--dir DIR] [--keep]\n");
  std::exit(2);
}

int positive(const char* text) {
  int value = 0;
  auto [end, error] = std::from_chars(text, text + std::strlen(text), value);
  if (error != std::errc() || *end != '\0' || value <= 0) usage();
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  opt.keel_dr = default_keel_dr(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--scale" && i + 1 < argc) opt.scale = positive(argv[++i]);
    else if (arg == "--runs" && i + 1 < argc) opt.runs = positive(argv[++i]);
    else if (arg == "--keel-dr" && i + 1 < argc) opt.keel_dr = argv[++i];
    else if (arg == "--dir" && i + 1 < argc) opt.parent = argv[++i];
    else if (arg == "--keep") opt.keep = true;
    else usage();
  }
  opt.small_scale = std::max(1, opt.scale / 10);
  opt.mid_scale = std::max(1, opt.scale / 3);
  process::ignore_sigpipe();
  start_signal_thread();

  std::optional<process::UserIds> account;
  if (process::running_as_root()) {
    auto user = process::lookup_user("postgres");
    if (!user) {
      std::fprintf(stderr, "dr_bench: PostgreSQL refuses to run as root and there is no `postgres` user "
                           "(apt-get install postgresql-15)\n");
      return 1;
    }
    account = *user;
  }

  std::string parent = opt.parent.empty() ? fs::temp_directory_path().string() : opt.parent;
  std::string pattern = parent + "/keel-dr-bench.XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    std::fprintf(stderr, "dr_bench: mkdtemp in %s: %s\n", parent.c_str(), std::strerror(errno));
    return 1;
  }
  const std::string dir = pattern;
  int rc = 0;
  {
    std::lock_guard lock(g_cleanup.mutex);
    g_cleanup.dir = dir;
    g_cleanup.keep = opt.keep;
  }
  try {
    Cluster cluster(dir, account);
    cluster.own(dir);  // the account must reach its data directory
    {
      std::lock_guard lock(g_cleanup.mutex);
      g_cleanup.cluster = &cluster;
    }
    say(fmt::format("keel-dr benchmark: {}, {} CPUs, load {}\n", opt.keel_dr, ::sysconf(_SC_NPROCESSORS_ONLN),
                    load_average()));
    Bench bench(opt, dir, cluster);
    try {
      bench.run();
      say(fmt::format("{} target{} missed\n", bench.missed, bench.missed == 1 ? "" : "s"));
    } catch (...) {
      std::lock_guard lock(g_cleanup.mutex);
      g_cleanup.cluster = nullptr;
      cluster.stop(false);
      throw;
    }
    std::lock_guard lock(g_cleanup.mutex);
    g_cleanup.cluster = nullptr;
    cluster.stop(false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\ndr_bench: %s\n", e.what());
    rc = 1;
  }
  std::lock_guard lock(g_cleanup.mutex);
  if (opt.keep) {
    say(fmt::format("kept {}\n", dir));
  } else {
    (void)files::remove_all(dir);
  }
  return rc;
}
