#include "agent/dr/operations.h"

#include <algorithm>
#include <ctime>
#include <set>

#include <fmt/format.h>

#include "agent/dr/catalog.h"
#include "agent/dr/manifest.h"
#include "agent/dr/sealed_stream.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::dr {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr std::size_t kReadSize = 1u << 20;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Result<std::unique_ptr<Destination>> open_for(const Job& job) {
  auto dest = open_destination(job.destination);
  if (!dest) return fail(dest.error().with_context("destination"));
  return dest;
}

Result<Catalog> catalog_of(Destination& dest, const Job& job, const RunContext& context) {
  auto catalog = read_catalog(dest, job.name, context.key);
  if (!catalog) return fail(catalog.error().with_context(dest.describe()));
  for (const auto& r : catalog->refused)
    fmt::print(stderr, "keel-dr: {}: {}: ignored: {}\n", dest.describe(), r.object, r.error);
  return catalog;
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
  const std::string prefix = job + "/";
  for (const auto& o : *objects) {
    if (!o.name.ends_with(kDataSuffix)) continue;
    // Only keel's own names (JOB/ID.kdr): anything else someone put in the
    // destination is left alone, and cannot make the clean-up fail.
    std::string stem = o.name.substr(0, o.name.size() - kDataSuffix.size());
    if (!valid_backup_id(std::string_view(stem).substr(prefix.size()))) continue;
    if (!manifests.contains(stem))
      if (auto ok = dest.remove(o.name); !ok) return ok;
  }
  return {};
}

// The snapshots retention decides on: the authenticated backups by their
// authenticated start, then the legacy (format 1) ones, whose claimed times
// are capped at the oldest authenticated backup's: a format 1 manifest,
// which anyone holding the destination can write, never outranks an
// authenticated backup. Refused manifests are neither counted nor removed.
std::vector<SnapshotRef> retention_refs(const Catalog& catalog) {
  std::vector<SnapshotRef> refs;
  for (const auto& m : catalog.authenticated) refs.push_back({m.id, m.started_at});
  for (const auto& m : catalog.legacy) {
    auto when = m.started_at;
    if (!catalog.authenticated.empty()) when = std::min(when, catalog.authenticated.back().started_at);
    refs.push_back({m.id, when});
  }
  return refs;
}

