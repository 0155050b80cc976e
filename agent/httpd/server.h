#pragma once
// The agent's HTTP/1.1 server (plain or TLS), built so that clients who do
// not hold the token cannot take it down or make it grow.
//
// One thread, the gate, accepts connections and reads every request with
// poll(), all connections at once: the TLS handshake, the head, the body.
// Only a complete request, within the limits of request_reader.h, reaches a
// worker thread, which runs the handler and writes the answer. A client
// that trickles its bytes therefore costs a connection slot and a few KiB,
// never a thread. Around that:
//
//  - Deadlines: a connection's TLS handshake and first head within
//    `head_timeout` of its accept; a later request's head within
//    `head_timeout` of its first byte; any whole request (body included)
//    within `request_timeout` of its start; `idle_timeout` between requests
//    on a kept-alive connection; a whole answer written within
//    `write_timeout`. Each is a deadline for the whole, not a timeout per
//    read, so that a byte every few seconds does not keep a request alive.
//  - Caps: the gate holds at most `max_connections_per_peer` connections
//    from one address and `max_connections` in all. When one more arrives,
//    the oldest the gate holds (from that peer, or from anyone) is dropped
//    for it: a slow client loses its place to a quick one, so that a
//    legitimate client keeps getting answers during a flood, even from the
//    same address (through an SSH port forward, every client is 127.0.0.1).
//  - `admit` sees each head before any byte of its body is read: a request
//    without the token is answered 401 without its body being read.
//  - A request the gate refuses (401, 413, 431, ...) gets its answer with
//    `Connection: close`; the connection then drains what the client still
//    sends for up to a second (so that it reads the answer rather than a
//    reset) and closes.
//  - Workers: up to `workers` threads, plus one express thread for the
//    requests `express` picks (health), so that slow handlers cannot delay
//    those. A worker starts when a request finds none waiting and then
//    stays, so an agent nobody asks keeps no idle threads. At most
//    `max_queued` complete requests wait for each lane; past that, 503.
//
// start() and stop() from one thread; the hooks are called from the gate
// (admit, express, log of refusals, dropped) and from workers (handle, log).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/httpd/message.h"
#include "agent/httpd/request_reader.h"
#include "core/error.h"

namespace keel::agent::httpd {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see Server::port())
  std::string tls_cert_file, tls_key_file;  // both set: HTTPS
  Limits limits;
  size_t workers = 8;
  size_t max_connections = 256;
  size_t max_connections_per_peer = 64;
  size_t max_queued = 64;
  size_t max_requests_per_connection = 1000;
  std::chrono::milliseconds head_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{2'000};
  std::chrono::milliseconds write_timeout{10'000};
};

// Why the gate closed a connection without answering it.
enum class DropReason { Deadline, Evicted };

struct ServerHooks {
  // A response refuses the request; nullopt lets its body be read.
  std::function<std::optional<Response>(const Request& head)> admit;
  std::function<Response(const Request& request)> handle;
  // True for the requests of the express lane.
  std::function<bool(const Request& request)> express;
  // Every answer, the gate's refusals included (their request may hold
  // only what was read of it).
  std::function<void(const Request& request, const Response& response)> log;
  std::function<void(DropReason reason)> dropped;
};

class Server {
 public:
  Server(ServerOptions options, ServerHooks hooks);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS files, binds, and starts the threads. Fails with a clear
  // error for bad TLS files or an address that cannot be bound.
  Status start();
  // Stops accepting, closes every connection, and waits for the handlers
  // in flight. Idempotent.
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::agent::httpd
