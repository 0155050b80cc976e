#pragma once
// Views: how plans, diagnostics and apply progress look to a person at a
// terminal and to a CI job reading JSON. The engine never prints; it hands
// its data types here. The JSON documents are stable (docs/json-output.md).

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/engine/executor.h"
#include "cli/engine/plan.h"
#include "cli/state/state.h"
#include "core/diagnostics.h"

namespace keel::views {

inline constexpr const char* kSensitive = "(sensitive)";
inline constexpr const char* kKnownAfterApply = "(known after apply)";

// `color`: ANSI colours for the action symbols and data-loss lines.
std::string render_plan(const engine::Plan& plan, bool color = false);
// Sensitive values are null with "sensitive": true; unknown ones null with
// "unknown": true.
nlohmann::json plan_to_json(const engine::Plan& plan);

std::string render_diagnostics(const Diagnostics& diags);
nlohmann::json diagnostics_to_json(const Diagnostics& diags);

// A resource's attributes for `state show`, sensitive ones masked.
nlohmann::json masked_attributes(const state::ResourceState& r);
// Values and documents from providers, plugins and agents reach a terminal
// only through these, so that no escape sequence, carriage return or
// bidirectional override in them acts on it (docs/security.md):
//  - render_value: a value on one line for a person (JSON for non-strings,
//    quoted strings), invalid UTF-8 replaced and controls made visible;
//  - shown_text: a string as is for a person, controls made visible;
//  - json_document: a JSON document for stdout, ASCII only (every other
//    character as \uXXXX), invalid UTF-8 replaced, never an exception.
std::string render_value(const nlohmann::json& v);
std::string shown_text(std::string_view text);
std::string json_document(const nlohmann::json& doc, int indent = -1);

// Apply progress: a line when each change starts and ends, with elapsed
// time, and "still creating... (20s)" for slow ones; or JSON lines. The
// two implementations share the events and differ in how each is written
// (make_apply_view), so apply never branches on the format.
class ApplyView : public engine::ApplyHooks {
 public:
  void on_start(const engine::ResourceChange& c) override;
  void on_progress(const engine::ResourceChange& c, const std::string& message) override;
  void on_still_running(const engine::ResourceChange& c, std::chrono::seconds elapsed) override;
  void on_finish(const engine::ResourceChange& c, const std::string& error, std::chrono::milliseconds elapsed) override;
  // The end: counts, errors (on stderr) and the outputs (sensitive ones
  // masked); a "summary" event under --json.
  virtual void summary(const engine::ApplyResult& r, const engine::Plan& plan, bool destroy,
                       const state::State& state) = 0;

 protected:
  // One event as a JSON line or a text line, serialised with the rest
  // (the engine reports from many threads).
  virtual void emit(const nlohmann::json& event, const std::string& text) = 0;
};
std::unique_ptr<ApplyView> make_apply_view(bool json, std::FILE* out = stdout, std::FILE* err = stderr);

std::string format_elapsed(std::chrono::milliseconds elapsed);

}  // namespace keel::views