Result<json> apply_policy(Destination& dest, const Job& job, const RunContext& context) {
  json kept = json::array(), removed = json::array(), ignored = json::array();
  auto catalog = catalog_of(dest, job, context);
  if (!catalog) return fail(catalog.error());
  for (const auto& r : catalog->refused) ignored.push_back(r.object);
  auto refs = retention_refs(*catalog);
  if (job.retention.empty()) {  // keeps everything, as restic refuses to forget without a policy
    for (const auto& r : refs) kept.push_back(r.id);
    return json{{"kept", kept}, {"removed", removed}, {"ignored", ignored}};
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
  return json{{"kept", kept}, {"removed", removed}, {"ignored", ignored}};
}

Result<Manifest> find_snapshot(Destination& dest, const Job& job, const RunContext& context,
                               const std::string& snapshot, Purpose purpose) {
  auto catalog = catalog_of(dest, job, context);
  if (!catalog) return fail(catalog.error());
  return choose_backup(*catalog, job.name, snapshot, purpose, dest.describe());
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
  VerifiedReader(Destination& dest, const Job& job, const RunContext& context, Manifest manifest)
      : dest_(dest), job_(job), context_(context), manifest_(std::move(manifest)), reporter_(context) {}
  ~VerifiedReader() {
    if (spool_) (void)spool_->remove(spool_name_);
  }

  Status verify() {
    const std::string& id = manifest_.id;
    auto reader = dest_.open(data_name(job_.name, id));
    if (!reader) return fail(reader.error());
    std::unique_ptr<ObjectWriter> spool_writer;
    if (!job_.destination.url.starts_with("file://")) {
      auto spool = open_file_destination(context_.spool_dir);
      if (!spool) return fail(spool.error().with_context("spool"));
      spool_ = std::move(*spool);
      spool_name_ = id + std::string(kDataSuffix);
      auto w = spool_->create(spool_name_);
      if (!w) return fail(w.error().with_context("spool"));
      spool_writer = std::move(*w);
    }
    UnsealOptions options;
    if (spool_writer) options.copy = [&](std::string_view bytes) { return spool_writer->write(bytes); };
    options.progress = [&](std::uint64_t n) { reporter_.report({"verify", n, 0}); };
    auto totals = unseal(**reader, context_.key, options);
    if (!totals) return fail(totals.error().with_context("backup " + id));
    if (auto ok = matches_manifest(*totals); !ok) return ok;
    if (spool_writer)
      if (auto ok = spool_writer->commit(); !ok) return fail(ok.error().with_context("spool"));
    return {};
  }

  Result<StreamTotals> restore_into(RestoreSink& sink) {
    const std::string& id = manifest_.id;
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
  // The data must be what the manifest describes: the same bytes (SHA-256
  // and size), and a format-2 stream sealed for the same job, id and time.
  Status matches_manifest(const StreamTotals& totals) const {
    const Manifest& m = manifest_;
    if (totals.binding) {
      const StreamBinding& b = *totals.binding;
      if (b != StreamBinding{m.job, m.id, m.started, m.source})
        return fail(ErrorCode::Corrupt, fmt::format("backup {}: its data was sealed as backup {} of job {} ({} {}), "
                                                    "not what its manifest says (a replayed or swapped object)",
                                                    m.id, b.id, b.job, b.source, b.started));
    }
    if (totals.format != m.format)
      return fail(ErrorCode::Corrupt, fmt::format("backup {}: its data is of format {}, its manifest of format {}",
                                                  m.id, totals.format, m.format));
    if (totals.sha256 != m.sha256 || totals.stored_bytes != m.stored_bytes)
      return fail(ErrorCode::Corrupt, fmt::format("backup {}: its sha256 or size differs from its manifest", m.id));
    return {};
  }

  Destination& dest_;
  const Job& job_;
  const RunContext& context_;
  Manifest manifest_;
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
  if (!j.is_object()) return fail(ErrorCode::InvalidConfig, "job: expected a JSON object");
  job.name = string_at(j, "name");
  // The name becomes a folder of the destination and is bound into every
  // backup: the agent's own rule for job names (job_config.h).
  if (!text::is_name(job.name, 61, "_.-", "_.-") || job.name == "." || job.name == "..")
    return fail(ErrorCode::InvalidConfig, fmt::format("job name `{}`: letters, digits, `_`, `-` and `.` only", job.name));
  auto source = source_from_json(j.contains("source") ? j["source"] : json());
  if (!source) return fail(source.error().with_context("job " + job.name));
  job.source = std::move(*source);
  job.destination.url = string_at(j, "to");
  if (j.contains("s3") && j["s3"].is_object()) {
    const json& s3 = j["s3"];
    job.destination.s3.endpoint = string_at(s3, "endpoint");
    if (s3.contains("region")) job.destination.s3.region = string_at(s3, "region");
    job.destination.s3.path_style = s3.contains("path_style") && s3["path_style"].is_boolean() && s3["path_style"].get<bool>();
    job.destination.s3.access_key_id = string_at(s3, "access_key_id");
    job.destination.s3.secret_access_key = string_at(s3, "secret_access_key");
  }
  if (j.contains("sftp") && j["sftp"].is_object()) {
    job.destination.sftp.key_file = string_at(j["sftp"], "key");
    job.destination.sftp.known_hosts_file = string_at(j["sftp"], "known_hosts");
  }
  auto retention = retention_from_json(j.contains("retention") ? j["retention"] : json());
  if (!retention) return fail(retention.error().with_context("job " + job.name));
  job.retention = *retention;
  if (j.contains("drill") && j["drill"].is_object()) job.verify = string_at(j["drill"], "verify");
  return job;
}

Result<json> run_backup(const Job& job, const RunContext& context) {
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  if (auto ok = remove_orphans(**dest, job.name); !ok) return fail(ok.error().with_context("clean up"));
  Manifest manifest;
  manifest.started_at = Clock::now();
  manifest.started = timeutil::rfc3339(manifest.started_at);
  manifest.id = new_backup_id(manifest.started_at);
  manifest.job = job.name;
  manifest.source = source_type(job.source);
  auto out = (*dest)->create(data_name(job.name, manifest.id));
  if (!out) return fail(out.error());
  auto dump = start_dump(job.source);
  if (!dump) return fail(dump.error());

  SealingWriter sealer(**out, context.key, StreamBinding{manifest.job, manifest.id, manifest.started, manifest.source});
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

  manifest.finished_at = Clock::now();
  manifest.finished = timeutil::rfc3339(manifest.finished_at);
  manifest.raw_bytes = totals->raw_bytes;
  manifest.stored_bytes = totals->stored_bytes;
  manifest.sha256 = totals->sha256;
  manifest.key_id = key_id(context.key);
  manifest.keel_version = KEEL_VERSION;
  seal_manifest(manifest, context.key);
  json stored = to_json(manifest);
  auto manifest_out = (*dest)->create(manifest_name(job.name, manifest.id));
  if (!manifest_out) return fail(manifest_out.error());
  if (auto ok = (*manifest_out)->write(stored.dump(2) + "\n"); !ok) return fail(ok.error());
  if (auto ok = (*manifest_out)->commit(); !ok) return fail(ok.error().with_context("store manifest"));

  auto retention = apply_policy(**dest, job, context);
  if (!retention) return fail(retention.error().with_context("retention (the backup itself is stored)"));
  return json{{"manifest", stored}, {"retention", *retention}};
}

Result<json> run_restore(const Job& job, const RunContext& context, const std::string& snapshot,
                         const std::string& target) {
  if (auto ok = check_restore_target(job.source, target); !ok) return fail(ok.error());
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  auto manifest = find_snapshot(**dest, job, context, snapshot, Purpose::Restore);
  if (!manifest) return fail(manifest.error());
  VerifiedReader reader(**dest, job, context, *manifest);
  if (auto ok = reader.verify(); !ok) return fail(ok.error().with_context("refusing to restore"));
  auto sink = start_restore(job.source, target, context.spool_dir);
  if (!sink) return fail(sink.error());
  auto totals = reader.restore_into(**sink);
  if (!totals) return fail(totals.error());
  json out = {{"snapshot", manifest->id},
              {"target", (*sink)->target()},
              {"raw_bytes", totals->raw_bytes},
              {"authenticated", manifest->format == 2}};
  if (manifest->format == 1)
    out["warning"] = fmt::format("backup {} is of format 1: its job, id and time are not authenticated", manifest->id);
  return out;
}

Result<json> run_drill(const Job& job, const RunContext& context, const std::string& snapshot, json* result) {
  auto started = Clock::now();
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  auto manifest = find_snapshot(**dest, job, context, snapshot, Purpose::Drill);
  if (!manifest) return fail(manifest.error().with_context("drill"));
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
  // The backup's age from its authenticated finish time (a drill uses
  // authenticated backups only), never less than zero.
  double rpo = std::max(0.0, seconds_between(manifest->finished_at, started));
  json out = {{"snapshot", manifest->id},
              {"verified", verdict.passed},
              {"verify_output", verdict.output.substr(0, 4096)},
              {"rto_seconds", seconds_between(started, restored)},
              {"rpo_seconds", rpo},
              {"backup_finished", manifest->finished},
              {"raw_bytes", totals->raw_bytes}};
  if (result) *result = out;
  if (!verdict.passed)
    return fail(ErrorCode::Corrupt,
                fmt::format("drill of backup {}: verify failed: {}", manifest->id, verdict.output.substr(0, 500)));
  return out;
}

Result<json> run_prune(const Job& job, const RunContext& context) {
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  if (auto ok = remove_orphans(**dest, job.name); !ok) return fail(ok.error().with_context("clean up"));
  return apply_policy(**dest, job, context);
}

Result<json> list_backups(const Job& job, const RunContext& context) {
  auto dest = open_for(job);
  if (!dest) return fail(dest.error());
  auto catalog = catalog_of(**dest, job, context);
  if (!catalog) return fail(catalog.error());
  return catalog_to_json(*catalog);
}

}  // namespace keel::dr
