#pragma once
// Errors and results, the one convention of the whole code base.
//
// A failing function returns Result<T> (std::expected<T, Error>). An Error
// carries a code for decisions (retry? exit code?), a message for people, and
// context added at each hop on the way up, outermost first when printed:
//   "create databases.main: local: initdb: exit status 1: ..."
// Exceptions are caught at the boundary of libraries that throw and never
// cross a module boundary.

#include <expected>
#include <string>
#include <utility>

namespace keel {

enum class ErrorCode {
  InvalidConfig,     // the user's input is wrong; fix the file or flags
  NotFound,          // the thing asked for does not exist
  Conflict,          // exists already, or state moved underneath us
  Locked,            // someone else holds the state lock
  Transient,         // worth retrying: 429, 5xx, dropped connection
  Timeout,
  PermissionDenied,
  Unavailable,       // a needed tool or service is missing or down
  Corrupt,           // stored data failed its integrity check
  Protocol,          // a peer (plugin, API) spoke something unexpected
  Internal,          // a bug or an unexpected system failure
};

const char* to_string(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  // The message with every context prefix, e.g. "apply: create x: boom".
  const std::string& message() const { return message_; }

  // Adds an outer context: Error(…,"boom").with_context("create x") prints
  // "create x: boom".
  Error with_context(const std::string& context) const& {
    return Error(code_, context + ": " + message_);
  }
  Error&& with_context(const std::string& context) && {
    message_ = context + ": " + message_;
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> fail(Error error) { return std::unexpected<Error>(std::move(error)); }

}  // namespace keel
