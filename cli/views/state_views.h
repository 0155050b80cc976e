#pragma once
// How validate, refresh, output and state print: a human and a JSON
// implementation of each, chosen once from --json (OpenTofu's views), so
// the commands never branch on the format. The JSON documents are those of
// docs/json-output.md.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/engine/graph.h"
#include "cli/state/state.h"
#include "cli/state/store.h"
#include "cli/views/plan_view.h"

namespace keel::views {

class ValidateView {
 public:
  virtual ~ValidateView() = default;
  virtual void valid(size_t resources) = 0;
};
std::unique_ptr<ValidateView> make_validate_view(bool json, const Streams& streams);

// keel graph: Graphviz DOT for people, or each resource with what it
// depends on, in address order.
class GraphView {
 public:
  virtual ~GraphView() = default;
  virtual void graph(const engine::Graph& graph) = 0;
};
std::unique_ptr<GraphView> make_graph_view(bool json, const Streams& streams);

class RefreshView {
 public:
  virtual ~RefreshView() = default;
  virtual void refreshing(size_t done, size_t total) = 0;
  virtual void refreshed(const std::vector<std::string>& drift, long serial) = 0;
};
// `recorded`: refresh saves what it found; drift (keel drift) only reports it.
std::unique_ptr<RefreshView> make_refresh_view(bool json, const Streams& streams, bool recorded = true);

class OutputView {
 public:
  virtual ~OutputView() = default;
  // Every output, sensitive ones masked.
  virtual void all(const state::State& state) = 0;
  // One output asked for by name (sensitive too); `raw`: a string as is.
  virtual void one(const nlohmann::json& value, bool raw) = 0;
};
std::unique_ptr<OutputView> make_output_view(bool json, const Streams& streams);

class StateView {
 public:
  virtual ~StateView() = default;
  virtual void list(const state::State& state) = 0;
  virtual void show(const state::ResourceState& resource) = 0;
  // A change saved: `done` says what, in words.
  virtual void saved(long serial, const std::string& done) = 0;
  // The saved states, newest first; `where` names the backend.
  virtual void history(const std::vector<state::HistoryEntry>& entries, const std::string& where) = 0;
};
std::unique_ptr<StateView> make_state_view(bool json, const Streams& streams);

}  // namespace keel::views
