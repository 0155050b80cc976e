#include "agent/dr/operations.h"

#include <algorithm>
#include <ctime>
#include <set>

#include <spdlog/fmt/fmt.h>

#include "agent/dr/sealed_stream.h"
#include "core/time.h"

namespace keel::dr {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr std::string_view kDataSuffix = ".kdr";
constexpr std::string_view kManifestSuffix = ".manifest.json";
constexpr std::size_t kReadSize = 1u << 20;
constexpr std::size_t kMaxManifest = 64u << 10;

std::string data_name(const std::string& job, const std::string& id) { return fmt::format("{}/{}{}", job, id, kDataSuffix); }
std::string manifest_name(const std::string& job, const std::string& id) {
  return fmt::format("{}/{}{}", job, id, kManifestSuffix);
}

std::string new_backup_id(Clock::time_point now) {
  std::time_t t = Clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, crypto::hex_encode(crypto::random_bytes(3)));
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Result<std::unique_ptr<Destination>> open_for(const Job& job) {
  auto dest = open_destination(job.destination);
  if (!dest) return fail(dest.error().with_context("destination"));
  return dest;
}

Result<std::string> read_small(Destination& dest, const std::string& name) {
  auto reader = dest.open(name);
  if (!reader) return fail(reader.error());
  std::string out;
  char buf[8192];
  for (;;) {
    auto n = (*reader)->read(buf, sizeof buf);
    if (!n) return fail(n.error());
    if (*n == 0) return out;
    out.append(buf, *n);
    if (out.size() > kMaxManifest) return fail(ErrorCode::Corrupt, name + ": manifest too large");
  }
}

// Every complete backup of the job, newest first.
Result<std::vector<json>> read_manifests(Destination& dest, const std::string& job) {
  auto objects = dest.list(job + "/");
  if (!objects) return fail(objects.error());
  std::vector<json> out;
  for (const auto& object : *objects) {
    if (!object.name.ends_with(kManifestSuffix)) continue;
    auto text = read_small(dest, object.name);
    if (!text) return fail(text.error());
    json manifest = json::parse(*text, nullptr, false);
    if (manifest.is_discarded() || !manifest.is_object() || !manifest.contains("id"))
      return fail(ErrorCode::Corrupt, fmt::format("{}: {}: not a keel manifest", dest.describe(), object.name));
    out.push_back(std::move(manifest));
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) { return a["id"] > b["id"]; });
  return out;
}

// Data objects whose manifest was never written: a run that died between
// the two commits. Only called while no run of the job is writing.
Status remove_orphans(Destination& dest, const std::string& job) {
  if (auto ok = dest.cleanup_leftovers(job + "/"); !ok) return ok;
  auto objects = dest.list(job + "/");
  if (!objects) return fail(objects.error());
  std::set<std::string> manifests;
  for (const auto& o : *objects)
    if (o.name.ends_with(kManifestSuffix)) manifests.insert(o.name.substr(0, o.name.size() - kManifestSuffix.size()));
  for (const auto& o : *objects) {
    if (!o.name.ends_with(kDataSuffix)) continue;
    if (!manifests.contains(o.name.substr(0, o.name.size() - kDataSuffix.size())))
      if (auto ok = dest.remove(o.name); !ok) return ok;
  }
  return {};
}

Result<json> apply_policy(Destination& dest, const Job& job) {
  json kept = json::array(), removed = json::array();
  auto manifests = read_manifests(dest, job.name);
  if (!manifests) return fail(manifests.error());
  if (job.retention.empty()) {  // keeps everything, as restic refuses to forget without a policy
    for (const auto& m : *manifests) kept.push_back(m["id"]);
    return json{{"kept", kept}, {"removed", removed}};
  }
  std::vector<SnapshotRef> refs;
  for (const auto& m : *manifests) {
    auto started = timeutil::parse_rfc3339(m.value("started", ""));
    if (!started) return fail(ErrorCode::Corrupt, fmt::format("manifest {}: bad `started`", m["id"].get<std::string>()));
    refs.push_back({m["id"].get<std::string>(), *started});
  }
  auto decisions = apply_retention(refs, job.retention);
  if (!decisions) return fail(decisions.error());
  for (const auto& d : *decisions) {
    if (d.keep) {
      kept.push_back(d.snapshot.id);
      continue;
    }
    // The manifest first: a backup half removed is no longer listed.
    if (auto ok = dest.remove(manifest_name(job.name, d.snapshot.id)); !ok) return fail(ok.error());
    if (auto ok = dest.remove(data_name(job.name, d.snapshot.id)); !ok) return fail(ok.error());
    removed.push_back(d.snapshot.id);
  }
  return json{{"kept", kept}, {"removed", removed}};
}

