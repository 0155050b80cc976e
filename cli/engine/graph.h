#pragma once
// A directed graph of resource instances: an edge a -> b means "a depends on
// b" (b must be created before a, and deleted after it).

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace keel::engine {

class Graph {
 public:
  void add_node(const std::string& node);
  // `from` depends on `to`. Both are added if missing.
  void add_edge(const std::string& from, const std::string& to);

  bool contains(const std::string& node) const { return deps_.count(node) > 0; }
  const std::set<std::string>& dependencies(const std::string& node) const;
  const std::map<std::string, std::set<std::string>>& nodes() const { return deps_; }

  // One cycle as a path that starts and ends at the same node
  // ("a", "b", "a"), or nullopt when the graph is acyclic.
  std::optional<std::vector<std::string>> find_cycle() const;
  // Dependencies before dependents; ties in name order (stable output).
  std::vector<std::string> topological_order() const;
  // `roots` and everything they depend on, transitively (for --target).
  std::set<std::string> closure(const std::set<std::string>& roots) const;
  // Graphviz DOT, edges pointing from dependent to dependency.
  std::string to_dot() const;

 private:
  std::map<std::string, std::set<std::string>> deps_;
};

}  // namespace keel::engine
