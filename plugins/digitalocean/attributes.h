#pragma once
// The kit's attribute plumbing (plugins/sdk/attributes.h) under the names the
// DigitalOcean kinds use, and the one reader only DigitalOcean needs.

#include <string>

#include <nlohmann/json.hpp>

#include "plugins/sdk/attributes.h"

namespace keel::digitalocean {

using nlohmann::json;
using provider::AttributeSchema;
using provider::AttributeType;

using kit::Attr;
using kit::boolean;
using kit::canonical_ids;
using kit::field;
using kit::field_integer;
using kit::field_string;
using kit::id_list;
using kit::is_set;
using kit::numeric_id;
using kit::optional_integer;
using kit::optional_string;
using kit::prefer_known;
using kit::required_string;
using kit::sorted;
using kit::string_list;
using kit::value_of;

// j["region"]["slug"], or j["region"] when it is a plain string.
std::string region_slug(const json& j);

}  // namespace keel::digitalocean
