#include "agent/dr/manifest.h"

#include <openssl/evp.h>

#include <ctime>

#include <fmt/format.h>

#include "agent/dr/sealed_stream.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::dr {
namespace {

using nlohmann::json;

std::unexpected<Error> bad(const std::string& what) {
  return fail(ErrorCode::Corrupt, "not a keel backup manifest: " + what);
}

bool is_hex_of(std::string_view s, std::size_t size) {
  if (s.size() != size) return false;
  for (char c : s)
    if (!text::is_digit(c) && !(c >= 'a' && c <= 'f')) return false;
  return true;
}

// Reads the manifest's fields one by one; the first problem is kept.
class FieldReader {
 public:
  explicit FieldReader(const json& object) : object_(object) {}

  std::string string(const char* key, std::size_t max_size) {
    auto it = object_.find(key);
    if (it == object_.end() || !it->is_string()) return problem(key, "a string"), std::string();
    const auto& value = it->get_ref<const std::string&>();
    if (value.size() > max_size) return problem(key, fmt::format("at most {} characters", max_size)), std::string();
    return value;
  }
  std::uint64_t count(const char* key) {
    auto it = object_.find(key);
    if (it == object_.end() || !it->is_number_unsigned()) return problem(key, "a whole number >= 0"), 0;
    return it->get<std::uint64_t>();
  }
  std::chrono::system_clock::time_point time(const char* key, const std::string& text, bool canonical) {
    if (!error_.empty()) return {};
    auto parsed = timeutil::parse_rfc3339(text);
    if (!parsed || (canonical && timeutil::rfc3339(*parsed) != text)) {
      problem(key, "an RFC 3339 UTC time");
      return {};
    }
    return *parsed;
  }
  // Records `what` unless `ok` (or an earlier problem is recorded).
  void check(bool ok, const char* key, const char* what) {
    if (!ok) problem(key, what);
  }
  const std::string& error() const { return error_; }

 private:
  void problem(const char* key, const std::string& what) {
    if (error_.empty()) error_ = fmt::format("`{}` must be {}", key, what);
  }
  const json& object_;
  std::string error_;
};

// Every authenticated field, each as its length and its bytes, so that no
// two different manifests give the same input.
std::string mac_input(const Manifest& m) {
  std::string out = "keel-dr-manifest-v2";
  for (const std::string* field : {&m.job, &m.id, &m.source, &m.started, &m.finished, &m.sha256, &m.key_id}) {
    out += fmt::format("|{}:", field->size());
    out += *field;
  }
  out += fmt::format("|{}|{}|{}", m.format, m.raw_bytes, m.stored_bytes);
  return out;
}

std::string hmac_hex(const crypto::Key& key, std::string_view message) {
  unsigned char out[32];
  size_t out_len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, sizeof out, &out_len);
  return crypto::hex_encode(std::string_view(reinterpret_cast<const char*>(out), out_len));
}

}  // namespace

bool valid_backup_id(std::string_view id) {
  // YYYYMMDDTHHMMSSZ-xxxxxx
  if (id.size() != 23 || id[8] != 'T' || id[15] != 'Z' || id[16] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14})
    if (!text::is_digit(id[i])) return false;
  return is_hex_of(id.substr(17), 6);
}

std::string new_backup_id(std::chrono::system_clock::time_point started) {
  std::time_t t = std::chrono::system_clock::to_time_t(started);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, crypto::hex_encode(crypto::random_bytes(3)));
}

Result<Manifest> parse_manifest(std::string_view text) {
  if (text.size() > kMaxManifestSize) return bad(fmt::format("larger than {} bytes", kMaxManifestSize));
  json object = json::parse(text, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return bad("not a JSON object");
  FieldReader r(object);
  Manifest m;
  std::string format = r.string("format", 64);
  if (format == kFormatV1) m.format = 1;
  else if (format == kFormatV2) m.format = 2;
  else if (r.error().empty()) return bad(fmt::format("unknown `format` (this keel reads `{}` and `{}`)", kFormatV2, kFormatV1));
  m.id = r.string("id", 64);
  r.check(valid_backup_id(m.id), "id", "a backup id (20261127T030000Z-1a2b3c)");
  m.job = r.string("job", 61);
  r.check(text::is_name(m.job, 61, "_.-", "_.-"), "job", "a job name");
  m.source = r.string("source", 16);
  r.check(m.source == "postgres" || m.source == "redis" || m.source == "files", "source",
          "postgres, redis or files");
  m.started = r.string("started", 64);
  m.started_at = r.time("started", m.started, m.format == 2);
  m.finished = r.string("finished", 64);
  m.finished_at = r.time("finished", m.finished, m.format == 2);
  m.raw_bytes = r.count("raw_bytes");
  m.stored_bytes = r.count("stored_bytes");
  m.sha256 = r.string("sha256", 64);
  r.check(is_hex_of(m.sha256, 64), "sha256", "64 hex digits");
  m.key_id = r.string("key_id", 16);
  r.check(is_hex_of(m.key_id, 16), "key_id", "16 hex digits");
  if (auto it = object.find("keel_version"); it != object.end() && it->is_string() &&
                                              text::is_name(it->get_ref<const std::string&>(), 32, "", ".-+~"))
    m.keel_version = it->get<std::string>();
  if (m.format == 2) {
    m.mac = r.string("mac", 64);
    r.check(is_hex_of(m.mac, 64), "mac", "64 hex digits");
  }
  if (!r.error().empty()) return bad(r.error());
  return m;
}

json to_json(const Manifest& m) {
  json out = {{"id", m.id},
              {"job", m.job},
              {"source", m.source},
              {"started", m.started},
              {"finished", m.finished},
              {"raw_bytes", m.raw_bytes},
              {"stored_bytes", m.stored_bytes},
              {"sha256", m.sha256},
              {"key_id", m.key_id},
              {"format", m.format == 1 ? kFormatV1 : kFormatV2},
              {"keel_version", m.keel_version}};
  if (m.format == 2) out["mac"] = m.mac;
  return out;
}

void seal_manifest(Manifest& manifest, const crypto::Key& key) {
  manifest.format = 2;
  manifest.mac = hmac_hex(key, mac_input(manifest));
}

Status authenticate_manifest(const Manifest& m, const crypto::Key& key, std::string_view job,
                             std::string_view id_in_name) {
  if (m.format != 2)
    return fail(ErrorCode::Corrupt, fmt::format("backup {}: format 1, written before manifests were authenticated", m.id));
  if (m.key_id != key_id(key))
    return fail(ErrorCode::Corrupt, fmt::format("backup {} was sealed with key {} but this agent has key {}: "
                                                "restore needs the stack's backup key",
                                                m.id, m.key_id, key_id(key)));
  if (!crypto::constant_time_equal(m.mac, hmac_hex(key, mac_input(m))))
    return fail(ErrorCode::Corrupt,
                fmt::format("manifest of backup {} fails its authentication (it was altered, or not written by keel)",
                            id_in_name));
  if (m.id != id_in_name)
    return fail(ErrorCode::Corrupt, fmt::format("manifest {} is backup {} renamed (a replayed copy)", id_in_name, m.id));
  if (m.job != job)
    return fail(ErrorCode::Corrupt,
                fmt::format("backup {} belongs to job {}, not {} (copied from another job)", m.id, m.job, job));
  return {};
}

}  // namespace keel::dr
