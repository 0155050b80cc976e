// Redis: the backup is an RDB snapshot streamed by `redis-cli --rdb -` (the
// replication protocol: a consistent snapshot, nothing written on the
// server's disk). A restore loads the RDB into a private redis-server on a
// Unix socket and copies every key into the target with DUMP and RESTORE
// ... REPLACE: the target keeps running, keys the snapshot has are put back
// as they were (with their TTLs), keys it does not have are left alone.

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "agent/dr/resp_client.h"
#include "agent/dr/source_impl.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/text.h"

namespace keel::dr {
namespace {

using namespace std::chrono_literals;
constexpr auto kIoTimeout = 60s;
constexpr auto kLoadTimeout = 30min;  // loading a large RDB takes a while
constexpr int kScanBatch = 500;

// A redis-server of our own, serving a restored RDB on a Unix socket in a
// private directory; stopped and removed by the destructor.
class PrivateRedis {
 public:
  // The directory is under /tmp, not the agent's state directory: a Unix
  // socket path must fit in 108 bytes. mkdtemp makes it 0700.
  static Result<std::unique_ptr<PrivateRedis>> prepare(const std::string& label) {
    std::string pattern = fmt::format("/tmp/keel-dr-{}.XXXXXX", label);
    if (::mkdtemp(pattern.data()) == nullptr)
      return fail(ErrorCode::Internal, fmt::format("mkdtemp {}: {}", pattern, std::strerror(errno)));
    return std::unique_ptr<PrivateRedis>(new PrivateRedis(pattern));
  }
  ~PrivateRedis() {
    if (server_) {
      if (auto client = RespClient::connect_unix(socket(), 5s)) {
        client->queue({"SHUTDOWN", "NOSAVE"});
        (void)client->flush();
      }
      for (int i = 0; i < 50 && process::process_alive(server_->pid()); ++i) std::this_thread::sleep_for(100ms);
      server_->kill(SIGKILL);
      server_->wait();
    }
    (void)files::remove_all(dir_);
  }

  std::string rdb_path() const { return dir_ + "/dump.rdb"; }
  std::string socket() const { return dir_ + "/redis.sock"; }

  // Starts redis-server on the RDB and waits until it has loaded it.
  Status start() {
    process::Child::Spec spec;
    spec.argv = {"redis-server", "--port", "0", "--unixsocket", socket(), "--unixsocketperm", "700",
                 "--dir", dir_, "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no",
                 "--logfile", dir_ + "/redis.log"};
    auto child = process::Child::start(spec);
    if (!child) return fail(child.error().with_context("start redis-server"));
    server_ = std::make_unique<process::Child>(std::move(*child));
    server_->close_stdin();
    auto deadline = std::chrono::steady_clock::now() + kLoadTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto client = RespClient::connect_unix(socket(), kIoTimeout)) {
        auto pong = client->command({"PING"});
        if (pong) return {};
        if (pong.error().message().find("LOADING") == std::string::npos) return fail(pong.error());
      }
      if (!process::process_alive(server_->pid())) return fail(ErrorCode::Corrupt, "redis-server refused the snapshot: " + log_tail());
      std::this_thread::sleep_for(50ms);
    }
    return fail(ErrorCode::Timeout, "redis-server did not load the snapshot in time");
  }

