#pragma once
// The stack file as written: the first stage of load -> validate -> resolve ->
// graph -> plan -> apply. Values are kept raw (with their "${...}" text) and
// every key keeps where it was written, so later stages can point at it.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diagnostics.h"

namespace keel::config {

// The longest resource name: the local provider makes directories and
// database names of it, and cloud providers names.
inline constexpr size_t kMaxResourceName = 64;

// The resource kinds a stack may declare, in the order they are listed.
const std::vector<std::string>& resource_kinds();
// Provider types built into keel: `provider: local` and `provider: ssh`
// work without a `providers:` block.
inline const std::vector<std::string>& builtin_provider_types() {
  static const std::vector<std::string> types = {"local", "ssh"};
  return types;
}
inline bool is_builtin_provider(const std::string& type) {
  for (const auto& t : builtin_provider_types())
    if (t == type) return true;
  return false;
}

// Kinds whose resources hold data (databases, caches, volumes): deleting
// or replacing one loses what is in it, which the plan says in so many words.
bool holds_data(const std::string& kind);

// Kinds DESIGN.md names that this version does not implement yet.
const std::vector<std::string>& future_kinds();

// An attribute the engine fills from a top-level section instead of the
// resource block: the `checks` of servers, from `checks:`; their `backups`
// (the jobs whose `runs_on` they are) from `backups:`, and `backup_key`, the
// stack's backup key, which keel makes. A block that sets one is refused with
// a pointer to the section (section_hint).
inline constexpr const char* kChecksAttribute = "checks";
inline constexpr const char* kBackupsAttribute = "backups";
inline constexpr const char* kBackupKeyAttribute = "backup_key";
bool filled_from_section(const std::string& kind, const std::string& attribute);
std::string section_hint(const std::string& address, const std::string& attribute);

struct Variable {
  std::string name;
  nlohmann::json default_value;  // null when none
  bool has_default = false;
  std::string env;               // environment variable that sets it
  // Shown as (sensitive), sealed in state. Default: true when `env` is
  // given (what the environment holds may be a secret), else false.
  bool sensitive = false;
  SourceMark sensitive_mark;     // where `sensitive:` was written, if it was
  std::string description;
  SourceMark mark;
};

// A variable's value given outside its declaration: in an environment's
// `vars:` or a --var-file.
struct VariableValue {
  std::string name;
  nlohmann::json value;
  SourceMark mark;
};

// environments: NAME: { vars: { VARIABLE: VALUE }, project: NAME,
// description: TEXT }. One stack, one state per environment (keel -e NAME).
struct EnvironmentBlock {
  std::string name;
  std::string description;  // for the reader of the stack
  // The project providers know this environment by (tags, default names);
  // empty: "PROJECT-NAME". The stack's own project for an environment whose
  // resources were made before the stack declared environments.
  std::string project;
  std::vector<VariableValue> vars;
  SourceMark mark;
};

// An environment's name as -e and `environments:` take it: it names a
// directory of .keel/ and is part of the name providers tag and name
// resources with.
bool is_environment_name(const std::string& name);

struct ProviderBlock {
  std::string name;    // the key under providers:
  std::string type;    // "local", "example", "digitalocean"
  nlohmann::json config = nlohmann::json::object();  // every other key
  std::map<std::string, SourceMark> marks;            // key -> where
  SourceMark mark;
};

// `lifecycle:` of a resource block: what keel must not do to it.
struct Lifecycle {
  // Terraform's prevent_destroy: a plan that would delete or replace the
  // resource while the stack declares it fails, naming it.
  bool prevent_destroy = false;
  SourceMark mark;  // the `prevent_destroy` value
  // Terraform's ignore_changes: attributes whose stack value counts only
  // when the resource is made; once it exists, what state holds stands for
  // them (a change made elsewhere on purpose is neither planned back nor
  // reported as drift).
  std::vector<std::pair<std::string, SourceMark>> ignore_changes;
};

struct ResourceBlock {
  std::string kind;      // "databases"
  std::string name;      // "main"
  std::string provider;  // provider block name; "local" when not given
  nlohmann::json count;  // null when not given; an integer or a "${...}" string
  SourceMark count_mark;
  std::vector<std::pair<std::string, SourceMark>> depends_on;  // addresses
  Lifecycle lifecycle;
  nlohmann::json attributes = nlohmann::json::object();  // provider attributes, raw
  std::map<std::string, SourceMark> marks;                // attribute -> where
  // Inside a map-valued attribute: JSON pointer ("/agent/health_port") ->
  // where its value is, so that a problem deep in it names its own line.
  std::map<std::string, SourceMark> value_marks;
  SourceMark mark;

