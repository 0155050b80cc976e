#include "cli/providers/local/server_host.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

#include "core/files.h"

namespace keel::providers::local::server_host {

namespace {

constexpr const char* kKind = "servers";
constexpr const char* kFactsFile = "facts.json";

// PRETTY_NAME from /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)".
std::string os_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\''))
      value = value.substr(1, value.size() - 2);
    return value;
  }
  return "unknown";
}

Json gather_facts() {
  char hostname[256] = {};
  ::gethostname(hostname, sizeof hostname - 1);
  struct utsname uts = {};
  ::uname(&uts);
  const long long pages = ::sysconf(_SC_PHYS_PAGES);
  const long long page_size = ::sysconf(_SC_PAGE_SIZE);
  return Json{{"hostname", hostname},
              {"os", os_name()},
              {"arch", uts.machine},
              {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
              {"memory_mb", pages > 0 && page_size > 0 ? pages * page_size / (1024 * 1024) : 0}};
}

// The attributes from the host directory's facts.json, which an agent will
// keep current later.
Result<provider::Attributes> attributes(const std::string& dir) {
  auto text = files::read_file(join(dir, kFactsFile));
  if (!text) return fail(text.error());
  Json facts = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (facts.is_discarded() || !facts.is_object())
    return fail(ErrorCode::Corrupt, fmt::format("{}: not a JSON object", join(dir, kFactsFile)));
  provider::Attributes a = Json::object();
  a["host"] = "127.0.0.1";
  for (const char* key : {"os", "arch", "cpus", "memory_mb"}) a[key] = facts.value(key, Json());
  a["dir"] = dir;
  return a;
}

}  // namespace

Result<provider::CreateResponse> create(const Context& context, const provider::CreateRequest& request) {
  auto dir = resource_dir(context, kKind, request.tags.address);
  if (!dir) return fail(dir.error());
  if (auto st = clear_for_create(*dir, kKind, request.tags, [](const std::string&) {}); !st)
    return fail(st.error());
  if (auto st = files::make_dirs(*dir, 0755); !st) return fail(st.error());
  if (auto st = files::write_atomic(join(*dir, kFactsFile), gather_facts().dump(2) + "\n"); !st)
    return fail(st.error());
  Instance instance{.dir = *dir, .kind = kKind, .tags = request.tags};
  instance.facts["host"] = "127.0.0.1";
  if (auto st = save_instance(instance); !st) return fail(st.error());
  auto attrs = attributes(*dir);
  if (!attrs) return fail(attrs.error());
  return provider::CreateResponse{*dir, *attrs};
}

Result<provider::ReadResponse> read(const Context&, const provider::ReadRequest& request) {
  if (!load_instance(request.id)) return provider::ReadResponse{};
  auto attrs = attributes(request.id);
  if (!attrs) return fail(attrs.error());
  return provider::ReadResponse{true, *attrs};
}

Result<provider::UpdateResponse> update(const Context&, const provider::UpdateRequest& request) {
  // Nothing is settable yet: the host is what it is.
  auto attrs = attributes(request.id);
  if (!attrs) return fail(attrs.error());
  return provider::UpdateResponse{*attrs};
}

Status remove(const Context& context, const provider::DeleteRequest& request) {
  if (request.id.empty() || !files::exists(request.id)) return {};
  if (auto st = check_removable(context, kKind, request.id); !st) return st;
  return files::remove_all(request.id);
}

Result<provider::FindResponse> find(const Context& context, const provider::FindRequest& request) {
  auto instance = find_instance(context, request);
  if (!instance) return provider::FindResponse{};
  auto attrs = attributes(instance->dir);
  if (!attrs) return fail(attrs.error());
  return provider::FindResponse{true, instance->dir, *attrs};
}

}  // namespace keel::providers::local::server_host
