#include "agent/httpd/request_reader.h"

#include <fmt/format.h>

#include "core/text.h"

namespace keel::agent::httpd {

namespace {

// A chunk-size line (size and extensions); real clients send a few bytes.
constexpr size_t kMaxChunkLine = 4096;

bool is_tchar(char c) {
  return text::is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// Field values: visible ASCII, space, tab, and obs-text (bytes >= 0x80).
bool is_field_value(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 ? u != '\t' : u == 0x7F) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A line without its LF and an optional CR before it; nullopt for a CR
// anywhere else (a bare CR, which RFC 9112 lets a server refuse).
std::optional<std::string_view> line_content(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return std::nullopt;
  return line;
}

// For a message: the start of a value, cut and made printable.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F ? '?' : c;
  return s.size() > 40 ? out + "..." : out;
}

}  // namespace

RequestReader::RequestReader(Limits limits) : limits_(limits) {}

void RequestReader::reset() {
  phase_ = Phase::Head;
  request_ = {};
  refusal_ = {};
  started_ = false;
  scanned_ = lines_ = trailer_bytes_ = 0;
  expect_continue_ = chunked_ = close_ = keep_alive_asked_ = too_large_ = false;
  body_left_ = 0;
}

bool RequestReader::keep_alive() const { return !close_ && (request_.minor_version == 1 || keep_alive_asked_); }

RequestReader::Event RequestReader::fail(int status, std::string message) {
  phase_ = Phase::Failed;
  refusal_ = {status, std::move(message)};
  return Event::Failed;
}

RequestReader::Event RequestReader::feed(std::string& buffer) {
  if (phase_ == Phase::Head) return read_head(buffer);
  if (phase_ == Phase::Failed) return Event::Failed;
  if (too_large_) return fail(413, fmt::format("request body over {} bytes", limits_.max_body));
  // The body: each step either moves to another phase or has taken all of
  // `buffer` (or fails).
  for (;;) {
    const Phase before = phase_;
    Event event = Event::NeedMore;
    switch (phase_) {
      case Phase::Body: event = read_body(buffer); break;
      case Phase::ChunkSize: event = read_chunk_size(buffer); break;
      case Phase::ChunkData: {
        size_t n = static_cast<size_t>(std::min<unsigned long long>(body_left_, buffer.size()));
        request_.body.append(buffer, 0, n);
        buffer.erase(0, n);
        body_left_ -= n;
        if (body_left_ == 0) phase_ = Phase::ChunkDataEnd;
        break;
      }
      case Phase::ChunkDataEnd: event = read_chunk_data_end(buffer); break;
      case Phase::Trailer: event = read_trailer(buffer); break;
      case Phase::Done: return Event::RequestReady;
      case Phase::Head:
      case Phase::Failed: return Event::Failed;  // not reached
    }
    if (event == Event::Failed) return event;
    if (phase_ == Phase::Done) return Event::RequestReady;
    if (phase_ == before) return Event::NeedMore;
  }
}

RequestReader::Event RequestReader::read_head(std::string& buffer) {
  if (!started_) {
    // Blank lines before a request line are ignored (RFC 9112, 2.2).
    size_t first = buffer.find_first_not_of("\r\n");
    buffer.erase(0, first == std::string::npos ? buffer.size() : first);
    if (buffer.empty()) return Event::NeedMore;
    started_ = true;
  }
  // Each call searches only what the previous ones did not (a client that
  // sends its head a byte at a time costs linear time, not quadratic).
  for (;;) {
    size_t nl = buffer.find('\n', scanned_);
    if (nl == std::string::npos) {
      if (lines_ == 0 && buffer.size() > limits_.max_request_line)
        return fail(414, fmt::format("request line over {} bytes", limits_.max_request_line));
      if (buffer.size() > limits_.max_head)
        return fail(431, fmt::format("request head over {} bytes", limits_.max_head));
      return Event::NeedMore;
    }
    const size_t length = nl - scanned_;
    if (lines_ == 0 && length > limits_.max_request_line)
      return fail(414, fmt::format("request line over {} bytes", limits_.max_request_line));
    if (nl + 1 > limits_.max_head) return fail(431, fmt::format("request head over {} bytes", limits_.max_head));
    if (length == 0 || (length == 1 && buffer[scanned_] == '\r')) {
      std::string head = buffer.substr(0, scanned_);
      buffer.erase(0, nl + 1);
      return parse_head(head);
    }
    if (++lines_ > limits_.max_headers + 1)
      return fail(431, fmt::format("more than {} header fields", limits_.max_headers));
    scanned_ = nl + 1;
  }
}

RequestReader::Event RequestReader::parse_head(std::string_view head) {
  bool first = true;
  while (!head.empty()) {
    size_t nl = head.find('\n');
    auto line = line_content(head.substr(0, nl));
    head.remove_prefix(nl + 1);
    if (!line) return fail(400, "a bare CR in the request head");
    Event event = first ? parse_request_line(*line) : parse_field(*line);
    if (event == Event::Failed) return event;
    first = false;
  }
  return check_framing();
}

RequestReader::Event RequestReader::parse_request_line(std::string_view line) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "the request line must be METHOD TARGET HTTP-VERSION");
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  if (!is_token(method) || method.size() > 32) return fail(400, fmt::format("bad method `{}`", shown(method)));
  if (target.empty() || target.front() != '/') return fail(400, "the request target must be a path (/v1/...)");
  for (char c : target)
    if (c <= 0x20 || c >= 0x7F) return fail(400, "the request target holds a control character or a space");
  if (version == "HTTP/1.1") request_.minor_version = 1;
  else if (version == "HTTP/1.0") request_.minor_version = 0;
  else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && text::is_digit(version[5]) && version[6] == '.' &&
           text::is_digit(version[7]))
    return fail(505, fmt::format("HTTP version {} is not supported (1.1 and 1.0 are)", version));
  else return fail(400, fmt::format("bad HTTP version `{}`", shown(version)));
  request_.method = method;
  request_.target = target;
  size_t q = target.find('?');
  request_.path = target.substr(0, q);
  if (q != std::string_view::npos) request_.query = target.substr(q + 1);
  return Event::NeedMore;
}

