#include "cli/engine/graph.h"

#include <algorithm>

namespace keel::engine {

void Graph::add_node(const std::string& node) { deps_[node]; }

void Graph::add_edge(const std::string& from, const std::string& to) {
  deps_[from].insert(to);
  deps_[to];
}

const std::set<std::string>& Graph::dependencies(const std::string& node) const {
  static const std::set<std::string> none;
  auto it = deps_.find(node);
  return it == deps_.end() ? none : it->second;
}

std::optional<std::vector<std::string>> Graph::find_cycle() const {
  enum class Mark { New, Active, Done };
  std::map<std::string, Mark> marks;
  std::vector<std::string> path;
  std::optional<std::vector<std::string>> cycle;
  // Iterative DFS would avoid deep recursion, but stacks are thousands of
  // nodes deep at most along one chain only in pathological files; an
  // explicit stack keeps 10,000-long chains safe anyway.
  struct Frame { const std::string* node; std::set<std::string>::const_iterator next; };
  for (const auto& [start, _] : deps_) {
    if (marks[start] != Mark::New) continue;
    std::vector<Frame> stack{{&start, deps_.at(start).begin()}};
    marks[start] = Mark::Active;
    path = {start};
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (f.next == deps_.at(*f.node).end()) {
        marks[*f.node] = Mark::Done;
        stack.pop_back();
        path.pop_back();
        continue;
      }
      const std::string& dep = *f.next++;
      Mark m = marks[dep];
      if (m == Mark::Active) {
        auto from = std::find(path.begin(), path.end(), dep);
        std::vector<std::string> c(from, path.end());
        c.push_back(dep);
        return c;
      }
      if (m == Mark::New) {
        marks[dep] = Mark::Active;
        path.push_back(dep);
        stack.push_back({&deps_.find(dep)->first, deps_.at(dep).begin()});
      }
    }
  }
  return cycle;
}

std::vector<std::string> Graph::topological_order() const {
  std::map<std::string, size_t> waiting;
  std::map<std::string, std::vector<std::string>> dependents;
  for (const auto& [node, deps] : deps_) {
    waiting[node] = deps.size();
    for (const auto& d : deps) dependents[d].push_back(node);
  }
  std::set<std::string> ready;
  for (const auto& [node, n] : waiting)
    if (n == 0) ready.insert(node);
  std::vector<std::string> order;
  while (!ready.empty()) {
    std::string node = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(node);
    for (const auto& d : dependents[node])
      if (--waiting[d] == 0) ready.insert(d);
  }
  return order;
}

std::set<std::string> Graph::closure(const std::set<std::string>& roots) const {
  std::set<std::string> seen;
  std::vector<std::string> todo(roots.begin(), roots.end());
  while (!todo.empty()) {
    std::string node = todo.back();
    todo.pop_back();
    if (!seen.insert(node).second) continue;
    for (const auto& d : dependencies(node)) todo.push_back(d);
  }
  return seen;
}

std::string Graph::to_dot() const {
  std::string out = "digraph keel {\n  rankdir = \"RL\";\n  node [shape = box];\n";
  for (const auto& [node, deps] : deps_) {
    out += "  \"" + node + "\";\n";
    for (const auto& d : deps) out += "  \"" + node + "\" -> \"" + d + "\";\n";
  }
  return out + "}\n";
}

}  // namespace keel::engine
