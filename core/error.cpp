#include "core/error.h"

namespace keel {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidConfig: return "invalid_config";
    case ErrorCode::NotFound: return "not_found";
    case ErrorCode::Conflict: return "conflict";
    case ErrorCode::Locked: return "locked";
    case ErrorCode::Transient: return "transient";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::PermissionDenied: return "permission_denied";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::Corrupt: return "corrupt";
    case ErrorCode::Protocol: return "protocol";
    case ErrorCode::Internal: return "internal";
  }
  return "unknown";
}

}  // namespace keel