Result<json> find_snapshot(Destination& dest, const Job& job, const std::string& snapshot) {
  auto manifests = read_manifests(dest, job.name);
  if (!manifests) return fail(manifests.error());
  if (manifests->empty()) return fail(ErrorCode::NotFound, fmt::format("job {} has no backups in {}", job.name, dest.describe()));
  if (snapshot.empty()) return manifests->front();
  for (const auto& m : *manifests)
    if (m["id"] == snapshot) return m;
  return fail(ErrorCode::NotFound, fmt::format("job {} has no backup {} (newest: {})", job.name, snapshot,
                                               manifests->front()["id"].get<std::string>()));
}

// Throttles progress reports to a few per second.
class ProgressReporter {
 public:
  explicit ProgressReporter(const RunContext& context) : context_(context) {}
  void report(const Progress& p, bool force = false) {
    if (!context_.progress) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    context_.progress(p);
  }

 private:
  const RunContext& context_;
  std::chrono::steady_clock::time_point last_{};
};

// Reads a backup twice: once to check the hash and every tag (copying it
// to a spool file when the destination is remote, so it is downloaded
// once), then again into the sink. Nothing reaches the sink before the
// whole backup has been checked.
class VerifiedReader {
 public:
  VerifiedReader(Destination& dest, const Job& job, const RunContext& context, json manifest)
      : dest_(dest), job_(job), context_(context), manifest_(std::move(manifest)), reporter_(context) {}
  ~VerifiedReader() {
    if (spool_) (void)spool_->remove(spool_name_);
  }

  Status verify() {
    std::string id = manifest_["id"];
    auto reader = dest_.open(data_name(job_.name, id));
    if (!reader) return fail(reader.error());
    std::unique_ptr<ObjectWriter> spool_writer;
    if (!job_.destination.url.starts_with("file://")) {
      auto spool = open_file_destination(context_.spool_dir);
      if (!spool) return fail(spool.error().with_context("spool"));
      spool_ = std::move(*spool);
      spool_name_ = id + kDataSuffix.data();
      auto w = spool_->create(spool_name_);
      if (!w) return fail(w.error().with_context("spool"));
      spool_writer = std::move(*w);
    }
    UnsealOptions options;
    if (spool_writer) options.copy = [&](std::string_view bytes) { return spool_writer->write(bytes); };
    options.progress = [&](std::uint64_t n) { reporter_.report({"verify", n, 0}); };
    auto totals = unseal(**reader, context_.key, options);
    if (!totals) return fail(totals.error().with_context("backup " + id));
    if (totals->sha256 != manifest_.value("sha256", "") ||
        totals->stored_bytes != manifest_.value("stored_bytes", std::uint64_t{0}))
      return fail(ErrorCode::Corrupt, fmt::format("backup {}: its sha256 or size differs from its manifest", id));
    if (spool_writer)
      if (auto ok = spool_writer->commit(); !ok) return fail(ok.error().with_context("spool"));
    return {};
  }

  Result<StreamTotals> restore_into(RestoreSink& sink) {
    std::string id = manifest_["id"];
    auto reader = spool_ ? spool_->open(spool_name_) : dest_.open(data_name(job_.name, id));
    if (!reader) return fail(reader.error());
    std::uint64_t written = 0, read = 0;
    UnsealOptions options;
    options.sink = [&](std::string_view raw) {
      written += raw.size();
      reporter_.report({"restore", read, written});
      return sink.write(raw);
    };
    options.progress = [&](std::uint64_t n) { read = n; };
    auto totals = unseal(**reader, context_.key, options);
    if (!totals) return fail(totals.error().with_context("backup " + id));
    reporter_.report({"restore", read, written}, true);
    if (auto ok = sink.finish(); !ok) return fail(ok.error().with_context("restore into " + sink.target()));
    return totals;
  }

