#include "cli/state/file_store.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "cli/state/state_codec.h"
#include "core/json_lines.h"
#include "core/time.h"

#include <fmt/format.h>

namespace keel::state {

namespace {

// The .keel above an environment's directory (.keel/environments/NAME);
// empty for .keel itself.
std::string dot_keel_above(const std::string& dir) {
  const std::filesystem::path p(dir);
  const auto environments = p.parent_path();
  if (environments.filename() != "environments" || environments.parent_path().filename() != ".keel") return {};
  return environments.parent_path().string();
}

// The state's directory is a real one of keel's user that nobody else can
// write; an environment's, and every directory from .keel down to it, too:
// a link anywhere on the way (a repository can commit one) would send the
// state and its key elsewhere. With `create`, makes what is missing.
Status check_state_dir(const std::string& dir, bool create) {
  const std::string dot_keel = dot_keel_above(dir);
  if (!dot_keel.empty()) {
    if (create && !files::exists_no_follow(dot_keel))
      if (auto s = files::make_dirs(dot_keel, 0755); !s) return s;
    if (files::exists_no_follow(dot_keel)) {
      if (auto s = files::check_private_dir(dot_keel); !s) return s;
      if (auto s = create ? files::make_dirs_inside(dot_keel, dir, 0755) : files::check_dirs_inside(dot_keel, dir); !s)
        return s;
    }
  } else if (create && !files::exists_no_follow(dir)) {
    if (auto s = files::make_dirs(dir, 0755); !s) return s;
  }
  if (!files::exists_no_follow(dir)) return {};
  return files::check_private_dir(dir);
}

// Large enough for tens of thousands of resources; a bound all the same, so
// that no file under .keel can make keel read without end.
constexpr size_t kMaxKeyBytes = 4096;
// state.key, state.json, its backup and the journal: no permission at all
// for group or others (the key opens every secret; the state names them).
constexpr unsigned kOwnerOnly = 077;
// Attributes nest a few levels (a server's checks); far more is damage.
constexpr size_t kMaxStateDepth = 100;

// Files that say a state exists in `dir` (its key must exist too).
const char* const kStateFiles[] = {"state.json", "state.json.backup", "state.journal", "state.json.migrated"};

// The state in `dir` that was written with a key which is now missing, if any.
std::optional<std::string> state_needing_a_key(const std::string& dir) {
  for (const char* name : kStateFiles)
    if (files::exists_no_follow(dir + "/" + name)) return dir + "/" + name;
  return std::nullopt;
}

}  // namespace

Result<crypto::Key> load_or_create_key(const std::string& key_file,
                                       const std::optional<std::string>& state_needing_key) {
  if (auto ready = crypto::ready(); !ready) return fail(ready.error());
  std::optional<crypto::Key> from_file;
  if (files::exists_no_follow(key_file)) {
    auto text = files::read_regular_file(key_file, kMaxKeyBytes, kOwnerOnly);
    if (!text) return fail(text.error());
    while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
    auto key = crypto::key_from_text(*text);
    if (!key) return fail(key.error().with_context(key_file));
    from_file = *key;
  }
  if (const char* text = std::getenv("KEEL_STATE_KEY"); text && *text) {
    auto key = crypto::key_from_text(text);
    if (!key) return fail(key.error().with_context("KEEL_STATE_KEY"));
    // Two keys for one state: whichever wins, what the other sealed cannot
    // be opened, and the error would read as damage.
    if (from_file && *from_file != *key)
      return fail(ErrorCode::Conflict,
                  fmt::format("KEEL_STATE_KEY is set and is not the key in {}: unset it to use that file's key, or "
                              "share that key as KEEL_STATE_KEY=\"$(cat {})\"; if KEEL_STATE_KEY is the right one, "
                              "move {} away",
                              key_file, key_file, key_file));
    return key;
  }
  if (from_file) return *from_file;
  // A new key only where there is no state yet: a state whose key went
  // missing cannot be opened with a new one, and a new key left behind
  // would turn "the key is missing" into "wrong key" for good.
  if (auto state = state_needing_key ? state_needing_key : state_needing_a_key(files::dirname(key_file)))
    return fail(ErrorCode::NotFound,
                key_file + " is missing, but " + *state +
                    " exists: keel will not make a new key for a state written with another one. Restore " +
                    key_file + " (mode 0600), or set KEEL_STATE_KEY to the key this state was written with");
  crypto::Key key = crypto::random_key();
  if (auto s = files::write_atomic(key_file, crypto::key_to_text(key) + "\n", 0600); !s) return fail(s.error());
  return key;
}

Result<std::optional<State>> read_saved_state(const std::string& dir) {
  const std::string path = dir + "/state.json";
  if (auto st = check_state_dir(dir, /*create=*/false); !st) return fail(st.error());
  if (!files::exists_no_follow(dir)) return std::optional<State>();
  if (!files::exists_no_follow(path)) {
    if (files::exists_no_follow(path + ".backup")) return fail(missing_state_error(dir));
    if (files::exists_no_follow(path + ".migrated")) return fail(retired_error(dir));
    return std::optional<State>();
  }
  // Never makes a key here: a state exists, so a missing key is an error.
  auto key = load_or_create_key(dir + "/state.key");
  if (!key) return fail(key.error());
  auto text = files::read_regular_file(path, kMaxStateBytes, kOwnerOnly);
  if (!text) return fail(text.error());
  auto decoded = parse_state_text(*text, path, *key);
  if (!decoded) return fail(decoded.error());
  return std::optional<State>(std::move(*decoded));
}

Result<State> parse_state_text(std::string_view text, const std::string& path, const crypto::Key& key) {
  auto refuse = [&](const std::string& why) {
    return fail(ErrorCode::Corrupt, "state file " + path + " is unreadable (" + why + ")");
  };
  // Bounded nesting: copying a value recurses once per level, and a state
  // can come from a repository.
  if (jsonl::json_depth(text, kMaxStateDepth) > kMaxStateDepth)
    return refuse("nested deeper than " + std::to_string(kMaxStateDepth) + " levels");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return refuse("not valid JSON");
  if (!j.is_object()) return refuse("not a JSON object");
  auto s = decode_state(j, key);
  if (!s) return refuse(s.error().message());
  return s;
}

namespace {

// A field of a journal entry, of the type it must have.
const nlohmann::json* field(const nlohmann::json& entry, const char* name, nlohmann::json::value_t type) {
  auto it = entry.find(name);
  if (it == entry.end()) return nullptr;
  if (type == nlohmann::json::value_t::number_integer ? !it->is_number_integer() : it->type() != type) return nullptr;
  return &*it;
}

}  // namespace

Result<bool> replay_journal_text(std::string_view text, const std::string& path, const crypto::Key& key,
                                 State& state) {
  using Type = nlohmann::json::value_t;
  bool replayed = false, begun = false;
  size_t n = 0;
  // Only lines ended by '\n' count: a torn last write was never acknowledged.
  for (size_t pos = 0, nl; (nl = text.find('\n', pos)) != std::string_view::npos; pos = nl + 1) {
    ++n;
    const std::string where = path + " line " + std::to_string(n);
    auto damaged = [&](const std::string& why) { return fail(ErrorCode::Corrupt, where + " is damaged: " + why); };
    const std::string_view line = text.substr(pos, nl - pos);
    if (jsonl::json_depth(line, kMaxStateDepth) > kMaxStateDepth)
      return damaged("nested deeper than " + std::to_string(kMaxStateDepth) + " levels");
    const nlohmann::json e = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (e.is_discarded() || !e.is_object()) return damaged("not a JSON object");
    const nlohmann::json* op = field(e, "op", Type::string);
    if (!op) return damaged("no \"op\"");
    if (*op == "begin") {
      const nlohmann::json* lineage = field(e, "lineage", Type::string);
      const nlohmann::json* base = field(e, "base_serial", Type::number_integer);
      if (!lineage || !base) return damaged("a begin line needs a lineage and a base_serial");
      if (*lineage != state.lineage && !state.resources.empty())
        return fail(ErrorCode::Corrupt, path + " belongs to another state (lineage differs)");
      const long long base_serial = base->get<long long>();
      if (base_serial < state.serial) return replayed;  // already compacted into state.json
      if (base_serial > state.serial)
        return fail(ErrorCode::Corrupt,
                    path + " records changes made on top of serial " + std::to_string(base_serial) +
                        ", but the state here is at serial " + std::to_string(state.serial) +
                        " (was state.json replaced or lost?). keel will not apply them to another state: put back "
                        "the state.json they belong to, or move " + path + " away to drop them");
      state.lineage = lineage->get<std::string>();
      begun = true;
      continue;
    }
    if (!begun) return damaged("changes before the begin line that says which state they belong to");
    if (*op == "put" || *op == "intent") {
      const nlohmann::json* resource = field(e, "resource", Type::object);
      if (!resource) return damaged("no resource");
      auto r = decode_resource(*resource, key);
      if (!r) return fail(r.error().with_context(where));
      state.resources[r->address] = std::move(*r);
    } else if (*op == "remove") {
      const nlohmann::json* address = field(e, "address", Type::string);
      if (!address) return damaged("no address");
      state.resources.erase(address->get<std::string>());
    } else {
      return damaged("unknown op " + op->dump());
    }
    replayed = true;
  }
  return replayed;
}

Error missing_state_error(const std::string& dir) {
  const std::string path = dir + "/state.json";
  return Error(ErrorCode::Corrupt,
               path + " is missing, but " + path +
                   ".backup is beside it: keel will not start from an empty state (it would plan to create "
                   "everything again). If state.json was lost, restore the backup, which holds the state before "
                   "the last change: `cp " + path + ".backup " + path + "` (then `keel plan` shows what differs). "
                   "To start over on purpose, move " + path + ".backup away");
}

FileStateStore::FileStateStore(std::string dir) : dir_(std::move(dir)) {}
FileStateStore::~FileStateStore() = default;

Status FileStateStore::lock(const std::string& command) {
  // Before anything is opened under it: a .keel that is a link (dangling
  // or not), or that someone else can write into, could turn keel's writes
  // anywhere.
  if (auto s = check_state_dir(dir_, /*create=*/true); !s) return s;
  auto l = files::FileLock::acquire(dir_ + "/state.lock", command);
  if (!l) return fail(l.error());
  lock_.emplace(std::move(*l));
  command_ = command;
  auto key = load_or_create_key(dir_ + "/state.key");
  if (!key) return fail(key.error());
  key_ = *key;
  return {};
}

Result<State> FileStateStore::read_state_file() {
  if (!files::exists_no_follow(state_path())) {
    if (files::exists_no_follow(backup_path())) return fail(missing_state_error(dir_));
    State fresh;
    fresh.lineage = crypto::uuid_v4();
    return fresh;
  }
  auto text = files::read_regular_file(state_path(), kMaxStateBytes, kOwnerOnly);
  if (!text) return fail(text.error());
  auto s = parse_state_text(*text, state_path(), *key_);
  if (s || s.error().code() != ErrorCode::Corrupt) return s;
  std::string backup = files::exists_no_follow(backup_path()) ? "; the previous state is in " + backup_path()
                                                              : "; there is no backup";
  return fail(ErrorCode::Corrupt,
              s.error().message() + backup + ". keel will not overwrite it: restore it or move it away");
}

// Applies the journal's complete lines to `state`. The first line names the
// state it was written on top of; a journal whose base is older than
// state.json was already compacted (a crash between the two steps).
Status FileStateStore::replay_journal(State& state, bool& replayed) {
  replayed = false;
  if (!files::exists_no_follow(journal_path())) return {};
  auto text = files::read_regular_file(journal_path(), kMaxStateBytes, kOwnerOnly);
  if (!text) return fail(text.error());
  auto applied = replay_journal_text(*text, journal_path(), *key_, state);
  if (!applied) return fail(applied.error());
  replayed = *applied;
  return {};
}

Result<State> FileStateStore::load(bool compact) {
  auto s = read_state_file();
  if (!s) return s;
  loaded_.clear();
  for (const auto& [address, r] : s->resources) loaded_.insert(address);
  bool replayed = false;
  if (auto r = replay_journal(*s, replayed); !r) return fail(r.error());
  if (!compact) return s;
  if (replayed) {
    if (auto r = save(*s); !r) return fail(r.error());
  } else if (files::exists_no_follow(journal_path())) {
    if (auto r = files::remove_all(journal_path()); !r) return fail(r.error());
  }
  return s;
}

Status FileStateStore::begin(const State& base) {
  auto f = files::AppendFile::open(journal_path(), 0600);
  if (!f) return fail(f.error());
  {
    std::lock_guard lock(mu_);
    journal_ = std::make_unique<files::AppendFile>(std::move(*f));
  }
  nlohmann::json e = {{"op", "begin"}, {"lineage", base.lineage}, {"base_serial", base.serial}};
  return append_durable(e.dump() + "\n");
}

Status FileStateStore::append(const std::string& line) {
  std::lock_guard lock(mu_);
  if (!journal_) return fail(ErrorCode::Internal, "state journal is not open");
  if (auto s = journal_->append(line); !s) return s;
  ++appended_;
  return {};
}

Status FileStateStore::append_durable(const std::string& line) {
  std::unique_lock lock(mu_);
  if (!journal_) return fail(ErrorCode::Internal, "state journal is not open");
  if (auto s = journal_->append(line); !s) return s;
  unsigned long mine = ++appended_;
  while (synced_ < mine) {
    if (syncing_) {
      synced_cv_.wait(lock);
      continue;
    }
    syncing_ = true;
    unsigned long covering = appended_;
    lock.unlock();
    Status s = journal_->sync();
    lock.lock();
    syncing_ = false;
    if (s) synced_ = std::max(synced_, covering);
    synced_cv_.notify_all();
    if (!s) return s;
  }
  return {};
}

Status FileStateStore::record_intent(const ResourceState& r) {
  nlohmann::json e = {{"op", "intent"}, {"resource", encode_resource(r, *key_)}};
  return append_durable(e.dump() + "\n");
}

Status FileStateStore::record_put(const ResourceState& r) {
  nlohmann::json e = {{"op", "put"}, {"resource", encode_resource(r, *key_)}};
  return append(e.dump() + "\n");
}

Status FileStateStore::record_remove(const std::string& address) {
  nlohmann::json e = {{"op", "remove"}, {"address", address}};
  return append(e.dump() + "\n");
}

Status FileStateStore::save(State& state) {
  if (files::exists_no_follow(state_path())) {
    auto previous = files::read_regular_file(state_path(), kMaxStateBytes, kOwnerOnly);
    if (!previous) return fail(previous.error());
    if (auto s = files::write_atomic(backup_path(), *previous, 0600); !s) return s;
  }
  state.serial += 1;
  if (auto s = files::write_atomic(state_path(), encode_state(state, *key_).dump(2) + "\n", 0600); !s) {
    state.serial -= 1;
    return s;
  }
  {
    std::lock_guard lock(mu_);
    journal_.reset();
    appended_ = synced_ = 0;
  }
  append_history(state);
  if (files::exists_no_follow(migrated_path())) {  // a state migrated back here: this one is the state now
    if (auto s = files::remove_all(migrated_path()); !s) return s;
  }
  if (files::exists_no_follow(journal_path())) {
    if (auto s = files::remove_all(journal_path()); !s) return s;
    return files::fsync_dir(dir_);
  }
  return {};
}

bool holds_local_state(const std::string& dir) { return state_needing_a_key(dir).has_value(); }

Status FileStateStore::unretire() {
  if (!files::exists_no_follow(state_path()) || !files::exists_no_follow(migrated_path())) return {};
  return files::remove_all(migrated_path());
}

Result<bool> FileStateStore::is_retired() {
  return !files::exists_no_follow(state_path()) && files::exists_no_follow(migrated_path());
}

Status FileStateStore::retire() {
  if (files::exists_no_follow(backup_path())) {
    if (::rename(backup_path().c_str(), (backup_path() + ".migrated").c_str()) != 0)
      return fail(ErrorCode::Internal, fmt::format("rename {}: {}", backup_path(), std::strerror(errno)));
  }
  if (::rename(state_path().c_str(), migrated_path().c_str()) != 0)
    return fail(ErrorCode::Internal, fmt::format("rename {}: {}", state_path(), std::strerror(errno)));
  return files::fsync_dir(dir_);
}

// Best effort: the history only informs, and a save that reached
// state.json stands whether or not its line is written.
void FileStateStore::append_history(const State& saved) {
  HistoryEntry e{saved.serial, timeutil::rfc3339(std::chrono::system_clock::now()),
                 files::current_holder(command_).user_at_host(), command_, change_summary(loaded_, saved)};
  loaded_.clear();
  for (const auto& [address, r] : saved.resources) loaded_.insert(address);
  auto f = files::AppendFile::open(history_path(), 0600);
  if (f) (void)f->append(history_line(e));
}

Result<std::vector<HistoryEntry>> FileStateStore::history(size_t limit) {
  if (!files::exists_no_follow(history_path()))
    return fail(ErrorCode::NotFound, history_path() + " does not exist yet: it starts with the next save");
  auto text = files::read_regular_file(history_path(), kMaxStateBytes, kOwnerOnly);
  if (!text) return fail(text.error());
  return parse_history(*text, limit);
}

Result<State> FileStateStore::load_serial(long serial) {
  for (const std::string& path : {state_path(), backup_path()}) {
    if (!files::exists_no_follow(path)) continue;
    auto text = files::read_regular_file(path, kMaxStateBytes, kOwnerOnly);
    if (!text) return fail(text.error());
    auto s = parse_state_text(*text, path, *key_);
    if (!s) return s;
    if (s->serial == serial) return s;
  }
  return fail(ErrorCode::NotFound, fmt::format("serial {} is not kept in {}: the local backend keeps the state and "
                                               "the one before it (state.json.backup)",
                                               serial, dir_));
}

std::string work_dir_for(const std::string& stack_file, const std::string& environment) {
  const std::string dot_keel = files::dirname(stack_file) + "/.keel";
  // An environment's state, key and local resources are its own, as
  // Terraform's workspaces' are in terraform.tfstate.d/NAME.
  return environment.empty() ? dot_keel : dot_keel + "/environments/" + environment;
}

}  // namespace keel::state