RequestReader::Event RequestReader::parse_field(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') return fail(400, "folded header lines (obs-fold) are not accepted");
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
    return fail(400, fmt::format("bad header line `{}`", shown(line)));
  std::string_view value = trim_ows(line.substr(colon + 1));
  if (!is_field_value(value)) return fail(400, fmt::format("header `{}` holds a control character", shown(line.substr(0, colon))));
  request_.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
  return Event::NeedMore;
}

// Which body follows, from Content-Length, Transfer-Encoding, Expect and
// Connection.
RequestReader::Event RequestReader::check_framing() {
  std::optional<std::string_view> length;
  std::string coding;
  for (const auto& h : request_.headers) {
    if (iequals(h.name, "Content-Length")) {
      if (length && *length != h.value) return fail(400, "two different Content-Length headers");
      length = h.value;
    } else if (iequals(h.name, "Transfer-Encoding")) {
      coding += coding.empty() ? h.value : "," + h.value;
    } else if (iequals(h.name, "Expect")) {
      if (!iequals(h.value, "100-continue")) return fail(417, fmt::format("unsupported Expect `{}`", shown(h.value)));
      expect_continue_ = true;
    } else if (iequals(h.name, "Connection")) {
      std::string_view rest = h.value;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view option = trim_ows(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (iequals(option, "close")) close_ = true;
        else if (iequals(option, "keep-alive")) keep_alive_asked_ = true;
      }
    }
  }
  if (!coding.empty()) {
    // Both framings at once is how requests are smuggled: refuse it.
    if (length) return fail(400, "Content-Length and Transfer-Encoding together");
    if (request_.minor_version == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (!iequals(trim_ows(coding), "chunked"))
      return fail(501, fmt::format("Transfer-Encoding `{}` is not supported (only chunked)", shown(coding)));
    chunked_ = true;
    phase_ = Phase::ChunkSize;
  } else {
    if (length) {
      if (length->empty() || length->size() > 19) return fail(400, "bad Content-Length");
      unsigned long long n = 0;
      for (char c : *length) {
        if (!text::is_digit(c)) return fail(400, "bad Content-Length");
        n = n * 10 + static_cast<unsigned long long>(c - '0');
      }
      // Refused at the next feed(), after the head was announced: a client
      // without the token learns 401, not whether its size would pass.
      too_large_ = n > limits_.max_body;
      body_left_ = n;
    }
    phase_ = Phase::Body;
  }
  return Event::HeadReady;
}

RequestReader::Event RequestReader::read_body(std::string& buffer) {
  size_t n = static_cast<size_t>(std::min<unsigned long long>(body_left_, buffer.size()));
  request_.body.append(buffer, 0, n);
  buffer.erase(0, n);
  body_left_ -= n;
  if (body_left_ == 0) phase_ = Phase::Done;
  return Event::NeedMore;
}

RequestReader::Event RequestReader::read_chunk_size(std::string& buffer) {
  size_t nl = buffer.find('\n');
  if (nl == std::string::npos) {
    if (buffer.size() > kMaxChunkLine) return fail(400, fmt::format("a chunk-size line over {} bytes", kMaxChunkLine));
    return Event::NeedMore;
  }
  if (nl > kMaxChunkLine) return fail(400, fmt::format("a chunk-size line over {} bytes", kMaxChunkLine));
  auto line = line_content(std::string_view(buffer).substr(0, nl));
  if (!line) return fail(400, "a bare CR in a chunk-size line");
  size_t i = 0;
  while (i < line->size() && (*line)[i] == '0') ++i;
  const bool zeros = i > 0;
  unsigned long long size = 0;
  size_t digits = 0;
  for (; i < line->size() && text::is_hex((*line)[i]); ++i, ++digits) {
    char c = (*line)[i];
    if (digits == 15) return fail(413, fmt::format("request body over {} bytes", limits_.max_body));
    size = size * 16 + static_cast<unsigned long long>(text::is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  if (!zeros && digits == 0) return fail(400, "a chunk without a size");
  std::string_view rest = trim_ows(line->substr(i));
  if (!rest.empty() && (rest.front() != ';' || !is_field_value(rest)))
    return fail(400, "bad chunk-size line");
  buffer.erase(0, nl + 1);
  if (size == 0) {
    phase_ = Phase::Trailer;
    lines_ = trailer_bytes_ = 0;
    return Event::NeedMore;
  }
  if (request_.body.size() + size > limits_.max_body)
    return fail(413, fmt::format("request body over {} bytes", limits_.max_body));
  body_left_ = size;
  phase_ = Phase::ChunkData;
  return Event::NeedMore;
}

RequestReader::Event RequestReader::read_chunk_data_end(std::string& buffer) {
  if (buffer.empty()) return Event::NeedMore;
  if (buffer[0] == '\n') {
    buffer.erase(0, 1);
  } else if (buffer[0] == '\r') {
    if (buffer.size() < 2) return Event::NeedMore;
    if (buffer[1] != '\n') return fail(400, "a chunk longer than its size");
    buffer.erase(0, 2);
  } else {
    return fail(400, "a chunk longer than its size");
  }
  phase_ = Phase::ChunkSize;
  return Event::NeedMore;
}

// The trailer fields after the last chunk are checked against the head's
// limits and dropped: nothing here uses them, and merging them into the
// headers would let a body change what the head said.
RequestReader::Event RequestReader::read_trailer(std::string& buffer) {
  for (;;) {
    size_t nl = buffer.find('\n');
    if (nl == std::string::npos) {
      if (trailer_bytes_ + buffer.size() > limits_.max_head)
        return fail(431, fmt::format("chunked trailer over {} bytes", limits_.max_head));
      return Event::NeedMore;
    }
    trailer_bytes_ += nl + 1;
    if (trailer_bytes_ > limits_.max_head) return fail(431, fmt::format("chunked trailer over {} bytes", limits_.max_head));
    auto line = line_content(std::string_view(buffer).substr(0, nl));
    if (!line) return fail(400, "a bare CR in the chunked trailer");
    const bool end = line->empty();
    if (!end && (line->front() == ' ' || line->front() == '\t' || line->find(':') == std::string_view::npos))
      return fail(400, "bad trailer line");
    buffer.erase(0, nl + 1);
    if (end) {
      phase_ = Phase::Done;
      return Event::NeedMore;
    }
    if (++lines_ > limits_.max_headers) return fail(431, fmt::format("more than {} trailer fields", limits_.max_headers));
  }
}

}  // namespace keel::agent::httpd
