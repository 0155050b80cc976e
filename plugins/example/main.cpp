// keel-provider-example: a provider plugin that manages local files.
//
// It exists to exercise the plugin protocol end to end (tests, benchmarks,
// and as the template for writing a plugin): one kind, `files`, whose
// resources are files on this machine. Each file carries keel's tags in a
// sidecar `.<name>.keel-tags` beside it, as a cloud resource carries tags, so
// that `find` can adopt what a crashed run created.

#include <sys/stat.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/crypto.h"
#include "core/files.h"
#include "core/provider.h"
#include "core/provider_json.h"
#include "plugins/sdk/sdk.h"

namespace {

using namespace keel;
using namespace keel::provider;
using nlohmann::json;

constexpr const char* kKind = "files";

AttributeSchema attr(std::string name, std::string description) {
  AttributeSchema a;
  a.name = std::move(name);
  a.description = std::move(description);
  return a;
}

ProviderSchema make_schema() {
  AttributeSchema root = attr("root", "Directory that relative paths resolve against (default: the stack's directory); itself relative to the stack's directory.");
  root.optional = true;

  AttributeSchema path = attr("path", "Absolute path of the file, or relative to the provider's root.");
  path.required = path.force_new = true;
  AttributeSchema content = attr("content", "The file's content.");
  content.optional = true;
  content.default_value = "";
  AttributeSchema mode = attr("mode", "Permission bits as four octal digits.");
  mode.optional = true;
  mode.default_value = "0644";
  AttributeSchema delay = attr("delay", "Every operation on this file waits this long first (\"50ms\", \"2s\"); for tests and benchmarks.");
  delay.optional = true;
  AttributeSchema secret = attr("sensitive_content", "A secret kept with the resource (echoed back, never written to the file); exercises keel's handling of sensitive values.");
  secret.optional = secret.sensitive = true;
  AttributeSchema sha = attr("sha256", "Hex SHA-256 of the content on disk.");
  sha.computed = true;
  AttributeSchema size = attr("size", "Size of the file in bytes.");
  size.type = AttributeType::Integer;
  size.computed = true;

  KindSchema files{kKind, "Files on the local machine.", {path, content, mode, delay, secret, sha, size}};
  return ProviderSchema{"example", KEEL_VERSION, {root}, {files}};
}

// --- attribute parsing -----------------------------------------------------------

Result<std::string> string_attr(const Attributes& a, const char* name, const std::string& fallback) {
  if (!a.is_object()) return fallback;
  auto it = a.find(name);
  if (it == a.end() || it->is_null()) return fallback;
  if (!it->is_string()) return fail(ErrorCode::InvalidConfig, std::string(name) + " must be a string");
  return it->get<std::string>();
}

Result<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::chrono::milliseconds(0);
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  if (digits == 0 || digits > 9 || (unit != "ms" && unit != "s" && unit != "m"))
    return fail(ErrorCode::InvalidConfig, "delay \"" + text + "\" is not a duration like \"50ms\", \"2s\" or \"1m\"");
  const long n = std::stol(text.substr(0, digits));
  const long factor = unit == "ms" ? 1 : unit == "s" ? 1000 : 60000;
  return std::chrono::milliseconds(n * factor);
}

Result<unsigned> parse_mode(const std::string& text) {
  // Exactly four digits, because read() reports the mode that way: any other
  // spelling would read back different and look like drift forever.
  bool ok = text.size() == 4;
  for (char c : text) ok = ok && c >= '0' && c <= '7';
  if (!ok) return fail(ErrorCode::InvalidConfig, "mode \"" + text + "\" must be four octal digits, like \"0644\"");
  return static_cast<unsigned>(std::stoul(text, nullptr, 8));
}

std::string format_mode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// A `files` resource as the user configured it.
struct FileSpec {
  std::string path;  // as given (relative or absolute): echoed back unchanged
  std::string content;
  std::string mode_text;
  unsigned mode = 0644;
  std::string delay_text;
  std::chrono::milliseconds delay{0};
  std::string sensitive_content;
};

