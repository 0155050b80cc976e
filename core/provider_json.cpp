#include "core/provider_json.h"

#include <stdexcept>

#include "core/text.h"

namespace keel::provider {
namespace {

using nlohmann::json;

// Thrown by the field readers below and caught in `parse`, so that decoding
// code reads straight through; it never leaves this file.
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void require_object(const json& j, const char* what) {
  if (!j.is_object()) throw FieldError(std::string(what) + " must be a JSON object");
}

bool absent(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null();
}

std::string get_string(const json& j, const char* key, bool required) {
  if (absent(j, key)) {
    if (required) throw FieldError(std::string("missing field \"") + key + "\"");
    return {};
  }
  const json& v = j.at(key);
  if (!v.is_string()) throw FieldError(std::string("field \"") + key + "\" must be a string");
  return v.get<std::string>();
}

bool get_bool(const json& j, const char* key) {
  if (absent(j, key)) return false;
  const json& v = j.at(key);
  if (!v.is_boolean()) throw FieldError(std::string("field \"") + key + "\" must be a boolean");
  return v.get<bool>();
}

json get_attributes(const json& j, const char* key) {
  if (absent(j, key)) return json::object();
  const json& v = j.at(key);
  if (!v.is_object()) throw FieldError(std::string("field \"") + key + "\" must be an object");
  return v;
}

const json& get_array(const json& j, const char* key) {
  static const json empty = json::array();
  if (absent(j, key)) return empty;
  const json& v = j.at(key);
  if (!v.is_array()) throw FieldError(std::string("field \"") + key + "\" must be an array");
  return v;
}

// Runs a decoder, turning FieldError into a Protocol error that says what
// was being decoded.
template <typename T, typename Fn>
Result<T> parse(const char* what, const json& j, Fn decode) {
  try {
    require_object(j, what);
    return decode(j);
  } catch (const FieldError& e) {
    return fail(ErrorCode::Protocol, std::string(what) + ": " + e.what());
  } catch (const json::exception& e) {
    return fail(ErrorCode::Protocol, std::string(what) + ": " + e.what());
  }
}

// Unwraps a nested Result inside a decoder.
template <typename T>
T value_or_throw(Result<T> r) {
  if (!r) throw FieldError(r.error().message());
  return std::move(*r);
}

std::optional<double> get_number(const json& j, const char* key) {
  if (absent(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_number()) throw FieldError(std::string("field \"") + key + "\" must be a number");
  return v.get<double>();
}

std::optional<size_t> get_count(const json& j, const char* key) {
  if (absent(j, key)) return std::nullopt;
  const json& v = j.at(key);
  if (!v.is_number_unsigned()) throw FieldError(std::string("field \"") + key + "\" must be a whole number, 0 or more");
  return v.get<size_t>();
}

std::string get_class(const json& j, const char* key, const std::string& attribute) {
  std::string cls = get_string(j, key, false);
  if (!text::valid_class(cls))
    throw FieldError("attribute \"" + attribute + "\": " + key + " \"" + cls + "\" is not a character class");
  return cls;
}

// The value limits (AttributeSchema::minimum ...); each may be absent.
void decode_constraints(const json& j, AttributeSchema& a) {
  a.minimum = get_number(j, "minimum");
  a.maximum = get_number(j, "maximum");
  a.min_length = get_count(j, "min_length");
  a.max_length = get_count(j, "max_length");
  a.characters = get_class(j, "characters", a.name);
  a.first_character = get_class(j, "first_character", a.name);
  for (const auto& v : get_array(j, "reserved")) {
    if (!v.is_string()) throw FieldError("attribute \"" + a.name + "\": reserved must hold strings");
    a.reserved.push_back(v.get<std::string>());
  }
}

void encode_constraints(const AttributeSchema& a, json& j) {
  if (a.minimum) j["minimum"] = *a.minimum;
  if (a.maximum) j["maximum"] = *a.maximum;
  if (a.min_length) j["min_length"] = *a.min_length;
  if (a.max_length) j["max_length"] = *a.max_length;
  if (!a.characters.empty()) j["characters"] = a.characters;
  if (!a.first_character.empty()) j["first_character"] = a.first_character;
  if (!a.reserved.empty()) j["reserved"] = a.reserved;
}

// Kind and attribute names from a plugin are keys of the stack and words of
// keel's messages and plans: plain names, never text that a terminal obeys.
std::string get_name(const json& j, const char* key) {
  std::string name = get_string(j, key, true);
  if (!text::is_name(name, 64, "_", "_-"))
    throw FieldError(std::string(key) + " \"" + text::printable(name.substr(0, 64)) +
                     "\" is not a name: letters, digits, '_' and '-', at most 64");
  return name;
}

AttributeSchema decode_attribute(const json& j) {
  AttributeSchema a;
  a.name = get_name(j, "name");
  const std::string type = get_string(j, "type", true);
  auto t = attribute_type_from_string(type);
  if (!t) throw FieldError("attribute \"" + a.name + "\": unknown type \"" + type + "\"");
  a.type = *t;
  a.description = get_string(j, "description", false);
  a.required = get_bool(j, "required");
  a.optional = get_bool(j, "optional");
  a.computed = get_bool(j, "computed");
  a.force_new = get_bool(j, "force_new");
  a.sensitive = get_bool(j, "sensitive");
  a.default_value = j.value("default", json());
  for (const auto& v : get_array(j, "one_of")) {
    if (!v.is_string()) throw FieldError("attribute \"" + a.name + "\": one_of must hold strings");
    a.one_of.push_back(v.get<std::string>());
  }
  decode_constraints(j, a);
  return a;
}

std::vector<AttributeSchema> decode_attributes(const json& j, const char* key) {
  std::vector<AttributeSchema> out;
  for (const auto& a : get_array(j, key)) out.push_back(value_or_throw(attribute_schema_from_json(a)));
  return out;
}

json attributes_json(const std::vector<AttributeSchema>& attributes) {
  json out = json::array();
  for (const auto& a : attributes) out.push_back(to_json(a));
  return out;
}

json object_or_empty(const Attributes& a) { return a.is_null() ? json::object() : a; }

}  // namespace

// --- schema ------------------------------------------------------------------

json to_json(const AttributeSchema& a) {
  json j{{"name", a.name},           {"type", to_string(a.type)},
         {"description", a.description}, {"required", a.required},
         {"optional", a.optional},   {"computed", a.computed},
         {"force_new", a.force_new}, {"sensitive", a.sensitive},
         {"default", a.default_value}, {"one_of", a.one_of}};
  encode_constraints(a, j);  // only those set: older readers see what they know
  return j;
}

json to_json(const KindSchema& k) {
  return json{{"kind", k.kind}, {"description", k.description}, {"attributes", attributes_json(k.attributes)}};
}

json to_json(const ProviderSchema& s) {
  json kinds = json::array();
  for (const auto& k : s.kinds) kinds.push_back(to_json(k));
  return json{{"name", s.name}, {"version", s.version}, {"config", attributes_json(s.config)}, {"kinds", kinds}};
}

Result<AttributeSchema> attribute_schema_from_json(const json& j) {
  return parse<AttributeSchema>("attribute schema", j, decode_attribute);
}

Result<KindSchema> kind_schema_from_json(const json& j) {
  return parse<KindSchema>("kind schema", j, [](const json& o) {
    KindSchema k;
    k.kind = get_name(o, "kind");
    k.description = get_string(o, "description", false);
    k.attributes = decode_attributes(o, "attributes");
    return k;
  });
}

Result<ProviderSchema> provider_schema_from_json(const json& j) {
  return parse<ProviderSchema>("provider schema", j, [](const json& o) {
    ProviderSchema s;
    s.name = get_string(o, "name", true);
    s.version = get_string(o, "version", false);
    s.config = decode_attributes(o, "config");
    for (const auto& k : get_array(o, "kinds")) s.kinds.push_back(value_or_throw(kind_schema_from_json(k)));
    return s;
  });
}

json to_json(const ResourceTags& t) { return json{{"project", t.project}, {"address", t.address}}; }

ResourceTags tags_from_json(const json& j) {
  ResourceTags t;
  if (!j.is_object()) return t;
  if (auto it = j.find("project"); it != j.end() && it->is_string()) t.project = it->get<std::string>();
  if (auto it = j.find("address"); it != j.end() && it->is_string()) t.address = it->get<std::string>();
  return t;
}

// --- requests and responses --------------------------------------------------

json to_json(const ConfigureRequest& r) {
  return json{{"config", object_or_empty(r.config)},
              {"work_dir", r.work_dir},
              {"stack_dir", r.stack_dir},
              {"project", r.project}};
}

Result<ConfigureRequest> configure_request_from_json(const json& j) {
  return parse<ConfigureRequest>("configure request", j, [](const json& o) {
    ConfigureRequest r;
    r.config = get_attributes(o, "config");
    r.work_dir = get_string(o, "work_dir", false);
    r.stack_dir = get_string(o, "stack_dir", false);
    r.project = get_string(o, "project", false);
    return r;
  });
}

json to_json(const CreateRequest& r) {
  return json{{"kind", r.kind}, {"tags", to_json(r.tags)}, {"config", object_or_empty(r.config)}};
}

Result<CreateRequest> create_request_from_json(const json& j) {
  return parse<CreateRequest>("create request", j, [](const json& o) {
    CreateRequest r;
    r.kind = get_string(o, "kind", true);
    r.tags = tags_from_json(o.value("tags", json()));
    r.config = get_attributes(o, "config");
    return r;
  });
}

json to_json(const CreateResponse& r) {
  return json{{"id", r.id}, {"attributes", object_or_empty(r.attributes)}};
}

Result<CreateResponse> create_response_from_json(const json& j) {
  return parse<CreateResponse>("create response", j, [](const json& o) {
    CreateResponse r;
    r.id = get_string(o, "id", true);
    r.attributes = get_attributes(o, "attributes");
    return r;
  });
}

json to_json(const ReadRequest& r) {
  return json{{"kind", r.kind}, {"id", r.id}, {"attributes", object_or_empty(r.attributes)}};
}

Result<ReadRequest> read_request_from_json(const json& j) {
  return parse<ReadRequest>("read request", j, [](const json& o) {
    ReadRequest r;
    r.kind = get_string(o, "kind", true);
    r.id = get_string(o, "id", true);
    r.attributes = get_attributes(o, "attributes");
    return r;
  });
}

json to_json(const ReadResponse& r) {
  return json{{"found", r.found}, {"attributes", object_or_empty(r.attributes)}};
}

Result<ReadResponse> read_response_from_json(const json& j) {
  return parse<ReadResponse>("read response", j, [](const json& o) {
    ReadResponse r;
    r.found = get_bool(o, "found");
    r.attributes = get_attributes(o, "attributes");
    return r;
  });
}

json to_json(const UpdateRequest& r) {
  return json{{"kind", r.kind},
              {"id", r.id},
              {"tags", to_json(r.tags)},
              {"prior", object_or_empty(r.prior)},
              {"config", object_or_empty(r.config)}};
}

Result<UpdateRequest> update_request_from_json(const json& j) {
  return parse<UpdateRequest>("update request", j, [](const json& o) {
    UpdateRequest r;
    r.kind = get_string(o, "kind", true);
    r.id = get_string(o, "id", true);
    r.tags = tags_from_json(o.value("tags", json()));
    r.prior = get_attributes(o, "prior");
    r.config = get_attributes(o, "config");
    return r;
  });
}

json to_json(const UpdateResponse& r) { return json{{"attributes", object_or_empty(r.attributes)}}; }

Result<UpdateResponse> update_response_from_json(const json& j) {
  return parse<UpdateResponse>("update response", j, [](const json& o) {
    UpdateResponse r;
    r.attributes = get_attributes(o, "attributes");
    return r;
  });
}

json to_json(const DeleteRequest& r) {
  return json{{"kind", r.kind}, {"id", r.id}, {"attributes", object_or_empty(r.attributes)}};
}

Result<DeleteRequest> delete_request_from_json(const json& j) {
  return parse<DeleteRequest>("delete request", j, [](const json& o) {
    DeleteRequest r;
    r.kind = get_string(o, "kind", true);
    r.id = get_string(o, "id", true);
    r.attributes = get_attributes(o, "attributes");
    return r;
  });
}

json to_json(const FindRequest& r) {
  return json{{"kind", r.kind}, {"tags", to_json(r.tags)}, {"id", r.id}, {"config", object_or_empty(r.config)}};
}

Result<FindRequest> find_request_from_json(const json& j) {
  return parse<FindRequest>("find request", j, [](const json& o) {
    FindRequest r;
    r.kind = get_string(o, "kind", true);
    r.tags = tags_from_json(o.value("tags", json()));
    r.id = get_string(o, "id", false);
    r.config = get_attributes(o, "config");
    return r;
  });
}

json to_json(const FindResponse& r) {
  return json{{"found", r.found}, {"id", r.id}, {"attributes", object_or_empty(r.attributes)}};
}

Result<FindResponse> find_response_from_json(const json& j) {
  return parse<FindResponse>("find response", j, [](const json& o) {
    FindResponse r;
    r.found = get_bool(o, "found");
    r.id = get_string(o, "id", r.found);  // an id is only owed when found
    r.attributes = get_attributes(o, "attributes");
    return r;
  });
}

// --- errors ------------------------------------------------------------------

std::optional<ErrorCode> error_code_from_string(const std::string& name) {
  for (auto c : {ErrorCode::InvalidConfig, ErrorCode::NotFound, ErrorCode::Conflict, ErrorCode::Locked,
                 ErrorCode::Transient, ErrorCode::Timeout, ErrorCode::PermissionDenied,
                 ErrorCode::Unavailable, ErrorCode::Corrupt, ErrorCode::Protocol, ErrorCode::Internal}) {
    if (name == to_string(c)) return c;
  }
  return std::nullopt;
}

json error_to_json(const Error& error, int rpc_code, const ErrorDetails& details) {
  const bool retryable = error.code() == ErrorCode::Transient || error.code() == ErrorCode::Timeout;
  json data{{"kind", to_string(error.code())},
            {"retryable", retryable},
            {"http_status", details.http_status ? json(*details.http_status) : json()},
            {"cloud_message", details.cloud_message ? json(*details.cloud_message) : json()}};
  return json{{"code", rpc_code}, {"message", error.message()}, {"data", data}};
}

namespace {

ErrorCode code_of(int rpc_code, const json& data) {
  if (data.is_object()) {
    if (auto it = data.find("kind"); it != data.end() && it->is_string()) {
      if (auto code = error_code_from_string(it->get<std::string>())) return *code;
    }
    if (auto it = data.find("retryable"); it != data.end() && *it == true) return ErrorCode::Transient;
  }
  if (rpc_code <= -32600 && rpc_code >= -32700) return ErrorCode::Protocol;  // JSON-RPC's own range
  return ErrorCode::Internal;
}

// Adds the cloud's details unless the plugin already wrote them into its
// message (most do: "POST /v2/droplets: 422 ...").
std::string message_with_details(std::string message, const json& data) {
  if (!data.is_object()) return message;
  auto status = data.find("http_status");
  if (status != data.end() && status->is_number_integer()) {
    const std::string s = std::to_string(status->get<int>());
    if (message.find(s) == std::string::npos) message += " (HTTP " + s + ")";
  }
  auto cloud = data.find("cloud_message");
  if (cloud != data.end() && cloud->is_string()) {
    const std::string c = cloud->get<std::string>();
    if (!c.empty() && message.find(c) == std::string::npos) message += ": " + c;
  }
  return message;
}

}  // namespace

Error error_from_json(const json& error_object) {
  if (!error_object.is_object()) {
    return Error(ErrorCode::Protocol,
                 "malformed JSON-RPC error: " + text::printable(error_object.dump(-1, ' ', false, json::error_handler_t::replace)));
  }
  const int rpc_code = error_object.value("code", json()).is_number_integer() ? error_object["code"].get<int>() : 0;
  const json data = error_object.value("data", json());
  std::string message = error_object.value("message", json()).is_string()
                            ? error_object["message"].get<std::string>()
                            : std::string("error without a message (code ") + std::to_string(rpc_code) + ")";
  // The message is the plugin's text, shown on keel's terminal: no escape
  // sequence of its own reaches it (docs/security.md#plugins).
  return Error(code_of(rpc_code, data), text::printable_lines(message_with_details(std::move(message), data)));
}

}  // namespace keel::provider
