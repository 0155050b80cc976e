#include "core/module_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/files.h"

namespace keel::modules {

namespace {

// The running binary's directory, whatever its length; empty when the
// kernel does not say (no /proc): never the working directory, which a
// repository being planned could fill.
std::string self_dir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec || self.empty() || !self.is_absolute()) return {};
  return files::dirname(self.string());
}

Result<const void*> find_and_load(std::string_view file_name, const char* entry, std::size_t table_size) {
  const std::vector<std::string> paths = search_paths(file_name);
  if (paths.empty())
    return fail(ErrorCode::Unavailable,
                fmt::format("cannot load keel's module {}: where keel itself is installed is unknown "
                            "(/proc/self/exe cannot be read; is /proc mounted?)",
                            file_name));
  for (const auto& path : paths)
    if (::access(path.c_str(), R_OK) == 0) return load_file(path, entry, table_size);
  return fail(ErrorCode::Unavailable, fmt::format("keel's module {} is missing (looked for {}): reinstall keel",
                                                  file_name, fmt::join(paths, " and ")));
}

}  // namespace

std::vector<std::string> search_paths(std::string_view file_name) {
  const std::string dir = self_dir();
  if (dir.empty()) return {};
  return {fmt::format("{}/{}", dir, file_name), fmt::format("{}/../lib/keel/{}", dir, file_name)};
}

Result<const void*> load_file(const std::string& path, const char* entry, std::size_t table_size) {
  // RTLD_LOCAL: the module's symbols stay its own. RTLD_NOW: a module that
  // does not fit this system fails here, not in the middle of a command.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return fail(ErrorCode::Internal, fmt::format("cannot load {}: {}", path, ::dlerror()));
  using EntryFn = const void* (*)();
  auto fn = reinterpret_cast<EntryFn>(::dlsym(handle, entry));
  if (!fn) return fail(ErrorCode::Internal, fmt::format("{} is not a keel module (no {})", path, entry));
  const void* table = fn();
  const auto* header = static_cast<const ModuleHeader*>(table);
  // table_size and version first: they sit where every build has had them.
  if (!header || header->table_size != table_size || std::strcmp(header->version, KEEL_VERSION) != 0 ||
      header->interface_version != kModuleInterface || !header->write_log_to)
    return fail(ErrorCode::Internal, fmt::format("{} belongs to another build of keel (version {}, this is {}): "
                                                 "reinstall keel",
                                                 path, header ? header->version : "?", KEEL_VERSION));
  header->write_log_to(logging::this_log());
  return table;
}

Result<const void*> load(std::string_view file_name, const char* entry, std::size_t table_size) {
  static std::mutex mutex;
  static std::map<std::string, Result<const void*>, std::less<>> loaded;
  std::lock_guard lock(mutex);
  auto it = loaded.find(file_name);
  if (it == loaded.end()) it = loaded.emplace(std::string(file_name), find_and_load(file_name, entry, table_size)).first;
  return it->second;
}

}  // namespace keel::modules