Result<FileSpec> spec_from(const Attributes& a) {
  FileSpec s;
  auto path = string_attr(a, "path", "");
  if (!path) return fail(path.error());
  if (path->empty()) return fail(ErrorCode::InvalidConfig, "path is required");
  s.path = *path;
  auto content = string_attr(a, "content", "");
  auto mode = string_attr(a, "mode", "0644");
  auto delay = string_attr(a, "delay", "");
  auto secret = string_attr(a, "sensitive_content", "");
  for (auto* r : {&content, &mode, &delay, &secret})
    if (!*r) return fail(r->error());
  s.content = *content;
  s.mode_text = *mode;
  s.delay_text = *delay;
  s.sensitive_content = *secret;
  auto bits = parse_mode(s.mode_text);
  if (!bits) return fail(bits.error());
  s.mode = *bits;
  auto wait = parse_duration(s.delay_text);
  if (!wait) return fail(wait.error());
  s.delay = *wait;
  return s;
}

// The delay of a resource known only by its stored attributes (read,
// delete): a bad value there is not worth failing over.
void sleep_for_delay(const Attributes& a) {
  auto text = string_attr(a, "delay", "");
  if (!text) return;
  if (auto d = parse_duration(*text)) std::this_thread::sleep_for(*d);
}

// --- files and sidecars -------------------------------------------------------------

std::string sidecar_of(const std::string& path) {
  const std::string dir = files::dirname(path);
  const std::string base = path.substr(path.rfind('/') + 1);
  return (dir == "/" ? "" : dir) + "/." + base + ".keel-tags";
}

std::optional<ResourceTags> read_tags(const std::string& path) {
  auto text = files::read_file(sidecar_of(path));
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return tags_from_json(j);
}

bool same_tags(const ResourceTags& a, const ResourceTags& b) {
  return a.project == b.project && a.address == b.address;
}

Status write_resource(const std::string& abs, const FileSpec& spec, const ResourceTags& tags) {
  if (auto st = files::make_dirs(files::dirname(abs)); !st) return st;
  // The sidecar first, without its own directory sync: the file's write
  // syncs the directory once for both renames.
  if (auto st = files::write_atomic(sidecar_of(abs), to_json(tags).dump() + "\n", 0644, files::DirSync::No); !st)
    return st;
  return files::write_atomic(abs, spec.content, spec.mode);
}

// What is on disk now, so that keel sees drift; the settings that live only
// in keel (path spelling, delay, the secret) come from `known`.
Result<Attributes> read_back(const std::string& abs, const Attributes& known) {
  auto content = files::read_file(abs);
  if (!content) return fail(content.error());
  struct stat st {};
  if (::stat(abs.c_str(), &st) != 0) return fail(ErrorCode::NotFound, abs + ": gone while reading it");
  Attributes out = known.is_object() ? known : Attributes::object();
  out["content"] = *content;
  out["mode"] = format_mode(st.st_mode);
  out["sha256"] = crypto::sha256_hex(*content);
  out["size"] = static_cast<long long>(st.st_size);
  out.erase("root");
  return out;
}

// --- the provider ----------------------------------------------------------------------

class ExampleProvider : public Provider {
 public:
  const ProviderSchema& schema() const override { return schema_; }

  Status configure(const ConfigureRequest& request) override {
    auto root = string_attr(request.config, "root", "");
    if (!root) return fail(root.error());
    // Paths in a stack read relative to the stack, as file() references do
    // (a keel before stack_dir: its work_dir is <stack dir>/.keel).
    const std::string base = !request.stack_dir.empty() ? request.stack_dir
                             : request.work_dir.empty() ? "."
                                                        : files::dirname(request.work_dir);
    std::lock_guard lock(mutex_);
    root_ = files::absolute(root->empty() ? base : *root, base);
    return {};
  }

  Result<CreateResponse> create(const CreateRequest& request) override {
    if (auto k = check_kind(request.kind); !k) return fail(k.error());
    auto spec = spec_from(request.config);
    if (!spec) return fail(spec.error());
    std::this_thread::sleep_for(spec->delay);
    const std::string abs = resolve(spec->path);
    if (auto owner = read_tags(abs); owner && files::exists(abs) && !same_tags(*owner, request.tags))
      return fail(ErrorCode::Conflict, abs + " already exists and belongs to " + owner->project + " " + owner->address);
    if (request.progress) request.progress("writing " + abs);
    if (auto st = write_resource(abs, *spec, request.tags); !st) return fail(st.error());
    auto attributes = read_back(abs, request.config);
    if (!attributes) return fail(attributes.error());
    return CreateResponse{abs, std::move(*attributes)};
  }

