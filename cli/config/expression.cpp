#include "cli/config/expression.h"

#include <cctype>

namespace keel::config {

std::string index_suffix(int index) {
  // Appended piecewise: g++ 12 -O2 warns falsely (-Wrestrict) about
  // "[" + std::to_string(i).
  std::string s(1, '[');
  s += std::to_string(index);
  s += ']';
  return s;
}

std::string ResourceRef::resource_address() const { return kind + "." + name; }

std::string ResourceRef::address() const {
  std::string a = resource_address();
  if (index) a += index_suffix(*index);
  if (every_instance) a += "[*]";
  return a;
}

bool Template::has_references() const {
  for (const auto& p : parts)
    if (p.reference) return true;
  return false;
}

namespace {

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    out.push_back(s.substr(start, dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

// "name[3]" -> name, 3
Result<std::pair<std::string, std::optional<int>>> split_index(const std::string& part) {
  size_t open = part.find('[');
  if (open == std::string::npos) return std::pair<std::string, std::optional<int>>{part, std::nullopt};
  if (part.back() != ']') return fail(ErrorCode::InvalidConfig, "malformed index in `" + part + "`");
  std::string digits = part.substr(open + 1, part.size() - open - 2);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9)
    return fail(ErrorCode::InvalidConfig, "index in `" + part + "` must be a non-negative integer");
  return std::pair<std::string, std::optional<int>>{part.substr(0, open), std::stoi(digits)};
}

Result<Reference> parse_file_call(const std::string& expr) {
  std::string inner = trim(expr.substr(5, expr.size() - 6));
  if (inner.size() >= 2 && (inner.front() == '"' || inner.front() == '\'') && inner.back() == inner.front())
    inner = inner.substr(1, inner.size() - 2);
  if (inner.empty()) return fail(ErrorCode::InvalidConfig, "file() needs a path");
  return FileRef{inner};
}

Result<Reference> parse_reference(const std::string& raw);

// nonsensitive(env.NAME) or nonsensitive(file(PATH)): what they read, not
// sensitive.
Result<Reference> parse_nonsensitive_call(const std::string& expr) {
  static const char* kUse = "nonsensitive() takes env.NAME or file(PATH), like `${nonsensitive(env.HOME)}`";
  const std::string inner = trim(expr.substr(13, expr.size() - 14));
  if (inner.rfind("nonsensitive(", 0) == 0) return fail(ErrorCode::InvalidConfig, kUse);
  auto ref = parse_reference(inner);
  if (!ref) return ref;
  if (auto* env = std::get_if<EnvRef>(&*ref)) env->sensitive = false;
  else if (auto* file = std::get_if<FileRef>(&*ref)) file->sensitive = false;
  else return fail(ErrorCode::InvalidConfig, kUse);
  return ref;
}

Result<Reference> parse_reference(const std::string& raw) {
  std::string expr = trim(raw);
  if (expr.empty()) return fail(ErrorCode::InvalidConfig, "empty ${}");
  if (expr.rfind("file(", 0) == 0 && expr.back() == ')') return parse_file_call(expr);
  if (expr.rfind("nonsensitive(", 0) == 0 && expr.back() == ')') return parse_nonsensitive_call(expr);
  if (size_t paren = expr.find('('); paren != std::string::npos)
    return fail(ErrorCode::InvalidConfig, "unknown function `" + expr.substr(0, paren) +
                                              "`; the functions are file(PATH) and nonsensitive(env.NAME or file(PATH))");
  auto parts = split_dots(expr);
  const std::string& head = parts[0];
  if (head == "var" || head == "env") {
    if (parts.size() != 2 || !is_identifier(parts[1]))
      return fail(ErrorCode::InvalidConfig, "`" + expr + "` should be " + head + ".NAME");
    if (head == "var") return VarRef{parts[1]};
    return EnvRef{parts[1]};
  }
  if (head == "environment" && parts.size() == 1) return EnvironmentRef{};
  if (head == "count") {
    if (parts.size() != 2 || parts[1] != "index")
      return fail(ErrorCode::InvalidConfig, "`" + expr + "`: the one count attribute is count.index");
    return CountIndexRef{};
  }
  if (parts.size() < 2 || parts.size() > 3)
    return fail(ErrorCode::InvalidConfig, "`" + expr + "` is not a reference: use var.NAME, env.NAME, file(PATH), environment or KIND.NAME.ATTRIBUTE");
  bool splat = parts[1].size() > 3 && parts[1].ends_with("[*]");
  auto name = split_index(splat ? parts[1].substr(0, parts[1].size() - 3) : parts[1]);
  if (!name) return fail(name.error());
  if (!is_identifier(head) || !is_identifier(name->first))
    return fail(ErrorCode::InvalidConfig, "`" + expr + "` is not a valid reference");
  if (splat && (name->second || parts.size() != 3))
    return fail(ErrorCode::InvalidConfig, "`" + expr + "`: [*] takes an attribute, like `" + head + "." +
                                              name->first + "[*].id`");
  ResourceRef ref{head, name->first, name->second, parts.size() == 3 ? parts[2] : "", splat};
  if (parts.size() == 3 && !is_identifier(ref.attribute))
    return fail(ErrorCode::InvalidConfig, "`" + expr + "`: bad attribute name");
  return ref;
}

}  // namespace

Result<Template> parse_template(const std::string& text) {
  Template t;
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      literal += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      literal += text[i++];
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string::npos) return fail(ErrorCode::InvalidConfig, "unterminated ${ in \"" + text + "\"");
    std::string inner = text.substr(i + 2, close - i - 2);
    auto ref = parse_reference(inner);
    if (!ref) return fail(ref.error());
    if (!literal.empty()) t.parts.push_back({std::move(literal), std::nullopt, {}});
    literal.clear();
    t.parts.push_back({{}, std::move(*ref), trim(inner)});
    i = close + 1;
  }
  if (!literal.empty() || t.parts.empty()) t.parts.push_back({std::move(literal), std::nullopt, {}});
  // A list has no text of its own (Terraform refuses it in a template too):
  // joined into a string it would be JSON, which no attribute expects.
  if (!t.is_single_reference()) {
    for (const auto& part : t.parts) {
      const auto* r = part.reference ? std::get_if<ResourceRef>(&*part.reference) : nullptr;
      if (r && r->every_instance) {
        return fail(ErrorCode::InvalidConfig, "`${" + part.source +
                                                  "}` is a list: it can only be a whole value (`key: \"${" +
                                                  part.source + "}\"`), not part of a string");
      }
    }
  }
  return t;
}

Result<ResourceRef> parse_address(const std::string& text) {
  auto ref = parse_reference(text);
  if (!ref) return fail(ref.error());
  auto* r = std::get_if<ResourceRef>(&*ref);
  if (!r || !r->attribute.empty())
    return fail(ErrorCode::InvalidConfig, "`" + text + "` is not an address; use KIND.NAME or KIND.NAME[i]");
  return *r;
}

}  // namespace keel::config
