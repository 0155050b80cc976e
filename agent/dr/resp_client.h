#pragma once
// A minimal blocking Redis (RESP2) client for restores: connect over TCP or a
// Unix socket, send commands (pipelined), read replies. Binary-safe keys and
// values; every wait bounded by a timeout.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace keel::dr {

struct RespReply {
  char type = 0;          // '+', '-', ':', '$', '*'
  std::string text;       // status, error, bulk string (empty for nil)
  long long integer = 0;  // ':' replies and array lengths
  bool nil = false;
  std::vector<RespReply> elements;  // '*'
  bool is_error() const { return type == '-'; }
};

class RespClient {
 public:
  static Result<RespClient> connect_tcp(const std::string& host, int port, std::chrono::milliseconds timeout);
  static Result<RespClient> connect_unix(const std::string& path, std::chrono::milliseconds timeout);
  RespClient(RespClient&& other) noexcept;
  RespClient& operator=(RespClient&& other) noexcept;
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;
  ~RespClient();

  // Queues a command; flush() sends everything queued.
  void queue(const std::vector<std::string>& args);
  Status flush();
  Result<RespReply> read_reply();
  // queue + flush + read_reply; an error reply becomes an Error.
  Result<RespReply> command(const std::vector<std::string>& args);

  const std::string& peer() const { return peer_; }

 private:
  RespClient(int fd, std::string peer, std::chrono::milliseconds timeout);
  Status fill();
  Result<std::string> read_line();
  Result<std::string> read_bytes(std::size_t n);
  Result<RespReply> parse(int depth);

  int fd_ = -1;
  std::string peer_;
  std::chrono::milliseconds timeout_;
  std::string out_, in_;
  std::size_t in_pos_ = 0;
};

}  // namespace keel::dr
