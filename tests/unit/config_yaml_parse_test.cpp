// cli/config/yaml_parse: libyaml's parse gives the tree YAML::Load gives
// (types, scalars, tags, marks, nulls, shared aliases), and errors with
// their position.
#include <catch2/catch.hpp>

#include <string>

#include <yaml-cpp/yaml.h>

#include "cli/config/yaml_parse.h"

using keel::config::parse_yaml;

namespace {

// Compares two trees node by node; `where` names the first difference.
bool same(const YAML::Node& a, const YAML::Node& b, std::string& where, const std::string& path = "") {
  auto differ = [&](const std::string& what) {
    where = (path.empty() ? "/" : path) + ": " + what;
    return false;
  };
  if (a.Type() != b.Type()) return differ("type");
  // An empty value: yaml-cpp marks the token after it (often the next
  // line), libyaml the place right after its key's colon.
  if (!a.IsNull() && (a.Mark().line != b.Mark().line || a.Mark().column != b.Mark().column)) return differ("mark");
  if (a.Tag() != b.Tag()) return differ("tag " + a.Tag() + " vs " + b.Tag());
  if (a.IsScalar() && a.Scalar() != b.Scalar()) return differ("scalar");
  if (a.size() != b.size()) return differ("size");
  if (a.IsSequence())
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i], where, path + "/" + std::to_string(i))) return false;
  if (a.IsMap())
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      const std::string key = ia->first.IsScalar() ? ia->first.Scalar() : "?";
      if (!same(ia->first, ib->first, where, path + "/" + key + "(key)")) return false;
      if (!same(ia->second, ib->second, where, path + "/" + key)) return false;
    }
  return true;
}

}  // namespace

TEST_CASE("yaml_parse: the same tree as YAML::Load", "[unit][config][yaml]") {
  const std::string stacks[] = {
      "keel: 1\nproject: p\nproviders:\n  ex: { type: example, root: \"/tmp/x\" }\nfiles:\n"
      "  f0: { provider: ex, path: f0, content: \"file 0\" }\n  f1: { provider: ex, path: f1, content: \"${files.f0.sha256}\" }\n",
      "servers:\n  web:\n    count: 2\n    tags: [a, 'b', \"c\"]\n    empty:\n    tilde: ~\n    null_word: null\n"
      "    quoted_null: \"null\"\n    number: 0x1F\n    float: 1.5e3\n    yes: yes\n",
      "script: |\n  line one\n  line two\nfolded: >\n  a\n  b\nlist:\n  - one\n  - { k: v }\n  - - nested\n    - list\n",
      "base: &b { size: s-1vcpu-1gb, region: fra1 }\nweb: *b\nanchored_scalar: &s hello\nagain: *s\n",
      "explicit: !!str 12\nlocal: !thing x\nseq: !!seq [1, 2]\n",
      "first: doc\n---\nsecond: doc\n",
      "",
      "# only a comment\n",
      "key: value # trailing comment\n\"quoted key\": 1\n? complex\n: value\n",
  };
  for (const auto& text : stacks) {
    INFO(text);
    std::string where;
    CHECK(same(YAML::Load(text), parse_yaml(text), where));
    INFO(where);
    CHECK(where.empty());
  }
}

TEST_CASE("yaml_parse: syntax errors carry their position", "[unit][config][yaml]") {
  try {
    parse_yaml("keel: 1\nproject: p\nfiles:\n  a: b: c\n");
    FAIL("no error");
  } catch (const YAML::ParserException& e) {
    CHECK(e.mark.line == 3);
    CHECK_THAT(e.msg, Catch::Contains("mapping values are not allowed"));
  }
  CHECK_THROWS_AS(parse_yaml("a: *nowhere\n"), YAML::ParserException);
  CHECK_THROWS_AS(parse_yaml("x: " + std::string(5000, '[') + std::string(5000, ']') + "\n"), YAML::ParserException);
}
