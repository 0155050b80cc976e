#include "cli/commands/plan_file.h"

#include <cstdlib>

#include <fmt/format.h>

#include "cli/config/stack.h"
#include "cli/state/file_store.h"
#include "core/files.h"

namespace keel::commands {

namespace {

using nlohmann::json;

// A plan file is small next to the state it was made from; this bounds a
// wrong file given by mistake.
constexpr size_t kMaxPlanFileBytes = 256u << 20;
constexpr const char* kSealContext = "keel plan file";

std::optional<engine::Action> action_of(const std::string& name) {
  for (auto a : {engine::Action::NoOp, engine::Action::Create, engine::Action::Update, engine::Action::Replace,
                 engine::Action::Delete})
    if (name == engine::to_string(a)) return a;
  return std::nullopt;
}

json encode_attribute(const engine::AttributeChange& a) {
  return {{"name", a.name},
          {"before", a.before},
          {"after", a.after},
          {"after_unknown", a.after_unknown},
          {"sensitive", a.sensitive},
          {"forces_replacement", a.forces_replacement},
          {"before_sensitive_paths", a.before_sensitive_paths},
          {"after_sensitive_paths", a.after_sensitive_paths},
          {"after_partial", a.after_partial},
          {"after_unknown_paths", a.after_unknown_paths}};
}

engine::AttributeChange decode_attribute(const json& j) {
  engine::AttributeChange a;
  a.name = j.at("name").get<std::string>();
  a.before = j.at("before");
  a.after = j.at("after");
  a.after_unknown = j.at("after_unknown").get<bool>();
  a.sensitive = j.at("sensitive").get<bool>();
  a.forces_replacement = j.at("forces_replacement").get<bool>();
  a.before_sensitive_paths = j.at("before_sensitive_paths").get<std::set<std::string>>();
  a.after_sensitive_paths = j.at("after_sensitive_paths").get<std::set<std::string>>();
  a.after_partial = j.at("after_partial");
  a.after_unknown_paths = j.at("after_unknown_paths").get<std::set<std::string>>();
  return a;
}

Error not_a_plan_file(const std::string& path, const std::string& why) {
  return Error(ErrorCode::InvalidConfig, path + " is not a keel plan file (" + why + ")");
}

Result<json> parse_document(const std::string& text, const std::string& path) {
  try {
    auto doc = json::parse(text);
    if (!doc.is_object()) return fail(not_a_plan_file(path, "not a JSON object"));
    return doc;
  } catch (const json::exception& e) {
    return fail(not_a_plan_file(path, std::string("not JSON: ") + e.what()));
  }
}

Result<json> read_document(const std::string& path) {
  auto text = files::read_regular_file(path, kMaxPlanFileBytes);
  if (!text) return fail(text.error());
  return parse_document(*text, path);
}

// The format check and the parts readable without the key.
Result<PlanFile> read_header(const json& doc, const std::string& path) {
  if (!doc.contains("keel_plan_format")) {
    if (doc.contains("format_version") && doc.contains("plan"))
      return fail(ErrorCode::InvalidConfig,
                  path + " was saved by an older keel in a format this one no longer reads; run `keel plan --out " +
                      path + "` again");
    return fail(not_a_plan_file(path, "no keel_plan_format"));
  }
  if (doc["keel_plan_format"] != kPlanFormat)
    return fail(ErrorCode::InvalidConfig, path + " has plan format " + doc["keel_plan_format"].dump() +
                                              ", and this keel reads format " + std::to_string(kPlanFormat) +
                                              "; run `keel plan --out " + path + "` again with this keel");
  try {
    PlanFile f;
    const auto& stack = doc.at("stack");
    f.stack_file = stack.at("file").get<std::string>();
    f.stack_sha256 = stack.at("sha256").get<std::string>();
    f.project = stack.at("project").get<std::string>();
    f.environment = stack.value("environment", "");
    // It names a directory: a plan file from elsewhere must not lead keel
    // to another key file.
    if (!f.environment.empty() && !config::is_environment_name(f.environment))
      return fail(not_a_plan_file(path, "its environment is not an environment's name"));
    const auto& request = doc.at("request");
    f.targets = request.at("targets").get<std::vector<std::string>>();
    f.replace = request.at("replace").get<std::vector<std::string>>();
    f.refresh = request.at("refresh").get<bool>();
    f.destroy = request.at("destroy").get<bool>();
    f.plan.lineage = doc.at("state").at("lineage").get<std::string>();
    f.plan.serial = doc.at("state").at("serial").get<long>();
    doc.at("sealed").get<std::string>();
    return f;
  } catch (const json::exception& e) {
    return fail(not_a_plan_file(path, e.what()));
  }
}

}  // namespace

json encode_plan(const engine::Plan& plan) {
  json changes = json::array();
  for (const auto& c : plan.changes) {
    json attrs = json::array();
    for (const auto& a : c.attributes) attrs.push_back(encode_attribute(a));
    changes.push_back({{"address", c.address}, {"kind", c.kind}, {"provider", c.provider},
                       {"provider_type", c.provider_type}, {"action", engine::to_string(c.action)},
                       {"attributes", attrs}, {"dependencies", c.dependencies}, {"adopt", c.adopt},
                       {"data_loss", c.data_loss}, {"replace_requested", c.replace_requested}});
  }
  json outputs = json::array();
  for (const auto& o : plan.outputs)
    outputs.push_back({{"name", o.name}, {"before", o.before}, {"after", o.after}, {"after_unknown", o.after_unknown},
                       {"sensitive", o.sensitive}, {"changed", o.changed}});
  json moved = json::array();
  for (const auto& m : plan.moved) moved.push_back({{"from", m.from}, {"to", m.to}});
  return {{"lineage", plan.lineage}, {"serial", plan.serial}, {"destroy", plan.destroy}, {"environment", plan.environment},
          {"moved", moved}, {"changes", changes}, {"outputs", outputs}};
}

Result<engine::Plan> decode_plan(const json& doc) {
  try {
    engine::Plan plan;
    plan.lineage = doc.at("lineage").get<std::string>();
    plan.serial = doc.at("serial").get<long>();
    plan.destroy = doc.at("destroy").get<bool>();
    plan.environment = doc.value("environment", "");
    for (const auto& m : doc.at("moved"))
      plan.moved.push_back({m.at("from").get<std::string>(), m.at("to").get<std::string>()});
    for (const auto& j : doc.at("changes")) {
      engine::ResourceChange c;
      c.address = j.at("address").get<std::string>();
      c.kind = j.at("kind").get<std::string>();
      c.provider = j.at("provider").get<std::string>();
      c.provider_type = j.at("provider_type").get<std::string>();
      auto action = action_of(j.at("action").get<std::string>());
      if (!action) return fail(ErrorCode::InvalidConfig, c.address + ": unknown action " + j.at("action").dump());
      c.action = *action;
      for (const auto& a : j.at("attributes")) c.attributes.push_back(decode_attribute(a));
      c.dependencies = j.at("dependencies").get<std::set<std::string>>();
      c.adopt = j.at("adopt").get<bool>();
      c.data_loss = j.at("data_loss").get<bool>();
      c.replace_requested = j.at("replace_requested").get<bool>();
      plan.changes.push_back(std::move(c));
    }
    for (const auto& j : doc.at("outputs")) {
      engine::OutputChange o;
      o.name = j.at("name").get<std::string>();
      o.before = j.at("before");
      o.after = j.at("after");
      o.after_unknown = j.at("after_unknown").get<bool>();
      o.sensitive = j.at("sensitive").get<bool>();
      o.changed = j.at("changed").get<bool>();
      plan.outputs.push_back(std::move(o));
    }
    return plan;
  } catch (const json::exception& e) {
    return fail(ErrorCode::InvalidConfig, std::string("the plan in it is malformed: ") + e.what());
  }
}

Status write_plan_file(const std::string& path, const PlanFile& f, const crypto::Key& key) {
  auto n = f.plan.counts();
  json sealed = {{"plan", encode_plan(f.plan)}, {"vars", f.vars}, {"var_files", f.var_files}};
  json doc = {
      {"keel_plan_format", kPlanFormat},
      {"keel_version", KEEL_VERSION},
      {"stack",
       {{"file", f.stack_file}, {"sha256", f.stack_sha256}, {"project", f.project}, {"environment", f.environment}}},
      {"state", {{"lineage", f.plan.lineage}, {"serial", f.plan.serial}}},
      {"request", {{"targets", f.targets}, {"replace", f.replace}, {"refresh", f.refresh}, {"destroy", f.destroy}}},
      {"summary", {{"add", n.add}, {"change", n.change}, {"destroy", n.destroy}}},
      {"sealed", crypto::base64_encode(crypto::seal(key, sealed.dump(), kSealContext))},
  };
  return files::write_atomic(path, doc.dump(2) + "\n", 0600);
}

Result<PlanFile> parse_plan_file_header(const std::string& text, const std::string& path) {
  auto doc = parse_document(text, path);
  if (!doc) return fail(doc.error());
  return read_header(*doc, path);
}

Result<PlanFile> read_plan_file_header(const std::string& path) {
  auto doc = read_document(path);
  if (!doc) return fail(doc.error());
  return read_header(*doc, path);
}

Result<PlanFile> read_plan_file(const std::string& path, const crypto::Key& key) {
  auto doc = read_document(path);
  if (!doc) return fail(doc.error());
  auto f = read_header(*doc, path);
  if (!f) return f;
  auto raw = crypto::base64_decode((*doc)["sealed"].get<std::string>());
  if (!raw) return fail(raw.error().with_context(path));
  auto opened = crypto::open(key, *raw, kSealContext);
  if (!opened)
    return fail(ErrorCode::Conflict, path + ": cannot be opened with this state key (made for another state?)");
  try {
    auto sealed = json::parse(*opened);
    auto plan = decode_plan(sealed.at("plan"));
    if (!plan) return fail(plan.error().with_context(path));
    f->plan = std::move(*plan);
    // The header is not sealed: its environment (which state the plan is
    // applied to) must be the one the plan was made for.
    if (f->plan.environment != f->environment)
      return fail(ErrorCode::Conflict, fmt::format("{}: its header names environment `{}`, and the plan in it was made "
                                                   "for `{}`; it was edited: plan again",
                                                   path, f->environment, f->plan.environment));
    f->vars = sealed.at("vars").get<std::vector<std::string>>();
    if (sealed.contains("var_files"))
      f->var_files = sealed.at("var_files").get<std::vector<std::pair<std::string, std::string>>>();
    return f;
  } catch (const json::exception& e) {
    return fail(not_a_plan_file(path, e.what()));
  }
}

Result<crypto::Key> plan_key(const std::string& stack_file, const std::string& environment) {
  const std::string key_file = state::work_dir_for(stack_file, environment) + "/state.key";
  const char* env = std::getenv("KEEL_STATE_KEY");
  if ((!env || !*env) && !files::exists_no_follow(key_file))
    return fail(ErrorCode::NotFound, "no state key: " + key_file + " is missing and KEEL_STATE_KEY is not set");
  return state::load_or_create_key(key_file);
}

}  // namespace keel::commands
