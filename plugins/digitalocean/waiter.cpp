#include "plugins/digitalocean/waiter.h"

#include "plugins/digitalocean/attributes.h"

#include <fmt/format.h>

namespace keel::digitalocean {

using nlohmann::json;
using std::chrono::milliseconds;

Waiter::Waiter(ApiClient& api, SnapshotSource& actions, WaitOptions options)
    : kit::Poller(options), api_(api), actions_(actions) {}

Status Waiter::action(long long id, const std::string& what, const provider::ProgressFn& progress,
                      milliseconds timeout) {
  Watch watch;
  watch.what = fmt::format("action {} ({})", id, what);
  watch.goal = "to complete";
  watch.id = std::to_string(id);
  watch.source = &actions_;
  watch.timeout = timeout;
  watch.fetch_one = [this, id]() -> Result<std::optional<json>> {
    auto body = api_.get(fmt::format("/v2/actions/{}", id));
    if (!body) {
      if (body.error().code() == ErrorCode::NotFound) return std::optional<json>();
      return fail(body.error());
    }
    if (!body->is_object() || !body->contains("action")) return std::optional<json>();
    return std::optional<json>((*body)["action"]);
  };
  watch.done = [&watch](const json& action) -> Result<bool> {
    const std::string status = field_string(action, "status");
    if (status == "completed") return true;
    if (status == "errored")
      return fail(ErrorCode::Transient, fmt::format("DigitalOcean: {} errored", watch.what));
    return false;
  };
  watch.state = [](const json& action) { return field_string(action, "status"); };
  auto result = until(watch, progress);
  if (!result) return fail(result.error());
  return {};
}

}  // namespace keel::digitalocean
