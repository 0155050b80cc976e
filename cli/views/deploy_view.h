#pragma once
// How `keel deploy` looks: progress lines while it runs, a summary table at
// the end, and one JSON document for machines (docs/deploy.md#json).
//
//   Deploying api release 20261128T041500Z-ab12cd (12.4 MB) to 4 hosts in 2 batches of 2
//   batch 1/2: servers.web[0], servers.web[1]
//     servers.web[0]  switch   current -> releases/20261128T041500Z-ab12cd
//     ...
//   HOST            OUTCOME   RELEASE                  NOTE
//   servers.web[0]  switched  20261128T041500Z-ab12cd

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/deploy/rollout.h"
#include "cli/views/plan_view.h"

namespace keel::views {

// Prints progress lines to `out` as the rollout reports them (from many
// threads: one line at a time).
class DeployProgress final : public deploy::RolloutObserver {
 public:
  DeployProgress(std::FILE* out, long long artifact_size) : out_(out), artifact_size_(artifact_size) {}
  void started(const deploy::RolloutResult& plan) override;
  void batch_started(size_t index, const std::vector<std::string>& hosts) override;
  void host_step(const std::string& address, const std::string& step, const std::string& detail) override;
  void batch_finished(size_t index, bool ok) override;

 private:
  std::mutex mutex_;
  std::FILE* out_;
  long long artifact_size_;
  size_t batches_ = 0;
  size_t width_ = 0;  // of the host column
};

// The summary after the rollout: a table of hosts, then for a failure the
// failing host's step, error, command output and checks' last output.
std::string render_rollout(const deploy::RolloutResult& result);

// The --json document (docs/deploy.md#json).
nlohmann::json rollout_to_json(const deploy::RolloutResult& result);

// What `keel deploy` prints, chosen once from --json: the progress lines
// and the summary, with the closing line and any warning or failure on
// stderr; or, under --json, no progress and one document at the end.
class DeployView {
 public:
  virtual ~DeployView() = default;
  // What follows the rollout as it goes (nullptr: nothing does).
  virtual deploy::RolloutObserver* observer() = 0;
  // The end. `not_recorded`: why the rollout could not be written to
  // `history` (empty when it was).
  virtual void finished(const deploy::RolloutResult& result, const std::string& not_recorded,
                        const std::string& history) = 0;
};
// `artifact_size`: the bytes uploaded to each host (0 for a rollback).
std::unique_ptr<DeployView> make_deploy_view(bool json, const Streams& streams, long long artifact_size);

// "12.4 MB", "830 kB", "512 B".
std::string format_size(long long bytes);

}  // namespace keel::views