  std::string address() const { return kind + "." + name; }
};

// One entry of the top-level `checks:` section: an agent check definition
// (core/check_spec.h, checked by the loader) plus `on:`, the servers that
// run it.
struct CheckBlock {
  std::string name;
  std::vector<std::pair<std::string, SourceMark>> on;  // "servers.web", "servers.web[0]", as written
  SourceMark on_mark;                                   // the `on:` key
  nlohmann::json body = nlohmann::json::object();       // the definition without `on`, raw
  std::map<std::string, SourceMark> marks;              // JSON pointer in `body` ("/http/url") -> where
  SourceMark mark;                                      // the check's name
  bool parsed = false;  // the definition passed the check parser (its "${...}" values unchecked)
};

// One entry of the top-level `backups:` section (docs/stack.md#backups), as
// far as the loader can check it alone. `body` is already the agent's job
// definition but for `source` (which the validator builds from the source
// resource's attributes) and defaults that need the environment.
struct BackupBlock {
  std::string name;
  SourceMark mark;                 // the job's name
  std::string source;              // "databases.main", "caches.c[0]"; empty for `{ files: [...] }`
  SourceMark source_mark;
  std::string runs_on;             // "servers.db", "servers.web[0]"; empty: the default
  SourceMark runs_on_mark;
  std::string scheme;              // of `to`: "file", "s3", "sftp"; empty when not known yet
  nlohmann::json body = nlohmann::json::object();  // raw: schedule, to, s3, sftp, retention, rpo, drill (+ files source)
  std::map<std::string, SourceMark> marks;         // JSON pointer in `body` -> where
};

// One entry of the top-level `apps:` section (docs/deploy.md): an
// application that `keel deploy NAME` rolls out to servers over SSH. Apps
// are not resources: no provider, nothing in the plan or the state. String
// values are kept raw (they may hold "${var.x}" / "${env.X}"); the deploy
// evaluates them.
struct AppBlock {
  std::string name;
  SourceMark mark;                                          // the app's name
  std::vector<std::pair<std::string, SourceMark>> servers;  // selectors as written: "servers.web", "servers.web[0]"
  std::string artifact;       // a .tar.gz/.tgz/.tar file or a directory, relative to Stack::dir
  std::string path;           // the app's root on the host (default /opt/keel/apps/NAME)
  std::string before, after;  // shell commands run in the new release's directory; empty: none
  std::string start;          // shell command run after the switch; empty: none
  std::vector<std::pair<std::string, SourceMark>> health;  // names of checks in `checks:`
  long long health_timeout_ms = 60'000;
  int batch = 1;               // hosts at a time, or a percentage of them with batch_percent
  bool batch_percent = false;
  int keep_releases = 5;
  std::map<std::string, SourceMark> marks;  // key ("artifact", "rollout/batch") -> where its value is
};

// A key as a JSON pointer token ("~" and "/" escaped, RFC 6901), as the
// keys of CheckBlock::marks are built.
std::string pointer_token(const std::string& key);

// The top-level `backend:`: where the state is kept when not in .keel/
// beside the stack (cli/state/store.h).
//   backend: { postgres: "${env.KEEL_PG_URL}" }
//   backend: { postgres: { url: "${env.KEEL_PG_URL}", key: shop-staging } }
struct BackendBlock {
  std::string type;              // "postgres"; empty: none declared (local)
  nlohmann::json url;            // raw: evaluated like a provider setting (${env.X}, ${var.X})
  std::string key;               // the state's name in the backend; empty: the project
  SourceMark mark, url_mark;
};

// One entry of the top-level `moved:` list (Terraform's `moved` blocks): a
// resource renamed in the stack, so that the plan moves what state holds
// instead of deleting the old address and creating the new one.
struct MovedBlock {
  std::string from, to;  // "servers.web", "servers.web[1]"
  SourceMark mark;       // the entry
};

struct Output {
  std::string name;
  nlohmann::json value;
  bool sensitive = false;
  std::string description;
  SourceMark mark;
};

struct Stack {
  std::string file;  // as given (for messages)
  std::string dir;   // absolute directory of the file: relative paths start here
  std::string project;
  std::vector<Variable> variables;
  std::vector<ProviderBlock> providers;
  std::vector<ResourceBlock> resources;  // in file order
  std::vector<CheckBlock> checks;        // in file order
  std::vector<BackupBlock> backups;      // in file order
  std::vector<AppBlock> apps;            // in file order
  std::vector<MovedBlock> moved;         // in file order: applied in this order
  std::vector<EnvironmentBlock> environments;  // in file order; empty: -e is optional
  SourceMark environments_mark;
  BackendBlock backend;
  std::vector<Output> outputs;

  const Variable* find_variable(const std::string& name) const;
  const ProviderBlock* find_provider(const std::string& name) const;
  const ResourceBlock* find_resource(const std::string& kind, const std::string& name) const;
  const EnvironmentBlock* find_environment(const std::string& name) const;
  // What is wrong with running this stack in `environment` (-e; empty:
  // none): a stack that declares environments needs one of them. Empty
  // when nothing.
  std::string environment_problem(const std::string& environment) const;

  // Address -> index into `resources` (the first block of that address);
  // kept by the loader, so that lookups stay O(log n) in 10,000-resource stacks.
  std::map<std::string, size_t> resource_index;
  // The same for `variables` and `providers`, by name: every reference
  // looks one up.
  std::map<std::string, size_t> variable_index, provider_index;
};

// Parses the YAML text and checks the stack's own structure (top-level keys,
// variables, providers, common resource keys, outputs). Provider attributes
// are checked later against the providers' schemas (validate.h). Returns the
// stack as far as it could be read, with every problem found.
struct LoadResult {
  Stack stack;
  Diagnostics diagnostics;
};
LoadResult load_stack_text(const std::string& text, const std::string& file, const std::string& dir);
LoadResult load_stack_file(const std::string& path);

// A --var-file: a YAML map of variable names to values, each with where it
// was written. Read as untrusted as a stack is.
struct VarFileResult {
  std::vector<VariableValue> values;
  Diagnostics diagnostics;
  std::string text;  // as read (a saved plan keeps it)
};
VarFileResult load_var_file(const std::string& path);
// The same from its text; `file` names it in messages.
VarFileResult load_var_text(const std::string& text, const std::string& file);

}  // namespace keel::config
