#pragma once
// The provider contract: what every provider offers keel, whether it is built
// in (`local`) or an out-of-process plugin (`keel-provider-NAME`, reached
// through the JSON-RPC protocol of docs/plugin-protocol.md).
//
// A provider offers resource kinds ("servers", "databases", "files", ...),
// each with an attribute schema, and five operations on them. Every method
// takes one request struct and returns one response struct so that the JSON
// protocol maps onto them one to one (see core/provider_json.h).
//
// Threading: the engine calls one provider from many threads at once (up to
// --parallelism), on different resources. Implementations must be safe for
// concurrent calls on distinct resources; the engine never runs two
// operations on the same resource at the same time.
//
// Errors: a Result error with ErrorCode::Transient means "worth retrying";
// ErrorCode::InvalidConfig means the user's attributes were refused (the
// message says which). A create that fails with InvalidConfig,
// PermissionDenied, NotFound or Conflict must have made nothing (the engine
// then forgets its intent); after any other error something may exist, and
// the next run looks for it with `find`. `read` of something that no longer exists is not an
// error: it answers `found = false`.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::provider {

inline constexpr int kProtocolVersion = 1;

enum class AttributeType { String, Number, Integer, Bool, List, Map, Any };
const char* to_string(AttributeType type);
std::optional<AttributeType> attribute_type_from_string(const std::string& name);

struct AttributeSchema {
  std::string name;
  AttributeType type = AttributeType::String;
  std::string description;
  bool required = false;   // the user must set it
  bool optional = false;   // the user may set it
  bool computed = false;   // the provider sets it (if optional too: when unset)
  bool force_new = false;  // changing it replaces the resource
  bool sensitive = false;  // never shown, stored encrypted
  nlohmann::json default_value;  // null when none
  // Allowed values for a String attribute (empty: any).
  std::vector<std::string> one_of;
  // Limits a value the user sets must keep. `keel validate` checks them
  // before anything is sent to any provider, so what a provider would
  // refuse at apply (a port of 70000, a database named "../x") is refused
  // with the stack's line and column instead; the provider still checks.
  std::optional<double> minimum, maximum;        // Number, Integer: inclusive bounds
  std::optional<size_t> min_length, max_length;  // String: in bytes
  // String: the characters it may hold, as a class like "A-Za-z0-9_-"
  // (core/text.h in_class: ranges and single characters, a `-` first or
  // last stands for itself); `first_character`: the class of its first
  // character. Empty: any. Classes, not regular expressions: checking a
  // value must stay linear in its length.
  std::string characters, first_character;
  // String: values the provider refuses although they fit the class
  // (PostgreSQL's `template1`); an entry ending in `*` refuses every value
  // that starts with what precedes it (`pg_*`).
  std::vector<std::string> reserved;

  bool settable() const { return required || optional; }
};

struct KindSchema {
  std::string kind;  // stack section: "servers", "databases", "files", ...
  std::string description;
  std::vector<AttributeSchema> attributes;

  const AttributeSchema* find(const std::string& name) const;
};

struct ProviderSchema {
  std::string name;     // "local", "example", "digitalocean"
  std::string version;  // the provider's own version
  // Settings of the `providers:` block (token, endpoint, ...).
  std::vector<AttributeSchema> config;
  std::vector<KindSchema> kinds;

  const KindSchema* find_kind(const std::string& kind) const;
};

// Tags keel puts on everything it creates, so that a crashed run's creations
// can be found and adopted: project and address (e.g. "databases.main").
struct ResourceTags {
  std::string project;
  std::string address;
};

// Called by long operations to report progress ("waiting for action 42").
using ProgressFn = std::function<void(const std::string& message)>;

// Called by an operation that from now on only waits for the cloud (a server
// booting, a load balancer provisioning) and makes few requests: the engine
// then lets another change start in its place, so that --parallelism bounds
// the changes making requests, not those waiting (a provider's request
// budget still bounds its rate). Optional to call; repeats are ignored; may
// be called from any thread while the operation runs. Unset (null) when
// nobody listens.
using WaitingFn = std::function<void()>;

// True once the person asked keel to stop (the first Ctrl-C): a wait that
// may be left with nothing lost (the resource is recorded and the next
// apply finishes it) should end instead of running to its deadline.
// Unset (null) when nobody can ask.
using StoppingFn = std::function<bool()>;

// Attributes are a JSON object: name -> value, sensitive values included in
// clear (they are protected in state and output, not between keel and the
// provider, which needs them).
using Attributes = nlohmann::json;

struct ConfigureRequest {
  Attributes config;      // the provider block's settings, resolved
  // For local data: the stack's .keel directory, or its environment's
  // (.keel/environments/NAME with keel -e NAME).
  std::string work_dir;
  std::string project;    // the stack's project, "PROJECT-ENVIRONMENT" with -e: tag and name with it
  std::string stack_dir;  // the stack file's directory: relative paths in settings start here
};

struct CreateRequest {
  std::string kind;
  ResourceTags tags;
  Attributes config;      // settable attributes the user gave, defaults applied
  ProgressFn progress;
  WaitingFn waiting = {};  // defaulted: brace-initialisers may leave it out
  StoppingFn stopping = {};
};
struct CreateResponse {
  std::string id;
  Attributes attributes;  // every attribute, computed ones included
};

struct ReadRequest {
  std::string kind;
  std::string id;
  Attributes attributes;  // what state holds
  ProgressFn progress;
  std::string address = {};  // keel's, for its debug log (not sent to plugins); last, defaulted
};
struct ReadResponse {
  bool found = false;
  Attributes attributes;
};

struct UpdateRequest {
  std::string kind;
  std::string id;
  ResourceTags tags;
  Attributes prior;       // what state holds
  Attributes config;      // what the user wants now
  ProgressFn progress;
  WaitingFn waiting = {};  // defaulted: brace-initialisers may leave it out
  StoppingFn stopping = {};
};
struct UpdateResponse {
  Attributes attributes;
};

struct DeleteRequest {
  std::string kind;
  std::string id;
  Attributes attributes;
  ProgressFn progress;
  WaitingFn waiting = {};      // defaulted: brace-initialisers may leave it out
  std::string address = {};    // keel's, for its debug log (not sent to plugins)
};

// Find looks a resource up by keel's tags (adoption after a crash) or, for
// `keel state import`, by id. Not finding it is not an error.
struct FindRequest {
  std::string kind;
  ResourceTags tags;
  std::string id;         // set for import; empty when finding by tags
  Attributes config;
  ProgressFn progress;
};
struct FindResponse {
  bool found = false;
  std::string id;
  Attributes attributes;
};

class Provider {
 public:
  virtual ~Provider() = default;

  virtual const ProviderSchema& schema() const = 0;
  // Called once, before any other operation. Checks credentials and tools.
  virtual Status configure(const ConfigureRequest& request) = 0;
  virtual Result<CreateResponse> create(const CreateRequest& request) = 0;
  virtual Result<ReadResponse> read(const ReadRequest& request) = 0;
  virtual Result<UpdateResponse> update(const UpdateRequest& request) = 0;
  // Deleting something already gone succeeds.
  virtual Status remove(const DeleteRequest& request) = 0;
  virtual Result<FindResponse> find(const FindRequest& request) = 0;
};

}  // namespace keel::provider
