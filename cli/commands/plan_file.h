#pragma once
// The plan file of `keel plan --out FILE`, read by `keel apply FILE` and
// `keel show FILE`. Its own versioned format (docs/json-output.md#plan-files),
// independent of the `plan --json` document, so that either can change
// without the other:
//
//   {"keel_plan_format": 1, "keel_version": "0.1.0",
//    "stack": {"file": ABS, "sha256": HEX, "project": NAME},
//    "state": {"lineage": L, "serial": N},
//    "request": {"targets": [...], "replace": [...], "refresh": B, "destroy": B},
//    "summary": {"add": N, "change": N, "destroy": N},
//    "sealed": BASE64}
//
// "sealed" holds the whole plan (every attribute, sensitive ones too) and
// the --var values, sealed with the state key: nothing secret is in the
// file in clear, and only who holds the state key can apply or show it.

#include <string>
#include <vector>

#include "cli/engine/plan.h"
#include "core/crypto.h"
#include "core/error.h"

namespace keel::commands {

inline constexpr int kPlanFormat = 1;

struct PlanFile {
  engine::Plan plan;
  std::string stack_file;    // absolute
  std::string stack_sha256;  // of the stack file's text at plan time
  std::string project;
  std::vector<std::string> targets, replace;
  bool refresh = true;
  bool destroy = false;
  std::vector<std::string> vars;  // --var NAME=VALUE, sealed
  std::vector<std::pair<std::string, std::string>> var_files;  // --var-file (name, text), sealed
  std::string environment;  // -e; empty: none
};

// Written 0600, atomically.
Status write_plan_file(const std::string& path, const PlanFile& file, const crypto::Key& key);

// The parts readable without the key (stack, request); `plan` and `vars`
// empty. Refuses what is not a plan file, or one of another format (with
// "run `keel plan --out` again").
Result<PlanFile> read_plan_file_header(const std::string& path);

// The same, from the file's text (`path` names it in errors).
Result<PlanFile> parse_plan_file_header(const std::string& text, const std::string& path);

// The whole file, opened with `key`.
Result<PlanFile> read_plan_file(const std::string& path, const crypto::Key& key);

// The state key for a plan of `stack_file` in `environment` (KEEL_STATE_KEY,
// or the key file of the stack's .keel); never creates one.
Result<crypto::Key> plan_key(const std::string& stack_file, const std::string& environment);

// The engine plan as the sealed part holds it (exposed for tests).
nlohmann::json encode_plan(const engine::Plan& plan);
Result<engine::Plan> decode_plan(const nlohmann::json& doc);

}  // namespace keel::commands
