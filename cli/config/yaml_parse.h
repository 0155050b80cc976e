#pragma once
// YAML text to a yaml-cpp tree, parsed by libyaml. yaml-cpp's own scanner
// spends ~130,000 instructions per line of a stack (its token matching is
// built of small regular-expression objects, char by char): for a stack of
// 10,000 resources that was more than half of `keel plan`. libyaml's
// scanner is a hand-written state machine, some 30 times cheaper; the tree
// it feeds is yaml-cpp's, node for node what YAML::Load builds, so that
// the loader and every check on the tree stay as they are.

#include <string>

namespace YAML {
class Node;
}

namespace keel::config {

// The first document of `text`, as YAML::Load would return it: the same
// node types, marks (0-based line and column; an empty value is marked
// right after its key's colon, where yaml-cpp marks the next token), tags ("?" for plain scalars
// and untagged collections, "!" for quoted and block scalars, the resolved
// tag when one is written) and null for an empty, `~` or `null` plain
// scalar; an alias is the anchored node itself, shared. A syntax error
// throws YAML::ParserException with libyaml's message and position, and
// so does nesting deeper than 2,000 levels.
YAML::Node parse_yaml(const std::string& text);

}  // namespace keel::config
