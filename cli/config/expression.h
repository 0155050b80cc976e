#pragma once
// Interpolations inside stack values: "${var.x}", "${env.X}", "${file(path)}",
// "${count.index}", "${environment}" (the name given with -e) and "${KIND.NAME.attr}" / "${KIND.NAME[i].attr}", and the
// splat "${KIND.NAME[*].attr}": a list of that attribute of every instance.
// "$${" writes a literal "${".
//
// What `env.X` and `file(path)` read is sensitive (a CI runner's tokens, a
// key file): "${nonsensitive(env.X)}" and "${nonsensitive(file(path))}" say
// that one is not, as Terraform's nonsensitive() does.
//
// A string that is exactly one interpolation keeps the referenced value's
// type ("${var.port}" is a number if the variable is); otherwise the parts are
// joined as text.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"

namespace keel::config {

struct VarRef { std::string name; };
struct EnvRef {
  std::string name;
  bool sensitive = true;  // false inside nonsensitive()
};
struct FileRef {
  std::string path;
  bool sensitive = true;  // false inside nonsensitive()
};
struct CountIndexRef {};
struct EnvironmentRef {};
struct ResourceRef {
  std::string kind, name;
  std::optional<int> index;  // [i]
  std::string attribute;     // empty: the resource itself (depends_on-like)
  bool every_instance = false;  // [*]: the attribute of every instance, as a list
  std::string address() const;           // "files.a", "files.a[2]" or "files.a[*]"
  std::string resource_address() const;  // always without index
};
using Reference = std::variant<VarRef, EnvRef, FileRef, CountIndexRef, EnvironmentRef, ResourceRef>;

struct TemplatePart {
  std::string literal;              // used when reference is empty
  std::optional<Reference> reference;
  std::string source;               // the text inside ${...}, for messages
};

struct Template {
  std::vector<TemplatePart> parts;
  bool is_single_reference() const { return parts.size() == 1 && parts[0].reference; }
  bool has_references() const;
};

// Parses one string. Errors name the offending text ("unknown function
// `fle`", "unterminated ${").
Result<Template> parse_template(const std::string& text);

// "[2]": the suffix of an instance address.
std::string index_suffix(int index);

// Parses an address: "files.a", "files.a[2]".
Result<ResourceRef> parse_address(const std::string& text);

}  // namespace keel::config
