#pragma once
// What keel remembers of an app's rollouts, in .keel/deploys/APP.json:
//
//   {"app": "api",
//    "hosts": {"servers.web[0]": {"release": "20261128T041500Z-ab12cd", "time": "2026-11-28T04:16:02Z"}},
//    "history": [{"action": "deploy", "release": "...", "started": "...", "finished": "...",
//                 "outcome": "deployed" | "failed", "error": "...",
//                 "hosts": {"servers.web[0]": "switched", ...}}, ...]}
//
// `hosts` holds where each host's `current` pointed when keel last looked
// (null: unknown, after a rollback that could not reach it); `history` the
// last 100 runs, oldest first. The hosts themselves stay the truth: a deploy
// reads `current` from them, never from here.

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/deploy/rollout.h"
#include "core/error.h"

namespace keel::deploy {

inline constexpr size_t kHistoryLimit = 100;

// `record` (the file's content, or null for none) with one more run.
nlohmann::json add_to_history(nlohmann::json record, const RolloutResult& result,
                              std::chrono::system_clock::time_point started,
                              std::chrono::system_clock::time_point finished);

// Reads .keel/deploys/APP.json, adds the run and writes it back atomically
// (the caller holds the app's deploy lock).
Status record_rollout(const std::string& work_dir, const RolloutResult& result,
                      std::chrono::system_clock::time_point started, std::chrono::system_clock::time_point finished);

// The lock file of an app's rollouts: .keel/deploy-APP.lock.
std::string lock_path(const std::string& work_dir, const std::string& app);
std::string history_path(const std::string& work_dir, const std::string& app);

}  // namespace keel::deploy
