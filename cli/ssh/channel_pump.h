#pragma once
// Moves bytes between local sockets and SSH channels on one session, on a
// thread of its own that owns the session: the engine of port forwarding
// (a listener whose connections each get a direct-tcpip channel) and of jump
// hosts (one socketpair end carrying the inner SSH connection).
//
// libssh sessions are not thread-safe: once a pump runs, nothing else may
// touch its session.

#include <libssh/libssh.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace keel::ssh {

class ChannelPump {
 public:
  // Opens a channel for a newly accepted local connection; null on failure
  // (the connection is then closed).
  using ChannelOpener = std::function<ssh_channel()>;

  // `listener`: a listening socket whose connections each get a channel from
  // `open`, or -1. Takes ownership of `session` (disconnects and frees it).
  ChannelPump(ssh_session session, int listener, ChannelOpener open);
  ~ChannelPump();  // stops the thread, closes every socket and channel
  ChannelPump(const ChannelPump&) = delete;
  ChannelPump& operator=(const ChannelPump&) = delete;

  // Pairs a local socket with an open channel (before start()).
  void add(int fd, ssh_channel channel);
  void start();

 private:
  struct Pair;
  void loop();
  void accept_one();
  bool pump(Pair& pair);  // false: the pair is finished

  ssh_session session_;
  int listener_;
  ChannelOpener open_;
  std::vector<std::unique_ptr<Pair>> pairs_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace keel::ssh
