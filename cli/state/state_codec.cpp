#include "cli/state/state_codec.h"

namespace keel::state {

const ResourceState* State::find(const std::string& address) const {
  auto it = resources.find(address);
  return it == resources.end() ? nullptr : &it->second;
}

std::string find_backup_key(const State& state) {
  if (auto it = state.secrets.find(kBackupKeySecret); it != state.secrets.end() && !it->second.empty())
    return it->second;
  for (const auto& [_, r] : state.resources) {
    auto it = r.attributes.find(kBackupKeySecret);
    if (r.kind == "servers" && it != r.attributes.end() && it->is_string() && !it->get<std::string>().empty())
      return it->get<std::string>();
  }
  return {};
}

const std::string& ensure_backup_key(State& state) {
  std::string key = find_backup_key(state);
  if (key.empty()) key = crypto::key_to_text(crypto::random_key());
  return state.secrets[kBackupKeySecret] = std::move(key);
}

namespace {

std::string seal_json(const nlohmann::json& value, const crypto::Key& key, const std::string& aad) {
  return crypto::base64_encode(crypto::seal(key, value.dump(), aad));
}

Result<nlohmann::json> open_json(const std::string& sealed, const crypto::Key& key, const std::string& aad) {
  auto raw = crypto::base64_decode(sealed);
  if (!raw) return fail(raw.error());
  auto plain = crypto::open(key, *raw, aad);
  if (!plain)
    return fail(ErrorCode::Corrupt, "cannot decrypt the sensitive values of " + aad +
                                        ": wrong state key (KEEL_STATE_KEY or .keel/state.key) or a damaged state");
  try {
    return nlohmann::json::parse(*plain);
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::Corrupt, "sensitive values of " + aad + ": " + e.what());
  }
}

}  // namespace

nlohmann::json encode_resource(const ResourceState& r, const crypto::Key& key) {
  nlohmann::json clear = nlohmann::json::object();
  nlohmann::json secret = nlohmann::json::object();
  for (auto it = r.attributes.begin(); it != r.attributes.end(); ++it)
    (r.sensitive.count(it.key()) && !it.value().is_null() ? secret : clear)[it.key()] = it.value();
  nlohmann::json j = {{"address", r.address},       {"kind", r.kind},
                      {"provider", r.provider},     {"provider_type", r.provider_type},
                      {"id", r.id},                 {"attributes", clear},
                      {"dependencies", r.dependencies}};
  // Sealing only what holds a value keeps resources with nothing secret
  // free of a cipher round trip on every load.
  if (!r.sensitive.empty()) j["sensitive_attributes"] = r.sensitive;
  if (!r.sensitive_paths.empty()) j["sensitive_paths"] = r.sensitive_paths;
  if (!secret.empty()) j["sealed_attributes"] = seal_json(secret, key, r.address);
  return j;
}

Result<ResourceState> decode_resource(const nlohmann::json& j, const crypto::Key& key) {
  try {
    ResourceState r;
    r.address = j.at("address").get<std::string>();
    r.kind = j.at("kind").get<std::string>();
    r.provider = j.at("provider").get<std::string>();
    r.provider_type = j.value("provider_type", r.provider);
    r.id = j.value("id", "");
    r.attributes = j.value("attributes", nlohmann::json::object());
    if (!r.attributes.is_object()) return fail(ErrorCode::Corrupt, "malformed resource entry: attributes is not an object");
    r.dependencies = j.value("dependencies", std::vector<std::string>{});
    r.sensitive = j.value("sensitive_attributes", std::set<std::string>{});
    r.sensitive_paths = j.value("sensitive_paths", std::map<std::string, std::set<std::string>>{});
    if (j.contains("sealed_attributes")) {
      auto secret = open_json(j.at("sealed_attributes").get<std::string>(), key, r.address);
      if (!secret) return fail(secret.error());
      if (!secret->is_object()) return fail(ErrorCode::Corrupt, "sealed attributes of " + r.address + " are not an object");
      for (auto it = secret->begin(); it != secret->end(); ++it) r.attributes[it.key()] = it.value();
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::Corrupt, std::string("malformed resource entry: ") + e.what());
  }
}

nlohmann::json encode_state(const State& s, const crypto::Key& key) {
  nlohmann::json resources = nlohmann::json::array();
  for (const auto& [_, r] : s.resources) resources.push_back(encode_resource(r, key));
  nlohmann::json outputs = nlohmann::json::object();
  nlohmann::json secret = nlohmann::json::object();
  for (auto it = s.outputs.begin(); it != s.outputs.end(); ++it)
    (s.sensitive_outputs.count(it.key()) ? secret : outputs)[it.key()] = it.value();
  nlohmann::json j = {{"version", s.version}, {"lineage", s.lineage}, {"serial", s.serial},
                      {"resources", resources}, {"outputs", outputs}};
  if (!s.project.empty()) j["project"] = s.project;
  if (!s.stack_file.empty()) j["stack_file"] = s.stack_file;
  if (!s.environment.empty()) j["environment"] = s.environment;
  if (!secret.empty()) {
    j["sensitive_outputs"] = s.sensitive_outputs;
    j["sealed_outputs"] = seal_json(secret, key, "outputs");
  }
  if (!s.secrets.empty()) j["sealed_secrets"] = seal_json(s.secrets, key, "secrets");
  return j;
}

Result<State> decode_state(const nlohmann::json& j, const crypto::Key& key) {
  try {
    State s;
    // Integers, checked before get<>: a float such as 1e300 would not fit.
    for (const char* key_name : {"version", "serial"})
      if (!j.at(key_name).is_number_integer() || j.at(key_name).get<long long>() < 0)
        return fail(ErrorCode::Corrupt, std::string("malformed state: ") + key_name + " is not a whole number");
    if (j.at("version").get<long long>() > kStateFormatVersion)
      return fail(ErrorCode::Corrupt, "state format version " + std::to_string(j.at("version").get<long long>()) +
                                          " is newer than this keel reads (" + std::to_string(kStateFormatVersion) + ")");
    s.version = j.at("version").get<int>();
    s.lineage = j.at("lineage").get<std::string>();
    s.serial = j.at("serial").get<long>();
    s.project = j.value("project", "");
    s.stack_file = j.value("stack_file", "");
    s.environment = j.value("environment", "");
    for (const auto& rj : j.at("resources")) {
      auto r = decode_resource(rj, key);
      if (!r) return fail(r.error());
      s.resources[r->address] = std::move(*r);
    }
    s.outputs = j.value("outputs", nlohmann::json::object());
    if (!s.outputs.is_object()) return fail(ErrorCode::Corrupt, "malformed state: outputs is not an object");
    if (j.contains("sealed_outputs")) {
      s.sensitive_outputs = j.value("sensitive_outputs", std::set<std::string>{});
      auto secret = open_json(j.at("sealed_outputs").get<std::string>(), key, "outputs");
      if (!secret) return fail(secret.error());
      if (!secret->is_object()) return fail(ErrorCode::Corrupt, "sealed outputs are not an object");
      for (auto it = secret->begin(); it != secret->end(); ++it) s.outputs[it.key()] = it.value();
    }
    // Absent in states written before stack secrets existed.
    if (j.contains("sealed_secrets")) {
      auto secrets = open_json(j.at("sealed_secrets").get<std::string>(), key, "secrets");
      if (!secrets) return fail(secrets.error());
      s.secrets = secrets->get<std::map<std::string, std::string>>();
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::Corrupt, std::string("malformed state: ") + e.what());
  }
}

}  // namespace keel::state
