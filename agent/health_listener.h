#pragma once
// An optional second listener for load balancers' health probes
// (`health_listen: 0.0.0.0:7301` in the agent's config, off by default).
// It answers every GET or HEAD, on any path, with the aggregate status of the
// checks as the API's /v1/health does (200 passing or no checks, 429
// warning, 503 critical or unknown) and a one-word body,
// nothing more: no token, no check names, outputs or host name, since it is
// meant to be reachable by whoever can reach the host. Any other method gets
// 405; a body gets 413 unread. Plain HTTP: load balancers' probes are.
//
// It runs on the agent's own server (agent/httpd), with its deadlines and
// connection caps, and one express thread: a flood of probes costs no more
// than the gate's connection slots. Its settings are the host's own
// (agent/config.h kHostOnlyKeys): PUT /v1/config cannot open it.

#include <memory>
#include <string>

#include "agent/httpd/message.h"
#include "agent/scheduler.h"
#include "core/error.h"

namespace keel::agent::httpd {
class Server;
}

namespace keel::agent {

class HealthListener {
 public:
  explicit HealthListener(const CheckScheduler& scheduler);
  ~HealthListener();
  HealthListener(const HealthListener&) = delete;
  HealthListener& operator=(const HealthListener&) = delete;

  // Binds host:port (port 0: any free one); a clear error when it cannot.
  Status start(const std::string& host, int port);
  void stop();
  int port() const;

  // The answer to one request (public for the tests).
  httpd::Response answer(const httpd::Request& request) const;

 private:
  const CheckScheduler& scheduler_;
  std::unique_ptr<httpd::Server> server_;
};

}  // namespace keel::agent
