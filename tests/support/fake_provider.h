#pragma once
// A fake provider for unit tests of the engine: resources live in a map,
// every call is recorded, and hooks let a test fail or slow a call.

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/provider.h"

namespace keel::testing {

class FakeProvider : public provider::Provider {
 public:
  static provider::AttributeSchema attribute(const std::string& name, provider::AttributeType type) {
    provider::AttributeSchema a;
    a.name = name;
    a.type = type;
    return a;
  }

  FakeProvider() {
    using provider::AttributeSchema;
    using provider::AttributeType;
    provider::KindSchema files;
    files.kind = "files";
    AttributeSchema path = attribute("path", AttributeType::String);
    path.required = true;
    path.force_new = true;
    AttributeSchema content = attribute("content", AttributeType::String);
    content.optional = true;
    content.default_value = "";
    AttributeSchema secret = attribute("secret", AttributeType::String);
    secret.optional = true;
    secret.sensitive = true;
    AttributeSchema size = attribute("size", AttributeType::Integer);
    size.computed = true;
    AttributeSchema token = attribute("token", AttributeType::String);
    token.computed = true;
    token.sensitive = true;
    // A list, for `[*]` references (a string attribute refuses a list).
    AttributeSchema labels = attribute("labels", AttributeType::List);
    labels.optional = true;
    // Any value, for what only an Any attribute takes (a list of lists).
    AttributeSchema extra = attribute("extra", AttributeType::Any);
    extra.optional = true;
    files.attributes = {path, content, secret, size, token, labels, extra};
    // Servers as the stack's `checks:` reach them: a `checks` map the
    // engine fills, and a computed host.
    provider::KindSchema servers;
    servers.kind = "servers";
    AttributeSchema label = attribute("label", AttributeType::String);
    label.optional = true;
    AttributeSchema checks = attribute("checks", AttributeType::Map);
    checks.optional = true;
    AttributeSchema host = attribute("host", AttributeType::String);
    host.computed = true;
    // A map the stack sets directly (checks come from `checks:`), for plans
    // of nested values.
    AttributeSchema settings = attribute("settings", AttributeType::Map);
    settings.optional = true;
    servers.attributes = {label, checks, host, settings};
    schema_.name = "fake";
    schema_.version = "0";
    schema_.kinds = {files, servers};
  }

  const provider::ProviderSchema& schema() const override { return schema_; }
  Status configure(const provider::ConfigureRequest&) override { return {}; }

  Result<provider::CreateResponse> create(const provider::CreateRequest& r) override {
    record("create " + r.tags.address);
    if (on_create) on_create(r);  // first: a hook may slow a create that then fails
    if (fail_on == r.tags.address) return fail(ErrorCode::Internal, "injected failure");
    std::lock_guard lock(mu_);
    std::string id = "id-" + std::to_string(++next_id_);
    auto attrs = computed(r.kind, r.config, id);
    objects[id] = {r.tags.address, attrs};
    return provider::CreateResponse{id, attrs};
  }
  Result<provider::ReadResponse> read(const provider::ReadRequest& r) override {
    record("read " + r.id);
    std::lock_guard lock(mu_);
    auto it = objects.find(r.id);
    if (it == objects.end()) return provider::ReadResponse{false, {}};
    return provider::ReadResponse{true, it->second.attributes};
  }
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& r) override {
    record("update " + r.tags.address);
    std::lock_guard lock(mu_);
    auto attrs = computed(r.kind, r.config, r.id);
    objects[r.id] = {r.tags.address, attrs};
    return provider::UpdateResponse{attrs};
  }
  Status remove(const provider::DeleteRequest& r) override {
    record("delete " + r.id);
    std::lock_guard lock(mu_);
    objects.erase(r.id);
    return {};
  }
  Result<provider::FindResponse> find(const provider::FindRequest& r) override {
    record("find " + r.tags.address);
    std::lock_guard lock(mu_);
    for (const auto& [id, o] : objects)
      if (o.address == r.tags.address) return provider::FindResponse{true, id, o.attributes};
    return provider::FindResponse{false, "", {}};
  }

  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

  struct Object {
    std::string address;
    nlohmann::json attributes;
  };
  std::map<std::string, Object> objects;  // by id
  std::string fail_on;                    // address whose create fails
  std::function<void(const provider::CreateRequest&)> on_create;

 private:
  nlohmann::json computed(const std::string& kind, const nlohmann::json& config, const std::string& id) {
    nlohmann::json attrs = config;
    if (kind == "servers") {
      attrs["host"] = "host-" + id;
      return attrs;
    }
    attrs["size"] = config.value("content", "").size();
    attrs["token"] = "tok-" + id;
    return attrs;
  }
  void record(const std::string& call) {
    std::lock_guard lock(mu_);
    calls_.push_back(call);
  }
  provider::ProviderSchema schema_;
  std::mutex mu_;
  std::vector<std::string> calls_;
  int next_id_ = 0;
};

}  // namespace keel::testing