 private:
  explicit PrivateRedis(std::string dir) : dir_(std::move(dir)) {}
  std::string log_tail() const {
    auto log = files::read_file(dir_ + "/redis.log");
    if (!log) return "no log";
    std::string text = log->size() > 600 ? log->substr(log->size() - 600) : *log;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  std::string dir_;
  std::unique_ptr<process::Child> server_;
};

// Writes the restored RDB into the private server's directory.
class RdbFileWriter {
 public:
  Status open(const std::string& path) {
    path_ = path;
    out_.open(path, std::ios::binary | std::ios::trunc);
    ::chmod(path.c_str(), 0600);
    if (!out_) return fail(ErrorCode::Internal, "create " + path);
    return {};
  }
  Status write(std::string_view raw) {
    out_.write(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (!out_) return fail(ErrorCode::Unavailable, "write " + path_ + " (disk full?)");
    return {};
  }
  Status close() {
    out_.close();
    if (!out_) return fail(ErrorCode::Unavailable, "write " + path_);
    return {};
  }

 private:
  std::string path_;
  std::ofstream out_;
};

Result<std::vector<int>> databases_with_keys(RespClient& client) {
  auto info = client.command({"INFO", "keyspace"});
  if (!info) return fail(info.error());
  std::vector<int> dbs;
  size_t pos = 0;
  while ((pos = info->text.find("\ndb", pos)) != std::string::npos) {
    pos += 3;
    dbs.push_back(std::atoi(info->text.c_str() + pos));
  }
  return dbs;
}

// Copies one batch of keys: DUMP and PTTL pipelined from the source, then
// RESTORE ... REPLACE pipelined into the target.
Status copy_keys(RespClient& from, RespClient& to, const std::vector<RespReply>& keys) {
  for (const auto& key : keys) {
    from.queue({"DUMP", key.text});
    from.queue({"PTTL", key.text});
  }
  if (auto ok = from.flush(); !ok) return ok;
  size_t queued = 0;
  for (const auto& key : keys) {
    auto payload = from.read_reply();
    auto ttl = from.read_reply();
    if (!payload) return fail(payload.error());
    if (!ttl) return fail(ttl.error());
    if (payload->nil || payload->is_error()) continue;  // gone (expired) meanwhile
    long long ms = ttl->integer > 0 ? ttl->integer : 0;
    to.queue({"RESTORE", key.text, std::to_string(ms), payload->text, "REPLACE"});
    ++queued;
  }
  if (auto ok = to.flush(); !ok) return ok;
  for (size_t i = 0; i < queued; ++i) {
    auto reply = to.read_reply();
    if (!reply) return fail(reply.error());
    if (reply->is_error()) return fail(ErrorCode::Protocol, fmt::format("{}: RESTORE: {}", to.peer(), reply->text));
  }
  return {};
}

Status copy_database(RespClient& from, RespClient& to, int db) {
  if (auto ok = from.command({"SELECT", std::to_string(db)}); !ok) return fail(ok.error());
  if (auto ok = to.command({"SELECT", std::to_string(db)}); !ok) return fail(ok.error());
  std::string cursor = "0";
  do {
    auto page = from.command({"SCAN", cursor, "COUNT", std::to_string(kScanBatch)});
    if (!page) return fail(page.error());
    if (page->elements.size() != 2) return fail(ErrorCode::Protocol, "SCAN: unexpected reply");
    cursor = page->elements[0].text;
    if (auto ok = copy_keys(from, to, page->elements[1].elements); !ok) return ok;
  } while (cursor != "0");
  return {};
}

Result<RespClient> connect_target(const std::string& host, int port, const std::string& password) {
  auto client = RespClient::connect_tcp(host, port, kIoTimeout);
  if (!client) return fail(client.error());
  if (!password.empty())
    if (auto ok = client->command({"AUTH", password}); !ok) return fail(ErrorCode::PermissionDenied, client->peer() + ": AUTH failed");
  return client;
}

class RedisRestore final : public RestoreSink {
 public:
  RedisRestore(std::unique_ptr<PrivateRedis> scratch, std::string host, int port, std::string password)
      : scratch_(std::move(scratch)), host_(std::move(host)), port_(port), password_(std::move(password)) {}
  Status open() { return rdb_.open(scratch_->rdb_path()); }
  Status write(std::string_view raw) override { return rdb_.write(raw); }
  Status finish() override {
    if (auto ok = rdb_.close(); !ok) return ok;
    if (auto ok = scratch_->start(); !ok) return ok;
    auto from = RespClient::connect_unix(scratch_->socket(), kIoTimeout);
    if (!from) return fail(from.error());
    auto to = connect_target(host_, port_, password_);
    if (!to) return fail(to.error());
    auto dbs = databases_with_keys(*from);
    if (!dbs) return fail(dbs.error());
    for (int db : *dbs)
      if (auto ok = copy_database(*from, *to, db); !ok) return ok;
    return {};
  }
  std::string target() const override { return fmt::format("redis {}:{}", host_, port_); }