  Result<ReadResponse> read(const ReadRequest& request) override {
    if (auto k = check_kind(request.kind); !k) return fail(k.error());
    sleep_for_delay(request.attributes);
    if (!files::exists(request.id)) return ReadResponse{false, Attributes::object()};
    auto attributes = read_back(request.id, request.attributes);
    if (!attributes) return fail(attributes.error());
    return ReadResponse{true, std::move(*attributes)};
  }

  Result<UpdateResponse> update(const UpdateRequest& request) override {
    if (auto k = check_kind(request.kind); !k) return fail(k.error());
    auto spec = spec_from(request.config);
    if (!spec) return fail(spec.error());
    std::this_thread::sleep_for(spec->delay);
    // The path is force-new: the file stays where the id says.
    if (request.progress) request.progress("rewriting " + request.id);
    if (auto st = write_resource(request.id, *spec, request.tags); !st) return fail(st.error());
    auto attributes = read_back(request.id, request.config);
    if (!attributes) return fail(attributes.error());
    return UpdateResponse{std::move(*attributes)};
  }

  Status remove(const DeleteRequest& request) override {
    if (auto k = check_kind(request.kind); !k) return fail(k.error());
    sleep_for_delay(request.attributes);
    if (auto st = files::remove_all(request.id); !st) return st;
    return files::remove_all(sidecar_of(request.id));
  }

  Result<FindResponse> find(const FindRequest& request) override {
    if (auto k = check_kind(request.kind); !k) return fail(k.error());
    if (!request.id.empty()) return find_by_id(request.id, request.config);
    auto spec = spec_from(request.config);
    if (!spec) return fail(spec.error());
    std::this_thread::sleep_for(spec->delay);
    const std::string abs = resolve(spec->path);
    auto owner = read_tags(abs);
    if (!files::exists(abs) || !owner || !same_tags(*owner, request.tags)) return FindResponse{};
    auto attributes = read_back(abs, request.config);
    if (!attributes) return fail(attributes.error());
    return FindResponse{true, abs, std::move(*attributes)};
  }

 private:
  static Status check_kind(const std::string& kind) {
    if (kind != kKind) return fail(ErrorCode::InvalidConfig, "the example provider has no kind \"" + kind + "\"");
    return {};
  }

  // Import (`keel state import`): the id is the absolute path.
  Result<FindResponse> find_by_id(const std::string& id, const Attributes& config) {
    if (!files::exists(id)) return FindResponse{};
    Attributes known = config.is_object() ? config : Attributes::object();
    known["path"] = path_spelling(id, config);
    auto attributes = read_back(id, known);
    if (!attributes) return fail(attributes.error());
    return FindResponse{true, id, std::move(*attributes)};
  }

  // `path` as the user most likely wrote it, so that an imported file plans
  // no change: the configured spelling when there is one for this file, else
  // relative to the root when the file lies under it, else absolute.
  std::string path_spelling(const std::string& id, const Attributes& config) const {
    auto given = string_attr(config, "path", "");
    if (given && !given->empty() && resolve(*given) == id) return *given;
    std::lock_guard lock(mutex_);
    const std::string prefix = root_ == "/" ? root_ : root_ + "/";
    if (!root_.empty() && id.size() > prefix.size() && id.compare(0, prefix.size(), prefix) == 0)
      return id.substr(prefix.size());
    return id;
  }

  std::string resolve(const std::string& path) const {
    std::lock_guard lock(mutex_);
    return files::absolute(path, root_.empty() ? "." : root_);
  }

  const ProviderSchema schema_ = make_schema();
  mutable std::mutex mutex_;  // configure runs on its own thread, like every operation
  std::string root_;
};

}  // namespace

int main() {
  ExampleProvider provider;
  return keel::plugin::serve(provider);
}
