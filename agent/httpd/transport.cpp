#include "agent/httpd/transport.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

namespace keel::agent::httpd {

namespace {

Io from_errno() {
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::WantRead;
  return Io::Failed;
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

class TlsTransport : public Transport {
 public:
  TlsTransport(int fd, SSL* ssl) : Transport(fd), ssl_(ssl) {}
  ~TlsTransport() override { SSL_free(ssl_); }

  Io handshake() override {
    ERR_clear_error();
    int rc = SSL_accept(ssl_);
    return rc == 1 ? Io::Done : status(rc);
  }

  Io read(char* data, size_t size, size_t& n) override {
    ERR_clear_error();
    n = 0;
    if (SSL_read_ex(ssl_, data, size, &n) == 1) return Io::Done;
    return status(0);
  }

  Io write(const char* data, size_t size, size_t& n) override {
    ERR_clear_error();
    n = 0;
    if (SSL_write_ex(ssl_, data, size, &n) == 1) return Io::Done;
    return status(0);
  }

  bool has_pending() const override { return SSL_pending(ssl_) > 0; }

  void finish() override {
    // One close_notify, without waiting for the peer's (a best effort: a
    // client that does not read gets the FIN anyway).
    ERR_clear_error();
    if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
    ERR_clear_error();
    Transport::finish();
  }

 private:
  Io status(int rc) const {
    switch (SSL_get_error(ssl_, rc)) {
      case SSL_ERROR_WANT_READ: return Io::WantRead;
      case SSL_ERROR_WANT_WRITE: return Io::WantWrite;
      case SSL_ERROR_ZERO_RETURN: return Io::Closed;
      default: ERR_clear_error(); return Io::Failed;
    }
  }

  SSL* ssl_;
};

}  // namespace

Transport::~Transport() {
  if (fd_ >= 0) ::close(fd_);
}

Io Transport::read(char* data, size_t size, size_t& n) {
  n = 0;
  ssize_t got = ::recv(fd_, data, size, 0);
  if (got > 0) {
    n = static_cast<size_t>(got);
    return Io::Done;
  }
  if (got == 0) return Io::Closed;
  return errno == EINTR ? Io::WantRead : from_errno();
}

Io Transport::write(const char* data, size_t size, size_t& n) {
  n = 0;
  ssize_t put = ::send(fd_, data, size, MSG_NOSIGNAL);
  if (put >= 0) {
    n = static_cast<size_t>(put);
    return Io::Done;
  }
  if (errno == EINTR) return Io::WantWrite;
  Io io = from_errno();
  return io == Io::WantRead ? Io::WantWrite : io;
}

void Transport::finish() { ::shutdown(fd_, SHUT_WR); }

Io Transport::discard(size_t& n) {
  char sink[16384];
  n = 0;
  ssize_t got = ::recv(fd_, sink, sizeof sink, 0);
  if (got > 0) {
    n = static_cast<size_t>(got);
    return Io::Done;
  }
  if (got == 0) return Io::Closed;
  return errno == EINTR ? Io::WantRead : from_errno();
}

Result<std::shared_ptr<TlsContext>> TlsContext::load(const std::string& cert_file, const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return fail(ErrorCode::Internal, "TLS: " + openssl_error());
  std::shared_ptr<TlsContext> context(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial writes and a moving buffer: the server writes a response in
  // pieces as the socket takes them. Released buffers: an idle connection
  // keeps no 34 KiB of TLS record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("TLS: cannot load the certificate {} and key {} (PEM files, matching each other): {}",
                            cert_file, key_file, openssl_error()));
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<Transport> TlsContext::wrap(int fd) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl || SSL_set_fd(ssl, fd) != 1) {
    if (ssl) SSL_free(ssl);
    ERR_clear_error();
    ::close(fd);
    return nullptr;
  }
  return std::make_unique<TlsTransport>(fd, ssl);
}

}  // namespace keel::agent::httpd
