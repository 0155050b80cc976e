#pragma once
// The provider conformance suite: what the engine relies on from every
// provider (core/provider.h), checked the same way against each one and each
// of its kinds. A Case names the kind, a configuration to create it with,
// a change that must be applied in place, and the computed attributes a
// create must return.
//
//   testing::ConformanceCase c{"servers", config, {{"size", "s-2vcpu-2gb"}}, {"id", "ipv4"}};
//   testing::check_conformance(provider, c);
//
// What it checks, in order:
//  - the schema: the kind exists; every attribute is settable or computed;
//    the configuration's keys are settable attributes;
//  - create: an id, every setting echoed back, every named computed attribute;
//  - read: found, with the same settings and id;
//  - find by keel's tags: this resource and no other (another address, another
//    project); find by id (import);
//  - update in place: the change is read back, the id is unchanged;
//  - delete: read says gone, find by tags finds nothing, a second delete
//    succeeds.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/provider.h"

namespace keel::testing {

struct ConformanceCase {
  ConformanceCase(std::string kind, nlohmann::json config, nlohmann::json in_place_change,
                  std::vector<std::string> computed)
      : kind(std::move(kind)), config(std::move(config)), in_place_change(std::move(in_place_change)),
        computed(std::move(computed)) {}

  std::string kind;
  nlohmann::json config;                // settable attributes to create with
  nlohmann::json in_place_change;       // attributes whose change is an update in place
  std::vector<std::string> computed;    // attributes create must return
  std::string project = "conformance";
  std::string address;                  // default: KIND.conformance
};

inline void check_settings_echoed(const nlohmann::json& attributes, const nlohmann::json& config, const char* what) {
  for (auto it = config.begin(); it != config.end(); ++it) {
    INFO(what << ": attribute `" << it.key() << "`, attributes " << attributes.dump());
    REQUIRE(attributes.contains(it.key()));
    CHECK(attributes.at(it.key()) == it.value());
  }
}

inline void check_conformance(provider::Provider& p, const ConformanceCase& c) {
  using namespace provider;
  const std::string address = c.address.empty() ? c.kind + ".conformance" : c.address;
  const ResourceTags tags{c.project, address};
  INFO("provider " << p.schema().name << ", kind " << c.kind);

  const KindSchema* kind = p.schema().find_kind(c.kind);
  REQUIRE(kind != nullptr);
  for (const auto& a : kind->attributes) {
    INFO("attribute " << a.name);
    CHECK((a.settable() || a.computed));
    CHECK_FALSE((a.required && a.optional));
  }
  for (auto it = c.config.begin(); it != c.config.end(); ++it) {
    INFO("configured attribute " << it.key());
    const AttributeSchema* a = kind->find(it.key());
    REQUIRE(a != nullptr);
    CHECK(a->settable());
  }

  auto created = p.create({c.kind, tags, c.config, nullptr});
  REQUIRE(created);
  REQUIRE_FALSE(created->id.empty());
  check_settings_echoed(created->attributes, c.config, "create");
  for (const auto& name : c.computed) {
    INFO("computed attribute `" << name << "` after create: " << created->attributes.dump());
    CHECK(created->attributes.contains(name));
  }

  auto read = p.read({c.kind, created->id, created->attributes, nullptr});
  REQUIRE(read);
  REQUIRE(read->found);
  check_settings_echoed(read->attributes, c.config, "read");

  auto found = p.find({c.kind, tags, "", c.config, nullptr});
  REQUIRE(found);
  CHECK(found->found);
  CHECK(found->id == created->id);
  auto other_address = p.find({c.kind, {c.project, address + "-other"}, "", c.config, nullptr});
  REQUIRE(other_address);
  CHECK_FALSE(other_address->found);
  auto other_project = p.find({c.kind, {c.project + "-other", address}, "", c.config, nullptr});
  REQUIRE(other_project);
  CHECK_FALSE(other_project->found);
  auto imported = p.find({c.kind, {}, created->id, nlohmann::json::object(), nullptr});
  REQUIRE(imported);
  CHECK(imported->found);
  CHECK(imported->id == created->id);

  nlohmann::json changed = c.config;
  for (auto it = c.in_place_change.begin(); it != c.in_place_change.end(); ++it) changed[it.key()] = it.value();
  auto updated = p.update({c.kind, created->id, tags, created->attributes, changed, nullptr});
  REQUIRE(updated);
  check_settings_echoed(updated->attributes, changed, "update");
  auto reread = p.read({c.kind, created->id, updated->attributes, nullptr});
  REQUIRE(reread);
  REQUIRE(reread->found);
  check_settings_echoed(reread->attributes, c.in_place_change, "read after update");

  REQUIRE(p.remove({c.kind, created->id, updated->attributes, nullptr}));
  auto gone = p.read({c.kind, created->id, updated->attributes, nullptr});
  REQUIRE(gone);
  CHECK_FALSE(gone->found);
  auto not_found = p.find({c.kind, tags, "", c.config, nullptr});
  REQUIRE(not_found);
  CHECK_FALSE(not_found->found);
  CHECK(p.remove({c.kind, created->id, updated->attributes, nullptr}));
}

}  // namespace keel::testing
