#include "cli/state/file_store.h"

#include <cstdlib>
#include <sstream>
#include <unistd.h>

#include "cli/state/state_codec.h"

namespace keel::state {

Result<crypto::Key> load_or_create_key(const std::string& key_file) {
  if (const char* text = std::getenv("KEEL_STATE_KEY"); text && *text) {
    auto key = crypto::key_from_text(text);
    if (!key) return fail(key.error().with_context("KEEL_STATE_KEY"));
    return key;
  }
  if (files::exists(key_file)) {
    auto text = files::read_file(key_file);
    if (!text) return fail(text.error());
    while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
    auto key = crypto::key_from_text(*text);
    if (!key) return fail(key.error().with_context(key_file));
    return key;
  }
  crypto::Key key = crypto::random_key();
  if (auto s = files::write_atomic(key_file, crypto::key_to_text(key) + "\n", 0600); !s) return fail(s.error());
  return key;
}

Result<std::optional<State>> read_saved_state(const std::string& dir) {
  const std::string path = dir + "/state.json";
  if (!files::exists(path)) return std::optional<State>();
  const char* env_key = std::getenv("KEEL_STATE_KEY");
  const std::string key_file = dir + "/state.key";
  // Never let load_or_create_key make a new key here: it would not open
  // this state, and would be left behind.
  if ((!env_key || !*env_key) && !files::exists(key_file))
    return fail(ErrorCode::NotFound, path + " has no key: set KEEL_STATE_KEY to the key this state was written with");
  auto key = load_or_create_key(key_file);
  if (!key) return fail(key.error());
  auto text = files::read_file(path);
  if (!text) return fail(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(ErrorCode::Corrupt, path + " is not valid JSON");
  auto decoded = decode_state(j, *key);
  if (!decoded) return fail(decoded.error().with_context(path));
  return std::optional<State>(std::move(*decoded));
}

FileStateStore::FileStateStore(std::string dir) : dir_(std::move(dir)) {}
FileStateStore::~FileStateStore() = default;

Status FileStateStore::lock(const std::string& command) {
  if (auto s = files::make_dirs(dir_, 0755); !s) return s;
  auto l = files::FileLock::acquire(dir_ + "/state.lock", command);
  if (!l) return fail(l.error());
  lock_.emplace(std::move(*l));
  auto key = load_or_create_key(dir_ + "/state.key");
  if (!key) return fail(key.error());
  key_ = *key;
  return {};
}

Result<State> FileStateStore::read_state_file() {
  if (!files::exists(state_path())) {
    State fresh;
    fresh.lineage = crypto::uuid_v4();
    return fresh;
  }
  auto text = files::read_file(state_path());
  if (!text) return fail(text.error());
  auto refuse = [&](const std::string& why) {
    std::string backup = files::exists(backup_path()) ? "; the previous state is in " + backup_path() : "; there is no backup";
    return fail(ErrorCode::Corrupt, "state file " + state_path() + " is unreadable (" + why + ")" + backup +
                                        ". keel will not overwrite it: restore it or move it away");
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    return refuse(e.what());
  }
  auto s = decode_state(j, *key_);
  if (!s) return refuse(s.error().message());
  return s;
}

// Applies the journal's complete lines to `state`. The first line names the
// state it was written on top of; a journal whose base is older than
// state.json was already compacted (a crash between the two steps).
Status FileStateStore::replay_journal(State& state, bool& replayed) {
  replayed = false;
  if (!files::exists(journal_path())) return {};
  auto text = files::read_file(journal_path());
  if (!text) return fail(text.error());
  std::istringstream in(*text);
  std::string line;
  bool complete_only = !text->empty() && text->back() == '\n';
  size_t lines_total = std::count(text->begin(), text->end(), '\n') + (complete_only ? 0 : 1);
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (n == lines_total && !complete_only) break;  // torn last write: never acknowledged
    nlohmann::json e;
    try {
      e = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& ex) {
      return fail(ErrorCode::Corrupt, journal_path() + " line " + std::to_string(n) + " is damaged: " + ex.what());
    }
    std::string op = e.value("op", "");
    if (op == "begin") {
      if (e.value("lineage", "") != state.lineage && !state.resources.empty())
        return fail(ErrorCode::Corrupt, journal_path() + " belongs to another state (lineage differs)");
      if (e.value("base_serial", 0L) < state.serial) return {};  // already compacted
      state.lineage = e.value("lineage", state.lineage);
      continue;
    }
    replayed = true;
    if (op == "put" || op == "intent") {
      auto r = decode_resource(e.at("resource"), *key_);
      if (!r) return fail(r.error().with_context(journal_path() + " line " + std::to_string(n)));
      state.resources[r->address] = std::move(*r);
    } else if (op == "remove") {
      state.resources.erase(e.value("address", ""));
    }
  }
  return {};
}

Result<State> FileStateStore::load() {
  auto s = read_state_file();
  if (!s) return s;
  bool replayed = false;
  if (auto r = replay_journal(*s, replayed); !r) return fail(r.error());
  if (replayed) {
    if (auto r = save(*s); !r) return fail(r.error());
  } else if (files::exists(journal_path())) {
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
  if (files::exists(state_path())) {
    auto previous = files::read_file(state_path());
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
  if (files::exists(journal_path())) {
    if (auto s = files::remove_all(journal_path()); !s) return s;
    return files::fsync_dir(dir_);
  }
  return {};
}

}  // namespace keel::state
