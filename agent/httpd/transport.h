#pragma once
// The byte streams under the agent's HTTP server: a TCP socket, plain or
// with TLS (OpenSSL) over it. Sockets are non-blocking: every call returns
// at once and says whether it has to wait to read or to write, and
// agent/httpd/server waits for that with poll() and a deadline. A transport
// owns its socket and closes it. One thread at a time uses a transport.

#include <cstddef>
#include <memory>
#include <string>

#include "core/error.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace keel::agent::httpd {

enum class Io {
  Done,       // the call did its work (a read: n > 0 bytes)
  WantRead,   // call again once the socket is readable
  WantWrite,  // call again once the socket is writable
  Closed,     // the peer closed the connection (a read at its end)
  Failed,     // a socket or TLS error: drop the connection
};

class Transport {
 public:
  explicit Transport(int fd) : fd_(fd) {}
  virtual ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // The TLS handshake, step by step (plain: Done at once).
  virtual Io handshake() { return Io::Done; }
  virtual Io read(char* data, size_t size, size_t& n);
  virtual Io write(const char* data, size_t size, size_t& n);
  // Bytes already received and decrypted, which poll() cannot see.
  virtual bool has_pending() const { return false; }
  // The end of what we send: TLS close_notify, then a TCP FIN (shutdown
  // for writing). Reading may go on, to drain what the peer still sends.
  virtual void finish();
  // Reads and drops raw bytes from the socket (after finish()).
  Io discard(size_t& n);

  int fd() const { return fd_; }

 protected:
  int fd_;
};

// The server's certificate and key, loaded once and shared by every
// connection. TLS 1.2 and 1.3 only; no renegotiation; no session cache
// (a client's handshakes must not grow the agent's memory).
class TlsContext {
 public:
  static Result<std::shared_ptr<TlsContext>> load(const std::string& cert_file, const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A TLS transport over `fd` (which it then owns), ready for handshake();
  // nullptr when OpenSSL cannot make one (the socket is closed then).
  std::unique_ptr<Transport> wrap(int fd) const;

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace keel::agent::httpd
