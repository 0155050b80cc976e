#pragma once
// The kinds DigitalOcean knows by name rather than by tag, and changes with
// one PUT of the whole configuration: load balancers and firewalls.
//
// Their API gives them no tags of their own, so keel names them (the user's
// `name`, else `<project>-<name>[-<index>]`) and finds them by that name.
// NamedKind holds what their five operations share:
//
// create  POST <collection> (a lost response is looked up by name, so it is
//         adopted, never duplicated), then waits until the resource settled.
// read    the kind's list snapshot, else one GET.
// update  PUT <collection>/{id} with the whole configuration, then waits.
// delete  DELETE <collection>/{id}; already gone is fine.
// find    by id (import), or by name; a resource found half-made (a crash
//         during its create) is waited for, as create would have.
//
// A subclass says how the configuration becomes the API's body, how the
// API's object becomes keel's attributes, and when the object has settled.

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "plugins/digitalocean/kind.h"
#include "plugins/digitalocean/naming.h"

namespace keel::digitalocean {

class NamedKind : public Kind {
 public:
  // What tells the kinds apart in requests and messages.
  struct Traits {
    std::string noun;        // "load balancer": in messages
    std::string collection;  // "/v2/load_balancers"
    std::string key;         // "load_balancer": the object in the API's answers
    NameRules name_rules;
    SnapshotSource Sources::*source;  // the kind's list
    std::string goal;                 // "to become active": how a wait is shown
    std::chrono::milliseconds settle_timeout{std::chrono::minutes(20)};
  };

  // The API's request body for a configuration, and the name in it.
  struct Body {
    std::string name;
    nlohmann::json body;
  };

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override;
  Result<provider::ReadResponse> read(const provider::ReadRequest& request) override;
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override;
  Status remove(const provider::DeleteRequest& request) override;
  Result<provider::FindResponse> find(const provider::FindRequest& request) override;

 protected:
  NamedKind(Context& context, Traits traits);

  // The request body for `config`; `fallback_name` when it names nothing.
  virtual Result<Body> body_from(const nlohmann::json& config, const std::string& fallback_name) const = 0;
  // The API's object as keel's attributes; `known` is what the user wrote
  // (or state holds), whose spelling wins where the meaning is the same.
  virtual nlohmann::json attributes(const nlohmann::json& resource, const nlohmann::json& known) const = 0;
  // true: settled; false: still being applied; an error: it failed.
  virtual Result<bool> settled(const std::string& id, const nlohmann::json& resource) const = 0;

 private:
  SnapshotSource& source() const { return c_.sources.*traits_.source; }
  std::string path_of(const std::string& id) const;
  Result<std::optional<nlohmann::json>> by_name(const std::string& name);
  Result<std::optional<nlohmann::json>> fetch(const std::string& id);
  // The object answered by a POST or PUT, else read afresh.
  Result<nlohmann::json> answered_or_fetched(const nlohmann::json& answer, const std::string& id);
  Result<nlohmann::json> wait_settled(const std::string& id, const nlohmann::json& resource,
                                      const provider::ProgressFn& progress);

  Context& c_;
  Traits traits_;
};

}  // namespace keel::digitalocean
