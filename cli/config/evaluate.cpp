#include "cli/config/evaluate.h"

#include <cstdlib>

#include <fmt/format.h>

#include "cli/config/expression.h"
#include "cli/config/input_files.h"
#include "core/files.h"
#include "core/text.h"

namespace keel::config {

std::string to_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

namespace {

std::optional<std::string> getenv_value(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

struct ReferenceVisitor {
  const EvalContext& ctx;

  Result<Value> operator()(const VarRef& r) const {
    if (!ctx.variables) return fail(ErrorCode::InvalidConfig, "variables are not available here");
    auto it = ctx.variables->find(r.name);
    if (it == ctx.variables->end()) return fail(ErrorCode::InvalidConfig, "no variable `" + r.name + "`");
    return it->second;
  }
  Result<Value> operator()(const EnvRef& r) const {
    auto v = ctx.env ? ctx.env(r.name) : getenv_value(r.name);
    if (!v) return fail(ErrorCode::InvalidConfig, "environment variable " + r.name + " is not set");
    if (!text::is_valid_utf8(*v))
      return fail(ErrorCode::InvalidConfig, "environment variable " + r.name + " is not valid UTF-8");
    return Value{*v, false, r.sensitive};
  }
  Result<Value> operator()(const FileRef& r) const {
    std::string path = files::absolute(files::expand_home(r.path), ctx.stack_dir);
    auto content = read_input_file(path, kMaxFileFunctionBytes, Streams::Refused);
    if (!content) return fail(ErrorCode::InvalidConfig, "file(" + r.path + "): " + content.error().message());
    if (!text::is_valid_utf8(*content) || content->find('\0') != std::string::npos)
      return fail(ErrorCode::InvalidConfig, "file(" + r.path + "): " + path + " is not UTF-8 text");
    return Value{*content, false, r.sensitive};
  }
  Result<Value> operator()(const CountIndexRef&) const {
    if (!ctx.count_index) return fail(ErrorCode::InvalidConfig, "count.index is only available in a resource with `count`");
    return Value{*ctx.count_index, false, false};
  }
  Result<Value> operator()(const EnvironmentRef&) const {
    if (ctx.variables)
      if (auto it = ctx.variables->find(kEnvironmentVariable); it != ctx.variables->end()) return it->second;
    return fail(ErrorCode::InvalidConfig, "`${environment}` needs an environment: run with -e NAME");
  }
  Result<Value> operator()(const ResourceRef& r) const {
    if (!ctx.lookup) return fail(ErrorCode::InvalidConfig, "resource references are not allowed here");
    if (r.every_instance) return every_instance(r);
    auto v = ctx.lookup(r.address(), r.attribute);
    if (v) return *v;
    const std::string what = r.address() + "." + r.attribute;  // a named string: g++ 12 -Wrestrict false positive
    return fail(ErrorCode::InvalidConfig, "`" + what + "` does not exist");
  }

  // "${KIND.NAME[*].attr}": a list, unknown while any element is.
  Result<Value> every_instance(const ResourceRef& r) const {
    if (!ctx.instances) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` cannot be expanded here", r.address()));
    Value out{nlohmann::json::array(), false, false};
    for (const auto& address : ctx.instances(r.resource_address())) {
      auto v = ctx.lookup(address, r.attribute);
      if (!v) {
        return fail(ErrorCode::InvalidConfig, fmt::format("`{}.{}` does not exist", address, r.attribute));
      }
      out.unknown |= v->unknown;
      out.sensitive |= v->sensitive;
      out.value.push_back(v->value);
    }
    if (out.unknown) out.value = nullptr;
    return out;
  }
};

Result<Value> evaluate_string(const std::string& text, const EvalContext& ctx) {
  auto tmpl = parse_template(text);
  if (!tmpl) return fail(tmpl.error());
  if (!tmpl->has_references()) return Value{tmpl->parts[0].literal, false, false};
  if (tmpl->is_single_reference()) return std::visit(ReferenceVisitor{ctx}, *tmpl->parts[0].reference);
  Value out{std::string(), false, false};
  std::string joined;
  for (const auto& part : tmpl->parts) {
    if (!part.reference) {
      joined += part.literal;
      continue;
    }
    auto v = std::visit(ReferenceVisitor{ctx}, *part.reference);
    if (!v) return v;
    out.unknown |= v->unknown;
    out.sensitive |= v->sensitive;
    if (!v->unknown) joined += to_text(v->value);
  }
  out.value = out.unknown ? nlohmann::json() : nlohmann::json(joined);
  return out;
}

}  // namespace

namespace {

// Where `part` (a value inside a list or map, at `pointer`) is sensitive or
// unknown, as pointers from the enclosing value.
void add_paths(const std::string& pointer, const std::set<std::string>& inner, bool whole, std::set<std::string>& out) {
  if (!whole) return;
  if (inner.empty()) out.insert(pointer);
  for (const auto& p : inner) out.insert(pointer + p);
}

std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

}  // namespace

Result<Value> evaluate_reference(const Reference& reference, const EvalContext& ctx) {
  return std::visit(ReferenceVisitor{ctx}, reference);
}

Result<Value> evaluate(const nlohmann::json& raw, const EvalContext& ctx) {
  if (raw.is_string()) return evaluate_string(raw.get<std::string>(), ctx);
  if (!raw.is_array() && !raw.is_object()) return Value{raw, false, false};
  Value out{raw.is_array() ? nlohmann::json::array() : nlohmann::json::object(), false, false};
  out.partial = out.value;
  size_t index = 0;
  for (auto it = raw.begin(); it != raw.end(); ++it, ++index) {
    auto v = evaluate(it.value(), ctx);
    if (!v) return v;
    std::string pointer = "/";  // appended, not concatenated: g++ 12's -Wrestrict misfires on "/" + string
    pointer += raw.is_array() ? std::to_string(index) : pointer_token(it.key());
    out.unknown |= v->unknown;
    out.sensitive |= v->sensitive;
    add_paths(pointer, v->sensitive_paths, v->sensitive, out.sensitive_paths);
    add_paths(pointer, v->unknown_paths, v->unknown, out.unknown_paths);
    const nlohmann::json& known = v->unknown ? v->partial : v->value;
    if (raw.is_array()) {
      out.value.push_back(v->value);
      out.partial.push_back(known);
    } else {
      out.value[it.key()] = v->value;
      out.partial[it.key()] = known;
    }
  }
  if (out.unknown) out.value = nullptr;
  else out.partial = nullptr;
  return out;
}

}  // namespace keel::config
