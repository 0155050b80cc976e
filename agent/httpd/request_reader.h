#pragma once
// Reads HTTP/1.1 requests (RFC 9112) out of the bytes a connection
// received, one at a time, within limits: what a client sends costs the
// agent at most `Limits` bytes, whatever the framing, and a request that
// does not fit is refused with the status that says why.
//
//   414  a request line over max_request_line
//   431  a head (request line and fields) over max_head, or more than
//        max_headers fields; the same for a chunked body's trailer
//   413  a body over max_body: announced by Content-Length (refused right
//        after HeadReady, before any of it is read), or reached while
//        de-chunking
//   400  anything malformed (bare CR, obs-fold, a space before the colon,
//        Content-Length with Transfer-Encoding, two different lengths, ...)
//   417, 501, 505  an Expect other than 100-continue, a transfer coding
//        other than chunked, an HTTP version other than 1.0 and 1.1
//
// The head is announced (HeadReady) before any byte of the body is taken,
// so that the server can refuse an unauthenticated request without reading
// its body, or send `100 Continue`. Not thread-safe; one per connection.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "agent/httpd/message.h"

namespace keel::agent::httpd {

struct Limits {
  size_t max_request_line = 8 * 1024;
  size_t max_head = 16 * 1024;
  size_t max_headers = 100;
  size_t max_body = 1 << 20;
};

struct Refusal {
  int status = 400;
  std::string message;
};

class RequestReader {
 public:
  enum class Event {
    NeedMore,      // every byte of `buffer` was taken; feed more
    HeadReady,     // request() has its head; call feed() again for the body
    RequestReady,  // request() is complete; what follows it stays in `buffer`
    Failed,        // refusal() says why; the connection cannot go on
  };

  explicit RequestReader(Limits limits = {});

  // Takes what it can from the front of `buffer` and says where the
  // request stands. After RequestReady or Failed it takes nothing more
  // until reset().
  Event feed(std::string& buffer);

  const Request& request() const { return request_; }
  Request& request() { return request_; }
  const Refusal& refusal() const { return refusal_; }
  // The client asked for `100 Continue` before it sends its body.
  bool expects_continue() const {
    return expect_continue_ && !too_large_ && request_.minor_version == 1 && (chunked_ || body_left_ > 0);
  }
  // HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
  bool keep_alive() const;
  // Some byte of a request has been taken (a connection idle between
  // requests has not started one).
  bool started() const { return started_; }
  // Ready for the next request on the same connection.
  void reset();

 private:
  enum class Phase { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailer, Done, Failed };

  Event read_head(std::string& buffer);
  Event parse_head(std::string_view head);
  Event parse_request_line(std::string_view line);
  Event parse_field(std::string_view line);
  Event check_framing();
  Event read_body(std::string& buffer);
  Event read_chunk_size(std::string& buffer);
  Event read_chunk_data_end(std::string& buffer);
  Event read_trailer(std::string& buffer);
  Event fail(int status, std::string message);

  Limits limits_;
  Phase phase_ = Phase::Head;
  Request request_;
  Refusal refusal_;
  bool started_ = false;
  size_t scanned_ = 0;         // bytes of the head already searched for its end
  size_t lines_ = 0;           // lines seen in the head (or the trailer)
  size_t trailer_bytes_ = 0;
  bool expect_continue_ = false, chunked_ = false, close_ = false, keep_alive_asked_ = false;
  bool too_large_ = false;  // Content-Length over max_body: 413 once the head was announced
  unsigned long long body_left_ = 0;  // of a Content-Length body, or of the current chunk
};

}  // namespace keel::agent::httpd
