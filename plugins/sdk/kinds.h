#pragma once
// The kit's kinds: a provider is a set of kinds (servers, volumes, ...),
// one class each, behind this interface, and a dispatch by the request's
// kind. A provider written with the kit keeps one Kinds per configured
// session and answers each operation with kinds.get(request.kind).
//
//   Kinds kinds("aws");
//   kinds.add("servers", make_servers(context));
//   auto kind = kinds.get(request.kind);   // InvalidConfig naming the known kinds
//   if (kind) return (*kind)->create(request);

#include <map>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/provider.h"

namespace keel::kit {

// The five operations of core/provider.h for one stack section.
class Kind {
 public:
  virtual ~Kind() = default;
  virtual Result<provider::CreateResponse> create(const provider::CreateRequest& request) = 0;
  virtual Result<provider::ReadResponse> read(const provider::ReadRequest& request) = 0;
  virtual Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) = 0;
  virtual Status remove(const provider::DeleteRequest& request) = 0;
  virtual Result<provider::FindResponse> find(const provider::FindRequest& request) = 0;
};

class Kinds {
 public:
  explicit Kinds(std::string provider) : provider_(std::move(provider)) {}

  void add(const std::string& name, std::unique_ptr<Kind> kind) { kinds_[name] = std::move(kind); }
  // The kind of a stack section; InvalidConfig naming the ones there are.
  Result<Kind*> get(const std::string& name) const;

 private:
  std::string provider_;
  std::map<std::string, std::unique_ptr<Kind>> kinds_;
};

// Reports progress when there is someone to hear it.
void report(const provider::ProgressFn& progress, const std::string& message);

// The error of a create that failed after its first object (`what`, `id`)
// was made: never a refusal, which tells keel nothing was made (it would
// forget the intent and leave `id` in the cloud, unknown to state), and
// naming what was made; the next apply finds it by keel's tags and
// finishes it (docs/plugin-protocol.md).
Error after_made(const std::string& what, const std::string& id, const Error& e);

}  // namespace keel::kit
