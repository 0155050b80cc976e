#pragma once
// How one attribute's change reads in a plan: a scalar as `before -> after`;
// a list or map key by key and index by index (`checks.database.query:
// "SELECT 1" -> "SELECT 2"`), so that a change to one check of a server is
// that check's own line. Only the sensitive parts are masked, and only the
// unknown parts are "(known after apply)".

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/engine/plan.h"

namespace keel::views {

// One changed leaf (or added/removed subtree) of an attribute.
struct LeafChange {
  std::string path;     // "checks.database.query", "inbound[0].ports"; the attribute's name for a scalar
  std::string pointer;  // JSON pointer inside the attribute ("" for the whole)
  bool had = true, has = true;  // false: added (had) or removed (has)
  nlohmann::json before, after;  // masked: null where sensitive or unknown
  bool before_sensitive = false, after_sensitive = false, after_unknown = false;
};

// The changed leaves of an update or replace, in key/index order. A scalar,
// or a value masked or unknown as a whole, is one leaf at pointer "".
std::vector<LeafChange> leaf_changes(const engine::AttributeChange& a);

// The attribute's value after the change, for a create: sensitive parts as
// "(sensitive)", unknown parts as "(known after apply)".
std::string shown_after(const engine::AttributeChange& a);

// The attribute's values with their sensitive parts null, for JSON.
nlohmann::json masked_before(const engine::AttributeChange& a);
nlohmann::json masked_after(const engine::AttributeChange& a);

}  // namespace keel::views
