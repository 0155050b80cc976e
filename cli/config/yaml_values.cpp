// YAML nodes as JSON values with their marks, and the one check of a whole
// tree that makes reading it safe (yaml_values.h).
#include "cli/config/yaml_values.h"

#include <yaml-cpp/yaml.h>

#include <set>
#include <tuple>

#include <fmt/format.h>

#include "cli/config/stack.h"
#include "core/text.h"
#include "core/yaml_json.h"

namespace keel::config {

SourceMark yaml_mark(const YAML::Node& node, const std::string& file) {
  auto m = node.Mark();
  if (m.line < 0) return {file, 0, 0};
  return {file, m.line + 1, m.column + 1};  // yaml-cpp marks are 0-based
}

namespace {

bool is_plain(const YAML::Node& node) { return !yamljson::is_string_scalar(node); }

class TreeChecker {
 public:
  TreeChecker(const std::string& file, Diagnostics& diags, const YamlLimits& limits)
      : file_(file), diags_(diags), limits_(limits) {}

  bool check(const YAML::Node& root) {
    visit(root, 0, 0);
    return !failed_;
  }

 private:
  // path_bytes: the length of the node's JSON pointer, which the marks of
  // the loader keep for every node: charged to the budget like its bytes.
  void visit(const YAML::Node& node, size_t depth, size_t path_bytes) {
    if (stopped_) return;
    if (!charge(node, 1 + path_bytes)) return;
    if (node.IsScalar()) {
      scalar(node, node.Scalar(), "value");
    } else if (node.IsSequence()) {
      if (!nest(node, depth)) return;
      size_t i = 0;
      for (const auto& item : node) visit(item, depth + 1, path_bytes + 1 + std::to_string(i++).size());
    } else if (node.IsMap()) {
      if (!nest(node, depth)) return;
      map(node, depth, path_bytes);
    }
  }

  void map(const YAML::Node& node, size_t depth, size_t path_bytes) {
    std::map<std::string, YAML::Mark> seen;
    for (const auto& kv : node) {
      if (stopped_) return;
      const YAML::Node& key = kv.first;
      if (!key.IsScalar() && !key.IsNull()) {
        report(key, "a key must be a string, not a list or a map", "write the key as plain text");
        continue;
      }
      const std::string& name = key.Scalar();
      if (!charge(key, name.size())) return;
      if (!scalar(key, name, "key")) continue;
      if (auto [it, fresh] = seen.emplace(name, key.Mark()); !fresh) {
        const SourceMark first{file_, it->second.line + 1, it->second.column + 1};
        report(key, fmt::format("`{}` is given twice in this map, first at {}", name, first.describe()),
               "YAML would keep only the last one: remove one of them");
      }
      visit(kv.second, depth + 1, path_bytes + 1 + pointer_token(name).size());
    }
  }

  // A scalar's text: UTF-8 without NUL, and a number that fits.
  bool scalar(const YAML::Node& node, const std::string& s, const char* what) {
    if (size_t bad = text::invalid_utf8_offset(s); bad != std::string::npos) {
      report(node, fmt::format("this {} is not valid UTF-8 (byte {} of it)", what, bad + 1),
             "keel reads stacks as UTF-8 text");
      return false;
    }
    if (s.find('\0') != std::string::npos) {
      report(node, fmt::format("this {} holds a NUL character", what));
      return false;
    }
    if (!node.IsScalar() || !is_plain(node)) return true;
    if (text::is_integer(s) && !text::parse_int64(s)) {
      report(node, fmt::format("the integer {} is out of range", s),
             "integers are 64-bit, from -9223372036854775808 to 9223372036854775807; quote it for a string");
      return false;
    }
    if (text::is_decimal(s) && !text::parse_finite_double(s)) {
      report(node, fmt::format("the number {} is out of range", s),
             "it overflows or underflows a double (about 1e-308 to 1e308); quote it for a string");
      return false;
    }
    return true;
  }

  bool nest(const YAML::Node& node, size_t depth) {
    if (depth < limits_.max_depth) return true;
    stop(node, fmt::format("the stack nests lists and maps deeper than {} levels", limits_.max_depth));
    return false;
  }

  bool charge(const YAML::Node& node, size_t bytes) {
    ++values_;
    bytes_ += bytes;
    if (values_ <= limits_.max_values && bytes_ <= limits_.max_bytes) return true;
    stop(node, fmt::format("the stack is too large once its aliases are expanded: more than {} values or {} MiB",
                           limits_.max_values, limits_.max_bytes >> 20),
         "each use of an alias (*name) counts all that its anchor (&name) holds again");
    return false;
  }

  void stop(const YAML::Node& node, const std::string& summary, const std::string& hint = {}) {
    report(node, summary, hint);
    stopped_ = true;
  }

  // Once per place: an aliased node is visited at each of its uses.
  void report(const YAML::Node& node, const std::string& summary, const std::string& hint = {}) {
    failed_ = true;
    const SourceMark at = yaml_mark(node, file_);
    if (reported_.emplace(at.line, at.column, summary).second) diags_.error(at, summary, hint);
  }

  const std::string& file_;
  Diagnostics& diags_;
  const YamlLimits& limits_;
  size_t values_ = 0, bytes_ = 0;
  bool failed_ = false, stopped_ = false;
  std::set<std::tuple<int, int, std::string>> reported_;
};

}  // namespace

bool check_yaml_tree(const YAML::Node& root, const std::string& file, Diagnostics& diags, const YamlLimits& limits) {
  return TreeChecker(file, diags, limits).check(root);
}

nlohmann::json yaml_to_json(const YAML::Node& node) { return yamljson::to_json(node); }

void record_yaml_marks(const YAML::Node& node, const std::string& pointer, const std::string& file,
                       std::map<std::string, SourceMark>& marks) {
  marks[pointer] = yaml_mark(node, file);
  if (node.IsMap()) {
    for (const auto& kv : node)
      record_yaml_marks(kv.second, pointer + "/" + pointer_token(kv.first.Scalar()), file, marks);
  } else if (node.IsSequence()) {
    size_t i = 0;
    for (const auto& item : node) record_yaml_marks(item, pointer + "/" + std::to_string(i++), file, marks);
  }
}

}  // namespace keel::config