 private:
  Destination& dest_;
  const Job& job_;
  const RunContext& context_;
  json manifest_;
  ProgressReporter reporter_;
  std::unique_ptr<Destination> spool_;
  std::string spool_name_;
};

Result<RetentionPolicy> retention_from_json(const json& j) {
  RetentionPolicy p;
  if (j.is_null()) return p;
  if (!j.is_object()) return fail(ErrorCode::InvalidConfig, "retention must be a map");
  auto read = [&](const char* key, int& out) {
    if (j.contains(key) && j[key].is_number_integer()) out = j[key].get<int>();
  };
  read("keep_last", p.keep_last);
  read("keep_hourly", p.keep_hourly);
  read("keep_daily", p.keep_daily);
  read("keep_weekly", p.keep_weekly);
  read("keep_monthly", p.keep_monthly);
  read("keep_yearly", p.keep_yearly);
  if (auto ok = p.validate(); !ok) return fail(ok.error());
  return p;
}

std::string string_at(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

Result<Job> job_from_json(const json& j) {
  Job job;
  job.name = string_at(j, "name");
  if (job.name.empty()) return fail(ErrorCode::InvalidConfig, "job without a name");
  auto source = source_from_json(j.value("source", json()));
  if (!source) return fail(source.error().with_context("job " + job.name));
  job.source = std::move(*source);
  job.destination.url = string_at(j, "to");
  if (j.contains("s3") && j["s3"].is_object()) {
    const json& s3 = j["s3"];
    job.destination.s3.endpoint = string_at(s3, "endpoint");
    if (s3.contains("region")) job.destination.s3.region = string_at(s3, "region");
    job.destination.s3.path_style = s3.value("path_style", false);
    job.destination.s3.access_key_id = string_at(s3, "access_key_id");
    job.destination.s3.secret_access_key = string_at(s3, "secret_access_key");
  }
  if (j.contains("sftp") && j["sftp"].is_object()) {
    job.destination.sftp.key_file = string_at(j["sftp"], "key");
    job.destination.sftp.known_hosts_file = string_at(j["sftp"], "known_hosts");
  }
  auto retention = retention_from_json(j.value("retention", json()));
  if (!retention) return fail(retention.error().with_context("job " + job.name));
  job.retention = *retention;
  if (j.contains("drill") && j["drill"].is_object()) job.verify = string_at(j["drill"], "verify");
  return job;
}

Result<json> run_backup(const Job& job, const RunContext& context) {
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  if (auto ok = remove_orphans(**dest, job.name); !ok) return fail(ok.error().with_context("clean up"));
  auto started = Clock::now();
  std::string id = new_backup_id(started);
  auto out = (*dest)->create(data_name(job.name, id));
  if (!out) return fail(out.error());
  auto dump = start_dump(job.source);
  if (!dump) return fail(dump.error());

  SealingWriter sealer(**out, context.key);
  ProgressReporter reporter(context);
  std::string buffer(kReadSize, '\0');
  for (;;) {
    auto n = (*dump)->read(buffer.data(), buffer.size());
    if (!n) return fail(n.error());
    if (*n == 0) break;
    if (auto ok = sealer.write(std::string_view(buffer.data(), *n)); !ok) return fail(ok.error().with_context("store"));
    reporter.report({"backup", sealer.totals().raw_bytes, sealer.totals().stored_bytes});
  }
  if (auto ok = (*dump)->finish(); !ok) return fail(ok.error());
  auto totals = sealer.finish();
  if (!totals) return fail(totals.error());
  if (auto ok = (*out)->commit(); !ok) return fail(ok.error().with_context("store"));
  reporter.report({"backup", totals->raw_bytes, totals->stored_bytes}, true);

  json manifest = {{"id", id},
                   {"job", job.name},
                   {"source", source_type(job.source)},
                   {"started", timeutil::rfc3339(started)},
                   {"finished", timeutil::rfc3339(Clock::now())},
                   {"raw_bytes", totals->raw_bytes},
                   {"stored_bytes", totals->stored_bytes},
                   {"sha256", totals->sha256},
                   {"key_id", key_id(context.key)},
                   {"format", "keel-dr/1 zstd aes-256-gcm"},
                   {"keel_version", KEEL_VERSION}};
  auto manifest_out = (*dest)->create(manifest_name(job.name, id));
  if (!manifest_out) return fail(manifest_out.error());
  if (auto ok = (*manifest_out)->write(manifest.dump(2) + "\n"); !ok) return fail(ok.error());
  if (auto ok = (*manifest_out)->commit(); !ok) return fail(ok.error().with_context("store manifest"));

  auto retention = apply_policy(**dest, job);
  if (!retention) return fail(retention.error().with_context("retention (the backup itself is stored)"));
  return json{{"manifest", manifest}, {"retention", *retention}};
}

Result<json> run_restore(const Job& job, const RunContext& context, const std::string& snapshot,
                         const std::string& target) {
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  auto manifest = find_snapshot(**dest, job, snapshot);
  if (!manifest) return fail(manifest.error());
  VerifiedReader reader(**dest, job, context, *manifest);
  if (auto ok = reader.verify(); !ok) return fail(ok.error().with_context("refusing to restore"));
  auto sink = start_restore(job.source, target, context.spool_dir);
  if (!sink) return fail(sink.error());
  auto totals = reader.restore_into(**sink);
  if (!totals) return fail(totals.error());
  return json{{"snapshot", (*manifest)["id"]}, {"target", (*sink)->target()}, {"raw_bytes", totals->raw_bytes}};
}

Result<json> run_drill(const Job& job, const RunContext& context, const std::string& snapshot, json* result) {
  auto started = Clock::now();
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  auto manifest = find_snapshot(**dest, job, snapshot);
  if (!manifest) return fail(manifest.error());
  auto backup_finished = timeutil::parse_rfc3339(manifest->value("finished", ""));
  VerifiedReader reader(**dest, job, context, *manifest);
  if (auto ok = reader.verify(); !ok) return fail(ok.error().with_context("drill"));
  auto scratch = make_scratch_target(job.source, job.name, context.spool_dir);
  if (!scratch) return fail(scratch.error().with_context("drill"));
  auto totals = reader.restore_into((*scratch)->sink());
  if (!totals) return fail(totals.error().with_context("drill"));
  auto restored = Clock::now();

  ScratchTarget::Verdict verdict{true, "restore succeeded (no verify configured)"};
  if (!job.verify.empty()) {
    auto v = (*scratch)->verify(job.verify);
    if (!v) return fail(v.error().with_context("drill verify"));
    verdict = *v;
  }
  json out = {{"snapshot", (*manifest)["id"]},
              {"verified", verdict.passed},
              {"verify_output", verdict.output.substr(0, 4096)},
              {"rto_seconds", seconds_between(started, restored)},
              {"rpo_seconds", backup_finished ? seconds_between(*backup_finished, started) : 0.0},
              {"raw_bytes", totals->raw_bytes}};
  if (result) *result = out;
  if (!verdict.passed)
    return fail(ErrorCode::Corrupt, fmt::format("drill of backup {}: verify failed: {}",
                                                (*manifest)["id"].get<std::string>(), verdict.output.substr(0, 500)));
  return out;
}

Result<json> run_prune(const Job& job, const RunContext&) {
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  if (auto ok = remove_orphans(**dest, job.name); !ok) return fail(ok.error().with_context("clean up"));
  return apply_policy(**dest, job);
}

Result<json> list_backups(const Job& job) {
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  auto manifests = read_manifests(**dest, job.name);
  if (!manifests) return fail(manifests.error());
  return json{{"backups", *manifests}};
}

}  // namespace keel::dr