 private:
  std::unique_ptr<PrivateRedis> scratch_;
  RdbFileWriter rdb_;
  std::string host_;
  int port_;
  std::string password_;
};

// The drill's target is the private server itself.
class RedisScratch final : public ScratchTarget, public RestoreSink {
 public:
  explicit RedisScratch(std::unique_ptr<PrivateRedis> server) : server_(std::move(server)) {}
  Status open() { return rdb_.open(server_->rdb_path()); }
  RestoreSink& sink() override { return *this; }
  Status write(std::string_view raw) override { return rdb_.write(raw); }
  Status finish() override {
    if (auto ok = rdb_.close(); !ok) return ok;
    return server_->start();
  }
  std::string target() const override { return "a private redis-server"; }

  Result<Verdict> verify(const std::string& command) override {
    auto client = RespClient::connect_unix(server_->socket(), kIoTimeout);
    if (!client) return fail(client.error());
    std::vector<std::string> args;
    std::istringstream words(command);
    for (std::string w; words >> w;) args.push_back(w);
    if (args.empty()) args.push_back("DBSIZE");
    auto reply = client->command(args);
    if (!reply) return Verdict{false, reply.error().message()};
    std::string value = reply->type == ':' ? std::to_string(reply->integer)
                        : reply->type == '*' ? std::to_string(reply->elements.size())
                        : reply->nil ? "nil" : reply->text;
    return Verdict{!value_means_failure(value), value};
  }

 private:
  std::unique_ptr<PrivateRedis> server_;
  RdbFileWriter rdb_;
};

}  // namespace

Result<std::unique_ptr<DumpStream>> start_dump_of(const RedisSource& s) {
  process::Child::Spec spec;
  spec.argv = {"redis-cli", "-h", s.host, "-p", std::to_string(s.port), "--no-auth-warning", "--rdb", "-"};
  if (!s.password.empty()) spec.env["REDISCLI_AUTH"] = s.password;
  auto process = PipedProcess::start("redis-cli --rdb", spec);
  if (!process) return fail(process.error());
  return std::make_unique<ProcessDump>(std::move(*process));
}

Result<std::unique_ptr<RestoreSink>> start_restore_of(const RedisSource& s, const std::string& target,
                                                      const std::string&) {
  // check_restore_target() has checked the shape: PORT, or HOST:PORT on
  // the job's own host.
  std::string host = s.host;
  int port = s.port;
  if (!target.empty()) {
    auto colon = target.rfind(':');
    if (colon != std::string::npos) host = target.substr(0, colon);
    auto parsed = text::parse_port(colon == std::string::npos ? target : target.substr(colon + 1));
    if (!parsed)
      return fail(ErrorCode::InvalidConfig, fmt::format("restore target `{}`: expected HOST:PORT of a Redis server", target));
    port = *parsed;
  }
  auto scratch = PrivateRedis::prepare("restore");
  if (!scratch) return fail(scratch.error());
  auto sink = std::make_unique<RedisRestore>(std::move(*scratch), host, port, s.password);
  if (auto ok = sink->open(); !ok) return fail(ok.error());
  return sink;
}

Result<std::unique_ptr<ScratchTarget>> make_scratch_of(const RedisSource&, const std::string&,
                                                       const std::string&) {
  auto server = PrivateRedis::prepare("drill");
  if (!server) return fail(server.error());
  auto scratch = std::make_unique<RedisScratch>(std::move(*server));
  if (auto ok = scratch->open(); !ok) return fail(ok.error());
  return scratch;
}

}  // namespace keel::dr
