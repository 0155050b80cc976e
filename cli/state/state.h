#pragma once
// The state model: what keel believes exists. In memory, sensitive
// attributes are held in clear; the codec (state_codec.h) encrypts them on
// the way to disk.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace keel::state {

inline constexpr int kStateFormatVersion = 1;

struct ResourceState {
  std::string address;        // "databases.main", "files.a[2]"
  std::string kind;           // "databases"
  std::string provider;       // provider block name ("local")
  std::string provider_type;  // "local", "example"
  std::string id;             // empty while only an intent is recorded
  nlohmann::json attributes = nlohmann::json::object();  // all of them, in clear in memory
  std::set<std::string> sensitive;                        // names of sensitive attributes
  // A sensitive list or map attribute only partly secret: the secret parts
  // (JSON pointers), for plans to mask only them. The attribute is still
  // sealed whole. Absent: all of it is secret.
  std::map<std::string, std::set<std::string>> sensitive_paths;
  std::vector<std::string> dependencies;                  // addresses it depended on when applied

  // A create was started but its result never recorded (a crash): the next
  // run looks the resource up by tags before creating anything.
  bool pending() const { return id.empty(); }
};

struct State {
  int version = kStateFormatVersion;
  std::string lineage;  // uuid, fixed for the life of the state
  long serial = 0;      // +1 for every saved change
  // The stack this state belongs to: its `project:` and its file's name in
  // the stack's directory. Empty in a state never applied (or written by a
  // keel before 0.2); recorded by the next save. See stack_binding.h.
  std::string project;
  std::string stack_file;
  std::string environment;  // -e it was applied with; empty: none
  std::map<std::string, ResourceState> resources;  // by address
  nlohmann::json outputs = nlohmann::json::object();         // name -> value (in clear in memory)
  std::set<std::string> sensitive_outputs;
  // Secrets of the stack itself, not of one resource: "backup_key", the
  // key every backup of the stack is encrypted with. Always sealed on disk.
  std::map<std::string, std::string> secrets;

  const ResourceState* find(const std::string& address) const;
};

inline constexpr const char* kBackupKeySecret = "backup_key";

// The stack's backup key as text (base64 of 32 bytes): the one in `secrets`,
// else the one a server holds (its `backup_key` attribute: an apply killed
// before it saved `secrets` had already handed it out, and backups were made
// with it). Empty when there is none.
std::string find_backup_key(const State& state);

// find_backup_key(), or a new random key when there is none; recorded in
// `secrets`, which the next save writes.
const std::string& ensure_backup_key(State& state);

}  // namespace keel::state
