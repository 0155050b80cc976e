#pragma once
// An HTTP server on 127.0.0.1 that records every request and answers with
// `respond` (default: 200, empty): what a client sent, exactly as it sent
// it, for tests of request signing and of protocol flows against a fake.

#include <httplib.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace keel::testing {

struct Captured {
  std::string method;
  std::string target;  // as sent: path and query, still encoded
  std::string path;    // decoded by the server
  httplib::Params params;
  httplib::Headers headers;
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  bool has_param(const std::string& name) const { return params.count(name) > 0; }
  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? "" : it->second;
  }
};

class CaptureServer {
 public:
  // `index` counts the requests from 0.
  using Respond = std::function<void(const Captured&, httplib::Response&, int index)>;
  explicit CaptureServer(Respond respond = nullptr) : respond_(std::move(respond)) {
    server_.set_keep_alive_max_count(1);
    // Routed handlers, not a pre-routing one: httplib reads the body only for those.
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Captured c{req.method, req.target, req.path, req.params, req.headers, req.body};
      res.status = 200;
      std::lock_guard lock(mu_);  // one request at a time: a fake's state stays simple
      requests_.push_back(c);
      if (respond_) respond_(c, res, static_cast<int>(requests_.size()) - 1);
    };
    server_.Get(".*", handler).Put(".*", handler).Post(".*", handler).Delete(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~CaptureServer() {
    server_.stop();
    thread_.join();
  }
  CaptureServer(const CaptureServer&) = delete;
  CaptureServer& operator=(const CaptureServer&) = delete;

  int port() const { return port_; }
  std::vector<Captured> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  Respond respond_;
  std::mutex mu_;
  std::vector<Captured> requests_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace keel::testing
